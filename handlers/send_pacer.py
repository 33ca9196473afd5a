"""What the bot sends, paced to Telegram's real limits, urgent things first; button answers never wait.

Telegram allows a group about 20 messages a minute (edits count) and a bot about 30 calls a
second. python-telegram-bot's AIORateLimiter queued every send of a group behind one FIFO
limiter, so 40 `/health` replies waiting for their turn held every update slot while a button
press waited minutes for its answer, and one 429 paused every call, answers included.

This limiter (python-telegram-bot's `BaseRateLimiter`):

- Button answers (`answerCallbackQuery`) and other calls without a chat go straight out: a
  press is answered at once whatever the group is waiting for.
- Each group gets at most `group_rate` sends in any minute (a sliding window, so the group
  never sees more), spread out: after a short burst one every 60/`group_rate` seconds.
- Waiting sends go out by priority: `URGENT` (an incident's live message, its questions, pages
  and files) before `NORMAL` (replies to commands); when both wait, every fourth turn goes to a
  normal send, so a busy incident cannot silence /health.
- A 429 pauses only the chat it came from, for the time Telegram asked, and the send is tried
  again up to `max_retries` times.
- `turn()` lets a caller wait for its chat's turn *before* it builds what it sends, so the
  live message is rendered as it is when the edit goes out (`Send(prepaid=True)` then skips
  the queue for that one call).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from aiolimiter import AsyncLimiter
from telegram.error import NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)
GROUP_PERIOD_S = 60.0
BURST = 3  # sends a quiet group may get back to back before the pacing starts
NORMAL_EVERY = 4  # when both kinds wait, one turn in this many goes to a normal send
OVERALL_PER_SECOND = 30
# what a group counts: messages sent or edited (not chat actions, reads or deletions)
_COUNTED = ("send", "edit", "copy", "forward")
_STOPPING = "not sent: the bot is stopping"


class Priority(IntEnum):
    URGENT = 0
    NORMAL = 1


@dataclass(frozen=True)
class Send:
    """`rate_limit_args` for one Bot API call (a dataclass, so it is never falsy)."""

    priority: Priority = Priority.NORMAL
    prepaid: bool = False  # the caller already waited for this chat's turn


URGENT = Send(Priority.URGENT)
PREPAID = Send(Priority.URGENT, prepaid=True)


class _GroupQueue:
    """One group's budget: a sliding window, a pace, a pause, and the sends waiting."""

    def __init__(self, rate: int, period: float) -> None:
        self.rate, self.period = rate, period
        self.spacing = period / rate
        self.sent: deque[float] = deque()  # when each send in the window was granted
        self.paused_until = 0.0  # Telegram's retry_after
        self.waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self.urgent_in_a_row = 0
        self.timer: asyncio.TimerHandle | None = None


