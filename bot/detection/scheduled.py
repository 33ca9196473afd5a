"""The scheduled round (every CHECK_EVERY, on the JobQueue): the health check and the pipeline's
new log lines and traces as sources of signals.

A component down is failing; a rate-limited or over-quota Instagram (scenario 4) and stale
statistics (scenario 5) are failing too although the check calls them degraded. A token that
is merely close to expiry is the reminders' business, not an incident. When the token is down,
Instagram fails because of it: the token's incident says so, Instagram does not open a second.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

import asyncio
import logging
from dataclasses import dataclass

from bot.detection.detector import Detector, Received
from bot.detection.pipeline_files import findings
from bot.detection.signals import COMPONENT_SCENARIOS, make_signal
from bot.health import HealthReport, State
from bot.ports import FileFollower
from bot.store import Store

POSITIONS_KEY = "detection.file_positions"  # where the pipeline's files were read up to
log = logging.getLogger(__name__)

FAILING_WHEN_DEGRADED = frozenset({"instagram", "stats"})


def failing(report: HealthReport) -> dict[str, bool]:
    """Watched component -> failing now (False: fine, or only a warning: `warnings`)."""
    results = {r.component: r for r in report.results if r.component in COMPONENT_SCENARIOS}
    verdict = {name: r.state is State.DOWN or (r.state is State.DEGRADED and name in FAILING_WHEN_DEGRADED
                                                and r.cause != "usage")
               for name, r in results.items()}
    if verdict.get("token") and "instagram" in verdict:
        del verdict["instagram"]  # the token's failure: no second incident, and no "fine" either
    return verdict


def warnings(report: HealthReport) -> dict[str, str | None]:
    """Watched component -> the warning it gives now (a usage threshold crossed before anything
    failed: Cloudinary credits, Instagram's publishing quota or app usage), or None."""
    return {r.component: r.reason if r.state is State.DEGRADED and r.cause == "usage" else None
            for r in report.results if r.component in ("cloudinary", "instagram")}


async def check_and_signal(health: Callable[[Iterable[str] | None], Awaitable[HealthReport]],
                           detector: Detector, *, now: Callable[[], datetime]) -> list[Received]:
    """One round: check the watched components, and hand each verdict to the detector."""
    return await signal_report(await health(list(COMPONENT_SCENARIOS)), detector, now=now)


async def signal_report(report: HealthReport, detector: Detector, *,
                        now: Callable[[], datetime]) -> list[Received]:
    """Each watched component's verdict in `report`, to the detector."""
    reasons = {r.component: r.reason for r in report.results}
    received = []
    for component, bad in failing(report).items():
        signal = make_signal("check", component, reasons.get(component, ""), at=now(), failing=bad)
        received.append(await _safely(detector.receive(signal), component))
    for component, warning in warnings(report).items():
        received.append(await _safely(detector.warn(component, warning), component))
    return received


async def _safely(work: Awaitable[Received], component: str) -> Received:
    """One component's trouble does not cost the others their round."""
    try:
        return await work
    except Exception:
        log.exception("detection: %s could not be handled this round", component)
        return Received("error", None)


@dataclass(frozen=True)
class FilesRound:
    received: list[Received]
    lines: int  # new log lines read
    traces: int  # new trace files read
    skipped: int  # lines or trace files that were not what they claim to be (counted, not fatal)


async def signal_from_files(follower: FileFollower, detector: Detector, store: Store, *,
                            now: Callable[[], datetime]) -> FilesRound:
    """What the pipeline wrote since the last round, its failures to their incidents. Where
    it was read up to is kept after the signals are: a crash reads those bytes again (a
    failure counted twice, never one lost)."""
    positions = await asyncio.to_thread(store.get_setting, POSITIONS_KEY, {})
    at = now()
    looked = await asyncio.to_thread(follower.look, positions if isinstance(positions, dict) else {},
                                     today=at.date())
    found = findings(looked.lines, looked.traces, skipped=looked.skipped)
    received = [await _safely(detector.receive(signal), signal.component)
                for signal in found.signals(at=at)]
    if looked.positions != positions:
        await asyncio.to_thread(store.set_setting, POSITIONS_KEY, looked.positions)
    return FilesRound(received, len(looked.lines), len(looked.traces), found.skipped)
