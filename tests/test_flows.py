"""The incident flows without Telegram: an in-memory notifier and scheduler, the real engine and
store, and the steps' actions run against the sandbox's vendors (real SDKs on loopback)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import utc_now
from bot.incidents.engine import IncidentEngine, Refused
from bot.incidents.flows import IncidentFlows
from bot.incidents.model import Status, StepStatus, Verb
from bot.incidents.offers import offered
from bot.sandbox import ADMIN, OPERATOR, Sandbox
from bot.services import build_services
from bot.store import Store
from bot.wiring import incident_engine, incident_flows
from tests.memory_ports import MemoryNotifier, MemoryScheduler

LEAD = f"tg:{ADMIN.id} @{ADMIN.username}"
HELPER = f"tg:{OPERATOR.id} @{OPERATOR.username}"


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    engine: IncidentEngine
    flows: IncidentFlows
    notifier: MemoryNotifier
    scheduler: MemoryScheduler
    clock: Clock

    async def tick(self, delta: timedelta) -> list[str]:
        self.clock.now += delta
        return await self.scheduler.run_due(self.clock.now)


@pytest.fixture
async def world(sandbox: Sandbox) -> AsyncIterator[World]:
    from bot.config import Settings

    settings = Settings.from_env(sandbox.env(lang="en", debug_token=True, HEALTH_TIMEOUT_S="1",
                                             PD_USER_IDS=str(OPERATOR.id)), dotenv_path=None)
    clock = Clock()
    store = Store.open(settings.data_dir)
    services = build_services(settings, store, clock=clock)
    engine = incident_engine(services)
    notifier, scheduler = MemoryNotifier(engine), MemoryScheduler()
    yield World(engine, incident_flows(services, engine, notifier, scheduler), notifier, scheduler, clock)
    await services.aclose()
    store.close()


async def _walk(world: World, doc_id: int) -> None:
    """Every step in turn: run what can run (confirming what asks for it), else done by hand."""
    while (found := world.engine.get(doc_id).current_step()) is not None:
        index = found[0]
        incident = world.engine.get(doc_id)
        if offered(incident, Verb.RUN, index):
            pressed = await world.flows.press(doc_id, index, Verb.RUN, actor=LEAD, admin=True)
            if pressed.run is None:  # it changes things: confirm first
                pressed = await world.flows.press(doc_id, index, Verb.CONFIRM, actor=LEAD, admin=True)
            await world.flows.follow(pressed, LEAD)
            state = world.engine.get(doc_id).step_state[index]
            assert state.status != StepStatus.RUNNING and state.summary, state
        incident = world.engine.get(doc_id)
        if incident.current == index:  # not passed by running it
            verb = Verb.DONE if offered(incident, Verb.DONE, index) else Verb.SKIP
            admin = incident.steps[index].admin  # an admin's step, else anyone's
            actor = LEAD if admin else HELPER
            await world.flows.follow(
                await world.flows.press(doc_id, index, verb, actor=actor, admin=admin), actor)


async def test_open_walk_escalate_resolve_and_write_up_without_telegram(world: World) -> None:
    opened = await world.flows.open("stats", topic=None, actor=LEAD)
    doc_id, ref = opened.incident.id, opened.incident.ref
    assert opened.created and opened.posted
    # the first post is the 0-minute alert
    incident = world.engine.get(doc_id)
    assert [s.kind for s in world.notifier.sent] == ["post"]
    assert incident.escalation[0].stage == "alert"
    assert incident.escalation[0].fired_at is not None
    assert {f"inc:{doc_id}:{stage}" for stage in ("retries", "pd", "manual")} <= set(world.scheduler.jobs)

    # the clock: nobody acknowledged; 30 min the retries check, then reminders, 1 h the PD
    ran = await world.tick(timedelta(minutes=31))
    assert f"inc:{doc_id}:retries" in ran
    said = [s.notice.key for s in world.notifier.of_kind("say")]
    assert said == ["escalation.retries_unacked"]
    await world.tick(timedelta(minutes=30))
    pages = world.notifier.of_kind("page")
    assert [(p.detail["stage"], p.detail["people"]) for p in pages] == [("pd", frozenset({OPERATOR.id}))]
    assert pages[0].notice.params["ref"] == ref and "escalation.reminder" in [
        s.notice.key for s in world.notifier.of_kind("say")]

    await _walk(world, doc_id)
    incident = world.engine.get(doc_id)
    assert incident.status == Status.MITIGATING and incident.current_step() is None
    ran_steps = [e.detail["step"] for e in incident.timeline if e.name == "step.result"]
    assert ran_steps, "no step's action ran"
    # every step of the walk is on the timeline: one result, done or skipped for each
    finished = {e.detail["step"] for e in incident.timeline
                if e.name in ("step.done", "step.skipped", "step.result")}
    assert finished == {step.id for step in incident.steps}

    pressed = await world.flows.press(doc_id, 0, Verb.RESOLVE, actor=LEAD, admin=True)
    await world.flows.follow(pressed, LEAD)
    incident = world.engine.get(doc_id)
    if pressed.ask_override:  # a verify step was not green in the sandbox: an admin's reason
        question = world.notifier.of_kind("question")[-1]
        assert question.notice.key == "incident.ask_override"
        await world.flows.answer(incident, question.detail["id"], "checked by hand", actor=LEAD, admin=True)
    incident = world.engine.get(doc_id)
    assert incident.status == Status.RESOLVED
    assert not any(name.startswith(f"inc:{doc_id}:") for name in world.scheduler.jobs)  # clock stopped

    # the write-up: root cause, then prevention, then the post-mortem as a file
    for kind, text in (("root_cause", "the collector's cron died"), ("prevention", "watch the daemon")):
        question = world.notifier.of_kind("question")[-1]
        assert question.notice.key == f"postmortem.ask_{kind}" and question.detail["to"] == LEAD
        answered = await world.flows.answer(world.engine.get(doc_id), question.detail["id"], text,
                                            actor=LEAD, admin=True)
        assert answered is not None and answered.kind == kind
    incident = world.engine.get(doc_id)
    assert incident.postmortem.written_at and not incident.owed
    files = world.notifier.of_kind("file")
    # the log bundle a step collected went out when it was made; the post-mortem last
    assert files[-1].detail["filename"] == f"{ref}-postmortem.md"
    assert b"the collector's cron died" in files[-1].detail["content"]
    # the questions are on the timeline too (Markdown escapes the _ of a username)
    assert b"| bot | Asked @mina\\_admin for the root cause |" in files[-1].detail["content"]
    events = [e.name for e in incident.timeline]
    for expected in ("opened", "escalation", "reminder", "step.run", "step.result", "resolved",
                     "question.asked", "postmortem.root_cause", "postmortem.prevention",
                     "postmortem.written"):
        assert expected in events, expected
    with pytest.raises(Refused):  # nothing after the write-up
        await world.flows.press(doc_id, 0, Verb.RESOLVE, actor=LEAD, admin=True)


async def test_an_alert_nobody_received_is_tried_again_and_a_restart_rearms(world: World) -> None:
    world.notifier.down = True
    opened = await world.flows.open("stats", topic=None, actor=LEAD)
    doc_id = opened.incident.id
    assert not opened.posted and world.engine.get(doc_id).escalation[0].fired_at is None
    await world.tick(timedelta(seconds=1))  # the alert stage is due at once, and fails again
    assert f"inc:{doc_id}:alert" in world.scheduler.jobs  # tried again in a minute
    world.notifier.down = False
    await world.tick(timedelta(seconds=61))
    assert world.engine.get(doc_id).escalation[0].fired_at is not None
    assert world.notifier.of_kind("post")

    # a new process: nothing scheduled until start() re-arms from the record
    world.scheduler.jobs.clear()
    armed, resumed, owing = await world.flows.start()
    assert (armed, resumed, owing) == (1, 0, 0)
    assert f"inc:{doc_id}:retries" in world.scheduler.jobs


async def test_the_terminal_resolve_needs_a_reason_when_unverified(world: World) -> None:
    doc_id = (await world.flows.open("stats", topic=None, actor=LEAD)).incident.id
    with pytest.raises(Refused) as refused:
        await world.flows.resolve(doc_id, actor=HELPER, admin=False, reason="looks fine")
    assert refused.value.key == "incident.verify_first"
    with pytest.raises(Refused) as refused:
        await world.flows.resolve(doc_id, actor=LEAD, admin=True, reason="  ")
    assert refused.value.key == "incident.reason_needed"
    incident = await world.flows.resolve(doc_id, actor=LEAD, admin=True, reason="fixed by hand")
    assert incident.status == Status.RESOLVED and incident.resolve_override == "fixed by hand"
    assert world.notifier.of_kind("question")[-1].notice.key == "postmortem.ask_root_cause"


def test_the_flows_and_their_wiring_import_no_telegram() -> None:
    """In a fresh interpreter: the domain, its wiring, the memory ports and the terminal (the way
    in when Telegram is the failure) load without PTB."""
    code = ("import sys, bot.incidents.flows, bot.wiring, tests.memory_ports, bot.terminal.incidents, "
            "bot.cli; "
            "leaked = sorted(m for m in sys.modules if m.split('.')[0] == 'telegram'); "
            "print(leaked); sys.exit(1 if leaked else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


async def test_a_topic_is_asked_for_when_the_clock_posts_the_alert_late(world: World) -> None:
    """Opened while the group could not be reached (or from the terminal): the clock's alert
    posts it later, and a runbook that needs the topic asks for it then, once."""
    world.notifier.down = True
    opened = await world.flows.open("images", topic=None, actor=LEAD)
    assert not opened.posted and not world.notifier.of_kind("question")
    world.notifier.down = False
    await world.tick(timedelta(seconds=61))
    questions = world.notifier.of_kind("question")
    assert [(q.notice.key, q.detail["to"]) for q in questions] == [("incident.ask_topic", LEAD)]
    assert world.engine.get(opened.incident.id).pending_reply.kind == "topic"
    # a topic that is already set is not asked for
    other = await world.flows.open("cloudinary", topic="autumn-cafe", actor=LEAD)
    assert other.posted and len(world.notifier.of_kind("question")) == 1


async def test_a_running_publish_shows_where_it_is_then_its_result(world: World, sandbox: Sandbox) -> None:
    sandbox.instagram.container_processing_s = 1.2  # Instagram takes a moment with the container
    opened = await world.flows.open("token", topic="seoul-night", actor=LEAD)
    doc_id = opened.incident.id
    engine = world.engine
    while engine.get(doc_id).current_step()[1].action != "publish.retry":
        index = engine.get(doc_id).current_step()[0]
        await world.flows.follow(await world.flows.press(doc_id, index, Verb.SKIP, actor=LEAD,
                                                         admin=True), LEAD)
    index = engine.get(doc_id).current_step()[0]
    pressed = await world.flows.press(doc_id, index, Verb.RUN, actor=LEAD, admin=True)
    await world.flows.follow(pressed, LEAD)
    assert "waiting for Instagram to process it" in world.notifier.progress
    assert world.notifier.progress.index("uploading image 1 of 1") < \
        world.notifier.progress.index("waiting for Instagram to process it")
    state = engine.get(doc_id).step_state[index]
    assert state.outcome.value == "ok" and state.progress is None  # the result replaced it
    assert "Published seoul-night" in state.summary and len(sandbox.instagram.published) == 1
    assert any(t.startswith("SF-") for t in engine.get(doc_id).trace_ids)


async def test_an_are_you_sure_answered_too_late_is_refused(world: World) -> None:
    opened = await world.flows.open("token", topic=None, actor=LEAD)
    doc_id = opened.incident.id
    while True:  # to the step that registers the expiry: it asks "are you sure?"
        index, step, _ = world.engine.get(doc_id).current_step()
        if step.action == "token.set_expiry":
            break
        await world.flows.press(doc_id, index, Verb.SKIP, actor=LEAD, admin=True)
    asked = await world.flows.press(doc_id, index, Verb.RUN, actor=LEAD, admin=True)
    assert asked.run is None and world.engine.get(doc_id).step_state[index].status == StepStatus.CONFIRMING
    world.clock.now += timedelta(minutes=6)
    with pytest.raises(Refused) as refused:
        await world.flows.press(doc_id, index, Verb.CONFIRM, actor=LEAD, admin=True)
    assert refused.value.key == "incident.confirm_expired"
    assert world.engine.store.token_expiry() is None  # nothing ran
    await world.flows.press(doc_id, index, Verb.CANCEL, actor=LEAD, admin=True)
    await world.flows.press(doc_id, index, Verb.RUN, actor=LEAD, admin=True)
    world.clock.now += timedelta(minutes=4)
    confirmed = await world.flows.press(doc_id, index, Verb.CONFIRM, actor=LEAD, admin=True)
    await world.flows.follow(confirmed, LEAD)
    assert world.engine.store.token_expiry() is not None
