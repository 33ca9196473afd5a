"""The incident state machine: open, press, record, resolve. No Telegram in here.

It hands out and takes typed `Incident`s; the store's JSON is converted on its way in and out
here only (`bot.incidents.stored`), and queries over the raw rows stay in this module.

Every change is a read-check-write of the incident record with the version it was read at
(`Store.update(expect_version=...)`), so of two operators pressing the same button at the same
moment exactly one changes the incident; the other is re-checked against the new record and told
why nothing happened. Legal moves are a table (`RULES`), not a cascade of ifs.

The engine's methods are synchronous (the store fsyncs): handlers call them in a worker thread.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bot.actions.recovery.retry_policy import parse_policy
from bot.actions.registry import Document, Outcome, StepResult
from bot.errors import ErrorKind, Refusal
from bot.actors import display_name
from bot.clock import Clock, utc_now
from bot.incidents.escalation_plan import STAGES, escalation_plan
from bot.incidents.model import (
    TICK_VERBS,
    UNRESOLVED,
    Alerts,
    Event,
    Incident,
    LiveMessage,
    Owed,
    Question,
    Status,
    StepSpec,
    StepState,
    StepStatus,
    Summary,
    Verb,
)
from bot.incidents.offers import offered, runnable
from bot.incidents.record import (
    ACKNOWLEDGED,
    BOT_ACTOR,
    DETECTOR,
    CONFIRMING,
    DONE,
    FAILED,
    MITIGATING,
    OPEN,
    PENDING,
    RESOLVED,
    RUNNING,
    SKIPPED,
    WAITING,
    done_by_hand_allowed,
    event,
    new_record,
    valid_topic,
    verify_done,
)
from bot.incidents.stored import changed_fields, from_doc, iso, summary_of, to_doc
from bot.runbooks import SEVERITIES, Runbook, RunbookShelf
from bot.runbooks.model import Phase, Severity
from bot.secrets import Redactor
from bot.store import Conflict, NotFound, Store

log = logging.getLogger(__name__)
TABLE = "incidents"
INDEX = "incident_index"  # one row per archived incident
ARCHIVE_AFTER = timedelta(days=7)  # as long as a stopped write-up is resumed (flows.RESUME_WITHIN_DAYS)
WRITE_ATTEMPTS = 8
SUMMARY_LINES = 8  # detail lines of a result kept on the record (the rest went out as a file)
RETRY_LATER = timedelta(hours=1)  # the "retry in 1 hour" button (the playbook's manual wait)
RETRY_SLACK = timedelta(seconds=0.5)  # a retry job this early still counts as due
PROGRESS_CHARS = 120  # a running action's progress line on the record
ESCALATE_COOLDOWN = timedelta(minutes=2)  # a double tap on Escalate pages once
_SAFE_FILE = re.compile(r"[^A-Za-z0-9._-]+")


class Refused(Refusal):
    """A press or command that changes nothing; `key` is the message to answer with."""


@dataclass(frozen=True)
class Rule:
    statuses: frozenset[Status]  # incident statuses the verb is legal in
    step_states: frozenset[StepStatus] | None = None  # a step verb: the current step's legal states


CONFIRM_FOR = timedelta(minutes=5)  # how long a step's "are you sure?" can be answered
_ANY_UNRESOLVED = frozenset(UNRESOLVED)
_ACTIONABLE = frozenset({PENDING, FAILED})
# The first, specific checks of a press (each refusal says why); after them every press must
# also be one the incident offers now (`bot.incidents.offers`), which is what the buttons show.
RULES: dict[Verb, Rule] = {
    Verb.RUN: Rule(_ANY_UNRESOLVED, _ACTIONABLE | {WAITING}),  # from WAITING: "retry now"
    Verb.DONE: Rule(_ANY_UNRESOLVED, _ACTIONABLE),
    Verb.SKIP: Rule(_ANY_UNRESOLVED, _ACTIONABLE | {WAITING}),
    Verb.CONFIRM: Rule(_ANY_UNRESOLVED, frozenset({CONFIRMING})),
    Verb.CANCEL: Rule(_ANY_UNRESOLVED, frozenset({CONFIRMING, WAITING})),
    Verb.LATER: Rule(_ANY_UNRESOLVED, _ACTIONABLE),
    Verb.ACKNOWLEDGE: Rule(frozenset({OPEN})),
    Verb.ESCALATE: Rule(_ANY_UNRESOLVED),
    Verb.RESOLVE: Rule(_ANY_UNRESOLVED),
    Verb.TICK: Rule(frozenset({*UNRESOLVED, RESOLVED})),
    Verb.UNTICK: Rule(frozenset({*UNRESOLVED, RESOLVED})),
}
REPLY_KINDS = ("topic", "override", "root_cause", "prevention")


@dataclass(frozen=True)
class Opened:
    incident: Incident
    created: bool  # False: an open incident for the scenario already existed; this was linked
    posted: bool = True  # False: its live message could not be posted yet (the clock will)


@dataclass(frozen=True)
class Pressed:
    """What a legal press did, and what the handler must do next."""

    incident: Incident
    notice: str  # message key for the callback answer
    run: int | None = None  # run this step's action now (it is claimed: status running)
    retry: int | None = None  # this step now waits to run again by itself: arm its job
    ask_override: bool = False  # ask the admin for the reason to resolve unverified
    escalate: str | None = None  # fire this escalation stage now
    resolved: bool = False  # just resolved: ask for the root cause


Change = Callable[[Incident], Incident]


class IncidentEngine:
    def __init__(self, store: Store, shelf: RunbookShelf, *, offsets: Any, tz: tzinfo,
                 clock: Clock = utc_now, redact: Callable[[str], str] | None = None) -> None:
        self.store, self.shelf, self.offsets, self.tz, self.clock = store, shelf, offsets, tz, clock
        # what people type and what actions report is redacted before it is stored: a record
        # outlives the chat message (post-mortems, /stats, backups of DATA_DIR)
        self.redact = redact or Redactor()
        self._open_lock = threading.Lock()
        # the last version of each incident read or written here, with the JSON it was read from:
        # a record nobody changed since is not copied out of the store and converted again
        self._known: dict[int, tuple[Incident, dict]] = {}

    # -- reading

    def get(self, doc_id: int) -> Incident | None:
        """The incident as stored now. Hand it around, never change it: it may be shared."""
        read = self._read(doc_id)
        return None if read is None else read[0]

    def _read(self, doc_id: int) -> tuple[Incident, dict] | None:
        version = self.store.version(TABLE, doc_id)
        known = self._known.get(doc_id)
        if version is None:
            self._known.pop(doc_id, None)
            return None
        if known is not None and known[0].version == version:
            return known
        doc = self.store.get(TABLE, doc_id)
        if doc is None:  # removed in between
            return None
        read = self._known[doc_id] = (from_doc(doc), doc)
        return read

    def latest(self, incident: Incident) -> Incident | None:
        """`incident` itself when the store holds no newer version, else a fresh read."""
        if self.store.version(TABLE, incident.id) == incident.version:
            return incident
        return self.get(incident.id)

    def _find(self, where: Callable[[dict], bool], *, limit: int | None = None,
              newest_first: bool = True) -> list[Incident]:
        return [from_doc(d) for d in self.store.find(TABLE, where, limit=limit,
                                                      newest_first=newest_first)]

    def by_ref(self, ref: str) -> Incident | None:
        """The incident, also an archived one (read from its month's file, marked `archived`:
        nothing changes it any more)."""
        ref = ref.upper()
        found = self._find(lambda d: d["ref"] == ref, limit=1)
        if found:
            return found[0]
        index = self.store.find(INDEX, lambda d: d["ref"] == ref, limit=1)
        if not index:
            return None
        archived = [r for r in self.store.archived(TABLE, index[0]["month"]) if r.get("ref") == ref]
        return from_doc({**archived[-1], "archived": True}) if archived else None

    def unresolved(self) -> list[Incident]:
        """Open incidents, oldest first."""
        return self._find(lambda d: d["status"] != RESOLVED, newest_first=False)

    def recent(self, days: int) -> list[Summary]:
        """Incidents opened in the last `days`: the ones in memory and the archived ones (from
        their index rows), as much of each as /stats reads."""
        since = iso(self.clock() - timedelta(days=days))
        found = []
        for table in (TABLE, INDEX):
            for d in self.store.find(table, lambda d: str(d.get("opened_at")) >= since):
                try:
                    found.append(summary_of(d))
                except (KeyError, TypeError, ValueError) as exc:  # an index row is not checked at start
                    log.warning("%s #%s left out of /stats: %s", table, d.get("id"), exc)
        return found

    def archive_settled(self, *, older_than: timedelta = ARCHIVE_AFTER) -> int:
        """Move incidents nobody works on any more out of memory: resolved longer ago than
        `older_than`, written up, nothing owed, no question out. An index row each keeps them
        in /stats and findable by ref. How many."""
        before = iso(self.clock() - older_than)

        def settled(d: dict) -> bool:
            return (d["status"] == RESOLVED and (d["resolved_at"] or "") < before
                    and bool(d["postmortem"].get("written_at")) and not d.get("owed")
                    and not d.get("pending_reply"))

        def index_row(doc_id: int, d: dict) -> dict:
            return {"incident_id": doc_id, "ref": d["ref"], "scenario": d["scenario"],
                    "severity": d["severity"], "status": d["status"], "opened_at": d["opened_at"],
                    "acknowledged_at": d["acknowledged_at"], "resolved_at": d["resolved_at"],
                    "month": _month(d)}

        moved = self.store.archive(TABLE, settled, month_of=_month, index_table=INDEX,
                                   index_of=index_row)
        for doc_id in moved:
            self._known.pop(doc_id, None)
        # their write-ups go with them, also those of a move a crash cut short
        self.store.archive("postmortems", lambda d: self.store.version(TABLE, d["incident_id"]) is None,
                           month_of=lambda d: str(d["written_at"])[:7])
        return len(moved)

    def unwritten(self, days: int) -> list[Incident]:
        """Resolved in the last `days`, no post-mortem yet, and no question out waiting for it
        (one recorded but never sent counts as not asked)."""
        since = iso(self.clock() - timedelta(days=days))
        return self._find(lambda d: d["status"] == RESOLVED and (d["resolved_at"] or "") >= since
                          and not d["postmortem"].get("written_at")
                          and not (d.get("pending_reply") or {}).get("message_id"),
                          newest_first=False)

    def awaiting_reply(self, chat_id: int, message_id: int) -> Incident | None:
        """The incident whose question (a bot message) this is a reply to."""
        found = self._find(lambda d: (d.get("pending_reply") or {}).get("message_id") == message_id
                           and (d.get("message") or {}).get("chat_id") == chat_id, limit=1)
        return found[0] if found else None

    # -- opening

    def open(self, scenario: str, *, topic: str | None, actor: str) -> Opened:
        """A new incident at its first step, or the open one for the same scenario, linked."""
        if topic is not None and not valid_topic(topic):  # a folder name the actions will read
            raise Refused("incident.bad_topic")
        library = self.shelf.library
        runbook = library.find(scenario)
        if runbook is None:
            known = ", ".join(rb.aliases[0] if rb.aliases else rb.id for rb in library.runbooks.values())
            raise Refused("incident.unknown_scenario", given=scenario, known=known)
        with self._open_lock:
            return self._open_locked(runbook, topic=topic, actor=actor, now=self.clock())

    def _open_locked(self, runbook: Runbook, *, topic: str | None, actor: str, now: datetime) -> Opened:
        """`open`, with `_open_lock` held by the caller."""
        existing = self.store.find(TABLE, lambda d: d["scenario"] == runbook.id
                                   and d["status"] != RESOLVED, limit=1)
        if existing:

            def link(d: Incident) -> Incident:
                return replace(d, linked=(*d.linked, actor), topic=d.topic or topic,
                               timeline=(*d.timeline, event(now, actor, "linked", {"topic": topic})))

            return Opened(self._mutate(existing[0]["id"], link), created=False)
        library = self.shelf.library
        day = now.astimezone(self.tz).strftime("%Y%m%d")
        prefix = f"INC-{day}-"
        # a durable sequence, never the count of records: a lost record must not free its ref
        on_record = [int(d["ref"][len(prefix):]) for d in self.store.find(
            TABLE, lambda d: d["ref"].startswith(prefix)) if d["ref"][len(prefix):].isdigit()]
        sequence = self.store.next_sequence(f"incident-ref:{day}", floor=max(on_record, default=0))
        record = new_record(runbook, {"during": library.during, "recovery": library.recovery},
                            ref=f"{prefix}{sequence:03d}", topic=topic, actor=actor, now=now,
                            offsets=self.offsets)
        doc_id = self.store.insert(TABLE, to_doc(record))
        log.info("incident %s opened (%s, %s) by %s", record.ref, runbook.id,
                 runbook.severity, actor)
        opened = self.get(doc_id)
        if opened is None:  # just inserted: gone only if removed in between
            raise NotFound(f"{TABLE} #{doc_id} does not exist")
        return Opened(opened, created=True)

    # -- detection (`bot.detection`): one fingerprint, one open incident

    def alert(self, scenario: str, *, fingerprint: str, component: str, summary: str,
              trace_ids: tuple[str, ...] = (), source: str = "check") -> Opened:
        """A failing signal: counted on the open incident it already stands for, or on the open
        one of its scenario (one opened by hand is joined, not duplicated); else a new incident
        opened by the detector. A repeat after a recovery (flapping) stays the same incident."""
        summary = " ".join(summary.split())[:300]
        with self._open_lock:
            now = self.clock()
            runbook = self.shelf.library.find(scenario)
            if runbook is None:
                raise Refused("incident.unknown_scenario", given=scenario, known="-")
            found = (self.store.find(TABLE, lambda d: d["status"] != RESOLVED and (
                d.get("alerts") or {}).get("fingerprint") == fingerprint, limit=1)
                or self.store.find(TABLE, lambda d: d["scenario"] == runbook.id
                                   and d["status"] != RESOLVED, limit=1))
            if found:
                def seen(d: Incident) -> Incident:
                    return _signal_seen(d, fingerprint, component, summary, trace_ids, now, source)

                return Opened(self._mutate(found[0]["id"], seen), created=False)
            # opened and counted under the one lock: two signals at once make one incident
            opened = self._open_locked(runbook, topic=None, actor=DETECTOR, now=now)
            first = self._mutate(opened.incident.id, lambda d: _signal_seen(
                d, fingerprint, component, summary, trace_ids, now, source))
        log.info("incident %s opened by detection (%s)", first.ref, fingerprint)
        return Opened(first, created=True)

    def recovered(self, fingerprint: str, *, source: str = "check") -> Incident | None:
        """The component of an open incident's signal looks fine again: said on the record (the
        incident stays open until a person resolves it). Only the source that saw the latest
        failure can say so (a health check that passes cannot see a failed log line). None when
        nothing it saw was failing."""
        found = self.store.find(TABLE, lambda d: d["status"] != RESOLVED and (
            d.get("alerts") or {}).get("fingerprint") == fingerprint
            and not (d.get("alerts") or {}).get("recovered_at")
            and (d.get("alerts") or {}).get("source", "check") == source, limit=1)
        if not found:
            return None
        now = self.clock()

        def fine(d: Incident) -> Incident:
            if d.alerts is None or d.alerts.recovered_at is not None:
                return d
            return replace(d, alerts=replace(d.alerts, recovered_at=now), timeline=(
                *d.timeline, event(now, DETECTOR, "signal.recovered", {"component": d.alerts.component})))

        return self._mutate(found[0]["id"], fine)

    # -- pressing

    def press(self, doc_id: int, arg: int, verb: Verb, *, actor: str, admin: bool,
              message_id: int | None = None) -> Pressed:
        """Apply one press, re-checked against the stored record. Raises Refused.

        `message_id`: the message the button was on, when the press came from one; it must be
        the incident's live message (a moved-away copy, or any other message, is not)."""
        rule = RULES.get(verb) if isinstance(verb, Verb) else None
        if rule is None:
            raise Refused("button.no_longer_valid")
        outcome: dict[str, Any] = {}

        def change(d: Incident) -> Incident:
            outcome.clear()
            if message_id is not None and d.message is not None and d.message.message_id != message_id:
                raise Refused("button.no_longer_valid")
            if d.status not in rule.statuses:
                raise Refused("incident.already_resolved" if d.status == RESOLVED
                              else "incident.not_now", ref=d.ref)
            now = self.clock()
            if rule.step_states is not None:
                changed = self._step_press(d, arg, verb, rule, actor=actor, admin=admin, now=now,
                                           outcome=outcome)
            else:
                handler = IncidentEngine._press_tick if verb in TICK_VERBS else self._PRESS[verb]
                changed = handler(self, d, arg, verb=verb, actor=actor, admin=admin, now=now,
                                  outcome=outcome)
            if not offered(d, verb, arg):  # no button for it: a forged or stale press
                raise Refused("incident.not_now", ref=d.ref)
            return changed

        incident = self._mutate(doc_id, change)
        return Pressed(incident, **outcome)

    def _step_press(self, d: Incident, arg: int, verb: Verb, rule: Rule, *, actor: str, admin: bool,
                    now: datetime, outcome: dict) -> Incident:
        found = d.current_step()
        if found is None or found[0] != arg:
            raise Refused("incident.step_moved", ref=d.ref)
        index, step, state = found
        if rule.step_states is None or state.status not in rule.step_states:
            if state.status == RUNNING:
                raise Refused("incident.step_running", by=display_name(state.by))
            raise Refused("incident.step_moved", ref=d.ref)
        if step.admin and not admin:
            raise Refused("access.needs_admin_short")
        if verb in (Verb.RUN, Verb.CONFIRM):
            if not runnable(step):
                raise Refused("incident.nothing_to_run")
            if verb == Verb.CONFIRM and state.at is not None and now - state.at > CONFIRM_FOR:
                # an "are you sure?" answered long after it was asked answers another moment
                raise Refused("incident.confirm_expired", minutes=int(CONFIRM_FOR.total_seconds() // 60))
            if verb == Verb.RUN and step.confirm:
                outcome.update(notice="incident.confirm_asked")
                return _step_moved(d, index, replace(state, status=CONFIRMING, by=actor, at=now,
                                                     retry_at=None),
                                   event(now, actor, "step.confirm_asked", {"step": step.id}))
            outcome.update(notice="incident.running", run=index)
            return _step_moved(d, index, replace(state, status=RUNNING, by=actor, at=now,
                                                 runs=state.runs + 1, retry_at=None),
                               event(now, actor, "step.run", {"step": step.id, "action": step.action}))
        if verb == Verb.CANCEL and state.status == WAITING:
            outcome.update(notice="incident.retry_cancelled")
            return _step_moved(d, index, replace(state, status=PENDING, by=actor, at=now,
                                                 retry_at=None, failures=0),
                               event(now, actor, "step.retry_cancelled", {"step": step.id}))
        if verb == Verb.CANCEL:
            outcome.update(notice="incident.cancelled")
            return _step_moved(d, index, replace(state, status=PENDING, by=actor, at=now),
                               event(now, actor, "step.cancelled", {"step": step.id}))
        if verb == Verb.LATER:
            # a step that asks "are you sure?" is never run later without that answer
            if not (runnable(step) and step.retry) or step.confirm:
                raise Refused("incident.nothing_to_run")
            due = now + RETRY_LATER
            outcome.update(notice="incident.retry_later", retry=index)
            return _step_moved(d, index, replace(state, status=WAITING, by=actor, at=now,
                                                 retry_at=due),
                               event(now, actor, "step.retry_later", {"step": step.id, "at": iso(due)}))
        if verb == Verb.DONE:
            if not done_by_hand_allowed(step, state):
                raise Refused("incident.run_it")
            outcome.update(notice="incident.step_done")
            moved = _step_moved(d, index, replace(state, status=DONE, by=actor, at=now),
                                event(now, actor, "step.done", {"step": step.id}))
            return self._advance(moved, index, step, actor, now)
        # skip (a retry it waited for goes with it)
        outcome.update(notice="incident.step_skipped")
        return replace(_step_moved(d, index, replace(state, status=SKIPPED, by=actor, at=now,
                                                     retry_at=None),
                                   event(now, actor, "step.skipped", {"step": step.id})),
                       current=index + 1)

    @staticmethod
    def _advance(d: Incident, index: int, step: StepSpec, actor: str, now: datetime) -> Incident:
        """Move past a finished step; doing a respond step means the team is mitigating."""
        d = replace(d, current=index + 1)
        if step.phase == Phase.RESPOND and d.status in (OPEN, ACKNOWLEDGED):
            d = replace(d, status=MITIGATING, mitigating_at=now)
            if d.acknowledged_at is None:  # working on it is acknowledging it
                d = replace(d, acknowledged_at=now, lead=actor, timeline=(
                    *d.timeline, event(now, actor, "acknowledged", {"implicit": True})))
        return d

    def _press_ack(self, d: Incident, arg: int, *, verb: Verb, actor: str, admin: bool,
                   now: datetime, outcome: dict) -> Incident:
        outcome.update(notice="incident.acknowledged_short")
        return replace(d, status=ACKNOWLEDGED, acknowledged_at=now, lead=actor,
                       timeline=(*d.timeline, event(now, actor, "acknowledged")))

    def _press_esc(self, d: Incident, arg: int, *, verb: Verb, actor: str, admin: bool,
                   now: datetime, outcome: dict) -> Incident:
        last = next((e for e in reversed(d.timeline) if e.name == "escalate.pressed"), None)
        if last is not None and now - last.at < ESCALATE_COOLDOWN:
            raise Refused("incident.escalated_recently", by=display_name(last.actor))
        # pressing Escalate means "more people, now": the PD, then the admins, then the PD again
        unfired = [e.stage for e in d.escalation if e.fired_at is None and e.stage in ("pd", "manual")]
        stage = unfired[0] if unfired else "pd"
        outcome.update(notice="incident.escalating", escalate=stage)
        return replace(d, timeline=(*d.timeline, event(now, actor, "escalate.pressed", {"stage": stage})))

    def _press_res(self, d: Incident, arg: int, *, verb: Verb, actor: str, admin: bool,
                   now: datetime, outcome: dict) -> Incident:
        if verify_done(d):
            outcome.update(notice="incident.resolved_short", resolved=True)
            return self._resolution(d, actor, now, override=None)
        if not admin:
            raise Refused("incident.verify_first")
        outcome.update(notice="incident.override_asked", ask_override=True)
        return replace(d, timeline=(*d.timeline, event(now, actor, "resolve.override_asked")))

    def _press_tick(self, d: Incident, arg: int, *, verb: Verb, actor: str, admin: bool,
                    now: datetime, outcome: dict) -> Incident:
        items = d.checklists["recovery"]
        if not 0 <= arg < len(items) or "manual" not in items[arg].ticked_by:
            raise Refused("button.no_longer_valid")
        item = items[arg].id
        ticks = d.ticks["recovery"]
        want = verb == Verb.TICK
        if (item in ticks) == want:
            raise Refused("incident.already_ticked" if want else "incident.already_unticked")
        name = "checklist.ticked" if want else "checklist.unticked"
        outcome.update(notice="incident.ticked" if want else "incident.unticked")
        return replace(d, ticks={**d.ticks, "recovery": (*ticks, item) if want
                                 else tuple(t for t in ticks if t != item)},
                       timeline=(*d.timeline, event(now, actor, name, {"list": "recovery", "item": item})))

    _PRESS = {Verb.ACKNOWLEDGE: _press_ack, Verb.ESCALATE: _press_esc, Verb.RESOLVE: _press_res}

    def resolve(self, doc_id: int, *, actor: str, admin: bool, reason: str | None) -> Incident:
        """Resolve in one step, without a question: verified, or unverified on an admin's
        `reason` (the terminal's way; a button asks for the reason instead). Raises Refused."""

        def change(d: Incident) -> Incident:
            if d.status == RESOLVED:
                raise Refused("incident.already_resolved", ref=d.ref)
            if not offered(d, Verb.RESOLVE, 0):
                raise Refused("incident.not_now", ref=d.ref)
            if verify_done(d):
                return self._resolution(d, actor, self.clock(), override=None)
            if not admin:
                raise Refused("incident.verify_first")
            if reason is None or not reason.strip():
                raise Refused("incident.reason_needed", ref=d.ref)
            return self._resolution(d, actor, self.clock(), override=self.redact(reason.strip()))

        return self._mutate(doc_id, change)

    @staticmethod
    def _resolution(d: Incident, actor: str, now: datetime, *, override: str | None) -> Incident:
        detail = {"override": override} if override else {}
        return replace(d, status=RESOLVED, resolved_at=now, resolved_by=actor,
                       resolve_override=override, pending_reply=None,
                       timeline=(*d.timeline, event(now, actor, "resolved", detail)))

    # -- results and replies

    def record_result(self, doc_id: int, index: int, result: StepResult) -> Incident:
        """Write a step's result on the record and move the walk on when it passed. A document
        the result carries is kept first (`Store.put_document`) and owed to the group in the
        same write, so it is sent until it is delivered, also after a restart."""
        owed = self._keep(doc_id, result.document, "file") if result.document else None

        def change(d: Incident) -> Incident:
            now = self.clock()
            mine, step = d.step_state[index], d.steps[index]
            if mine.status != RUNNING:  # a restart already reset it; keep the result anyway
                log.warning("result for %s step %s arrived in state %s", d.ref, step.id, mine.status)
            outcome = result.outcome
            retry_at, failures = None, 0
            if outcome is Outcome.FAIL:
                failures = mine.failures + 1
                retry_at = _retry_at(step, failures, result, now)
            if retry_at is not None:  # the policy tries again by itself
                status = WAITING
            elif outcome in (Outcome.ERROR, Outcome.UNAVAILABLE):
                status = PENDING
            elif step.phase == Phase.VERIFY and outcome is not Outcome.OK:
                # verified means 🟢: a 🟡 (stale stats, a warning) is not fixed yet
                status = FAILED
            else:
                status = DONE
            summary = self.redact(result.summary)
            mine = replace(mine, status=status, outcome=outcome, summary=summary, progress=None,
                           retry_at=retry_at, failures=failures if retry_at else 0,
                           lines=tuple(self.redact(line) for line in result.lines[:SUMMARY_LINES]),
                           more=max(0, len(result.lines) - SUMMARY_LINES), at=now)
            d = _step_moved(d, index, mine, event(now, mine.by, "step.result", {
                "step": step.id, "outcome": outcome.value, "summary": summary}))
            if retry_at is not None:
                d = replace(d, timeline=(*d.timeline, event(now, BOT_ACTOR, "step.retry_scheduled", {
                    "step": step.id, "at": iso(retry_at), "attempt": failures + 1})))
            if owed is not None:
                d = replace(d, owed=(*d.owed, owed))
            d = replace(d, trace_ids=(*d.trace_ids, *(t for t in dict.fromkeys(result.trace_ids)
                                                       if t not in d.trace_ids)))
            if status == DONE and d.current == index:
                d = self._advance(d, index, step, mine.by or BOT_ACTOR, now)
            return d

        return self._mutate(doc_id, change)

    def ask(self, doc_id: int, kind: str, actor: str) -> Incident:
        """Record that the bot is about to ask `kind`, before the question is sent: a reply can
        arrive before the send returns. `asked` then names the question's message."""
        assert kind in REPLY_KINDS
        return self._mutate(doc_id, lambda d: replace(d, pending_reply=Question(kind, None, actor)))

    def asked(self, doc_id: int, kind: str, message_id: int) -> Incident | None:
        """The question `ask` recorded went out as `message_id`; None when it is moot (another
        question replaced it meanwhile)."""

        def change(d: Incident) -> Incident:
            pending = d.pending_reply
            if pending is None or pending.kind != kind or pending.message_id is not None:
                raise Refused("incident.question_closed")
            d = replace(d, pending_reply=replace(pending, message_id=message_id))
            if kind != "override":  # (that one is on the timeline as the press that asked it)
                d = replace(d, timeline=(*d.timeline, event(self.clock(), BOT_ACTOR, "question.asked",
                                                            {"kind": kind, "to": pending.by})))
            return d

        try:
            return self._mutate(doc_id, change)
        except Refused:
            return None

    def not_asked(self, doc_id: int, kind: str) -> None:
        """The question `ask` recorded could not be sent: no question is out."""

        def change(d: Incident) -> Incident:
            pending = d.pending_reply
            if pending is None or pending.kind != kind or pending.message_id is not None:
                raise Refused("incident.question_closed")
            return replace(d, pending_reply=None)

        with contextlib.suppress(Refused):
            self._mutate(doc_id, change)

    def asking(self, chat_id: int) -> list[int]:
        """Incidents in this chat with a question recorded but not yet sent (or whose send failed)."""
        return [d["id"] for d in self.store.find(TABLE, lambda d: (d.get("pending_reply") or {}).get(
            "kind") is not None and d["pending_reply"].get("message_id") is None
            and (d.get("message") or {}).get("chat_id") == chat_id)]

    def answer(self, doc_id: int, message_id: int, text: str, *, actor: str,
               admin: bool) -> tuple[str, Incident]:
        """Apply a reply to the bot's question; (what was answered, the incident)."""
        answered: list[str] = []
        text = self.redact(text)

        def change(d: Incident) -> Incident:
            pending = d.pending_reply
            if pending is None or pending.message_id != message_id:
                raise Refused("incident.question_closed")
            kind = pending.kind
            answered[:] = [kind]
            now = self.clock()
            if kind == "topic":
                return replace(d, topic=text, pending_reply=None,
                               timeline=(*d.timeline, event(now, actor, "topic", {"topic": text})))
            if kind == "override":
                if not admin:
                    raise Refused("access.needs_admin_short")
                if d.status == RESOLVED:
                    raise Refused("incident.already_resolved", ref=d.ref)
                return self._resolution(d, actor, now, override=text)
            postmortem = (replace(d.postmortem, root_cause=text) if kind == "root_cause"
                          else replace(d.postmortem, prevention=text))
            return replace(d, postmortem=postmortem, pending_reply=None,
                           timeline=(*d.timeline, event(now, actor, f"postmortem.{kind}")))

        incident = self._mutate(doc_id, change)
        return answered[0], incident

    def save_postmortem(self, doc_id: int, *, markdown: str, filename: str,
                        caption: str = "") -> Incident:
        """Store the write-up, and owe it to the group as a file (sent until delivered)."""
        owed = self._keep(doc_id, Document(filename, markdown.encode("utf-8"), caption), "postmortem")

        def change(d: Incident) -> Incident:
            now = self.clock()
            return replace(d, postmortem=replace(d.postmortem, filename=filename, written_at=now),
                           owed=(*d.owed, owed),
                           timeline=(*d.timeline, event(now, BOT_ACTOR, "postmortem.written",
                                                        {"filename": filename})))

        incident = self._mutate(doc_id, change)
        # the write-up's own record (the incident keeps only when and under which name)
        written_at = incident.postmortem.written_at
        self.store.insert("postmortems", {"incident_id": doc_id, "ref": incident.ref,
                                          "filename": filename, "markdown": markdown,
                                          "written_at": None if written_at is None else iso(written_at)})
        return incident

    # -- documents owed to the group

    def _keep(self, doc_id: int, document: Document, kind: str) -> Owed:
        """Keep the file on disk; the `owed` entry that names it."""
        incident = self.get(doc_id)
        folder = incident.ref if incident else f"incident-{doc_id}"
        ref = self.store.put_document(folder, _SAFE_FILE.sub("-", document.filename).strip(".-")
                                      or "document", document.content)
        return Owed(kind=kind, filename=document.filename, file=ref,
                    caption=self.redact(document.caption), at=self.clock())

    def delivered(self, doc_id: int, file: str) -> Incident | None:
        """The group has the document kept as `file`: it is owed no longer."""

        def change(d: Incident) -> Incident:
            owed = tuple(entry for entry in d.owed if entry.file != file)
            if len(owed) == len(d.owed):
                raise Refused("incident.not_now", ref=d.ref)
            return replace(d, owed=owed)

        try:
            return self._mutate(doc_id, change)
        except Refused:
            return None

    def owing(self) -> list[Incident]:
        """Incidents (open or not) with a document the group has not received yet."""
        return self._find(lambda d: bool(d.get("owed")), newest_first=False)

    # -- the live message, severity, escalation

    def set_message(self, doc_id: int, *, chat_id: int, message_id: int,
                    thread_id: int | None) -> Incident:
        return self._mutate(doc_id, lambda d: replace(d, message=LiveMessage(chat_id, message_id,
                                                                             thread_id)))

    def set_severity(self, doc_id: int, severity: str, *, actor: str) -> Incident:
        """An admin's call: the response deadline and the unfired escalation stages follow."""
        if severity not in SEVERITIES:
            raise Refused("incident.bad_severity", given=severity)

        def change(d: Incident) -> Incident:
            if d.status == RESOLVED:
                raise Refused("incident.already_resolved", ref=d.ref)
            if d.severity == severity:
                raise Refused("incident.same_severity", ref=d.ref, severity=severity)
            plan = {e.stage: e for e in escalation_plan(severity, d.opened_at, self.offsets)}
            escalation = tuple(e if e.fired_at else replace(e, due_at=plan[e.stage].due_at)
                               for e in d.escalation)
            return replace(d, severity=Severity(severity), escalation=escalation,
                           timeline=(*d.timeline, event(self.clock(), actor, "severity",
                                                        {"from": d.severity.value, "to": severity})))

        return self._mutate(doc_id, change)

    def mark_fired(self, doc_id: int, stage: str) -> Incident | None:
        """Record that an escalation stage went out; None when it is moot (resolved, already)."""
        assert stage in STAGES

        def change(d: Incident) -> Incident:
            if d.status == RESOLVED:
                raise Refused("incident.already_resolved", ref=d.ref)
            now = self.clock()
            escalation = tuple(replace(e, fired_at=e.fired_at or now) if e.stage == stage else e
                               for e in d.escalation)
            return replace(d, escalation=escalation, timeline=(
                *d.timeline, event(now, BOT_ACTOR, "escalation", {"stage": stage})))

        try:
            return self._mutate(doc_id, change)
        except Refused:
            return None

    def note_reminder(self, doc_id: int) -> Incident | None:
        def change(d: Incident) -> Incident:
            if d.status != OPEN:
                raise Refused("incident.not_now", ref=d.ref)
            return replace(d, timeline=(*d.timeline, event(self.clock(), BOT_ACTOR, "reminder")))

        try:
            return self._mutate(doc_id, change)
        except Refused:
            return None

    def note_progress(self, doc_id: int, index: int, text: str) -> Incident | None:
        """Where a running step's action is, for the live message; None (and nothing written)
        when the step is no longer running (its result came first)."""
        text = self.redact(text)[:PROGRESS_CHARS]

        def change(d: Incident) -> Incident:
            if not 0 <= index < len(d.step_state) or d.step_state[index].status != RUNNING:
                raise Refused("incident.not_now", ref=d.ref)
            states = list(d.step_state)
            states[index] = replace(states[index], progress=text)
            return replace(d, step_state=tuple(states))

        try:
            return self._mutate(doc_id, change)
        except Refused:
            return None

    def claim_retry(self, doc_id: int, index: int) -> Incident | None:
        """A waiting step's retry is due: claim it to run (status running), or None when it is
        not waiting for one any more (cancelled, run by hand, skipped, resolved)."""

        def change(d: Incident) -> Incident:
            now = self.clock()
            found = d.current_step()
            if d.status == RESOLVED or found is None or found[0] != index:
                raise Refused("incident.not_now", ref=d.ref)
            state = found[2]
            if state.status != WAITING or state.retry_at is None or state.retry_at > now + RETRY_SLACK:
                raise Refused("incident.not_now", ref=d.ref)
            step = found[1]
            return _step_moved(d, index, replace(state, status=RUNNING, at=now, retry_at=None,
                                                 runs=state.runs + 1),
                               event(now, BOT_ACTOR, "step.retry", {
                                   "step": step.id, "action": step.action,
                                   "attempt": state.failures + 1}))

        try:
            return self._mutate(doc_id, change)
        except Refused:
            return None

    def recover_interrupted(self) -> list[Incident]:
        """At start: a step left running by a crash goes back to pending, on the record; one
        that was an automatic retry waits again, due now (its run resumes from its trace)."""

        def change(d: Incident) -> Incident:
            now = self.clock()
            states = tuple(
                s if s.status != RUNNING
                else replace(s, status=WAITING, progress=None, retry_at=now) if s.failures
                else replace(s, status=PENDING, progress=None)
                for s in d.step_state)
            return replace(d, step_state=states, timeline=(
                *d.timeline, event(self.clock(), BOT_ACTOR, "step.interrupted")))

        return [self._mutate(doc["id"], change) for doc in self.store.find(
            TABLE, lambda d: d["status"] != RESOLVED and any(
                s["status"] == RUNNING for s in d["step_state"]))]

    # -- the one write path

    def _mutate(self, doc_id: int, change: Change) -> Incident:
        """Read, check, write at the read version; on a lost race re-read and re-check. The
        record is typed only here: read from JSON, changed, and the fields that changed written."""
        for _ in range(WRITE_ATTEMPTS):
            read = self._read(doc_id)
            if read is None:
                raise Refused("button.no_longer_valid")
            before, doc = read
            after = change(before)
            try:
                written = self.store.update(TABLE, doc_id, changed_fields(doc, before, after),
                                            expect_version=before.version)
            except Conflict:
                continue
            incident = replace(after, version=written["_v"])
            self._known[doc_id] = (incident, written)
            return incident
        raise Refused("incident.busy")


REPEAT_NOTED_EVERY = timedelta(minutes=5)  # a repeat goes on the timeline at most this often


def _signal_seen(d: Incident, fingerprint: str, component: str, summary: str,
                 trace_ids: tuple[str, ...], now: datetime, source: str) -> Incident:
    """`d` with one more failing signal counted (and its trace ids linked). The timeline gets
    the first, each failure after a recovery, and a repeat at most every few minutes: a storm
    is a counter, not a thousand events."""
    alerts = d.alerts
    if alerts is None or alerts.fingerprint != fingerprint:
        counted = Alerts(fingerprint, component, 1, now, now, summary, source=source)
        entry: Event | None = event(now, DETECTOR, "signal.failing", {"component": component})
    else:
        counted = replace(alerts, count=alerts.count + 1, last_at=now, summary=summary,
                          recovered_at=None, source=source)
        if alerts.recovered_at is not None:
            entry = event(now, DETECTOR, "signal.failing_again", {"component": component})
        elif now - max((e.at for e in d.timeline if e.name.startswith("signal.")),
                       default=alerts.first_at) >= REPEAT_NOTED_EVERY:
            entry = event(now, DETECTOR, "signal.repeated", {"count": counted.count})
        else:
            entry = None
    links = tuple(t for t in trace_ids if t not in d.trace_ids)
    return replace(d, alerts=counted, trace_ids=(*d.trace_ids, *links),
                   timeline=(*d.timeline, entry) if entry else d.timeline)


def _step_moved(d: Incident, index: int, state: StepState, entry: Event) -> Incident:
    """`d` with step `index` in `state` and `entry` on the timeline."""
    states = list(d.step_state)
    states[index] = state
    return replace(d, step_state=tuple(states), timeline=(*d.timeline, entry))


def _month(d: dict) -> str:
    """An archived incident's file: the month it was resolved in (UTC)."""
    return str(d["resolved_at"] or d["opened_at"])[:7]


def _retry_at(step: StepSpec, failures: int, result: StepResult, now: datetime) -> datetime | None:
    """When a failed step's action runs again by itself: its retry policy (the runbook's
    `retry`) for a vendor error that waiting can fix, else None (a person decides)."""
    if not step.retry:
        return None
    try:
        kind = ErrorKind(result.data.get("error_kind"))
    except ValueError:  # no vendor error: the action's own refusal (a missing file, a full quota)
        return None
    hint = result.data.get("retry_after_s")
    return parse_policy(step.retry).next_after(
        failures, kind, hint if isinstance(hint, (int, float)) else None, now)
