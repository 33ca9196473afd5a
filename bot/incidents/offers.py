"""What a person may do to an incident right now: the one list the live message draws and the
engine checks every press against, so no rule lives only in which buttons are drawn.

A press the list does not offer changes nothing, whoever sends it and however (a forged
callback, an old message, the terminal).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.incidents.model import Incident, Status, StepSpec, StepStatus, Verb
from bot.incidents.record import done_by_hand_allowed, ticked
from bot.runbooks.model import Phase


class Row(Enum):
    STEP = "step"  # the current step's buttons
    INCIDENT = "incident"  # acknowledge, escalate, resolve
    TICKS = "ticks"  # recovery checklist items only a person can tick


@dataclass(frozen=True)
class Offer:
    verb: Verb
    arg: int = 0  # the step index for a step verb, the checklist item's for a tick
    row: Row = Row.INCIDENT


def runnable(step: StepSpec) -> bool:
    return bool(step.action) and not step.planned


def ticks_open(incident: Incident) -> bool:
    """Hand ticks are offered once the team is checking recovery (the walk is at verify or
    prevent, finished, or resolved) and until the post-mortem is written, which freezes them."""
    if incident.postmortem.written_at is not None:
        return False
    if incident.status == Status.RESOLVED:
        return True
    found = incident.current_step()
    return found is None or found[1].phase in (Phase.VERIFY, Phase.PREVENT)


def offers(incident: Incident) -> list[Offer]:
    """Every legal press, in the order the live message shows them."""
    found: list[Offer] = []
    if incident.status != Status.RESOLVED:
        step_now = incident.current_step()
        if step_now is not None:
            index, step, state = step_now
            if state.status == StepStatus.CONFIRMING:
                found += [Offer(Verb.CONFIRM, index, Row.STEP), Offer(Verb.CANCEL, index, Row.STEP)]
            elif state.status == StepStatus.WAITING:  # retry now, stop retrying, or move on
                found += [Offer(Verb.RUN, index, Row.STEP), Offer(Verb.CANCEL, index, Row.STEP),
                          Offer(Verb.SKIP, index, Row.STEP)]
            elif state.status in (StepStatus.PENDING, StepStatus.FAILED):
                if runnable(step):
                    found.append(Offer(Verb.RUN, index, Row.STEP))
                if runnable(step) and step.retry and not step.confirm:
                    found.append(Offer(Verb.LATER, index, Row.STEP))
                if done_by_hand_allowed(step, state):
                    found.append(Offer(Verb.DONE, index, Row.STEP))
                found.append(Offer(Verb.SKIP, index, Row.STEP))
        if incident.status == Status.OPEN:
            found.append(Offer(Verb.ACKNOWLEDGE))
        found += [Offer(Verb.ESCALATE), Offer(Verb.RESOLVE)]
    if ticks_open(incident):
        marks = ticked(incident, "recovery")
        by_hand = set(incident.ticks["recovery"])
        for i, item in enumerate(incident.checklists["recovery"]):
            # an item the record already ticks by itself has nothing to press
            if "manual" in item.ticked_by and (not marks[i] or item.id in by_hand):
                found.append(Offer(Verb.UNTICK if marks[i] else Verb.TICK, i, Row.TICKS))
    return found


def offered(incident: Incident, verb: Verb, arg: int) -> bool:
    return any(o.verb == verb and o.arg == arg for o in offers(incident))
