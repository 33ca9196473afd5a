"""Health: every probe at once, each under its own timeout, folded into one report."""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol

from bot.clock import Clock, utc_now
from bot.errors import RateLimited, ServiceError
from bot.i18n import Translate, Translator


class State(str, Enum):
    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def rank(self) -> int:
        return _RANK[self]


log = logging.getLogger(__name__)
_RANK = {State.OK: 0, State.DEGRADED: 1, State.DOWN: 2}
# every component /health reports on, in the report's order
COMPONENTS = ("instagram", "token", "cloudinary", "fal", "telegram", "stats", "logs", "store")
LOCAL_COMPONENTS = ("stats", "logs", "store")  # checked without calling anyone: never shared
STATE_ICONS = {State.OK: "🟢", State.DEGRADED: "🟡", State.DOWN: "🔴"}


def worst(*states: State) -> State:
    return max(states, key=lambda s: s.rank, default=State.OK)


@dataclass(frozen=True)
class ProbeResult:
    component: str
    state: State
    latency_ms: float | None
    reason: str  # one line, in the bot's language, secret-free
    # why it is not ok, for detection: an error kind ("rate_limited", "unavailable", ...) or
    # "usage" (a threshold crossed before anything failed: a warning, not an outage)
    cause: str | None = None


class HealthProbe(Protocol):
    component: str

    async def probe(self) -> ProbeResult: ...


@dataclass(frozen=True)
class HealthReport:
    results: tuple[ProbeResult, ...]
    checked_at: datetime = field(default_factory=utc_now)

    @property
    def overall(self) -> State:
        return worst(*(r.state for r in self.results))

    @property
    def exit_code(self) -> int:
        """0 all ok, 1 something degraded, 2 something down (the CLI's contract)."""
        return self.overall.rank

    def get(self, component: str) -> ProbeResult | None:
        return next((r for r in self.results if r.component == component), None)


class Stopwatch:
    """Milliseconds since it was made."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self._start) * 1000


async def run_health_check(
    probes: Iterable[HealthProbe],
    *,
    timeout_s: float,
    tr: Translator,
    only: Iterable[str] | None = None,
    clock: Clock = utc_now,
) -> HealthReport:
    """Run the probes concurrently; a probe that overruns `timeout_s` is reported as down.

    Each probe gets its own deadline, so one hung vendor costs the report `timeout_s` at most
    while every other line still shows its real state.
    """
    shared = SharedHealth(probes, timeout_s=timeout_s, tr=tr, share_s=0, clock=clock)
    return await shared.check(only, fresh=True)


class SharedHealth:
    """Health checks that share their vendor calls: a /health costs 3 Graph, 2 Cloudinary and 1
    fal request, and any group member may send it, so requests share rounds of probes.

    Per component: a check already running is joined, and a result younger than `share_s` is
    reused. `fresh=True` (a step's check, a re-check button, the CLI) skips the second, not the
    first: a probe that started a moment ago is as fresh as a new one.
    """

    def __init__(self, probes: Iterable[HealthProbe], *, timeout_s: float, tr: Translator,
                 share_s: float, clock: Clock = utc_now,
                 always_fresh: Iterable[str] = ()) -> None:
        self._probes = list(probes)
        self._always_fresh = frozenset(always_fresh)  # local checks: free, so never reused
        self._timeout_s, self._tr, self._share_s, self._clock = timeout_s, tr, share_s, clock
        self._running: dict[str, asyncio.Future[ProbeResult]] = {}
        self._last: dict[str, tuple[float, datetime, ProbeResult]] = {}  # monotonic, wall, result

    async def check(self, only: Iterable[str] | None = None, *, fresh: bool = False) -> HealthReport:
        wanted = set(only) if only else None
        chosen = [p for p in self._probes if wanted is None or p.component in wanted]
        results = await asyncio.gather(*(self._result(p, fresh) for p in chosen))
        checked = min((self._last[p.component][1] for p in chosen if p.component in self._last),
                      default=self._clock())
        return HealthReport(results=tuple(results), checked_at=checked)

    def forget(self) -> None:
        """Drop the results kept for sharing (the demo does, when it switches a fault)."""
        self._last.clear()

    async def _result(self, probe: HealthProbe, fresh: bool) -> ProbeResult:
        running = self._running.get(probe.component)
        if running is not None:
            return await asyncio.shield(running)
        last = self._last.get(probe.component)
        if (not fresh and last is not None and probe.component not in self._always_fresh
                and time.monotonic() - last[0] < self._share_s):
            return last[2]
        task = asyncio.ensure_future(_guarded(probe, self._timeout_s, self._tr))
        self._running[probe.component] = task
        # recorded when the probe ends, whoever is still waiting for it (a caller may be gone)
        task.add_done_callback(functools.partial(self._finished, probe.component))
        return await asyncio.shield(task)

    def _finished(self, component: str, task: asyncio.Future[ProbeResult]) -> None:
        if self._running.get(component) is task:
            del self._running[component]
        if not task.cancelled() and task.exception() is None:
            self._last[component] = (time.monotonic(), self._clock(), task.result())


async def _guarded(probe: HealthProbe, timeout_s: float, tr: Translator) -> ProbeResult:
    watch = Stopwatch()
    try:
        return await asyncio.wait_for(probe.probe(), timeout=timeout_s)
    except (asyncio.TimeoutError, TimeoutError):
        return ProbeResult(probe.component, State.DOWN, watch.ms,
                           tr("health.timed_out", seconds=f"{timeout_s:g}"))
    except Exception as exc:  # a probe bug must not hide the other lines
        log.exception("health probe %s crashed", probe.component)
        return ProbeResult(probe.component, State.DOWN, watch.ms,
                           tr("health.probe_crashed", error=type(exc).__name__))


def failed_probe(component: str, error: ServiceError, latency_ms: float, tr: Translator) -> ProbeResult:
    """A probe line for a classified failure: a rate limit heals by waiting, nothing else does."""
    state = State.DEGRADED if isinstance(error, RateLimited) else State.DOWN
    return ProbeResult(component, state, latency_ms, describe_error(error, tr), cause=error.kind.value)


def describe_error(error: ServiceError, tr: Translate) -> str:
    """One secret-free line for a classified error, in the bot's language."""
    text = tr(f"error.{error.kind.value}")
    if error.retry_after_s:
        text += " · " + tr("error.retry_in", minutes=max(1, math.ceil(error.retry_after_s / 60)))
    if error.usage_pct is not None:
        text += " · " + tr("error.usage", pct=f"{error.usage_pct:.0f}")
    if error.detail:
        text += f" ({error.detail})"
    return text
