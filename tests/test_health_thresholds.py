"""One grading for a figure, whoever reads it: the probes behind /health and a step's check share
`bot.health.thresholds`, so a quota or a credit count cannot be yellow in one and green in the other.
"""

from __future__ import annotations

import pytest

from bot.health import State
from bot.health.probes import InstagramProbe
from bot.health.thresholds import (
    CREDITS_WARN_PCT,
    QUOTA_WARN_PCT,
    USAGE_WARN_PCT,
    credits_state,
    quota_state,
    usage_state,
)
from bot.i18n import Translator
from bot.ports import PublishingQuota

EN = Translator("en")


@pytest.mark.parametrize(("pct", "state"), [
    (None, State.OK), (0.0, State.OK), (CREDITS_WARN_PCT - 0.1, State.OK),
    (CREDITS_WARN_PCT, State.DEGRADED), (99.9, State.DEGRADED), (100.0, State.DOWN),
    (104.2, State.DOWN),
])
def test_credits_state(pct, state):
    assert credits_state(pct) is state


@pytest.mark.parametrize(("used", "total", "state"), [
    (0, 100, State.OK), (79, 100, State.OK), (80, 100, State.DEGRADED), (99, 100, State.DEGRADED),
    (100, 100, State.DOWN), (120, 100, State.DOWN), (4, 5, State.DEGRADED), (3, 5, State.OK),
])
def test_quota_state(used, total, state):
    assert QUOTA_WARN_PCT == 80.0
    assert quota_state(PublishingQuota(used=used, total=total, window_s=86400)) is state


@pytest.mark.parametrize("used", [0, 3])
def test_a_quota_total_of_zero_is_not_a_full_quota(used):
    assert quota_state(PublishingQuota(used=used, total=0, window_s=86400)) is State.OK


@pytest.mark.parametrize(("pct", "state"), [
    (None, State.OK), (USAGE_WARN_PCT - 1, State.OK), (USAGE_WARN_PCT, State.DEGRADED),
    (100.0, State.DEGRADED),
])
def test_usage_state(pct, state):
    assert usage_state(pct) is state


class QuotaReader:
    """A `PublishingQuotaReader` answering with a fixed quota and usage."""

    def __init__(self, quota: PublishingQuota, usage_pct: float | None = None) -> None:
        self._quota, self.last_usage_pct = quota, usage_pct

    async def publishing_quota(self) -> PublishingQuota:
        return self._quota


async def test_the_instagram_probe_adds_a_high_api_usage_to_its_line():
    reader = QuotaReader(PublishingQuota(used=10, total=100, window_s=86400), usage_pct=95.4)
    result = await InstagramProbe(reader, tr=EN).probe()
    assert result.state is State.DEGRADED
    assert result.reason == "publishing quota 10/100 per 24 h · API usage 95%"


async def test_the_instagram_probe_leaves_a_low_api_usage_out():
    reader = QuotaReader(PublishingQuota(used=10, total=100, window_s=86400), usage_pct=42.0)
    result = await InstagramProbe(reader, tr=EN).probe()
    assert result.state is State.OK and result.reason == "publishing quota 10/100 per 24 h"


async def test_the_instagram_probe_reads_a_zero_total_as_ok_like_the_quota_step():
    reader = QuotaReader(PublishingQuota(used=0, total=0, window_s=86400))
    result = await InstagramProbe(reader, tr=EN).probe()
    assert result.state is State.OK and result.reason == "publishing quota 0/0 per 24 h"
