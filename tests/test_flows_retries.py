"""Retries people can see and stop: a failed recovery action waits by its runbook's policy,
runs again by itself on the (fast) clock, can be run now, cancelled or put off an hour, and
survives a restart. The flows run without Telegram; the vendors are the sandbox's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.incidents.model import StepStatus, Verb
from bot.incidents.offers import offered
from bot.sandbox import Sandbox
from bot.sandbox.home import IMAGES_DIR
from tests.test_flows import LEAD, World, world  # noqa: F401  (the fixture)


async def _to_step(world: World, doc_id: int, action: str) -> int:
    """Skip to the first step that runs `action`; its index."""
    while (found := world.engine.get(doc_id).current_step())[1].action != action:
        pressed = await world.flows.press(doc_id, found[0], Verb.SKIP, actor=LEAD, admin=True)
        await world.flows.follow(pressed, LEAD)
    return found[0]


async def _press(world: World, doc_id: int, index: int, verb: Verb) -> None:
    await world.flows.follow(await world.flows.press(doc_id, index, verb, actor=LEAD, admin=True), LEAD)


def _events(world: World, doc_id: int, name: str) -> list:
    return [e for e in world.engine.get(doc_id).timeline if e.name == name]


async def test_a_rate_limit_with_a_longer_hint_waits_the_hint_then_publishes(
        world: World, sandbox: Sandbox) -> None:
    sandbox.instagram.set_fault("rate_limited", retry_after=1200)  # Graph: back in 20 minutes
    doc_id = (await world.flows.open("token", topic="seoul-night", actor=LEAD)).incident.id
    index = await _to_step(world, doc_id, "publish.retry")  # retry = "rate_limit": 5, 15, 30 min
    started = world.clock.now
    await _press(world, doc_id, index, Verb.RUN)
    state = world.engine.get(doc_id).step_state[index]
    assert state.status == StepStatus.WAITING and state.failures == 1
    assert state.retry_at == started + timedelta(minutes=20)  # the hint beats 5 min
    assert offered(world.engine.get(doc_id), Verb.CANCEL, index)  # it can be stopped
    await world.tick(timedelta(minutes=19))
    assert world.engine.get(doc_id).step_state[index].status == StepStatus.WAITING  # not early
    await world.tick(timedelta(minutes=1))  # retry 1: still limited
    state = world.engine.get(doc_id).step_state[index]
    assert state.status == StepStatus.WAITING and state.failures == 2
    assert state.retry_at == world.clock.now + timedelta(minutes=20)  # 15 min < the hint
    sandbox.instagram.clear_faults()
    await world.tick(timedelta(minutes=20))  # retry 2: through
    state = world.engine.get(doc_id).step_state[index]
    assert state.status == StepStatus.DONE and state.outcome.value == "ok", state
    assert len(sandbox.instagram.published) == 1
    assert [e.detail["attempt"] for e in _events(world, doc_id, "step.retry")] == [2, 3]
    # the playbook's 30-minute check said how many retries really ran by then
    [retries] = [s for s in world.notifier.sent if s.notice and s.notice.key.startswith("escalation.retries")]
    assert retries.notice.params["retries"] == 1


async def test_fal_failing_twice_then_succeeding_succeeds_on_the_third_try(
        world: World, sandbox: Sandbox) -> None:
    image = sandbox.home / IMAGES_DIR / "seoul-night" / "euljiro-neon-alley.png"
    image.unlink()
    sandbox.fal.set_fault("generation_error", kind="timeout")  # fal: 504, generation timed out
    doc_id = (await world.flows.open("3", topic="seoul-night", actor=LEAD)).incident.id
    index = await _to_step(world, doc_id, "images.regenerate")  # retry = "generation"
    await _press(world, doc_id, index, Verb.RUN)
    assert world.engine.get(doc_id).step_state[index].retry_at == world.clock.now + timedelta(seconds=10)
    await world.tick(timedelta(seconds=10))  # second try: fails too
    assert world.engine.get(doc_id).step_state[index].failures == 2
    sandbox.fal.clear_faults()
    await world.tick(timedelta(seconds=30))  # third try
    state = world.engine.get(doc_id).step_state[index]
    assert state.status == StepStatus.DONE and state.outcome.value == "ok"
    assert image.exists() and len(sandbox.fal.requests) == 3


async def test_a_waiting_retry_can_be_cancelled_and_then_never_runs(world: World, sandbox: Sandbox) -> None:
    sandbox.instagram.set_fault("rate_limited", retry_after=60)
    doc_id = (await world.flows.open("token", topic="seoul-night", actor=LEAD)).incident.id
    index = await _to_step(world, doc_id, "publish.retry")
    await _press(world, doc_id, index, Verb.RUN)
    await _press(world, doc_id, index, Verb.CANCEL)
    state = world.engine.get(doc_id).step_state[index]
    assert state.status == StepStatus.PENDING and state.retry_at is None
    sandbox.instagram.clear_faults()
    await world.tick(timedelta(hours=2))
    assert world.engine.get(doc_id).step_state[index].runs == 1 and not sandbox.instagram.published
    assert _events(world, doc_id, "step.retry_cancelled")


async def test_retry_in_an_hour_is_a_button_and_runs_by_itself(world: World, sandbox: Sandbox) -> None:
    doc_id = (await world.flows.open("429", topic="seoul-night", actor=LEAD)).incident.id
    index = await _to_step(world, doc_id, "publish.retry")
    assert offered(world.engine.get(doc_id), Verb.LATER, index)
    await _press(world, doc_id, index, Verb.LATER)
    state = world.engine.get(doc_id).step_state[index]
    assert state.status == StepStatus.WAITING and state.retry_at == world.clock.now + timedelta(hours=1)
    await world.tick(timedelta(minutes=59))
    assert not sandbox.instagram.published
    await world.tick(timedelta(minutes=1))
    assert world.engine.get(doc_id).step_state[index].status == StepStatus.DONE
    assert len(sandbox.instagram.published) == 1


async def test_a_pending_retry_survives_a_restart_and_a_due_one_fires_at_start(
        world: World, sandbox: Sandbox) -> None:
    sandbox.instagram.set_fault("rate_limited", retry_after=60)
    doc_id = (await world.flows.open("token", topic="seoul-night", actor=LEAD)).incident.id
    index = await _to_step(world, doc_id, "publish.retry")
    await _press(world, doc_id, index, Verb.RUN)
    sandbox.instagram.clear_faults()
    world.scheduler.jobs.clear()  # the bot stops: its jobs are gone, the store keeps the retry
    world.clock.now += timedelta(minutes=10)  # and it comes back after the retry was due
    await world.flows.start()
    await world.scheduler.run_due(world.clock.now)
    assert world.engine.get(doc_id).step_state[index].status == StepStatus.DONE
    assert len(sandbox.instagram.published) == 1


async def test_a_refusal_no_wait_can_fix_is_not_retried(world: World, sandbox: Sandbox) -> None:
    sandbox.instagram.set_fault("publish_error", code=25, subcode=2207050)  # account restricted
    doc_id = (await world.flows.open("token", topic="seoul-night", actor=LEAD)).incident.id
    index = await _to_step(world, doc_id, "publish.retry")
    await _press(world, doc_id, index, Verb.RUN)
    state = world.engine.get(doc_id).step_state[index]
    assert state.status != StepStatus.WAITING and state.retry_at is None
    assert "a person must act at the vendor" in state.summary
    assert not _events(world, doc_id, "step.retry_scheduled")


async def test_skipping_a_waiting_step_drops_its_retry(world: World, sandbox: Sandbox) -> None:
    sandbox.instagram.set_fault("rate_limited", retry_after=60)
    doc_id = (await world.flows.open("token", topic="seoul-night", actor=LEAD)).incident.id
    index = await _to_step(world, doc_id, "publish.retry")
    await _press(world, doc_id, index, Verb.RUN)
    await _press(world, doc_id, index, Verb.SKIP)
    state = world.engine.get(doc_id).step_state[index]
    assert state.status == StepStatus.SKIPPED and state.retry_at is None
    sandbox.instagram.clear_faults()
    await world.tick(timedelta(hours=1))
    assert not sandbox.instagram.published


async def test_retry_later_is_never_offered_for_a_step_that_asks_are_you_sure(world: World) -> None:
    from dataclasses import replace

    from bot.incidents.engine import Refused

    doc_id = (await world.flows.open("token", topic="seoul-night", actor=LEAD)).incident.id
    index = await _to_step(world, doc_id, "publish.retry")
    incident = world.engine.get(doc_id)
    steps = list(incident.steps)
    steps[index] = replace(steps[index], confirm=True)
    world.engine._mutate(doc_id, lambda d: replace(d, steps=tuple(steps)))
    assert not offered(world.engine.get(doc_id), Verb.LATER, index)
    with pytest.raises(Refused):  # the engine refuses it too, whatever sends it
        await world.flows.press(doc_id, index, Verb.LATER, actor=LEAD, admin=True)
