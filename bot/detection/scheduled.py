"""The scheduled health check as a source of signals (every CHECK_EVERY, on the JobQueue).

A component down is failing; a rate-limited or over-quota Instagram (scenario 4) and stale
statistics (scenario 5) are failing too although the check calls them degraded. A token that
is merely close to expiry is the reminders' business, not an incident. When the token is down,
Instagram fails because of it: the token's incident says so, Instagram does not open a second.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from bot.detection.detector import Detector, Received
from bot.detection.signals import COMPONENT_SCENARIOS, make_signal
from bot.health import HealthReport, State

FAILING_WHEN_DEGRADED = frozenset({"instagram", "stats"})


def failing(report: HealthReport) -> dict[str, bool]:
    """Watched component -> failing now (False: fine)."""
    states = {r.component: r.state for r in report.results if r.component in COMPONENT_SCENARIOS}
    verdict = {name: state is State.DOWN or (state is State.DEGRADED and name in FAILING_WHEN_DEGRADED)
               for name, state in states.items()}
    if verdict.get("token") and "instagram" in verdict:
        verdict["instagram"] = False  # the token's failure, not a second incident
    return verdict


async def check_and_signal(health: Callable[[Iterable[str] | None], Awaitable[HealthReport]],
                           detector: Detector, *, now: Callable[[], datetime]) -> list[Received]:
    """One round: check the watched components, and hand each verdict to the detector."""
    report = await health(list(COMPONENT_SCENARIOS))
    reasons = {r.component: r.reason for r in report.results}
    received = []
    for component, bad in failing(report).items():
        signal = make_signal("check", component, reasons.get(component, ""), at=now(), failing=bad)
        received.append(await detector.receive(signal))
    return received
