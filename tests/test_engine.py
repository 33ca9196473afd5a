"""The incident state machine on its own: no Telegram, a real store, a movable clock."""

from __future__ import annotations

import shutil
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.actions.registry import Outcome, StepResult
from bot.config import DEFAULT_ESCALATION_OFFSETS, DEFAULT_RUNBOOKS_DIR
from bot.incidents.model import Event, Question, Verb
from bot.incidents.engine import IncidentEngine, Refused
from bot.runbooks import RunbookShelf
from bot.store import Store

SEOUL = timezone(timedelta(hours=9), "KST")
ADMIN, OPERATOR = "tg:1001 @mina_admin", "tg:1002 @joon_ops"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 14, 50, tzinfo=timezone.utc)  # 23:50 in Seoul

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path: Path):
    opened = Store.in_memory() if request.param == "memory" else Store.open(tmp_path / "data")
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def engine(store: Store, clock: Clock) -> IncidentEngine:
    return IncidentEngine(store, RunbookShelf(DEFAULT_RUNBOOKS_DIR),
                          offsets=DEFAULT_ESCALATION_OFFSETS, tz=SEOUL, clock=clock)


def test_refs_follow_the_local_day_and_a_second_report_links(engine: IncidentEngine, clock: Clock) -> None:
    first = engine.open("token", topic=None, actor=ADMIN)
    assert first.created and first.incident.ref == "INC-20261127-001"
    again = engine.open("1", topic="autumn-cafe", actor=OPERATOR)
    assert not again.created and again.incident.id == first.incident.id
    assert again.incident.topic == "autumn-cafe"  # the link filled in what was missing
    assert [e.name for e in again.incident.timeline] == ["opened", "linked"]
    clock.now += timedelta(minutes=15)  # past midnight in Seoul
    other = engine.open("stats", topic=None, actor=ADMIN)
    assert other.incident.ref == "INC-20261128-001"
    with pytest.raises(Refused) as refused:
        engine.open("nosuch", topic=None, actor=ADMIN)
    assert refused.value.key == "incident.unknown_scenario"


