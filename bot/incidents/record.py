"""The incident record: how one is made from a runbook, whether a stored one can be walked, and
the small reads everyone shares.

The record is `bot.incidents.model.Incident` (its fields are described there); the store keeps
it as JSON in its `incidents` table, converted by `bot.incidents.stored` only. Its store id
(never reused) is what buttons carry. Steps and checklists are copied from the runbook at open,
so an edited runbook never changes an incident under way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.actions.registry import Outcome
from bot.clock import parse_time
from bot.incidents.escalation_plan import escalation_plan
from bot.incidents.model import (
    ChecklistCopy,
    Event,
    Incident,
    Status,
    StepSpec,
    StepState,
    StepStatus,
    Writeup,
)
from bot.incidents.stored import from_doc
from bot.runbooks import ChecklistItem, Runbook
from bot.runbooks.model import CHECKLISTS, Phase, Severity, plain_copy
from bot.store import shape_problem

OPEN, ACKNOWLEDGED, MITIGATING, RESOLVED = Status  # in that order
PENDING, RUNNING, CONFIRMING, DONE, FAILED, SKIPPED, WAITING = StepStatus
BOT_ACTOR = "bot"
DETECTOR = "detector"  # who opens an incident a failing signal started (`bot.detection`)
TOPIC_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # a folder name under content/images


REF_RE = re.compile(r"^INC-\d{8}-\d{3,}$", re.IGNORECASE)  # an incident's ref, as people type it


def valid_topic(text: str) -> bool:
    return bool(TOPIC_RE.match(text))


def valid_ref(text: str) -> bool:
    return bool(REF_RE.match(text))


def event(now: datetime, actor: str | None, name: str, detail: Mapping[str, Any] | None = None) -> Event:
    return Event(at=now, actor=actor, name=name, detail=dict(detail or {}))


def new_record(runbook: Runbook, checklists: Mapping[str, tuple[ChecklistItem, ...]], *, ref: str,
               topic: str | None, actor: str, now: datetime, offsets: Any) -> Incident:
    """A fresh incident at its first step, with the escalation clock planned from now (its id
    and version are the store's, given when it is inserted)."""
    return Incident(
        id=0, version=0, ref=ref, scenario=runbook.id, scenario_number=runbook.number,
        title=runbook.title, severity=Severity(runbook.severity), status=OPEN, topic=topic,
        opened_at=now, opened_by=actor, acknowledged_at=None, lead=None, mitigating_at=None,
        resolved_at=None, resolved_by=None, resolve_override=None,
        steps=tuple(StepSpec(id=step.id, phase=Phase(step.phase), text=step.text, action=step.action,
                             args=plain_copy(step.args), admin=step.admin, confirm=step.confirm,
                             command=step.command, planned=step.planned,
                             retry=plain_copy(step.retry)) for step in runbook.steps),
        step_state=tuple(StepState() for _ in runbook.steps),
        current=0,
        checklists={which: tuple(ChecklistCopy(id=item.id, text=item.text, ticked_by=tuple(item.ticked_by))
                                 for item in checklists.get(which, ())) for which in CHECKLISTS},
        ticks={which: () for which in CHECKLISTS},
        trace_ids=(),
        timeline=(event(now, actor, "opened", {"scenario": runbook.id, "topic": topic}),),
        escalation=escalation_plan(runbook.severity, now, offsets),
        message=None, pending_reply=None, linked=(), owed=(), postmortem=Writeup(),
        prevention_items=tuple(step.text for step in runbook.prevention()),
    )


_STATUSES = frozenset({OPEN, ACKNOWLEDGED, MITIGATING, RESOLVED})
_STEP_STATUSES = frozenset(StepStatus)
_OPT_STR = (str, type(None))
_FIELDS: Mapping[str, type | tuple[type, ...]] = {
    "ref": str, "scenario": str, "title": dict, "severity": str, "status": str,
    "topic": _OPT_STR, "opened_at": str, "opened_by": _OPT_STR, "acknowledged_at": _OPT_STR,
    "lead": _OPT_STR, "mitigating_at": _OPT_STR, "resolved_at": _OPT_STR,
    "resolved_by": _OPT_STR, "resolve_override": _OPT_STR, "steps": list, "step_state": list,
    "current": int, "checklists": dict, "checklist": dict, "trace_ids": list, "timeline": list,
    "escalation": list, "message": (dict, type(None)), "pending_reply": (dict, type(None)),
    "linked": list, "postmortem": dict, "prevention_items": list,
}
_STEP_FIELDS: Mapping[str, type | tuple[type, ...]] = {
    "id": str, "phase": str, "text": dict, "action": _OPT_STR, "args": dict,
    "admin": bool, "confirm": bool, "command": _OPT_STR,
}
_STATE_FIELDS: Mapping[str, type | tuple[type, ...]] = {
    "status": str, "by": _OPT_STR, "at": _OPT_STR, "outcome": _OPT_STR,
    "summary": _OPT_STR, "lines": list, "runs": int,
}


def record_problem(doc: dict) -> str | None:
    """Why a stored incident cannot be walked (a field missing or of the wrong type), or None.

    The store sets such a record aside at start (`Store.open(checks=...)`) instead of letting
    it stop the bot; the checks follow what the engine, the live message and the clock read.
    """
    problem = shape_problem(doc, _FIELDS, where="the incident")
    if problem:
        return problem
    if doc["status"] not in _STATUSES:
        return f"unknown status {doc['status']!r}"
    for name in ("opened_at", "acknowledged_at", "mitigating_at", "resolved_at"):
        if doc[name] is not None and parse_time(doc[name]) is None:
            return f"{name!r} is not a time"
    steps, states = doc["steps"], doc["step_state"]
    if len(steps) != len(states):
        return f"{len(steps)} steps but {len(states)} step states"
    if not 0 <= doc["current"] <= len(steps):
        return f"current step {doc['current']} of {len(steps)}"
    for n, (step, state) in enumerate(zip(steps, states)):
        if not isinstance(step, dict) or not isinstance(state, dict):
            return f"step {n} is not an object"
        problem = (shape_problem(step, _STEP_FIELDS, where=f"step {n}")
                   or shape_problem(state, _STATE_FIELDS, where=f"step {n}'s state"))
        if problem:
            return problem
        if state["status"] not in _STEP_STATUSES:
            return f"step {n} has unknown status {state['status']!r}"
    for which in ("during", "recovery"):
        items, ticks = doc["checklists"].get(which), doc["checklist"].get(which)
        if not isinstance(items, list) or not isinstance(ticks, list):
            return f"no {which} checklist"
        if not all(isinstance(i, dict) and isinstance(i.get("id"), str) and isinstance(i.get("text"), dict)
                   and isinstance(i.get("ticked_by"), list) for i in items):
            return f"a {which} checklist item is malformed"
    for entry in doc["escalation"]:
        if not (isinstance(entry, dict) and isinstance(entry.get("stage"), str)
                and parse_time(entry.get("due_at")) is not None
                and (entry.get("fired_at") is None or parse_time(entry["fired_at"]) is not None)):
            return "an escalation stage is malformed"
    if not all(isinstance(e, dict) and isinstance(e.get("event"), str) and parse_time(e.get("at"))
               for e in doc["timeline"]):
        return "a timeline entry is malformed"
    message = doc["message"]
    if message is not None and not (type(message.get("chat_id")) is int
                                    and type(message.get("message_id")) is int):
        return "the live message's ids are malformed"
    pending = doc["pending_reply"]
    if pending is not None and not isinstance(pending.get("kind"), str):
        return "the pending question is malformed"
    if not all(k in doc["postmortem"] for k in ("root_cause", "prevention", "written_at")):
        return "the post-mortem fields are malformed"
    try:  # and whatever else the typed record needs (a known severity and phase, ...)
        from_doc({**doc, "id": doc.get("id", 0)})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return f"it does not read as an incident ({type(exc).__name__}: {exc})"
    return None


RECORD_CHECKS = {"incidents": record_problem}


def done_by_hand_allowed(step: StepSpec, state: StepState) -> bool:
    """Whether a person may mark the step done: guidance, a recovery action not built yet, or an
    action that could not run — except a verify check that could not run: that is not verified
    (run it again, or skip it and resolve with an admin's reason)."""
    if not step.action or step.planned:
        return True
    return step.phase != Phase.VERIFY and state.outcome in (Outcome.UNAVAILABLE, Outcome.ERROR)


def verify_done(incident: Incident) -> bool:
    """Every verify step passed (skipped ones do not count: that needs an admin's override)."""
    states = [st for s, st in zip(incident.steps, incident.step_state) if s.phase == Phase.VERIFY]
    return bool(states) and all(st.status == DONE for st in states)


def _rule_holds(rule: str, incident: Incident) -> bool:
    steps = list(zip(incident.steps, incident.step_state))
    if rule.startswith("action:"):
        name = rule.split(":", 1)[1]
        return any(s.action == name and st.status == DONE for s, st in steps)
    if rule.startswith("phase:"):
        phase = rule.split(":", 1)[1]
        return any(s.phase == phase and st.status == DONE for s, st in steps)
    if rule == "verified":
        return verify_done(incident)
    if rule == "resolved":
        return incident.status == RESOLVED
    if rule == "postmortem":
        return incident.postmortem.written_at is not None
    return False  # "manual": only a person's tick


def ticked(incident: Incident, which: str) -> list[bool]:
    """Per item of a checklist: ticked by hand, or by what the record shows (a rule in its
    `ticked_by`)."""
    manual = set(incident.ticks.get(which, ()))
    return [item.id in manual or any(_rule_holds(rule, incident) for rule in item.ticked_by)
            for item in incident.checklists[which]]
