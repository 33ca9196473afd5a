"""The incident domain's vocabulary: statuses, step states and the verbs people use (a step's
phase and an incident's severity are the runbooks' `Phase` and `Severity`).

They are `StrEnum`s, so a member is stored as its plain value and a stored value compares equal
to its member (`Status.OPEN == "open"`). Transports have their own spellings of verbs (a
Telegram button carries a two-letter code, the terminal a word); each maps them to `Verb` at its
own edge, and nothing past that edge sees the codes.
"""

from __future__ import annotations

from enum import StrEnum


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


TICK_VERBS = frozenset({Verb.TICK, Verb.UNTICK})