class SendPacer(BaseRateLimiter[Send]):
    """Telegram's group limit, per group, by priority; see the module docstring."""

    def __init__(self, group_rate: int = 20, *, max_retries: int = 2,
                 period: float = GROUP_PERIOD_S) -> None:
        self._rate = max(1, int(group_rate))
        self._period = period
        self._max_retries = max_retries
        self._groups: dict[int | str, _GroupQueue] = {}
        self._order = itertools.count()
        self._overall = AsyncLimiter(OVERALL_PER_SECOND, 1)
        self._closed = False

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        self.close()

    def close(self) -> None:
        """Stopping: sends still waiting for their turn fail at once (NetworkError) instead of
        holding the shutdown for minutes; so does every later one."""
        self._closed = True
        for queue in self._groups.values():
            if queue.timer is not None:
                queue.timer.cancel()
            for _, _, waiter in queue.waiting:
                if not waiter.done():
                    waiter.set_exception(NetworkError(_STOPPING))
            queue.waiting.clear()

    # -- waiting for a turn

    async def turn(self, chat_id: int | str, priority: Priority = Priority.URGENT) -> None:
        """Wait until `chat_id` may be sent one more message, and count it as sent."""
        key = _group_key(chat_id)
        if key is None:
            return
        if self._closed:
            raise NetworkError(_STOPPING)
        queue = self._groups.setdefault(key, _GroupQueue(self._rate, self._period))
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(queue.waiting, (int(priority), next(self._order), waiter))
        self._pump(queue)
        try:
            await waiter
        except asyncio.CancelledError:
            if not waiter.cancelled():  # granted as we were cancelled: give the turn back
                with contextlib.suppress(ValueError):
                    queue.sent.pop()
            raise

    def waiting(self, chat_id: int | str) -> int:
        """How many sends wait for this chat's turn."""
        queue = self._groups.get(_group_key(chat_id) or 0)
        return len(queue.waiting) if queue else 0

    def _pump(self, queue: _GroupQueue) -> None:
        loop = asyncio.get_running_loop()
        if queue.timer is not None:
            queue.timer.cancel()
            queue.timer = None
        now = loop.time()
        while queue.waiting:
            while queue.sent and queue.sent[0] <= now - queue.period:
                queue.sent.popleft()
            # a quiet group (fewer than BURST sends in the window) is answered at once; a busy
            # one gets a send every spacing, never more than `rate` in the window
            paced = queue.sent[-1] + queue.spacing if len(queue.sent) >= BURST else 0.0
            full = queue.sent[0] + queue.period if len(queue.sent) >= queue.rate else 0.0
            ready_at = max(queue.paused_until, paced, full)
            if ready_at > now:
                queue.timer = loop.call_at(ready_at, self._pump, queue)
                return
            waiter = self._next(queue)
            if waiter is None:
                continue
            queue.sent.append(now)
            waiter.set_result(None)

    def _next(self, queue: _GroupQueue) -> asyncio.Future[None] | None:
        """The waiter to grant now: urgent first, but every NORMAL_EVERY-th turn a normal one."""
        live = [entry for entry in queue.waiting if not entry[2].done()]
        if len(live) != len(queue.waiting):
            queue.waiting[:] = live
            heapq.heapify(queue.waiting)
            if not live:
                return None
        entry = queue.waiting[0]
        if entry[0] == Priority.URGENT and queue.urgent_in_a_row >= NORMAL_EVERY - 1:
            normal = [e for e in queue.waiting if e[0] == Priority.NORMAL]
            if normal:
                entry = min(normal)
        queue.waiting.remove(entry)
        heapq.heapify(queue.waiting)
        queue.urgent_in_a_row = queue.urgent_in_a_row + 1 if entry[0] == Priority.URGENT else 0
        return entry[2]

    def _pause(self, chat_id: int | str, seconds: float) -> None:
        key = _group_key(chat_id)
        if key is None:
            return
        queue = self._groups.setdefault(key, _GroupQueue(self._rate, self._period))
        loop = asyncio.get_running_loop()
        queue.paused_until = max(queue.paused_until, loop.time() + seconds)
        self._pump(queue)

    # -- python-telegram-bot's interface

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict | list[dict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: Send | None,
    ) -> bool | dict | list[dict]:
        chat_id = data.get("chat_id")
        if chat_id is None:  # a button's answer, getMe, setMyCommands: never held up
            return await callback(*args, **kwargs)
        send = rate_limit_args if isinstance(rate_limit_args, Send) else Send()
        counted = endpoint.lower().startswith(_COUNTED) and _group_key(chat_id) is not None
        prepaid = send.prepaid
        for attempt in range(self._max_retries + 1):
            if counted and not prepaid:
                await self.turn(chat_id, send.priority)
            prepaid = False  # a retry waits for a new turn
            try:
                async with self._overall:
                    return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = exc.retry_after if isinstance(exc.retry_after, (int, float)) else \
                    exc.retry_after.total_seconds()
                self._pause(chat_id, float(seconds) + 0.1)
                if attempt == self._max_retries:
                    raise
                log.info("Telegram asked to wait %.0f s before sending to chat %s again", seconds,
                         chat_id)
                if not counted:
                    await asyncio.sleep(float(seconds) + 0.1)
        raise AssertionError("unreachable")  # pragma: no cover


def _group_key(chat_id: object) -> int | str | None:
    """The key of a group or channel (negative ids, @usernames); None for a private chat."""
    if isinstance(chat_id, str):
        with contextlib.suppress(ValueError):
            chat_id = int(chat_id)
    if isinstance(chat_id, str):
        return chat_id
    if isinstance(chat_id, int) and chat_id < 0:
        return chat_id
    return None
