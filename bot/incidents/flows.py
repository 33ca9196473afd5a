"""The incident flows: open, press, answer, resolve, escalate, write the post-mortem.

They take plain values (an actor, a scenario, a step, a verb) and reach the outside only
through a `Notifier` and a `Scheduler` (`bot.incidents.ports`), so a chat button, the terminal,
a scheduled check or a webhook start the same flow. The engine (`engine.py`) decides and
records; the flows decide what follows and when:

* the first post of a new incident is the playbook's 0-minute alert;
* the escalation clock: 30 min a reply about the three automatic retries (and, until someone
  acknowledges, a reminder every `ESCALATION_REMIND_EVERY`), 1 hour the PD, 4 hours the admins.
  A stage is sent first and marked fired after, so a crash in between repeats an alert at the
  next start, never loses one; a stage nobody received is tried again a minute later;
* after resolving, the write-up: the root cause, then the prevention decided, then the
  post-mortem, stored and owed to the team as a file until it is delivered.

The engine's methods are synchronous (the store fsyncs), so they run in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any, Protocol

from bot.actions.registry import StepResult
from bot.actors import display_name
from bot.clock import Clock, local_time
from bot.incidents.engine import IncidentEngine, Opened, Pressed
from bot.incidents.escalation_plan import next_reminder
from bot.incidents.model import Incident, Status, StepStatus, Verb
from bot.incidents.ports import MistakesRecord, NotDelivered, Notice, Notifier, Scheduler
from bot.incidents.view import clip_words
from bot.incidents.postmortem import postmortem_filename, render_postmortem
from bot.incidents.record import BOT_ACTOR, DETECTOR, valid_topic
from bot.incidents.stats import Translate, format_duration
from bot.secrets import Redactor

log = logging.getLogger(__name__)
SHOW_RUNNING_AFTER_S = 0.8  # a step quicker than this costs the group one edit, not two
RETRY_UNDELIVERED_S = 60.0  # a stage nobody received (the transport down) is tried again this soon
REMINDER_SLACK = timedelta(seconds=0.2)  # a reminder job this early still counts as due
MISTAKE_CHARS = 400  # an answer's share of a mistakes-record entry
ANSWER_LIMIT = 2000  # characters of a free-text answer the record takes
RESUME_WITHIN_DAYS = 7  # older unfinished write-ups are left for a repost of the incident
WRITEUP_ORDER = ("root_cause", "prevention")  # the post-mortem's questions, in turn



class RunStep(Protocol):
    """Runs a step's action for an incident (`Services.run_step`)."""

    def __call__(self, action: str, args: Mapping[str, Any], *, topic: str | None,
                 incident_ref: str, actor: str,
                 progress: Callable[[str], None] | None = None,
                 opened_at: datetime | None = None) -> Awaitable[StepResult]: ...



@dataclass(frozen=True)
class Team:
    """Who the clock pages, and how often it reminds."""

    pd_user_ids: frozenset[int]
    admin_user_ids: frozenset[int]
    remind_every: timedelta | None


@dataclass(frozen=True)
class Answered:
    kind: str  # "topic", "override", "root_cause", "prevention"
    incident: Incident


