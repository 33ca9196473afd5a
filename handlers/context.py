"""What every handler needs, kept in `application.bot_data` under one key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from telegram.ext import ContextTypes

from bot.clock import local_date, local_time
from bot.config import Settings
from bot.i18n import Translator
from bot.detection.detector import Detector
from bot.detection.intake import IntakeServer
from bot.notify.fallback_notifier import FallbackNotifier
from bot.incidents.engine import IncidentEngine
from bot.incidents.flows import IncidentFlows
from bot.incidents.model import Incident
from bot.secrets import Redactor
from bot.services import Services

KEY = "sunflow"
log = logging.getLogger(__name__)


@dataclass
class BotContext:
    settings: Settings
    services: Services
    engine: IncidentEngine
    runbooks_loaded_at: datetime
    # what starts and walks incidents: set right after, its Telegram notifier needs this context
    flows: IncidentFlows = field(init=False)
    detector: Detector = field(init=False)  # failing signals to incidents, over `flows`
    intake: IntakeServer | None = None  # the HTTP intake endpoint, while it runs
    fallback: FallbackNotifier | None = None  # the flows' notifier: Telegram, then the fallbacks
    # one lock per incident around "read the record, edit its live message", so an older
    # state never overwrites a newer one in the chat
    live_locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    # work a handler sets going that outlives it, one task per (kind, incident id): the live
    # message's edits ("live"), the documents owed to the group ("documents"); retries later
    tasks: dict[tuple[str, int], asyncio.Task] = field(default_factory=dict)
    timers: dict[tuple[str, int], asyncio.TimerHandle] = field(default_factory=dict)
    stopping: bool = False
    # live messages to bring up to date (incident id -> a record just written, or None)
    live_dirty: dict[int, Incident | None] = field(default_factory=dict)
    # documents owed to the group: failed sends in a row, and owed again while one was sending
    delivery_failures: dict[int, int] = field(default_factory=dict)
    deliver_again: set[int] = field(default_factory=set)
    # /health reports on their way, per (chat, topic, components): later requests join them
    health_replies: set[tuple] = field(default_factory=set)
    rechecks: dict[int, float] = field(default_factory=dict)  # user id -> last forced re-check

    def live_lock(self, doc_id: int) -> asyncio.Lock:
        return self.live_locks.setdefault(doc_id, asyncio.Lock())

    def run(self, key: tuple[str, int], work: Coroutine[Any, Any, None]) -> None:
        """Run `work` as the task for `key` (the caller checked there is none)."""
        async def tracked() -> None:
            try:
                await work
            except Exception:  # nobody awaits this task: its failure goes to the log
                log.exception("%s of incident #%s failed", *key)
            finally:  # at once when the work ends: a caller that then finds no task starts one
                self.tasks.pop(key, None)

        task = asyncio.get_running_loop().create_task(tracked(), name=f"{key[0]} #{key[1]}")
        # cancelled before it ever ran (the bot stopping): `work` was never started; close it,
        # or Python reports a coroutine never awaited
        task.add_done_callback(lambda done: work.close() if done.cancelled() else None)
        self.tasks[key] = task

    def later(self, key: tuple[str, int], delay_s: float, callback: Callable[[], None]) -> None:
        """`callback` in `delay_s`, unless the bot stops first (one timer per key)."""
        if not self.stopping:
            self.cancel_later(key)
            self.timers[key] = asyncio.get_running_loop().call_later(delay_s, self._fire, key, callback)

    def cancel_later(self, key: tuple[str, int]) -> None:
        timer = self.timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _fire(self, key: tuple[str, int], callback: Callable[[], None]) -> None:
        self.timers.pop(key, None)
        callback()

    async def settled(self) -> None:
        """Until no task runs (one waiting for a timer does not count): tests and the demo."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks.values()), return_exceptions=True)

    async def stop(self) -> None:
        """At shutdown: timers and tasks are dropped. The next start shows every live message
        again and sends every document still owed."""
        self.stopping = True
        for key in list(self.timers):
            self.cancel_later(key)
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def tr(self) -> Translator:
        return self.services.tr

    @property
    def redact(self) -> Redactor:
        return self.services.redact

    def local(self, moment: datetime) -> str:
        """A time as the team reads it, with its zone."""
        return local_time(moment, self.settings.timezone)

    def local_date(self, moment: datetime) -> str:
        return local_date(moment, self.settings.timezone)


def bot_context(context: ContextTypes.DEFAULT_TYPE) -> BotContext:
    return context.bot_data[KEY]
