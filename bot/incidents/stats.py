"""MTTA and MTTR per severity over recent incidents, and the human durations both reports use.

Pure functions over `Summary`s (an incident's times, or an archived one's index row): no
Telegram, no store.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.i18n import Translate
from bot.incidents.model import Status, Summary
from bot.runbooks.model import SEVERITIES



@dataclass(frozen=True)
class SeverityStats:
    severity: str
    count: int         # incidents opened in the window
    acknowledged: int  # of those, how many were acknowledged
    resolved: int      # of those, how many were resolved
    mtta: timedelta | None  # None: nothing acknowledged, so no mean to show
    mttr: timedelta | None
    open: int          # of those, how many are not resolved yet


def elapsed(start: datetime | None, end: datetime | None) -> timedelta | None:
    """Time between two of a record's times, never negative; None when either is missing."""
    if start is None or end is None:
        return None
    # A clock stepped backwards must not produce a negative "time to acknowledge".
    return max(end - start, timedelta(0))


def _mean(deltas: list[timedelta]) -> timedelta | None:
    return sum(deltas, timedelta(0)) / len(deltas) if deltas else None


def incident_stats(incidents: Iterable[Summary], *, now: datetime, days: int = 30) -> list[SeverityStats]:
    """One row per severity P0..P3 over the incidents opened in the last `days` days before `now`."""
    since = now - timedelta(days=days)
    counts = {sev: 0 for sev in SEVERITIES}
    open_counts = {sev: 0 for sev in SEVERITIES}
    to_ack: dict[str, list[timedelta]] = {sev: [] for sev in SEVERITIES}
    to_resolve: dict[str, list[timedelta]] = {sev: [] for sev in SEVERITIES}
    for incident in incidents:
        severity, opened = incident.severity, incident.opened_at
        if severity not in counts or opened < since:
            continue
        counts[severity] += 1
        ack = elapsed(opened, incident.acknowledged_at)
        if ack is not None:
            to_ack[severity].append(ack)
        fix = elapsed(opened, incident.resolved_at)
        if fix is not None:
            to_resolve[severity].append(fix)
        if incident.status != Status.RESOLVED:
            open_counts[severity] += 1
    return [
        SeverityStats(
            severity=sev,
            count=counts[sev],
            acknowledged=len(to_ack[sev]),
            resolved=len(to_resolve[sev]),
            mtta=_mean(to_ack[sev]),
            mttr=_mean(to_resolve[sev]),
            open=open_counts[sev],
        )
        for sev in SEVERITIES
    ]


def format_duration(delta: timedelta | None, tr: Translate) -> str:
    """`45 s`, `12 min`, `1 h 5 min`, `2 d 3 h` in the translator's language; `—` for None."""
    if delta is None:
        return tr("report.duration.none")
    seconds = max(int(delta.total_seconds()), 0)
    if seconds < 60:
        return tr("report.duration.seconds", s=seconds)
    minutes = seconds // 60
    if minutes < 60:
        return tr("report.duration.minutes", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if minutes == 0:
            return tr("report.duration.hours", h=hours)
        return tr("report.duration.hours_minutes", h=hours, m=minutes)
    days, hours = divmod(hours, 24)
    if hours == 0:
        return tr("report.duration.days", d=days)
    return tr("report.duration.days_hours", d=days, h=hours)


def display_width(text: str) -> int:
    """Columns `text` takes in a monospace font: Hangul and other wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _pad(text: str, width: int, *, right: bool = False) -> str:
    fill = " " * max(width - display_width(text), 0)
    return fill + text if right else text + fill


def render_stats_text(stats: list[SeverityStats], tr: Translate, *, days: int) -> str:
    """Plain-text lines for /stats: a small aligned table plus totals (the handler escapes or wraps it)."""
    header = [tr("report.stats.col.severity"), tr("report.stats.col.count"), tr("report.stats.col.open"),
              tr("report.stats.col.mtta"), tr("report.stats.col.mttr")]
    rows = [[row.severity, str(row.count), str(row.open),
             format_duration(row.mtta, tr), format_duration(row.mttr, tr)] for row in stats]
    widths = [max(display_width(line[i]) for line in [header, *rows]) for i in range(len(header))]
    numeric = (False, True, True, False, False)

    def line(cells: list[str]) -> str:
        return "  ".join(_pad(c, w, right=r) for c, w, r in zip(cells, widths, numeric)).rstrip()

    total = sum(row.count for row in stats)
    lines = [tr("report.stats.title", days=days), "", line(header), *(line(r) for r in rows), ""]
    if total == 0:
        lines.append(tr("report.stats.none", days=days))
    else:
        lines.append(tr("report.stats.totals", count=total,
                        open=sum(row.open for row in stats),
                        acknowledged=sum(row.acknowledged for row in stats),
                        resolved=sum(row.resolved for row in stats)))
    lines.append(tr("report.stats.legend"))
    return "\n".join(lines)
