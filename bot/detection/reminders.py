"""Reminders before the Instagram token expires (playbook scenario 1's prevention): at 14, 7, 3
and 1 days left and on the day, each sent once — remembered in the store, across restarts, per
expiry date (a new token starts afresh). When the bot was off while several came due, only the
most urgent is sent. An expired token is the incident's business, not a reminder's.

The playbook's weekly token check is scheduled from `TOKEN_REPORT` (`bot.config`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

DEFAULT_DAYS = (14, 7, 3, 1, 0)
SENT_KEY = "token.reminders_sent"
SENT_KEPT = 40


@dataclass(frozen=True)
class Reminder:
    key: str  # "<expiry date>:<days>": what is remembered as sent
    days: int  # the threshold it is for (0: the day itself)
    expires_at: datetime
    covers: tuple[str, ...]  # the keys it stands for (the less urgent ones it makes moot)


def due(expires_at: datetime | None, now: datetime, sent: Iterable[str], *, tz: tzinfo,
        days: tuple[int, ...] = DEFAULT_DAYS) -> Reminder | None:
    """The reminder to send now, or None (nothing due, already sent, expired or no date)."""
    if expires_at is None or expires_at <= now:
        return None
    left = expires_at - now
    day = expires_at.astimezone(tz).date().isoformat()
    crossed = sorted(d for d in days if left.days <= d)  # whole days left, rounded down
    if not crossed:
        return None
    keys = tuple(f"{day}:{d}" for d in crossed)
    already = set(sent)
    if keys[0] in already:
        return None  # the most urgent one went out: the rest are moot
    return Reminder(keys[0], crossed[0], expires_at, keys)


def remember(sent: list[str], reminder: Reminder) -> list[str]:
    """`sent` with `reminder` and what it covers; the newest `SENT_KEPT` keys kept."""
    return ([k for k in sent if k not in reminder.covers] + list(reminder.covers))[-SENT_KEPT:]
