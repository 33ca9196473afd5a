"""What every handler needs, kept in `application.bot_data` under one key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

from telegram.ext import ContextTypes

from bot.config import Settings
from bot.engine import IncidentEngine
from bot.i18n import Translator
from bot.secrets import Redactor
from bot.services import Services

KEY = "sunflow"


@dataclass
class BotContext:
    settings: Settings
    services: Services
    engine: IncidentEngine | None = None  # None: the CLI, which only renders health and token
    runbooks_loaded_at: datetime | None = None
    # one lock per incident around "read the record, edit its live message", so an older
    # state never overwrites a newer one in the chat
    live_locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    clock_locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    # a question being put (recorded, not yet sent or confirmed): set when that is over
    asking: dict[int, asyncio.Event] = field(default_factory=dict)
    # live messages to bring up to date (incident id -> a record just written, or None), and
    # the one task per incident doing it (handlers.incident_live.refresh_live)
    live_dirty: dict[int, dict | None] = field(default_factory=dict)
    live_workers: dict[int, asyncio.Task] = field(default_factory=dict)
    # documents owed to the group: the sender per incident, its retry timer, failures in a row
    deliveries: dict[int, asyncio.Task] = field(default_factory=dict)
    delivery_timers: dict[int, asyncio.TimerHandle] = field(default_factory=dict)
    delivery_failures: dict[int, int] = field(default_factory=dict)
    deliver_again: set[int] = field(default_factory=set)
    stopping: bool = False
    # /health reports on their way, per (chat, topic, components): later requests join them
    health_replies: set[tuple] = field(default_factory=set)
    rechecks: dict[int, float] = field(default_factory=dict)  # user id -> last forced re-check

    def live_lock(self, doc_id: int) -> asyncio.Lock:
        return self.live_locks.setdefault(doc_id, asyncio.Lock())

    def clock_lock(self, doc_id: int) -> asyncio.Lock:
        """One escalation stage or reminder of an incident at a time."""
        return self.clock_locks.setdefault(doc_id, asyncio.Lock())

    @property
    def tr(self) -> Translator:
        return self.services.tr

    @property
    def redact(self) -> Redactor:
        return self.services.redact

    def local(self, moment: datetime) -> str:
        """A time as the team reads it, with its zone."""
        return moment.astimezone(self.settings.timezone).strftime("%Y-%m-%d %H:%M %Z")

    def local_date(self, moment: datetime) -> str:
        return moment.astimezone(self.settings.timezone).strftime("%Y-%m-%d")


def bot_context(context: ContextTypes.DEFAULT_TYPE) -> BotContext:
    return context.bot_data[KEY]
