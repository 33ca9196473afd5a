"""Typed incident records for unit tests: a real one, made from the shipped runbooks the way
the engine makes it at open, with whatever a test changes."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from bot.config import DEFAULT_ESCALATION_OFFSETS, DEFAULT_RUNBOOKS_DIR
from bot.incidents.model import Incident
from bot.incidents.record import new_record
from bot.runbooks import RunbookShelf

OPENED = datetime(2026, 11, 27, 16, 45, 27, tzinfo=timezone.utc)


def make_incident(scenario: str = "token", *, opened: datetime = OPENED, actor: str = "bot",
                  **changes: Any) -> Incident:
    library = RunbookShelf(DEFAULT_RUNBOOKS_DIR).library
    runbook = library.find(scenario)
    assert runbook is not None, scenario
    record = new_record(runbook, {"during": library.during, "recovery": library.recovery},
                        ref="INC-20261127-001", topic=None, actor=actor, now=opened,
                        offsets=DEFAULT_ESCALATION_OFFSETS)
    return replace(record, id=1, version=1, **changes)
