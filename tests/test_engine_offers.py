"""Every verb, at every status and phase of every scenario: a press the incident does not offer
changes nothing, and every press it offers is one the engine takes.

The live message draws `offers()`; the engine checks presses against the same list, so a
forged callback (a tick during diagnose, an untick after the write-up, a Run for a step that
has nothing to run) is refused on the record, not only by the buttons drawn.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from bot.actions.registry import Outcome, StepResult
from bot.config import DEFAULT_ESCALATION_OFFSETS, DEFAULT_RUNBOOKS_DIR
from bot.incidents.engine import TABLE, IncidentEngine, Refused
from bot.incidents.model import Incident, Status, StepStatus, Verb
from bot.incidents.offers import offered, offers, runnable
from bot.runbooks import RunbookShelf
from bot.store import Store

ADMIN = "tg:1001 @mina_admin"
T0 = datetime(2026, 11, 27, 14, 50, tzinfo=timezone.utc)
# offered, and still refused for a reason the record shows: a second Escalate within minutes
# pages nobody twice
REFUSED_THOUGH_OFFERED = {"incident.escalated_recently"}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def engine() -> Iterator[IncidentEngine]:
    store = Store.in_memory()
    clock = Clock()
    yield IncidentEngine(store, RunbookShelf(DEFAULT_RUNBOOKS_DIR), offsets=DEFAULT_ESCALATION_OFFSETS,
                         tz=timezone(timedelta(hours=9)), clock=clock)
    store.close()


def _fields(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in ("id", "_v")}


def _every_press(engine: IncidentEngine, doc_id: int, where: str) -> int:
    """Try every verb with every argument on the incident as it is; put it back after each."""
    before = engine.store.get(TABLE, doc_id)  # the stored row, to compare and to put back
    version = before["_v"]
    incident = engine.get(doc_id)
    legal = {(o.verb, o.arg) for o in offers(incident)}
    top = max(len(incident.steps), len(incident.checklists["recovery"])) + 1
    tried = 0
    for verb in Verb:
        for arg in range(-1, top):
            tried += 1
            try:
                engine.press(doc_id, arg, verb, actor=ADMIN, admin=True)
            except Refused as refused:
                after = engine.store.get(TABLE, doc_id)
                assert after["_v"] == version, f"{where}: refused {verb}/{arg} wrote"
                assert _fields(after) == _fields(before), f"{where}: refused {verb}/{arg} changed it"
                if (verb, arg) in legal:
                    assert refused.key in REFUSED_THOUGH_OFFERED, \
                        f"{where}: {verb}/{arg} is offered but refused ({refused.key})"
                continue
            assert (verb, arg) in legal, f"{where}: {verb}/{arg} is not offered but was taken"
            engine.store.update(TABLE, doc_id, _fields(before))  # back to the state under test
            version = engine.store.version(TABLE, doc_id)
    # the terminal's one-step resolve keeps the same rule as the button
    try:
        engine.resolve(doc_id, actor=ADMIN, admin=True, reason="checked by hand")
    except Refused:
        assert (Verb.RESOLVE, 0) not in legal, f"{where}: resolve offered but the terminal's refused"
        assert engine.store.version(TABLE, doc_id) == version, f"{where}: a refused resolve wrote"
    else:
        assert (Verb.RESOLVE, 0) in legal, f"{where}: resolved from the terminal though not offered"
        engine.store.update(TABLE, doc_id, _fields(before))
    return tried + 1


def _walk_states(engine: IncidentEngine, scenario: str) -> Iterator[str]:
    """Walk a scenario, yielding (with the incident in that state) at every step: pending,
    asking to confirm, running, failed; then resolved, and resolved with the write-up."""
    doc_id = engine.open(scenario, topic="autumn-cafe", actor=ADMIN).incident.id
    incident = engine.get(doc_id)
    while (found := incident.current_step()) is not None:
        index, step, _ = found
        yield f"{scenario} step {index} ({step.phase}, {incident.status})"
        if runnable(step):
            engine.press(doc_id, index, Verb.RUN, actor=ADMIN, admin=True)
            incident = engine.get(doc_id)
            state = incident.step_state[index].status
            yield f"{scenario} step {index} {state}"
            if state == StepStatus.CONFIRMING:
                engine.press(doc_id, index, Verb.CONFIRM, actor=ADMIN, admin=True)
                yield f"{scenario} step {index} running after confirm"
            outcome = Outcome.FAIL if step.phase == "verify" else Outcome.OK
            engine.record_result(doc_id, index, StepResult(outcome, "checked"))
            incident = engine.get(doc_id)
            if incident.step_state[index].status == StepStatus.FAILED:
                yield f"{scenario} step {index} failed"
                engine.record_result(doc_id, index, StepResult(Outcome.OK, "checked again"))
        if index == 1 and incident.status == Status.OPEN:
            engine.press(doc_id, 0, Verb.ACKNOWLEDGE, actor=ADMIN, admin=True)
            yield f"{scenario} acknowledged at step {index}"
        incident = engine.get(doc_id)
        if (now_at := incident.current_step()) is not None and now_at[0] == index:
            verb = Verb.DONE if offered(incident, Verb.DONE, index) else Verb.SKIP
            engine.press(doc_id, index, verb, actor=ADMIN, admin=True)
        incident = engine.get(doc_id)
    yield f"{scenario} walk finished ({incident.status})"
    pressed = engine.press(doc_id, 0, Verb.RESOLVE, actor=ADMIN, admin=True)
    if pressed.ask_override:  # a verify step was skipped: resolved on an admin's reason
        engine.ask(doc_id, "override", ADMIN)
        engine.asked(doc_id, "override", 77)
        engine.answer(doc_id, 77, "checked by hand", actor=ADMIN, admin=True)
    yield f"{scenario} resolved"
    engine.save_postmortem(doc_id, markdown="# write-up", filename="pm.md")
    yield f"{scenario} written up"


@pytest.mark.parametrize("scenario", ["token", "cloudinary", "images", "ratelimit", "stats", "telegram"])
def test_every_verb_at_every_status_and_phase(engine: IncidentEngine, scenario: str) -> None:
    seen_statuses: set[str] = set()
    seen_step_states: set[str] = set()
    tried = 0
    for where in _walk_states(engine, scenario):
        (only,) = engine.store.find(TABLE)  # the one incident of the walk
        incident = engine.get(only["id"])
        assert incident is not None
        seen_statuses.add(incident.status)
        if (found := incident.current_step()) is not None:
            seen_step_states.add(found[2].status)
        tried += _every_press(engine, incident.id, where)
    assert seen_statuses == set(Status)
    assert {StepStatus.PENDING, StepStatus.RUNNING} <= seen_step_states
    assert tried > 1000


def test_the_rules_the_buttons_used_to_carry_alone(engine: IncidentEngine) -> None:
    """The three holes the review found, by name."""
    doc_id = engine.open("stats", topic=None, actor=ADMIN).incident.id
    incident = engine.get(doc_id)
    manual = next(i for i, item in enumerate(incident.checklists["recovery"])
                  if "manual" in item.ticked_by)
    assert incident.steps[0].phase == "diagnose"
    with pytest.raises(Refused) as refused:  # a tick during diagnose
        engine.press(doc_id, manual, Verb.TICK, actor=ADMIN, admin=True)
    assert refused.value.key == "incident.not_now"
    while engine.get(doc_id).current_step() is not None:
        engine.press(doc_id, engine.get(doc_id).current, Verb.SKIP, actor=ADMIN, admin=True)
    engine.press(doc_id, manual, Verb.TICK, actor=ADMIN, admin=True)  # now it is offered
    engine.press(doc_id, 0, Verb.RESOLVE, actor=ADMIN, admin=True)
    engine.ask(doc_id, "override", ADMIN)
    engine.asked(doc_id, "override", 5)
    engine.answer(doc_id, 5, "by hand", actor=ADMIN, admin=True)
    engine.save_postmortem(doc_id, markdown="# write-up", filename="pm.md")
    with pytest.raises(Refused) as refused:  # an untick after the write-up
        engine.press(doc_id, manual, Verb.UNTICK, actor=ADMIN, admin=True)
    assert refused.value.key == "incident.not_now"
    assert manual_id_ticked(engine.get(doc_id), manual)


def manual_id_ticked(incident: Incident, index: int) -> bool:
    return incident.checklists["recovery"][index].id in incident.ticks["recovery"]


def test_a_planned_step_has_nothing_to_run(engine: IncidentEngine) -> None:
    """A recovery action not built yet shows no Run button, and a forged Run is refused."""
    for scenario in ("token", "cloudinary", "images", "ratelimit", "stats", "telegram"):
        doc_id = engine.open(scenario, topic="t", actor=ADMIN).incident.id
        while (found := engine.get(doc_id).current_step()) is not None:
            index, step, _ = found
            if step.planned:
                with pytest.raises(Refused) as refused:
                    engine.press(doc_id, index, Verb.RUN, actor=ADMIN, admin=True)
                assert refused.value.key == "incident.nothing_to_run"
                return
            engine.press(doc_id, index, Verb.SKIP, actor=ADMIN, admin=True)
    pytest.fail("no runbook has a planned step any more: pick another example")
