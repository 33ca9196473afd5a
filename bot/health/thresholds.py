"""Where a reading turns yellow or red: one place per threshold, so `/health` and a runbook
step's check (`bot.actions.checks`) can never disagree about the same figure.

The grading functions are pure: the probes turn their State into a health line, the step
actions into an Outcome (`bot.actions.common.OUTCOME_OF_STATE`).
"""

from __future__ import annotations

from datetime import timedelta

from bot.health.report import State
from bot.ports import PublishingQuota

CREDITS_WARN_PCT = 80.0  # Cloudinary plan credits used
QUOTA_WARN_PCT = 80.0  # Instagram's 24-hour content-publishing quota used
USAGE_WARN_PCT = 90.0  # Graph's app / business use-case usage (X-App-Usage headers)
LOG_ERROR_WINDOW = timedelta(hours=24)  # older error lines no longer count (its lines say "24 h")


def credits_state(pct: float | None) -> State:
    """Cloudinary credits: used up is down, past the warning mark degraded; no figure is ok."""
    if pct is None:
        return State.OK
    if pct >= 100:
        return State.DOWN
    return State.DEGRADED if pct >= CREDITS_WARN_PCT else State.OK


def quota_state(quota: PublishingQuota) -> State:
    """The publishing quota: full is down, past the warning mark degraded.

    A total of 0 leaves nothing to measure against, which is not a full quota: it reads as ok
    (`used_pct` is 0 then), as the quota step always read it.
    """
    if quota.total and quota.used >= quota.total:
        return State.DOWN
    return State.DEGRADED if quota.used_pct >= QUOTA_WARN_PCT else State.OK


def usage_state(pct: float | None) -> State:
    """Graph's app usage: near its rate limit is degraded (at 100% Graph refuses calls)."""
    return State.DEGRADED if pct is not None and pct >= USAGE_WARN_PCT else State.OK
