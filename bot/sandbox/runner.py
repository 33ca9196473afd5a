"""Run the real bot in this process and know when it has finished with an update.

The demo uses this to run typed (or piped) input in order; the end-to-end tests and the
benchmarks use it to start and stop the real Application against the sandbox.
"""

from __future__ import annotations

import asyncio
from typing import Any

from telegram import Update

from bot.app import ALLOWED_UPDATES, SunflowApplication, build_application
from bot.config import Settings
from bot.incidents.record import RECORD_CHECKS
from bot.services import Services, build_services
from bot.store import Store
from handlers.context import KEY


class TrackingApplication(SunflowApplication):
    """An Application that records which updates it has completely handled."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handled_ids: set[int] = set()
        self._handled = asyncio.Condition()

    async def process_update(self, update: object) -> None:
        try:
            await super().process_update(update)
        finally:
            if isinstance(update, Update):
                async with self._handled:
                    self.handled_ids.add(update.update_id)
                    self._handled.notify_all()

    async def wait_handled(self, update_id: int, timeout: float = 30.0) -> bool:
        """True once the update (and its error handler, if any) is done; False on timeout."""
        async with self._handled:
            try:
                await asyncio.wait_for(
                    self._handled.wait_for(lambda: update_id in self.handled_ids), timeout
                )
            except (asyncio.TimeoutError, TimeoutError):
                return False
        return True


class BotRunner:
    """`async with BotRunner(settings) as runner:` the bot is polling until the block ends."""

    def __init__(self, settings: Settings, *, store: Store | None = None,
                 services: Services | None = None) -> None:
        self.settings = settings
        self._own_store = store is None
        self.store = store
        self.services = services
        self.application: TrackingApplication | None = None

    async def __aenter__(self) -> BotRunner:
        if self.store is None:
            self.store = Store.open(self.settings.data_dir, checks=RECORD_CHECKS)
        if self.services is None:
            self.services = build_services(self.settings, self.store)
        app = build_application(self.settings, self.services, application_class=TrackingApplication)
        assert isinstance(app, TrackingApplication)
        self.application = app
        await app.initialize()
        if app.post_init is not None:
            await app.post_init(app)  # run_polling() would do this; we drive the parts ourselves
        if app.updater is None:  # build_application() always builds one: the bot polls
            raise RuntimeError("the application has no updater to poll with")
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=10,
                                        allowed_updates=ALLOWED_UPDATES)
        return self

    async def __aexit__(self, *exc: object) -> None:
        app = self.application
        if app is not None:
            await app.bot_data[KEY].stop()
            if app.updater is not None and app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
        if self.services is not None:
            await self.services.aclose()
        if self._own_store and self.store is not None:
            self.store.close()

    async def wait_handled(self, update_id: int, timeout: float = 30.0) -> bool:
        """True once the update is handled and what it set going in the chat has gone out
        (live message edits wait for the group's turn); False on timeout."""
        assert self.application is not None
        if not await self.application.wait_handled(update_id, timeout):
            return False
        try:
            await asyncio.wait_for(self.settle(), timeout)
        except (asyncio.TimeoutError, TimeoutError):
            return False
        return True

    async def settle(self) -> None:
        """Until the bot has nothing left to send for what it handled so far."""
        assert self.application is not None
        await self.application.bot_data[KEY].settled()
