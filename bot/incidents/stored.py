"""The incident record at the store's boundary: JSON as the `incidents` table keeps it, to the
typed `Incident` and back. The engine converts on every read and write; besides it only the
checks at start (`record_problem`) and the post-mortem's redaction of a whole record
(`redacted`) use it, so nothing else reads an incident by string keys.

The JSON is unchanged from the untyped days: times are ISO-8601 UTC strings, a step state's
`outcome` the outcome's value, the hand ticks are under "checklist". A record from before a
field existed reads with that field's default (a step without "planned" is planned when its
action is one of `PLANNED`); `to_doc` then writes it out in full.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from bot.actions.registry import PLANNED, Outcome
from bot.clock import parse_time
from bot.incidents.model import (
    ChecklistCopy,
    Event,
    Incident,
    LiveMessage,
    Owed,
    Question,
    Stage,
    Status,
    StepSpec,
    StepState,
    StepStatus,
    Summary,
    Writeup,
)
from bot.runbooks.model import Phase, Severity, Text, plain_copy

CHECKLISTS = ("during", "recovery")


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def _time(value: object) -> datetime:
    moment = parse_time(value)
    if moment is None:
        raise ValueError(f"not a time: {value!r}")
    return moment


def _maybe_time(value: object) -> datetime | None:
    return None if value is None else _time(value)


def _maybe_iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def _text(value: Mapping[str, Any]) -> Text:
    ko, en = value["ko"], value["en"]
    if not isinstance(ko, str) or not isinstance(en, str):
        raise TypeError("a text is not two strings")
    return Text(ko=ko, en=en)


def _step(doc: Mapping[str, Any]) -> StepSpec:
    action = doc["action"]
    return StepSpec(id=doc["id"], phase=Phase(doc["phase"]), text=_text(doc["text"]), action=action,
                    args=plain_copy(doc["args"]), admin=bool(doc["admin"]),
                    confirm=bool(doc["confirm"]), command=doc["command"],
                    planned=bool(doc["planned"]) if "planned" in doc else action in PLANNED)


def _step_doc(step: StepSpec) -> dict:
    return {"id": step.id, "phase": step.phase.value, "text": step.text.to_dict(),
            "action": step.action, "args": plain_copy(step.args), "admin": step.admin,
            "confirm": step.confirm, "command": step.command, "planned": step.planned}


def _state(doc: Mapping[str, Any]) -> StepState:
    outcome = doc.get("outcome")
    return StepState(status=StepStatus(doc["status"]), by=doc.get("by"), at=_maybe_time(doc.get("at")),
                     outcome=None if outcome is None else Outcome(outcome), summary=doc.get("summary"),
                     lines=tuple(str(line) for line in doc.get("lines") or ()),
                     more=int(doc.get("more") or 0), runs=int(doc.get("runs") or 0))


def _state_doc(state: StepState) -> dict:
    return {"status": state.status.value, "by": state.by, "at": _maybe_iso(state.at),
            "outcome": None if state.outcome is None else state.outcome.value,
            "summary": state.summary, "lines": list(state.lines), "more": state.more,
            "runs": state.runs}


def _event(doc: Mapping[str, Any]) -> Event:
    detail = doc.get("detail") or {}
    if not isinstance(detail, Mapping):
        raise TypeError("a timeline entry's detail is not an object")
    return Event(at=_time(doc["at"]), actor=doc.get("actor"), name=str(doc["event"]),
                 detail=plain_copy(detail))


def event_doc(entry: Event) -> dict:
    return {"at": iso(entry.at), "actor": entry.actor, "event": entry.name,
            "detail": plain_copy(entry.detail)}


def _stage(doc: Mapping[str, Any]) -> Stage:
    return Stage(stage=str(doc["stage"]), due_at=_time(doc["due_at"]),
                 fired_at=_maybe_time(doc.get("fired_at")))


def _stage_doc(stage: Stage) -> dict:
    return {"stage": stage.stage, "due_at": iso(stage.due_at), "fired_at": _maybe_iso(stage.fired_at)}


def _message(doc: Mapping[str, Any] | None) -> LiveMessage | None:
    if doc is None:
        return None
    return LiveMessage(chat_id=doc["chat_id"], message_id=doc["message_id"],
                       thread_id=doc.get("thread_id"))


def _question(doc: Mapping[str, Any] | None) -> Question | None:
    if doc is None:
        return None
    return Question(kind=str(doc["kind"]), message_id=doc.get("message_id"), by=doc.get("by"))


def _owed(doc: Mapping[str, Any]) -> Owed:
    return Owed(kind=str(doc["kind"]), filename=str(doc["filename"]), file=str(doc["file"]),
                caption=str(doc.get("caption") or ""), at=_time(doc["at"]))


def _owed_doc(owed: Owed) -> dict:
    return {"kind": owed.kind, "filename": owed.filename, "file": owed.file,
            "caption": owed.caption, "at": iso(owed.at)}


def from_doc(doc: Mapping[str, Any]) -> Incident:
    """The stored JSON (with its "id" and "_v", as the store hands it out) as an `Incident`.
    KeyError, TypeError or ValueError when it is not one (`record_problem` says why at start)."""
    postmortem = doc["postmortem"]
    return Incident(
        id=int(doc["id"]), version=int(doc.get("_v", 0)), ref=doc["ref"], scenario=doc["scenario"],
        scenario_number=doc.get("scenario_number"), title=_text(doc["title"]),
        severity=Severity(doc["severity"]), status=Status(doc["status"]), topic=doc["topic"],
        opened_at=_time(doc["opened_at"]), opened_by=doc["opened_by"],
        acknowledged_at=_maybe_time(doc["acknowledged_at"]), lead=doc["lead"],
        mitigating_at=_maybe_time(doc["mitigating_at"]), resolved_at=_maybe_time(doc["resolved_at"]),
        resolved_by=doc["resolved_by"], resolve_override=doc["resolve_override"],
        steps=tuple(_step(s) for s in doc["steps"]),
        step_state=tuple(_state(s) for s in doc["step_state"]), current=doc["current"],
        checklists={which: tuple(ChecklistCopy(id=item["id"], text=_text(item["text"]),
                                               ticked_by=tuple(item["ticked_by"]))
                                 for item in doc["checklists"][which]) for which in CHECKLISTS},
        ticks={which: tuple(doc["checklist"][which]) for which in CHECKLISTS},
        trace_ids=tuple(doc["trace_ids"]), timeline=tuple(_event(e) for e in doc["timeline"]),
        escalation=tuple(_stage(e) for e in doc["escalation"]), message=_message(doc["message"]),
        pending_reply=_question(doc["pending_reply"]), linked=tuple(doc["linked"]),
        owed=tuple(_owed(o) for o in doc.get("owed") or ()),
        postmortem=Writeup(root_cause=postmortem["root_cause"], prevention=postmortem["prevention"],
                           written_at=_maybe_time(postmortem["written_at"]),
                           filename=postmortem.get("filename")),
        prevention_items=tuple(_text(t) for t in doc["prevention_items"]),
        archived=bool(doc.get("archived", False)),
    )


def to_doc(incident: Incident) -> dict:
    """The JSON the store keeps (without "id", "_v" and "archived": those are the store's)."""
    pm = incident.postmortem
    message, question = incident.message, incident.pending_reply
    return {
        "ref": incident.ref, "scenario": incident.scenario,
        "scenario_number": incident.scenario_number, "title": incident.title.to_dict(),
        "severity": incident.severity.value, "status": incident.status.value,
        "topic": incident.topic, "opened_at": iso(incident.opened_at),
        "opened_by": incident.opened_by, "acknowledged_at": _maybe_iso(incident.acknowledged_at),
        "lead": incident.lead, "mitigating_at": _maybe_iso(incident.mitigating_at),
        "resolved_at": _maybe_iso(incident.resolved_at), "resolved_by": incident.resolved_by,
        "resolve_override": incident.resolve_override,
        "steps": [_step_doc(s) for s in incident.steps],
        "step_state": [_state_doc(s) for s in incident.step_state],
        "current": incident.current,
        "checklists": {which: [{"id": item.id, "text": item.text.to_dict(),
                                "ticked_by": list(item.ticked_by)} for item in items]
                       for which, items in incident.checklists.items()},
        "checklist": {which: list(ids) for which, ids in incident.ticks.items()},
        "trace_ids": list(incident.trace_ids),
        "timeline": [event_doc(e) for e in incident.timeline],
        "escalation": [_stage_doc(s) for s in incident.escalation],
        "message": None if message is None else {
            "chat_id": message.chat_id, "message_id": message.message_id,
            "thread_id": message.thread_id},
        "pending_reply": None if question is None else {
            "kind": question.kind, "message_id": question.message_id, "by": question.by},
        "linked": list(incident.linked),
        "owed": [_owed_doc(o) for o in incident.owed],
        "postmortem": {"root_cause": pm.root_cause, "prevention": pm.prevention,
                       "written_at": _maybe_iso(pm.written_at), "filename": pm.filename},
        "prevention_items": [t.to_dict() for t in incident.prevention_items],
    }


def changed_fields(before: Mapping[str, Any], incident: Incident) -> dict:
    """The stored fields `incident` changes against the JSON it was read from: what a write
    sends (fields the record has and this code does not know are left as they are)."""
    return {key: value for key, value in to_doc(incident).items()
            if key not in before or before[key] != value}


def summary_of(doc: Mapping[str, Any]) -> Summary:
    """An incident's or an index row's fields /stats reads."""
    return Summary(ref=str(doc["ref"]), scenario=str(doc["scenario"]), severity=str(doc["severity"]),
                   status=str(doc["status"]), opened_at=_time(doc["opened_at"]),
                   acknowledged_at=_maybe_time(doc.get("acknowledged_at")),
                   resolved_at=_maybe_time(doc.get("resolved_at")))


def redacted(incident: Incident, deep: Callable[[Any], Any]) -> Incident:
    """The incident with every string in it passed through `deep` (`Redactor.deep`): for a
    document that leaves the bot, redacted before anything is escaped."""
    return from_doc({**deep(to_doc(incident)), "id": incident.id, "_v": incident.version,
                     "archived": incident.archived})
