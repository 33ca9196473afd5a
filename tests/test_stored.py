"""The incident record at the store's boundary: JSON in, typed `Incident` out, and back, with
nothing lost or rewritten on the way (a write sends only what a change changed)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta, timezone

from bot.actions.registry import Outcome, StepResult
from bot.config import DEFAULT_ESCALATION_OFFSETS, DEFAULT_RUNBOOKS_DIR
from bot.incidents.engine import TABLE, IncidentEngine
from bot.incidents.model import Event, Status, StepStatus, Verb
from bot.incidents.record import record_problem
from bot.incidents.stored import changed_fields, from_doc, to_doc
from bot.runbooks import RunbookShelf
from bot.runbooks.model import Phase
from bot.store import Store
from tests.records import OPENED

ADMIN = "tg:1001 @mina_admin"


def _engine() -> IncidentEngine:
    return IncidentEngine(Store.in_memory(), RunbookShelf(DEFAULT_RUNBOOKS_DIR),
                          offsets=DEFAULT_ESCALATION_OFFSETS, tz=timezone(timedelta(hours=9)),
                          clock=lambda: OPENED)


def _walked(engine: IncidentEngine) -> int:
    """An incident with something in every part: results, ticks, a question, a document owed."""
    doc_id = engine.open("stats", topic="autumn-cafe", actor=ADMIN).incident.id
    engine.set_message(doc_id, chat_id=-100, message_id=41, thread_id=7)
    engine.press(doc_id, 0, Verb.RUN, actor=ADMIN, admin=True)
    engine.record_result(doc_id, 0, StepResult(Outcome.WARN, "stale", lines=("a", "b"),
                                               trace_ids=("SF-20261127-0001",)))
    while (found := engine.get(doc_id).current_step()) is not None:
        engine.press(doc_id, found[0], Verb.SKIP, actor=ADMIN, admin=True)
    engine.press(doc_id, 1, Verb.TICK, actor=ADMIN, admin=True)
    engine.resolve(doc_id, actor=ADMIN, admin=True, reason="checked by hand")
    engine.ask(doc_id, "root_cause", ADMIN)
    engine.asked(doc_id, "root_cause", 42)
    engine.answer(doc_id, 42, "cron died", actor=ADMIN, admin=True)
    engine.save_postmortem(doc_id, markdown="# write-up", filename="pm.md")
    return doc_id


def test_a_stored_incident_reads_typed_and_writes_back_unchanged() -> None:
    engine = _engine()
    doc_id = _walked(engine)
    row = engine.store.get(TABLE, doc_id)
    incident = from_doc(row)
    assert (incident.id, incident.version) == (doc_id, row["_v"])
    assert incident.status is Status.RESOLVED and incident.opened_at == OPENED
    assert incident.steps[0].phase is Phase.DIAGNOSE
    assert incident.step_state[0].status is StepStatus.DONE
    assert incident.step_state[0].outcome is Outcome.WARN and incident.step_state[0].lines == ("a", "b")
    assert incident.message is not None and incident.message.thread_id == 7
    assert incident.postmortem.root_cause == "cron died" and incident.postmortem.written_at == OPENED
    assert incident.owed and incident.owed[0].kind == "postmortem"
    assert incident.ticks["recovery"] and incident.trace_ids == ("SF-20261127-0001",)
    stored = {k: v for k, v in row.items() if k not in ("id", "_v")}
    assert to_doc(incident) == stored


def test_a_record_from_before_the_newer_fields_still_reads() -> None:
    """Written before steps carried `planned`, states `more`, incidents `owed`."""
    engine = _engine()
    doc_id = engine.open("stats", topic=None, actor=ADMIN).incident.id
    row = engine.store.get(TABLE, doc_id)
    old = {**row, "steps": [{k: v for k, v in s.items() if k != "planned"} for s in row["steps"]],
           "step_state": [{k: v for k, v in s.items() if k != "more"} for s in row["step_state"]]}
    del old["owed"], old["scenario_number"]
    assert record_problem(old) is None
    incident = from_doc(old)
    assert incident.owed == () and incident.scenario_number is None
    assert [s.planned for s in incident.steps] == [s.planned for s in from_doc(row).steps]
    assert any(s.planned for s in incident.steps)  # from the list of planned action names


def test_a_write_sends_only_the_fields_a_change_changed() -> None:
    engine = _engine()
    doc_id = engine.open("token", topic=None, actor=ADMIN).incident.id
    row = engine.store.get(TABLE, doc_id)
    before = from_doc(row)
    pressed = engine.press(doc_id, 0, Verb.ACKNOWLEDGE, actor=ADMIN, admin=True).incident
    changed = changed_fields(row, before, pressed)
    assert set(changed) == {"status", "acknowledged_at", "lead", "timeline"}
    assert changed["timeline"] == engine.store.get(TABLE, doc_id)["timeline"]
    assert changed_fields(row, before, before) == {}
    # an event appended to what was read: the events read are written as they were read
    grown = replace(before, timeline=(*before.timeline, Event(OPENED, ADMIN, "reminder")))
    timeline = changed_fields(row, before, grown)["timeline"]
    assert timeline[0] is row["timeline"][0] and timeline[-1]["event"] == "reminder"
    # and what the engine hands back is what the store now holds
    assert pressed == engine.get(doc_id) and pressed.version == before.version + 1


def test_an_unknown_severity_or_phase_is_named_by_the_start_up_check() -> None:
    engine = _engine()
    row = engine.store.get(TABLE, engine.open("token", topic=None, actor=ADMIN).incident.id)
    assert "P9" in (record_problem({**row, "severity": "P9"}) or "")
    steps = [{**row["steps"][0], "phase": "pray"}, *row["steps"][1:]]
    assert "pray" in (record_problem({**row, "steps": steps}) or "")


def test_an_incidents_steps_are_plain_json_copies_of_the_runbooks() -> None:
    """Copied at open: an edit of the runbook (or of the copy) never reaches the other."""
    engine = _engine()
    library = engine.shelf.library
    runbook = library.find("2")
    step = next(s for s in runbook.steps if s.id == "check-cloudinary")
    doc_id = engine.open("2", topic=None, actor=ADMIN).incident.id
    stored = next(s for s in engine.store.get(TABLE, doc_id)["steps"] if s["id"] == "check-cloudinary")
    assert json.loads(json.dumps(stored)) == stored == {
        "id": "check-cloudinary", "phase": "diagnose",
        "text": {"ko": step.text.ko, "en": step.text.en},
        "action": "health.check", "args": {"components": ["cloudinary"]},
        "admin": False, "confirm": False, "command": step.command, "planned": False,
        "retry": None,
    }
    copy = next(s for s in engine.get(doc_id).steps if s.id == "check-cloudinary")
    assert copy.args == step.args and copy.args["components"] is not step.args["components"]


def test_the_engine_hands_out_the_stored_state_also_after_a_write_elsewhere() -> None:
    """What it read or wrote last is handed out again only while the store holds that version."""
    engine = _engine()
    doc_id = engine.open("token", topic=None, actor=ADMIN).incident.id
    first = engine.get(doc_id)
    assert engine.get(doc_id) is first  # nothing changed: not read and converted again
    engine.store.update(TABLE, doc_id, {"topic": "winter-sale"})  # not through the engine
    changed = engine.get(doc_id)
    assert changed.topic == "winter-sale" and changed.version == first.version + 1
    pressed = engine.press(doc_id, 0, Verb.ACKNOWLEDGE, actor=ADMIN, admin=True).incident
    assert pressed.topic == "winter-sale" and engine.get(doc_id) is pressed
    assert pressed == from_doc(engine.store.get(TABLE, doc_id))
    engine.store.remove(TABLE, doc_id)
    assert engine.get(doc_id) is None


def test_a_running_steps_progress_is_kept_while_it_runs_and_gone_with_its_result() -> None:
    engine = _engine()
    doc_id = engine.open("stats", topic=None, actor=ADMIN).incident.id
    assert "progress" not in engine.store.get(TABLE, doc_id)["step_state"][0]  # not on every step
    assert engine.note_progress(doc_id, 0, "not running yet") is None
    engine.press(doc_id, 0, Verb.RUN, actor=ADMIN, admin=True)
    noted = engine.note_progress(doc_id, 0, "uploading image 2 of 3")
    assert noted is not None and noted.step_state[0].progress == "uploading image 2 of 3"
    assert from_doc(engine.store.get(TABLE, doc_id)).step_state[0].progress == "uploading image 2 of 3"
    engine.record_result(doc_id, 0, StepResult(Outcome.OK, "fresh"))
    assert engine.get(doc_id).step_state[0].progress is None
    assert engine.note_progress(doc_id, 0, "late") is None  # after its result: not written
    assert "progress" not in engine.store.get(TABLE, doc_id)["step_state"][0]


def test_the_live_message_says_where_a_running_step_is() -> None:
    from bot.i18n import Translator
    from bot.incidents.view import Viewer, incident_lines

    engine = _engine()
    doc_id = engine.open("stats", topic=None, actor=ADMIN).incident.id
    engine.press(doc_id, 0, Verb.RUN, actor=ADMIN, admin=True)
    incident = engine.note_progress(doc_id, 0, "uploading image 2 of 3")
    viewer = Viewer(Translator("en"), "en", timezone.utc, str)
    text = json.dumps(incident_lines(viewer, incident, OPENED), ensure_ascii=False)
    assert "Running (started by" in text and "uploading image 2 of 3" in text
