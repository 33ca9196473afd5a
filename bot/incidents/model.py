"""The incident domain's vocabulary and its record: statuses, step states, the verbs people use
(a step's phase and an incident's severity are the runbooks' `Phase` and `Severity`), and the
typed `Incident` the engine hands out. The store keeps it as JSON; it is converted in one place,
`bot.incidents.stored`, on the engine's way in and out.

The enums are `StrEnum`s, so a member is stored as its plain value and a stored value compares equal
to its member (`Status.OPEN == "open"`). Transports have their own spellings of verbs (a
Telegram button carries a two-letter code, the terminal a word); each maps them to `Verb` at its
own edge, and nothing past that edge sees the codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.actions.registry import Outcome
from bot.runbooks.model import Phase, Severity, Text


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    MITIGATING = "mitigating"
    RESOLVED = "resolved"


UNRESOLVED = (Status.OPEN, Status.ACKNOWLEDGED, Status.MITIGATING)


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    CONFIRMING = "confirming"  # a step that changes things, waiting for its Confirm
    DONE = "done"
    FAILED = "failed"  # a verify check that did not pass: run it again, or skip it
    SKIPPED = "skipped"
    WAITING = "waiting"  # its action runs again by itself at `retry_at` (its retry policy)


class Verb(StrEnum):
    """What a person can do to an incident, from any transport."""

    RUN = "run"  # run the current step's action (or ask to confirm first)
    DONE = "done"  # a person did the current step by hand
    SKIP = "skip"
    CONFIRM = "confirm"  # confirm a step that changes things
    CANCEL = "cancel"  # ... or not
    ACKNOWLEDGE = "acknowledge"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    # tick or untick a recovery checklist item by hand: the verb says which, so two presses of
    # the same button do not cancel out
    TICK = "tick"
    UNTICK = "untick"
    LATER = "later"  # run the current step's action again by itself in an hour


TICK_VERBS = frozenset({Verb.TICK, Verb.UNTICK})


# -- the record: what the engine hands out (the store keeps it as JSON, `bot.incidents.stored`)


@dataclass(frozen=True)
class StepSpec:
    """A runbook step as the incident copied it at open (an edited runbook never changes it)."""

    id: str
    phase: Phase
    text: Text
    action: str | None  # None: guidance, done by hand
    args: Mapping[str, Any]
    admin: bool  # only an admin may press it
    confirm: bool  # it changes things: Run asks to confirm first
    command: str | None  # a command to show with it
    planned: bool  # its action is not built yet: done by hand
    retry: Any = None  # its retry policy as the runbook declared it (a name or a table)


@dataclass(frozen=True)
class StepState:
    status: StepStatus = StepStatus.PENDING
    by: str | None = None  # who last pressed it
    at: datetime | None = None  # when its status or result last changed
    outcome: Outcome | None = None  # its action's last result
    summary: str | None = None
    lines: tuple[str, ...] = ()  # the result's first detail lines (redacted)
    more: int = 0  # detail lines beyond those (sent as a file, not kept)
    runs: int = 0
    progress: str | None = None  # where its running action is ("uploading image 2 of 3")
    retry_at: datetime | None = None  # WAITING: when the action runs again by itself
    failures: int = 0  # failed runs in a row: the retry policy's count


@dataclass(frozen=True)
class Alerts:
    """The failing signal an incident stands for (`bot.detection`): repeats are counted here,
    not opened again; a recovery is noted, never resolved by itself."""

    fingerprint: str  # one fingerprint, one open incident
    component: str
    count: int  # signals seen, the first included
    first_at: datetime
    last_at: datetime
    summary: str  # the latest signal's one line (redacted)
    recovered_at: datetime | None = None  # the component looked fine again (None: failing)
    source: str = "check"  # who saw the latest failure: only it can say the failure is over


@dataclass(frozen=True)
class Stage:
    """One stage of the escalation clock (`bot.incidents.escalation_plan.STAGES`)."""

    stage: str
    due_at: datetime
    fired_at: datetime | None = None


@dataclass(frozen=True)
class Event:
    """A timeline entry: who did what when; `detail` holds the event's own few plain values."""

    at: datetime
    actor: str | None
    name: str  # "opened", "step.run", "escalation", ...
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LiveMessage:
    """The incident's one live message in the group."""

    chat_id: int
    message_id: int
    thread_id: int | None = None