class IncidentFlows:
    def __init__(self, engine: IncidentEngine, notifier: Notifier, scheduler: Scheduler, *,
                 team: Team, run_step: RunStep, tr: Translate, lang: str, tz: tzinfo,
                 redact: Redactor, clock: Clock, mistakes: MistakesRecord | None = None) -> None:
        self.engine, self.notifier, self.scheduler = engine, notifier, scheduler
        self.mistakes = mistakes
        self.team, self._run_step, self.tr, self.lang, self.tz = team, run_step, tr, lang, tz
        self.redact, self.clock = redact, clock
        # one stage or reminder of an incident at a time: the PD stage falling due in the same
        # instant as a reminder sent the reminder twice
        self._clock_locks: dict[int, asyncio.Lock] = {}
        # a question being put (recorded, not yet sent or confirmed): set when that is over, so
        # a reply faster than the bookkeeping can wait for it (`waiting_for_question`)
        self.asking: dict[int, asyncio.Event] = {}

    # -- opening

    async def open(self, scenario: str, *, topic: str | None, actor: str) -> Opened:
        """A new incident (or the open one for the scenario, linked), its live message posted as
        the 0-minute alert and its clock running. Raises Refused for an unknown scenario."""
        opened = await asyncio.to_thread(self.engine.open, scenario, topic=topic, actor=actor)
        return await self._announce(opened, actor)

    async def _announce(self, opened: Opened, actor: str) -> Opened:
        """Post an opened incident's live message (the 0-minute alert when it is new) and run
        its clock."""
        incident = opened.incident
        try:
            incident = await self.notifier.post(incident)
        except NotDelivered as exc:
            # not posted: the clock still runs, and its unfired 0-minute alert posts it when it can
            log.warning("%s: the live message could not be posted now (%s)", incident.ref, exc)
            self.arm(await asyncio.to_thread(self.engine.get, incident.id))
            return Opened(incident, created=opened.created, posted=False)
        if opened.created:  # the live message that just went out is the playbook's 0-minute alert
            fired = await asyncio.to_thread(self.engine.mark_fired, incident.id, "alert")
            incident = fired or incident
            self.notifier.show(incident.id, known=incident)
            await self._ask_topic(incident, actor)
        self.arm(incident)
        return Opened(incident, created=opened.created)

    async def alert(self, scenario: str, *, fingerprint: str, component: str, summary: str,
                    trace_ids: tuple[str, ...] = (), source: str = "check") -> Opened:
        """A failing signal from detection: a new incident posted as the 0-minute alert, or the
        open one it belongs to counted and its live message brought up to date (one edit, not
        a new message)."""
        opened = await asyncio.to_thread(self.engine.alert, scenario, fingerprint=fingerprint,
                                         component=component, summary=summary, trace_ids=trace_ids,
                                         source=source)
        if not opened.created:
            self.notifier.show(opened.incident.id, known=opened.incident)
            return opened
        return await self._announce(opened, DETECTOR)

    async def recovered(self, fingerprint: str, *, source: str = "check") -> Incident | None:
        """The failing component looks fine again: said on the live message; a person resolves."""
        incident = await asyncio.to_thread(self.engine.recovered, fingerprint, source=source)
        if incident is not None:
            self.notifier.show(incident.id, known=incident)
        return incident

    async def _ask_topic(self, incident: Incident, actor: str) -> None:
        """A runbook whose steps need the topic asks for it once the incident is in the group
        (at open, or when the clock's alert posts it later); best effort, like the write-up."""
        runbook = self.engine.shelf.library.find(incident.scenario)
        if runbook is None or not runbook.needs_topic or incident.topic or incident.pending_reply:
            return
        try:
            await self._ask(incident, "topic", actor, Notice("incident.ask_topic", {"ref": incident.ref}))
        except NotDelivered as exc:
            log.warning("the topic of %s was not asked for (%s)", incident.ref, exc)

    async def repost(self, incident: Incident) -> None:
        """The live message again at the bottom, a write-up that stopped resumed, anything owed
        sent now (`/incident <id>`)."""
        await self.notifier.post(incident)
        await self.resume_writeup(incident)
        self.notifier.deliver(incident.id)

    async def set_severity(self, doc_id: int, severity: str, *, actor: str) -> Incident:
        """An admin's call; the unfired stages follow. Raises Refused."""
        incident = await asyncio.to_thread(self.engine.set_severity, doc_id, severity, actor=actor)
        self.arm(incident)  # replaces the jobs of every unfired stage
        self.notifier.show(doc_id, known=incident)
        return incident

    # -- pressing

    async def press(self, doc_id: int, arg: int, verb: Verb, *, actor: str, admin: bool,
                    message_id: int | None = None) -> Pressed:
        """Apply one press (raises Refused). What it starts is `follow`'s: a transport answers
        the press first, then follows, so the answer never waits for the work."""
        return await asyncio.to_thread(self.engine.press, doc_id, arg, verb, actor=actor,
                                       admin=admin, message_id=message_id)

    async def follow(self, pressed: Pressed, actor: str) -> None:
        """Show the new state, then do what the press started (run, escalate, ask)."""
        incident = pressed.incident
        if pressed.run is not None:
            await self._run(incident, pressed.run, actor)
        else:
            self.notifier.show(incident.id, known=incident)
            self._arm_retry(incident)  # a retry set for later, or one cancelled or skipped
        if pressed.escalate is not None:
            await self.escalate(incident.id, pressed.escalate, by=actor)
        if pressed.ask_override:
            await self._ask(incident, "override", actor,
                            Notice("incident.ask_override", {"ref": incident.ref}))
        if pressed.resolved:
            await self._resolved(incident, actor)

    async def resolve(self, doc_id: int, *, actor: str, admin: bool, reason: str | None) -> Incident:
        """Resolve at once, without a question: verified, or an admin's `reason` when it is not
        (the terminal's way). Raises Refused. The write-up starts as after a press."""
        incident = await asyncio.to_thread(self.engine.resolve, doc_id, actor=actor, admin=admin,
                                           reason=reason)
        await self._resolved(incident, actor)
        return incident

    async def _run(self, incident: Incident, index: int, actor: str) -> None:
        """Run a claimed step's action, record what it found, show it. The message shows
        "running" only when the action is slow to answer: a group gets about 20 messages (edits
        included) a minute, so a quick step costs one edit, not two."""
        step = incident.steps[index]
        task = asyncio.ensure_future(self._run_step(
            step.action or "", step.args, topic=incident.topic, incident_ref=incident.ref,
            actor=actor, progress=self._progress(incident.id, index), opened_at=incident.opened_at))
        done, _ = await asyncio.wait({task}, timeout=SHOW_RUNNING_AFTER_S)
        if not done:
            self.notifier.show(incident.id, known=incident)
        result = await task
        updated = await asyncio.to_thread(self.engine.record_result, incident.id, index, result)
        if result.document is not None:  # kept and owed on the record: sent until delivered
            self.notifier.deliver(incident.id)
        self.notifier.show(incident.id, known=updated)
        self._arm_retry(updated)  # its policy may try again by itself

    def _progress(self, doc_id: int, index: int) -> Callable[[str], None]:
        """A running action's "where I am": on the record, then on the live message (whose
        edits the notifier paces). Best effort: it never holds the action up."""
        pending: set[asyncio.Task] = set()

        async def note(text: str) -> None:
            noted = await asyncio.to_thread(self.engine.note_progress, doc_id, index, text)
            if noted is not None:
                self.notifier.show(doc_id, known=noted)

        def progress(text: str) -> None:
            task = asyncio.ensure_future(note(text))
            pending.add(task)
            task.add_done_callback(_noted(pending))

        return progress

    # -- questions and answers

    async def _ask(self, incident: Incident, kind: str, actor: str, notice: Notice) -> None:
        """Put a question to `actor`; a reply to it is the answer. It is on the record before it
        is sent and its id right after, so a reply in between waits instead of being dropped.
        Raises NotDelivered (the record then says no question is out)."""
        done = self.asking[incident.id] = asyncio.Event()
        try:
            await asyncio.to_thread(self.engine.ask, incident.id, kind, actor)
            try:
                question = await self.notifier.question(incident, notice, to=actor)
            except NotDelivered:
                await asyncio.to_thread(self.engine.not_asked, incident.id, kind)
                raise
            await asyncio.to_thread(self.engine.asked, incident.id, kind, question)
        finally:
            done.set()
            if self.asking.get(incident.id) is done:
                del self.asking[incident.id]

    async def waiting_for_question(self, doc_ids: list[int], timeout_s: float) -> None:
        """Until the questions being put for these incidents are on the record (or `timeout_s`)."""
        for doc_id in doc_ids:
            if (putting := self.asking.get(doc_id)) is not None:
                try:
                    await asyncio.wait_for(putting.wait(), timeout_s)
                except (TimeoutError, asyncio.TimeoutError):
                    pass

    async def answer(self, incident: Incident, question: int, text: str, *, actor: str,
                     admin: bool) -> Answered | None:
        """A reply to the question `question`; None when it was not acceptable and the question
        went out again saying why. Raises Refused."""
        text = text.strip()
        asked = incident.pending_reply.kind if incident.pending_reply else None
        if len(text) > ANSWER_LIMIT or (asked == "topic" and not valid_topic(text)):
            why = (Notice("incident.bad_topic") if asked == "topic"
                   else Notice("postmortem.answer_too_long", {"limit": ANSWER_LIMIT}))
            await self._ask(incident, str(asked), actor, why)
            return None
        kind, incident = await asyncio.to_thread(self.engine.answer, incident.id, question,
                                                 text, actor=actor, admin=admin)
        if kind == "override":
            await self._resolved(incident, actor)
        elif kind in WRITEUP_ORDER:
            await self._next_writeup_step(incident, actor)
        else:
            self.notifier.show(incident.id, known=incident)
        return Answered(kind, incident)

    # -- resolving and the write-up

    async def _resolved(self, incident: Incident, actor: str) -> None:
        """The clock stops, the write-up starts with its first question, the team sees it."""
        self.disarm(incident.id)
        try:
            await self._next_writeup_step(incident, actor)
        except NotDelivered as exc:  # asked again at the next start, or on a repost
            log.warning("the write-up of %s was not asked for (%s)", incident.ref, exc)
        self.notifier.show(incident.id, known=incident)

    async def _next_writeup_step(self, incident: Incident, actor: str) -> None:
        """The next unanswered question of the write-up, or the post-mortem when all are in."""
        for kind in WRITEUP_ORDER:
            if incident.postmortem.answer(kind) is None:
                await self._ask(incident, kind, actor,
                                Notice(f"postmortem.ask_{kind}", {"ref": incident.ref}))
                return
        await self.write_postmortem(incident)

    async def resume_writeup(self, incident: Incident) -> bool:
        """A resolved incident whose write-up stopped (the transport failed, a restart): ask the
        next question again, or write the post-mortem. True when it did."""
        if (incident.status != Status.RESOLVED or incident.postmortem.written_at
                or (incident.pending_reply and incident.pending_reply.message_id)):
            return False  # (a question recorded but never sent is asked again)
        await self._next_writeup_step(incident, incident.resolved_by or BOT_ACTOR)
        return True

    async def write_postmortem(self, incident: Incident) -> Incident:
        """Render, store and owe the post-mortem; the live message shows it is written."""
        now = self.clock()
        # written as of now, so its own checklist shows the write-up ticked
        final = replace(incident, postmortem=replace(incident.postmortem, written_at=now))
        markdown = render_postmortem(final, lang=self.lang, tz=self.tz, now=now, redact=self.redact)
        saved = await asyncio.to_thread(
            self.engine.save_postmortem, incident.id, markdown=markdown,
            filename=postmortem_filename(incident),
            caption=self.tr("postmortem.caption", ref=incident.ref))
        self.notifier.deliver(incident.id)  # kept and owed on the record: sent until delivered
        self.notifier.show(incident.id, known=saved)
        await self._record_mistakes(saved)
        return saved

    async def _record_mistakes(self, incident: Incident) -> None:
        """The playbook's last step: a dated entry in the pipeline's CLAUDE.md, and where it is
        said in the group. Best effort: the post-mortem stands whatever happens here."""
        if self.mistakes is None:
            return

        def one_line(text: str | None) -> str:
            return clip_words(self.redact(" ".join((text or "-").split())), MISTAKE_CHARS)

        day = local_time(incident.resolved_at or self.clock(), self.tz)[:10]
        entry = (f"## {day} · {incident.ref} · {incident.title.get(self.lang)} ({incident.severity})\n"
                 f"- Cause: {one_line(incident.postmortem.root_cause)}\n"
                 f"- Prevention: {one_line(incident.postmortem.prevention)}\n"
                 f"- Post-mortem: {incident.postmortem.filename or '-'}\n")
        try:
            backup = await self.mistakes.append(incident.ref, entry, actor=incident.resolved_by)
        except Exception:
            log.exception("the mistakes record of %s was not written", incident.ref)
            return
        if backup is not None:
            await self._say(incident, Notice("postmortem.mistakes_recorded",
                                             {"ref": incident.ref, "file": "CLAUDE.md", "backup": backup}))

    # -- the escalation clock

    def arm(self, incident: Incident | None) -> None:
        """Schedule every unfired stage of an unresolved incident, its next reminder, and the
        retry a step waits for (a due one, after a restart, runs at once)."""
        if incident is None or incident.status == Status.RESOLVED:
            return
        for entry in incident.escalation:
            if entry.fired_at is None:
                self.scheduler.at(_job(incident.id, entry.stage), entry.due_at,
                                  _later(self.escalate, incident.id, entry.stage))
        self._arm_reminder(incident)
        self._arm_retry(incident)

    def _arm_retry(self, incident: Incident) -> None:
        self.scheduler.cancel(_job(incident.id, "retry"))
        for index, state in enumerate(incident.step_state):
            if state.status == StepStatus.WAITING and state.retry_at is not None:
                self.scheduler.at(_job(incident.id, f"retry:{index}"), state.retry_at,
                                  _later(self._retry_due, incident.id, index))

    async def _retry_due(self, doc_id: int, index: int) -> None:
        """A waiting step's time came: run its action again (unless someone already did, or
        cancelled it, or skipped it)."""
        claimed = await asyncio.to_thread(self.engine.claim_retry, doc_id, index)
        if claimed is not None:
            await self._run(claimed, index, BOT_ACTOR)

    def disarm(self, doc_id: int) -> None:
        self.scheduler.cancel(_job(doc_id, ""))

    def _arm_reminder(self, incident: Incident) -> None:
        name = _job(incident.id, "remind")
        self.scheduler.cancel(name)
        due = next_reminder(incident, every=self.team.remind_every, now=self.clock())
        if due is not None:
            self.scheduler.at(name, due, _later(self._remind, incident.id))

    async def escalate(self, doc_id: int, stage: str, *, by: str | None = None) -> None:
        """Send one stage of the clock: by the clock (`by` None), or early by someone's press."""
        async with self._clock_lock(doc_id):
            await self._escalate(doc_id, stage, by=by)

    async def _escalate(self, doc_id: int, stage: str, *, by: str | None) -> None:
        incident = await asyncio.to_thread(self.engine.get, doc_id)
        if incident is None or incident.status == Status.RESOLVED:
            return
        entry = incident.stage(stage)
        if by is None and entry is not None and entry.fired_at is not None:
            return  # already sent (pressed early, or before a restart)
        ref = incident.ref
        age = self._age(incident)
        if stage == "alert":
            try:
                await self.notifier.post(incident)
                delivered = True
            except NotDelivered as exc:
                log.warning("alert for %s could not be posted (%s)", ref, exc)
                delivered = False
        elif stage == "retries":  # the playbook's "30 min: three retries done": what really ran
            key = "escalation.retries" if incident.acknowledged_at else "escalation.retries_unacked"
            retries = sum(1 for e in incident.timeline if e.name == "step.retry")
            waiting = [s.retry_at for s in incident.step_state if s.retry_at is not None]
            next_at = local_time(min(waiting), self.tz) if waiting else "-"
            delivered = await self._say(incident, Notice(key, {"ref": ref, "age": age,
                                                                "retries": retries,
                                                                "next": next_at}))
        else:  # pd, manual: a page, by the clock or by someone's press
            people = self.team.pd_user_ids if stage == "pd" else self.team.admin_user_ids
            notice = Notice(f"escalation.{stage}" + ("_pressed" if by else ""), {
                "ref": ref, "title": incident.title.get(self.lang), "age": age,
                "by": display_name(by)})
            delivered = await self.notifier.page(incident, people, notice, stage=stage)
        if not delivered:  # nobody heard it: not fired; try again shortly rather than lose it
            self.scheduler.at(_job(doc_id, stage), self.clock() + timedelta(seconds=RETRY_UNDELIVERED_S),
                              _later(self.escalate, doc_id, stage))
            return
        fired = await asyncio.to_thread(self.engine.mark_fired, doc_id, stage)
        if fired is not None:
            self._arm_reminder(fired)
            self.notifier.show(doc_id, known=fired)
            if stage == "alert":  # posted by the clock: the incident is in the group only now
                await self._ask_topic(fired, fired.opened_by or BOT_ACTOR)

    async def _remind(self, doc_id: int) -> None:
        async with self._clock_lock(doc_id):
            incident = await asyncio.to_thread(self.engine.get, doc_id)
            if incident is None or incident.status != Status.OPEN:
                return
            now = self.clock()
            due = next_reminder(incident, every=self.team.remind_every, now=now)
            if due is None or due > now + REMINDER_SLACK:
                # a stage that fired meanwhile re-armed the reminder from a record that did not
                # yet hold the reminder just sent: it is not due again yet
                self._arm_reminder(incident)
                return
            await self._say(incident, Notice("escalation.reminder",
                                             {"ref": incident.ref, "age": self._age(incident)}))
            noted = await asyncio.to_thread(self.engine.note_reminder, doc_id)
            if noted is not None:
                self._arm_reminder(noted)

    async def _say(self, incident: Incident, notice: Notice) -> bool:
        try:
            await self.notifier.say(incident, notice)
        except NotDelivered as exc:
            log.warning("escalation message for %s could not be sent (%s)", incident.ref, exc)
            return False
        return True

    def _age(self, incident: Incident) -> str:
        return format_duration(self.clock() - incident.opened_at, self.tr)

    def _clock_lock(self, doc_id: int) -> asyncio.Lock:
        return self._clock_locks.setdefault(doc_id, asyncio.Lock())

    # -- at start

    async def start(self) -> tuple[int, int, int]:
        """After a restart: steps a crash left running are pending again; every open incident's
        clock runs again and its message shows the stored state (also what the terminal changed
        meanwhile); stopped write-ups resume; owed documents go out. (open, resumed, owing)."""
        for incident in await asyncio.to_thread(self.engine.recover_interrupted):
            log.warning("%s: a step was running when the bot stopped; it is pending again", incident.ref)
        incidents = await asyncio.to_thread(self.engine.unresolved)
        for incident in incidents:
            self.arm(incident)
            if incident.message:
                self.notifier.show(incident.id, known=incident)
        resumed = 0
        for incident in await asyncio.to_thread(self.engine.unwritten, RESUME_WITHIN_DAYS):
            try:
                # resolved while the bot was away (from the terminal): the team sees it resolved
                # before the write-up's question, also when it was never posted at all
                if incident.message:
                    self.notifier.show(incident.id, known=incident)
                else:
                    incident = await self.notifier.post(incident)
                resumed += await self.resume_writeup(incident)
            except NotDelivered as exc:
                log.warning("write-up of %s not resumed (%s)", incident.ref, exc)
        owing = await asyncio.to_thread(self.engine.owing)
        for incident in owing:
            self.notifier.deliver(incident.id)
        return len(incidents), resumed, len(owing)


def _noted(pending: set[asyncio.Task]) -> Callable[[asyncio.Task], None]:
    def done(task: asyncio.Task) -> None:
        pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a progress note was not written: %s", task.exception())

    return done


def _job(doc_id: int, what: str) -> str:
    return f"inc:{doc_id}:{what}"


def _later(work: Callable[..., Awaitable[None]], *args: object) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        await work(*args)

    return run
