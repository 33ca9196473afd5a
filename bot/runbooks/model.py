"""The runbook model: what the files in `runbooks/` become once read and checked.

A `Library` holds the scenarios' `Runbook`s (each a walk of `Step`s, common procedure spliced in)
and the two checklists of `ChecklistItem`s; every text is a `Text` in Korean and English.
`RunbookError` lists every problem found in the files. The constants name the format's vocabulary.
Reading the files is `bot.runbooks.loader`; the entry points are in `bot.runbooks`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class Phase(StrEnum):
    """The playbook's order of work on a scenario (a stored step's phase equals its member)."""

    DIAGNOSE = "diagnose"
    RESPOND = "respond"
    VERIFY = "verify"
    PREVENT = "prevent"


class Severity(StrEnum):
    P0 = "P0"  # service down
    P1 = "P1"  # a major feature fails
    P2 = "P2"  # a partial failure
    P3 = "P3"  # a minor issue


PHASES = tuple(phase.value for phase in Phase)
SEVERITIES = tuple(severity.value for severity in Severity)
PLACEMENTS = ("before", "after")
TICK_RULES = ("verified", "resolved", "postmortem", "manual")  # plus "action:<name>", "phase:<phase>"

COMMON_FILE = "common.toml"
CHECKLISTS_FILE = "checklists.toml"
CHECKLISTS = ("during", "recovery")

MAX_TEXT_CHARS = 600  # one step's guidance has to fit the live message with everything else
MAX_SCENARIO_NUMBER = 999  # the picker's button carries the number in three digits
MAX_DEPTH = 32  # tables and arrays in a runbook file nest a few levels; 32 is plenty
MAX_FILE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Text:
    ko: str
    en: str

    def get(self, lang: str) -> str:
        """The text in `lang`; Korean (the playbook's language) for anything else."""
        return self.en if lang == "en" else self.ko

    def to_dict(self) -> dict:
        """{"ko": ..., "en": ...}"""
        return {"ko": self.ko, "en": self.en}


@dataclass(frozen=True)
class Step:
    id: str
    phase: str
    text: Text
    action: str | None
    args: Mapping[str, Any]
    admin: bool
    confirm: bool
    command: str | None
    source: str  # the file it came from: "token-expired.toml" or "common.toml"
    planned: bool = False  # its action is a recovery action not built yet: done by hand
    retry: Any = None  # its retry policy: a name in `bot.actions.recovery.retry_policy.POLICIES`
                       # or a table {waits, floor, honour_hint}; checked when the runbook loads


@dataclass(frozen=True)
class Runbook:
    id: str
    number: int
    severity: str
    title: Text
    aliases: tuple[str, ...]
    symptoms: tuple[Text, ...]
    needs_topic: bool
    steps: tuple[Step, ...]  # walk order: common steps spliced in, `next` jumps followed
    path: Path

    def prevention(self) -> tuple[Step, ...]:
        """The prevent-phase steps, in walk order (the scenario's, then the common ones)."""
        return tuple(step for step in self.steps if step.phase == Phase.PREVENT)


@dataclass(frozen=True)
class ChecklistItem:
    id: str
    text: Text
    ticked_by: tuple[str, ...]


@dataclass(frozen=True)
class Library:
    runbooks: Mapping[str, Runbook]  # by id, ordered by number
    during: tuple[ChecklistItem, ...]
    recovery: tuple[ChecklistItem, ...]
    digest: str  # 12 hex chars of sha256 over every runbook file: the version people see
    directory: Path

    def find(self, name: str) -> Runbook | None:
        """The runbook called `name` by id, alias or number, ignoring case."""
        wanted = str(name).strip().lower()
        for runbook in self.runbooks.values():
            if wanted in _names(runbook.id, runbook.number, runbook.aliases):
                return runbook
        return None


class RunbookError(Exception):
    """The runbook files are not usable; `problems` lists every reason, one line each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the runbooks:\n"
                         + "\n".join(f"- {p}" for p in self.problems))


def _names(sid: str, number: int, aliases: Iterable[str]) -> set[str]:
    return {sid.lower(), str(number), *(a.lower() for a in aliases)}


def plain_copy(value: Any) -> Any:
    """A deep, JSON-able copy of an args value (lists stay lists, tables become dicts)."""
    if isinstance(value, Mapping):
        return {k: plain_copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_copy(v) for v in value]
    return value
