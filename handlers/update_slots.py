"""How many updates run at once, with button presses apart from everything else.

python-telegram-bot runs up to N updates concurrently behind one semaphore. When N commands
were each waiting for their reply's turn in a busy group, every slot was taken and a button
press waited minutes before its handler even started. Here presses (callback queries) and all
other updates have separate budgets, so no amount of queued chatter can hold a press back;
the outer semaphore is only a backstop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

BACKSTOP = 4096  # the base class's own limit: high enough never to be the one that binds


class PressesApart(BaseUpdateProcessor):
    """Up to `presses` callback queries and `others` other updates at once, independently."""

    def __init__(self, *, presses: int = 32, others: int = 16) -> None:
        super().__init__(max_concurrent_updates=BACKSTOP)
        self._limits = {True: presses, False: others}
        self._slots: dict[bool, asyncio.Semaphore] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        press = isinstance(update, Update) and update.callback_query is not None
        slots = self._slots.get(press)
        if slots is None:  # made in the running loop
            slots = self._slots[press] = asyncio.Semaphore(self._limits[press])
        async with slots:
            await coroutine

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""
