"""When to try a failed recovery action again, by the playbook's rules.

A `RetryPolicy` is a schedule of waits, one per automatic retry:

* image generation (scenario 3): three tries with a short backoff;
* an Instagram rate limit (scenario 4): 5 min, then 15 min, then 30 min — or the vendor's own
  hint when it is longer (`RateLimited.retry_after_s`: the business-use-case header's
  `estimated_time_to_regain_access`, else `Retry-After`), never shorter than `floor`, so a
  hint of 0 does not mean "hammer now".

Only errors that waiting can fix are retried (`bot.errors.RETRY_HELPS`); an expired token, a
used-up quota, a restricted account or a request the vendor rejected needs a person first,
and trying again only makes things worse or costs money. ("Retry in 1 hour" is a person's
choice on a button, not a policy.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.config import parse_duration
from bot.errors import RETRY_HELPS, ErrorKind, ServiceError

DEFAULT_FLOOR = timedelta(seconds=30)
MAX_WAIT = timedelta(hours=24)  # a vendor hint longer than this is a person's problem


@dataclass(frozen=True)
class RetryPolicy:
    waits: tuple[timedelta, ...]  # before retry 1, 2, ...: as many retries as waits
    floor: timedelta = DEFAULT_FLOOR  # never sooner than this, whatever a hint says
    honour_hint: bool = True  # a vendor's longer wait wins over the schedule

    @property
    def retries(self) -> int:
        return len(self.waits)

    def next_at(self, failures: int, error: ServiceError | None, now: datetime) -> datetime | None:
        """When to try again after the `failures`-th failed try (1 for the first), or None:
        retries used up, or the error is one no wait can fix. `error` None: a failure with no
        vendor error (the action's own check failed), retried on the schedule."""
        if error is None:
            return self.next_after(failures, None, None, now)
        return self.next_after(failures, error.kind, error.retry_after_s, now)

    def next_after(self, failures: int, kind: ErrorKind | None, retry_after_s: float | None,
                   now: datetime) -> datetime | None:
        """`next_at` from what a step's result recorded: the error's kind and wait hint."""
        if failures < 1 or failures > len(self.waits):
            return None
        if kind is not None and kind not in RETRY_HELPS:
            return None
        wait = self.waits[failures - 1]
        if self.honour_hint and kind is not None and retry_after_s is not None:
            wait = max(wait, timedelta(seconds=retry_after_s))
        return now + min(max(wait, self.floor), MAX_WAIT)


# the playbook's policies, by name (a runbook step names one, or declares its own waits)
POLICIES: Mapping[str, RetryPolicy] = {
    "generation": RetryPolicy((timedelta(seconds=10), timedelta(seconds=30), timedelta(seconds=60)),
                              floor=timedelta(seconds=5)),
    "rate_limit": RetryPolicy((timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=30)),
                              floor=timedelta(minutes=1)),
    "transient": RetryPolicy((timedelta(seconds=30), timedelta(minutes=2)),
                             floor=timedelta(seconds=30)),
}


def policy_problem(value: Any) -> str | None:
    """Why a runbook's `retry` value is not a policy: a known name, or a table
    `{waits = ["5m", "15m"], floor = "1m", honour_hint = true}`; None when it is one."""
    try:
        parse_policy(value)
    except ValueError as exc:
        return str(exc)
    return None


def parse_policy(value: Any) -> RetryPolicy:
    """A runbook's `retry` value as a policy. ValueError saying what is wrong."""
    if isinstance(value, str):
        if value not in POLICIES:
            raise ValueError(f"unknown retry policy {value!r}; known: {', '.join(POLICIES)}")
        return POLICIES[value]
    if not isinstance(value, Mapping):
        raise ValueError("retry must be a policy name or a table with waits")
    unknown = set(value) - {"waits", "floor", "honour_hint"}
    if unknown:
        raise ValueError(f"retry has unknown keys: {', '.join(sorted(unknown))}")
    waits = value.get("waits")
    if not isinstance(waits, Sequence) or isinstance(waits, str) or not 1 <= len(waits) <= 10:
        raise ValueError("retry.waits must be a list of 1 to 10 durations (\"30s\", \"5m\")")
    floor = _duration(value.get("floor", "30s"), "retry.floor")
    honour = value.get("honour_hint", True)
    if not isinstance(honour, bool):
        raise ValueError("retry.honour_hint must be true or false")
    parsed = tuple(_duration(w, "retry.waits") for w in waits)
    if any(w > MAX_WAIT for w in (*parsed, floor)):
        raise ValueError("a retry wait longer than 24 h is a person's job, not a policy's")
    return RetryPolicy(parsed, floor=floor, honour_hint=honour)


def _duration(text: Any, where: str) -> timedelta:
    parsed = parse_duration(text) if isinstance(text, str) else None
    if parsed is None or parsed <= timedelta(0):
        raise ValueError(f"{where}: {text!r} is not a duration (\"45s\", \"5m\", \"1h\")")
    return parsed
