"""The incident record at the store's boundary: JSON as the `incidents` table keeps it, to the
typed `Incident` and back. The engine converts on every read and write; besides it only the
checks at start (`record_problem`) and the post-mortem's redaction of a whole record
(`redacted`) use it, so nothing else reads an incident by string keys.

The JSON is unchanged from the untyped days: times are ISO-8601 UTC strings, a step state's
`outcome` the outcome's value, the hand ticks are under "checklist". A record from before a
field existed reads with that field's default (a step without "planned" is planned when its
action is one of `PLANNED`); a write adds only the fields a change touched (`changed_fields`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from bot.actions.registry import PLANNED, Outcome
from bot.clock import parse_time
from bot.incidents.model import (
    Alerts,
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
from bot.runbooks.model import CHECKLISTS, Phase, Severity, Text, plain_copy


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
    return _shared_text(ko, en)


@lru_cache(maxsize=2048)
def _shared_text(ko: str, en: str) -> Text:
    """Runbook texts repeat in every incident of a scenario: one `Text` each (it is frozen)."""
    return Text(ko=ko, en=en)


def _step(doc: Mapping[str, Any]) -> StepSpec:
    action = doc["action"]
    return StepSpec(id=doc["id"], phase=Phase(doc["phase"]), text=_text(doc["text"]), action=action,
                    args=doc["args"], admin=bool(doc["admin"]),
                    confirm=bool(doc["confirm"]), command=doc["command"],
                    planned=bool(doc["planned"]) if "planned" in doc else action in PLANNED,
                    retry=doc.get("retry"))


def _step_doc(step: StepSpec) -> dict:
    return {"id": step.id, "phase": step.phase.value, "text": step.text.to_dict(),
            "action": step.action, "args": plain_copy(step.args), "admin": step.admin,
            "confirm": step.confirm, "command": step.command, "planned": step.planned,
            "retry": plain_copy(step.retry)}


_UNTOUCHED = StepState()  # a step nobody has pressed yet: most of a walk's steps, for a while


def _state(doc: Mapping[str, Any]) -> StepState:
    if doc["status"] == "pending" and not any(doc.get(k) for k in _TOUCHED):
        return _UNTOUCHED
    outcome = doc.get("outcome")
    return StepState(status=StepStatus(doc["status"]), by=doc.get("by"), at=_maybe_time(doc.get("at")),
                     outcome=None if outcome is None else Outcome(outcome), summary=doc.get("summary"),
                     lines=tuple(str(line) for line in doc.get("lines") or ()),
                     more=int(doc.get("more") or 0), runs=int(doc.get("runs") or 0),
                     progress=doc.get("progress") or None, retry_at=_maybe_time(doc.get("retry_at")),
                     failures=int(doc.get("failures") or 0))


_TOUCHED = ("by", "at", "outcome", "summary", "lines", "more", "runs", "progress", "retry_at",
            "failures")


def _state_doc(state: StepState) -> dict:
    doc = {"status": state.status.value, "by": state.by, "at": _maybe_iso(state.at),
           "outcome": None if state.outcome is None else state.outcome.value,
           "summary": state.summary, "lines": list(state.lines), "more": state.more,
           "runs": state.runs}
    # only while an action runs or waits to run again: most records never carry them
    if state.progress is not None:
        doc["progress"] = state.progress
    if state.retry_at is not None:
        doc["retry_at"] = _maybe_iso(state.retry_at)
    if state.failures:
        doc["failures"] = state.failures
    return doc


def _event(doc: Mapping[str, Any]) -> Event:
    detail = doc.get("detail") or {}
    if not isinstance(detail, Mapping):
        raise TypeError("a timeline entry's detail is not an object")
    return Event(at=_time(doc["at"]), actor=doc.get("actor"), name=str(doc["event"]), detail=detail)


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
    """The stored JSON (with its "id" and "_v", as the store hands it out) as an `Incident`; it
    takes `doc`'s nested values (a step's args, an event's detail) as they are: pass a copy
    (`Store.get` and `find` hand out copies). KeyError, TypeError or ValueError when it is not
    an incident (`record_problem` says why at start)."""
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
        alerts=_alerts(doc.get("alerts")),
    )


def _alerts(doc: object) -> Alerts | None:
    if not isinstance(doc, Mapping):
        return None
    return Alerts(fingerprint=str(doc["fingerprint"]), component=str(doc["component"]),
                  count=int(doc["count"]), first_at=_time(doc["first_at"]),
                  last_at=_time(doc["last_at"]), summary=str(doc.get("summary", "")),
                  recovered_at=_maybe_time(doc.get("recovered_at")),
                  source=str(doc.get("source", "check")))


def _alerts_doc(alerts: Alerts | None) -> dict | None:
    if alerts is None:
        return None
    return {"fingerprint": alerts.fingerprint, "component": alerts.component, "count": alerts.count,
            "first_at": iso(alerts.first_at), "last_at": iso(alerts.last_at),
            "summary": alerts.summary, "recovered_at": _maybe_iso(alerts.recovered_at),
            "source": alerts.source}


def _same(value: Any) -> Any:
    return value


def _checklists_doc(checklists: Mapping[str, tuple[ChecklistCopy, ...]]) -> dict:
    return {which: [{"id": item.id, "text": item.text.to_dict(), "ticked_by": list(item.ticked_by)}
                    for item in items] for which, items in checklists.items()}


def _message_doc(message: LiveMessage | None) -> dict | None:
    return None if message is None else {"chat_id": message.chat_id, "message_id": message.message_id,
                                         "thread_id": message.thread_id}


def _question_doc(question: Question | None) -> dict | None:
    return None if question is None else {"kind": question.kind, "message_id": question.message_id,
                                          "by": question.by}


def _writeup_doc(pm: Writeup) -> dict:
    return {"root_cause": pm.root_cause, "prevention": pm.prevention,
            "written_at": _maybe_iso(pm.written_at), "filename": pm.filename}


# Each stored field: the key it has in the JSON, and how the typed value is written there.
_OUT: Mapping[str, tuple[str, Callable[[Any], Any]]] = {
    "ref": ("ref", _same), "scenario": ("scenario", _same),
    "scenario_number": ("scenario_number", _same), "title": ("title", Text.to_dict),
    "severity": ("severity", str), "status": ("status", str), "topic": ("topic", _same),
    "opened_at": ("opened_at", iso), "opened_by": ("opened_by", _same),
    "acknowledged_at": ("acknowledged_at", _maybe_iso), "lead": ("lead", _same),
    "mitigating_at": ("mitigating_at", _maybe_iso), "resolved_at": ("resolved_at", _maybe_iso),
    "resolved_by": ("resolved_by", _same), "resolve_override": ("resolve_override", _same),
    "steps": ("steps", lambda steps: [_step_doc(s) for s in steps]),
    "step_state": ("step_state", lambda states: [_state_doc(s) for s in states]),
    "current": ("current", _same),
    "checklists": ("checklists", _checklists_doc),
    "ticks": ("checklist", lambda ticks: {which: list(ids) for which, ids in ticks.items()}),
    "trace_ids": ("trace_ids", list),
    "timeline": ("timeline", lambda events: [event_doc(e) for e in events]),
    "escalation": ("escalation", lambda stages: [_stage_doc(s) for s in stages]),
    "message": ("message", _message_doc), "pending_reply": ("pending_reply", _question_doc),
    "linked": ("linked", list), "owed": ("owed", lambda owed: [_owed_doc(o) for o in owed]),
    "postmortem": ("postmortem", _writeup_doc),
    "prevention_items": ("prevention_items", lambda texts: [t.to_dict() for t in texts]),
    "alerts": ("alerts", _alerts_doc),
}


def to_doc(incident: Incident) -> dict:
    """The JSON the store keeps (without "id", "_v" and "archived": those are the store's)."""
    return {key: write(getattr(incident, name)) for name, (key, write) in _OUT.items()}


# Fields that are sequences converted element by element: an element a change kept (the very
# object read from the stored JSON) is written as the JSON it was read from.
_EACH: Mapping[str, Callable[[Any], Any]] = {
    "steps": _step_doc, "step_state": _state_doc, "timeline": event_doc,
    "escalation": _stage_doc, "owed": _owed_doc,
}


def changed_fields(doc: Mapping[str, Any], before: Incident, after: Incident) -> dict:
    """What a write of `after` sends: the stored fields a change made new (`dataclasses.replace`
    keeps the ones it did not touch), as JSON. `before` is `from_doc(doc)`: a timeline that grew
    by one event converts that event, not the whole timeline again. Fields the stored record
    has and this code does not know are left as they are."""
    changed = {}
    for name, (key, write) in _OUT.items():
        old, new = getattr(before, name), getattr(after, name)
        if new is old or new == old:
            continue
        each, stored = _EACH.get(name), doc.get(key)
        if each is not None and isinstance(stored, list) and len(stored) == len(old):
            changed[key] = [stored[i] if i < len(old) and item is old[i] else each(item)
                            for i, item in enumerate(new)]
        else:
            changed[key] = write(new)
    return changed


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
