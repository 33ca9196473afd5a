"""The playbook's retry rules: the schedule, the vendor's hint, the floor, and what is never
retried by itself."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import httpx
import pytest

from bot.actions.recovery.retry_policy import (
    POLICIES,
    RetryPolicy,
    parse_policy,
    policy_problem,
)
from bot.adapters.instagram import classify_graph_error
from bot.errors import RateLimited, ServiceTimeout, TokenExpired, VendorAction

NOW = datetime(2026, 11, 27, 16, 45, tzinfo=timezone.utc)
M = timedelta(minutes=1)


def waits(policy: RetryPolicy, errors: list) -> list[timedelta | None]:
    """The wait before each retry, failure after failure, until the policy gives up."""
    out = []
    for failures, error in enumerate(errors, start=1):
        at = policy.next_at(failures, error, NOW)
        out.append(None if at is None else at - NOW)
    return out


def test_a_rate_limit_waits_5_then_15_then_30_minutes_then_stops() -> None:
    limited = RateLimited("instagram", "HTTP 429")
    assert waits(POLICIES["rate_limit"], [limited] * 4) == [5 * M, 15 * M, 30 * M, None]


def test_the_vendors_longer_hint_wins_and_a_hint_of_zero_is_not_now() -> None:
    policy = POLICIES["rate_limit"]
    # the business-use-case header says 17 minutes (classified from a real header shape)
    headers = httpx.Headers({"x-business-use-case-usage":
                             '{"178414": [{"type": "instagram", "call_count": 100, '
                             '"estimated_time_to_regain_access": 17}]}'})
    hinted = classify_graph_error(400, {"error": {"code": 80002, "message": "m"}}, headers)
    assert hinted.retry_after_s == 17 * 60
    assert waits(policy, [hinted, hinted, hinted]) == [17 * M, 17 * M, 30 * M]
    zero = RateLimited("instagram", "x", retry_after_s=0)
    assert waits(policy, [zero]) == [5 * M]
    hammer = RetryPolicy((timedelta(0),), floor=timedelta(minutes=1))
    assert waits(hammer, [zero]) == [1 * M]  # the floor, never "now"


def test_generation_tries_three_times_with_a_short_backoff() -> None:
    timed_out = ServiceTimeout("fal", "no answer")
    got = waits(POLICIES["generation"], [timed_out] * 4)
    assert got[3] is None and all(w is not None and w <= M for w in got[:3])
    assert got[0] < got[1] < got[2]


@pytest.mark.parametrize("error", [TokenExpired("instagram", "190/463"),
                                   VendorAction("instagram", "4/2207051 suspected spam")])
def test_what_a_wait_cannot_fix_is_never_retried_by_itself(error) -> None:
    for policy in POLICIES.values():
        assert policy.next_at(1, error, NOW) is None


def test_a_hint_beyond_a_day_is_capped() -> None:
    days = RateLimited("instagram", "x", retry_after_s=3 * 86400)
    assert waits(POLICIES["rate_limit"], [days]) == [timedelta(hours=24)]


def test_runbooks_name_a_policy_or_declare_their_own() -> None:
    assert parse_policy("rate_limit") is POLICIES["rate_limit"]
    own = parse_policy({"waits": ["2m", "10m"], "floor": "1m", "honour_hint": False})
    assert own == RetryPolicy((2 * M, 10 * M), floor=M, honour_hint=False)
    hinted = RateLimited("instagram", "x", retry_after_s=3600)
    assert own.next_at(1, hinted, NOW) == NOW + 2 * M  # the hint is not honoured here
    for bad, says in [("forever", "unknown retry policy"), ({"waits": []}, "1 to 10"),
                      ({"waits": ["soon"]}, "not a duration"), ({"waits": ["5m"], "tries": 3},
                                                                 "unknown keys"),
                      ({"waits": ["48h"]}, "longer than 24 h"), (3, "policy name or a table")]:
        assert says in (policy_problem(bad) or ""), bad
