"""The incident flows' ports in a terminal: it reaches nobody and keeps no clock.

What the terminal changes is in the store; when the bot next starts it shows every open
incident as stored, posts an alert that never went out, asks the write-up's questions and
sends the documents still owed (`IncidentFlows.start`). The escalation clock is the bot's: it
arms every unfired stage from the record at start.
"""

from __future__ import annotations

from datetime import datetime

from bot.incidents.model import Incident
from bot.incidents.ports import NotDelivered, Notice, Work

NOT_HERE = "the terminal reaches nobody: the bot does this in the group when it next runs"


class TerminalNotifier:
    async def post(self, incident: Incident) -> Incident:
        raise NotDelivered(NOT_HERE)

    def show(self, doc_id: int, *, known: Incident | None = None) -> None:
        """The command prints the incident itself when it is done."""

    async def say(self, incident: Incident, notice: Notice) -> None:
        raise NotDelivered(NOT_HERE)

    async def page(self, incident: Incident, people: frozenset[int], notice: Notice, *,
                   stage: str) -> bool:
        return False

    async def question(self, incident: Incident, notice: Notice, *, to: str) -> int:
        raise NotDelivered(NOT_HERE)

    def deliver(self, doc_id: int) -> None:
        """Owed documents stay owed on the record until the bot sends them."""


class NoClock:
    """A terminal command ends in seconds: nothing it could schedule would run."""

    def at(self, name: str, due: datetime, work: Work) -> None:
        pass

    def cancel(self, prefix: str) -> None:
        pass