@dataclass(frozen=True)
class Question:
    """A question the bot asked (or is about to: no `message_id` yet); a reply answers it."""

    kind: str  # "topic", "override", "root_cause", "prevention"
    message_id: int | None
    by: str | None  # whom it was put to


@dataclass(frozen=True)
class Owed:
    """A document kept for the group and not delivered yet: sent until it is."""

    kind: str  # "file" (a step's result) or "postmortem"
    filename: str
    file: str  # where the store keeps it (`Store.put_document`)
    caption: str
    at: datetime


@dataclass(frozen=True)
class Writeup:
    """The post-mortem's answers and when it was written (its text is in `postmortems`)."""

    root_cause: str | None = None
    prevention: str | None = None
    written_at: datetime | None = None
    filename: str | None = None

    def answer(self, kind: str) -> str | None:
        """The answer to one of the write-up's questions ("root_cause", "prevention")."""
        return {"root_cause": self.root_cause, "prevention": self.prevention}[kind]


@dataclass(frozen=True)
class ChecklistCopy:
    """A checklist item as the incident copied it at open; `ticked_by` names the rules that tick
    it from the record ("verified", "action:<name>", ... and "manual": a person may)."""

    id: str
    text: Text
    ticked_by: tuple[str, ...]


@dataclass(frozen=True)
class Incident:
    """One incident, typed. The engine reads it from the store and writes what a change changed
    (`bot.incidents.stored`); everything else only reads it, and must not change what it holds
    (a step's args, an event's detail): the engine hands the same object to every reader of
    that version. Times are aware UTC datetimes."""

    id: int  # the store's id, never reused: what buttons carry
    version: int  # the store's version it was read at
    ref: str  # "INC-20261127-001": the local date and that day's sequence
    scenario: str
    scenario_number: int | None
    title: Text
    severity: Severity
    status: Status
    topic: str | None
    opened_at: datetime
    opened_by: str | None
    acknowledged_at: datetime | None
    lead: str | None
    mitigating_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolve_override: str | None  # an admin's reason to resolve unverified
    steps: tuple[StepSpec, ...]  # the runbook's steps in walk order
    step_state: tuple[StepState, ...]  # parallel to steps
    current: int  # the current step's index; len(steps) once the walk is finished
    checklists: Mapping[str, tuple[ChecklistCopy, ...]]  # "during", "recovery"
    ticks: Mapping[str, tuple[str, ...]]  # item ids ticked by hand, per checklist
    trace_ids: tuple[str, ...]
    timeline: tuple[Event, ...]
    escalation: tuple[Stage, ...]
    message: LiveMessage | None
    pending_reply: Question | None
    linked: tuple[str, ...]  # who reported the same scenario again while this one was open
    owed: tuple[Owed, ...]
    postmortem: Writeup
    prevention_items: tuple[Text, ...]  # the runbook's prevent-phase texts
    archived: bool = False  # read from the archive: nothing changes it any more
    alerts: Alerts | None = None  # what detection saw, when it opened or joined this incident

    def current_step(self) -> tuple[int, StepSpec, StepState] | None:
        """(index, step, state) of the current step; None when the walk is finished."""
        if self.current >= len(self.steps):
            return None
        return self.current, self.steps[self.current], self.step_state[self.current]

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.escalation if s.stage == name), None)


@dataclass(frozen=True)
class Summary:
    """What /stats needs of an incident: an incident in memory, or an archived one's index row."""

    ref: str
    scenario: str
    severity: str
    status: str
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
