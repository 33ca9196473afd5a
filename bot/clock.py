"""The one place "now" comes from, so tests and drills can move time; and how stored times are read."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone, tzinfo

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def parse_time(value: object) -> datetime | None:
    """An ISO-8601 time from a record as an aware datetime (naive means UTC); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def parse_pipeline_time(value: object) -> datetime | None:
    """An ISO-8601 time the pipeline wrote (a trace, a log line) as aware UTC; a naive one is the
    local time of the machine that wrote it (the bot runs beside the pipeline). None when
    absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (parsed if parsed.tzinfo is not None else parsed.astimezone()).astimezone(timezone.utc)


def local_time(moment: datetime, tz: tzinfo) -> str:
    """A time as the team reads it, with its zone: `2026-11-27 23:50 KST`."""
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def local_date(moment: datetime, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d")