def test_many_threads_pressing_the_same_button_make_one_transition(engine: IncidentEngine) -> None:
    incident = engine.open("stats", topic=None, actor=ADMIN).incident
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def press(n: int) -> None:
        start.wait()
        try:
            engine.press(incident.id, 0, Verb.SKIP, actor=f"tg:{n}", admin=False)
            outcomes.append("changed")
        except Refused as refused:
            outcomes.append(refused.key)

    threads = [threading.Thread(target=press, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("changed") == 1
    assert set(outcomes) - {"changed"} == {"incident.step_moved"}
    after = engine.get(incident.id)
    assert after.current == 1 and sum(e.name == "step.skipped" for e in after.timeline) == 1


def test_the_transition_table(engine: IncidentEngine) -> None:
    incident = engine.open("token", topic="autumn-cafe", actor=ADMIN).incident
    doc = incident.id
    with pytest.raises(Refused, match="incident.run_it"):
        engine.press(doc, 0, Verb.DONE, actor=OPERATOR, admin=False)  # the bot can run this one
    with pytest.raises(Refused, match="incident.step_moved"):
        engine.press(doc, 3, Verb.RUN, actor=OPERATOR, admin=False)  # not the current step
    with pytest.raises(Refused, match="button.no_longer_valid"):
        engine.press(doc, 0, "zap", actor=OPERATOR, admin=False)
    pressed = engine.press(doc, 0, Verb.RUN, actor=OPERATOR, admin=False)
    assert pressed.run == 0 and engine.get(doc).step_state[0].status == "running"
    with pytest.raises(Refused, match="incident.step_running"):
        engine.press(doc, 0, Verb.RUN, actor=ADMIN, admin=True)
    after = engine.record_result(doc, 0, StepResult(Outcome.FAIL, "2 down", ("token: down",)))
    assert after.current == 1 and after.step_state[0].status == "done"  # a diagnosis
    engine.press(doc, 0, Verb.ACKNOWLEDGE, actor=OPERATOR, admin=False)
    with pytest.raises(Refused, match="incident.not_now"):
        engine.press(doc, 0, Verb.ACKNOWLEDGE, actor=ADMIN, admin=True)
    assert engine.get(doc).lead == OPERATOR


def test_result_rules(engine: IncidentEngine) -> None:
    doc = engine.open("stats", topic=None, actor=ADMIN).incident.id
    engine.press(doc, 0, Verb.RUN, actor=ADMIN, admin=True)
    # a crashed action leaves the step to be run again (or done by hand)
    after = engine.record_result(doc, 0, StepResult(Outcome.ERROR, "crashed"))
    assert after.current == 0 and after.step_state[0].status == "pending"
    pressed = engine.press(doc, 0, Verb.DONE, actor=ADMIN, admin=True)
    assert pressed.incident.current == 1
    # walk to the first verify step; a failed verification stays current as "failed"
    incident = engine.get(doc)
    while incident.steps[incident.current].phase != "verify":
        engine.press(doc, incident.current, Verb.SKIP, actor=ADMIN, admin=True)
        incident = engine.get(doc)
    index = incident.current
    engine.press(doc, index, Verb.RUN, actor=ADMIN, admin=True)
    after = engine.record_result(doc, index, StepResult(Outcome.FAIL, "40 h old",
                                                        trace_ids=("SF-20261127-0001",)))
    assert after.current == index and after.step_state[index].status == "failed"
    assert after.trace_ids == ("SF-20261127-0001",)
    with pytest.raises(Refused, match="incident.verify_first"):
        engine.press(doc, 0, Verb.RESOLVE, actor=OPERATOR, admin=False)
    assert engine.press(doc, 0, Verb.RESOLVE, actor=ADMIN, admin=True).ask_override


def test_severity_change_moves_unfired_escalations_only(engine: IncidentEngine, clock: Clock) -> None:
    offsets = {**DEFAULT_ESCALATION_OFFSETS,
               "P1": (timedelta(0), timedelta(minutes=10), timedelta(minutes=20), timedelta(hours=2))}
    engine.offsets = offsets
    incident = engine.open("stats", topic=None, actor=ADMIN).incident
    engine.mark_fired(incident.id, "alert")
    changed = engine.set_severity(incident.id, "P1", actor=ADMIN)
    due = {e.stage: e.due_at for e in changed.escalation}
    assert due["pd"] == incident.opened_at + timedelta(minutes=20)
    assert changed.escalation[0].fired_at is not None
    with pytest.raises(Refused, match="incident.bad_severity"):
        engine.set_severity(incident.id, "P7", actor=ADMIN)


def test_a_step_left_running_by_a_crash_is_pending_again(engine: IncidentEngine) -> None:
    doc = engine.open("stats", topic=None, actor=ADMIN).incident.id
    engine.press(doc, 0, Verb.RUN, actor=ADMIN, admin=True)
    recovered = engine.recover_interrupted()
    assert [r.id for r in recovered] == [doc]
    incident = engine.get(doc)
    assert incident.step_state[0].status == "pending"
    assert incident.timeline[-1].name == "step.interrupted"
    assert engine.recover_interrupted() == []


def test_an_edited_runbook_does_not_change_an_incident_under_way(store: Store, clock: Clock,
                                                                tmp_path: Path) -> None:
    books = tmp_path / "runbooks"
    shutil.copytree(DEFAULT_RUNBOOKS_DIR, books)
    shelf = RunbookShelf(books)
    engine = IncidentEngine(store, shelf, offsets=DEFAULT_ESCALATION_OFFSETS, tz=SEOUL, clock=clock)
    doc = engine.open("stats", topic=None, actor=ADMIN).incident.id
    original = engine.get(doc).steps[2].text.en
    path = books / "stats-collection.toml"
    path.write_text(path.read_text(encoding="utf-8").replace(original, "Look at last_updated."),
                    encoding="utf-8")
    shelf.reload()
    engine.press(doc, 0, Verb.SKIP, actor=ADMIN, admin=True)
    assert engine.get(doc).steps[2].text.en == original
    # resolved (an admin's override, answered as a reply), the next report gets the new text
    assert engine.press(doc, 0, Verb.RESOLVE, actor=ADMIN, admin=True).ask_override
    engine.ask(doc, "override", ADMIN)
    engine.asked(doc, "override", 77)
    kind, resolved = engine.answer(doc, 77, "healed", actor=ADMIN, admin=True)
    assert kind == "override" and resolved.status == "resolved"
    fresh = engine.open("stats", topic=None, actor=ADMIN)
    assert fresh.created and fresh.incident.steps[2].text.en == "Look at last_updated."


def test_doing_a_respond_step_acknowledges_on_the_record(engine: IncidentEngine) -> None:
    doc = engine.open("stats", topic=None, actor=ADMIN).incident.id
    incident = engine.get(doc)
    while incident.steps[incident.current].phase != "respond":
        engine.press(doc, incident.current, Verb.SKIP, actor=ADMIN, admin=True)
        incident = engine.get(doc)
    assert incident.status == "open"
    index = incident.current
    step = incident.steps[index]
    if step.action is None or step.planned:
        engine.press(doc, index, Verb.DONE, actor=OPERATOR, admin=False)
    else:  # stats.collect: run, and its result does the step
        engine.press(doc, index, Verb.RUN, actor=OPERATOR, admin=False)
        engine.record_result(doc, index, StepResult(Outcome.OK, "collected"))
    after = engine.get(doc)
    assert after.status == "mitigating" and after.lead == OPERATOR
    acks = [e for e in after.timeline if e.name == "acknowledged"]
    assert acks == [Event(at=after.acknowledged_at, actor=OPERATOR, name="acknowledged",
                          detail={"implicit": True})]


def test_a_press_counts_only_on_the_incidents_own_live_message(engine: IncidentEngine) -> None:
    incident = engine.open("stats", topic=None, actor=ADMIN).incident
    engine.set_message(incident.id, chat_id=-100, message_id=41, thread_id=None)
    before = engine.get(incident.id)
    for elsewhere in (40, 42):  # the message it moved away from, another incident's message
        with pytest.raises(Refused) as refused:
            engine.press(incident.id, 0, Verb.ACKNOWLEDGE, actor=ADMIN, admin=True, message_id=elsewhere)
        assert refused.value.key == "button.no_longer_valid"
    assert engine.get(incident.id) == before
    pressed = engine.press(incident.id, 0, Verb.ACKNOWLEDGE, actor=ADMIN, admin=True, message_id=41)
    assert pressed.incident.status == "acknowledged"


def test_a_question_is_on_the_record_before_it_is_sent(engine: IncidentEngine) -> None:
    doc = engine.open("image", topic=None, actor=ADMIN).incident.id
    engine.set_message(doc, chat_id=-100, message_id=10, thread_id=None)
    engine.ask(doc, "topic", ADMIN)
    assert engine.get(doc).pending_reply == Question(kind="topic", message_id=None, by=ADMIN)
    assert engine.asking(-100) == [doc] and engine.asking(-200) == []
    assert engine.awaiting_reply(-100, 11) is None  # not yet: its message id is not known
    engine.asked(doc, "topic", 11)
    assert engine.awaiting_reply(-100, 11).id == doc and engine.asking(-100) == []
    assert engine.asked(doc, "topic", 12) is None  # already named: a late duplicate is moot
    engine.ask(doc, "topic", ADMIN)
    engine.not_asked(doc, "topic")  # the send failed: no question is out
    assert engine.get(doc).pending_reply is None



def test_record_problem_names_what_a_stored_incident_lacks(engine: IncidentEngine) -> None:
    from bot.incidents.record import record_problem

    good = engine.store.get("incidents", engine.open("stats", topic=None, actor=ADMIN).incident.id)
    assert record_problem(good) is None
    broken = {
        "escalation": ({**good, "escalation": "soon"}, "the incident's 'escalation' is str"),
        "current": ({**good, "current": True}, "the incident's 'current' is bool"),
        "opened_at": ({k: v for k, v in good.items() if k != "opened_at"}, "has no 'opened_at'"),
        "step_state": ({**good, "step_state": good["step_state"][1:]}, "steps but"),
        "a time": ({**good, "resolved_at": "yesterday"}, "'resolved_at' is not a time"),
        "a step": ({**good, "steps": [{**good["steps"][0], "admin": "yes"}, *good["steps"][1:]]},
                   "step 0's 'admin' is str"),
    }
    for name, (doc, says) in broken.items():
        assert says in (record_problem(doc) or ""), name


def test_a_topic_that_is_not_a_folder_name_is_refused_by_the_engine(engine: IncidentEngine) -> None:
    """Whatever opens it (a button, the shell, a webhook): the topic becomes a path the actions read."""
    for topic in ("../etc", "a b", ""):
        with pytest.raises(Refused) as refused:
            engine.open("images", topic=topic, actor=ADMIN)
        assert refused.value.key == "incident.bad_topic"
    engine.open("images", topic=None, actor=ADMIN)
    with pytest.raises(Refused):  # linking to the open one checks it too
        engine.open("images", topic="../etc", actor=ADMIN)
    assert engine.unresolved()[0].topic is None


def test_recent_leaves_out_an_index_row_that_does_not_read(engine: IncidentEngine) -> None:
    """Archived incidents' index rows are not checked at start: a damaged one is left out of
    /stats (and logged) instead of failing it."""
    from bot.incidents.engine import INDEX

    opened = engine.open("stats", topic=None, actor=ADMIN).incident
    engine.store.insert(INDEX, {"ref": "INC-20261126-001", "scenario": "stats", "severity": "P2",
                                "status": "resolved", "opened_at": "2026-11-27T00:00:00+00:00 damaged"})
    assert [s.ref for s in engine.recent(30)] == [opened.ref]
