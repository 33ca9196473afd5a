"""The two ports the incident flows talk to the outside through.

A `Notifier` reaches people (Telegram in `handlers/telegram_notifier.py`, the terminal in
`bot/terminal/`, memory in the tests); a `Scheduler` runs work at a due time (PTB's JobQueue
in `handlers/job_scheduler.py`). What is said is a `Notice`: a message key and its plain
values; each notifier renders it in its own way (HTML escaping happens there, nowhere else).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.incidents.model import Incident


class NotDelivered(Exception):
    """The notifier could not reach anyone this time (the transport is down or refused)."""


@dataclass(frozen=True)
class Notice:
    key: str  # a message key of the catalogs
    params: Mapping[str, Any] = field(default_factory=dict)  # plain values, not escaped


class Notifier(Protocol):
    async def post(self, incident: Incident) -> Incident:
        """Post the incident's live message as the newest in its channel (the old one says where
        it went); the record as it now is. Raises NotDelivered."""
        ...

    def show(self, doc_id: int, *, known: Incident | None = None) -> None:
        """Have the live message show the stored state soon; returns at once, best effort.
        `known`: a record just written, used when nothing newer is stored."""
        ...

    async def say(self, incident: Incident, notice: Notice) -> None:
        """A message under the live message. Raises NotDelivered."""
        ...

    async def page(self, incident: Incident, people: frozenset[int], notice: Notice, *,
                   stage: str) -> bool:
        """Reach each person directly and the team under the live message; True when anyone
        got it (a page is never an exception: who could not be reached is said in it)."""
        ...

    async def question(self, incident: Incident, notice: Notice, *, to: str) -> int:
        """Put a question to actor `to` under the live message; the id a reply will answer."""
        ...

    def deliver(self, doc_id: int) -> None:
        """Send the documents the incident owes the team, until they are delivered; returns at
        once (each one delivered is struck off with `IncidentEngine.delivered`)."""
        ...


class MistakesRecord(Protocol):
    """The playbook's "update the mistakes record in CLAUDE.md": one dated entry per incident."""

    async def append(self, ref: str, entry: str, *, actor: str | None) -> str | None:
        """Append `entry` (backed up first); the backup's id, or None when an entry for `ref`
        is there already (appending twice is a no-op)."""
        ...


Work = Callable[[], Awaitable[None]]


class Scheduler(Protocol):
    def at(self, name: str, due: datetime, work: Work) -> None:
        """Run `work` at `due` (at once when it is past), replacing any job of that name."""
        ...

    def cancel(self, prefix: str) -> None:
        """Drop every job whose name starts with `prefix`."""
        ...
