"""/stats: MTTA and MTTR per severity over the last 30 days, and durations people can read."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.i18n import Translator
from bot.incidents.model import Summary
from bot.incidents.stats import display_width, format_duration, incident_stats, render_stats_text

NOW = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)


def _incident(severity: str, opened_ago: timedelta, *, ack_after: timedelta | None = None,
              resolve_after: timedelta | None = None) -> Summary:
    opened = NOW - opened_ago
    status = "resolved" if resolve_after is not None else "acknowledged" if ack_after is not None else "open"
    return Summary(
        ref="INC-20261127-001", scenario="token", severity=severity, status=status, opened_at=opened,
        acknowledged_at=opened + ack_after if ack_after is not None else None,
        resolved_at=opened + resolve_after if resolve_after is not None else None,
    )


def _mix() -> list[Summary]:
    m = timedelta(minutes=1)
    return [
        _incident("P0", timedelta(days=2), ack_after=10 * m, resolve_after=60 * m),
        _incident("P0", timedelta(days=10), ack_after=20 * m, resolve_after=120 * m),
        _incident("P0", timedelta(hours=3), ack_after=5 * m),               # still being worked on
        _incident("P0", timedelta(days=45), ack_after=600 * m, resolve_after=6000 * m),  # too old
        _incident("P1", timedelta(hours=1)),                                # nobody has answered
        _incident("P1", timedelta(days=30, seconds=1), ack_after=m, resolve_after=2 * m),  # just outside
        _incident("P3", timedelta(days=29), resolve_after=24 * 60 * m),     # closed without an ack
        _incident("P5", timedelta(days=1), ack_after=m),                    # unknown severity: ignored
    ]


def test_stats_per_severity_over_the_last_30_days() -> None:
    rows = {row.severity: row for row in incident_stats(_mix(), now=NOW)}
    assert list(rows) == ["P0", "P1", "P2", "P3"]

    p0 = rows["P0"]
    assert (p0.count, p0.acknowledged, p0.resolved, p0.open) == (3, 3, 2, 1)
    assert p0.mtta == timedelta(minutes=35) / 3          # (10 + 20 + 5) / 3
    assert p0.mttr == timedelta(minutes=90)              # (60 + 120) / 2; the 45-day-old one is out

    p1 = rows["P1"]
    assert (p1.count, p1.acknowledged, p1.resolved, p1.open) == (1, 0, 0, 1)
    assert p1.mtta is None and p1.mttr is None

    p2 = rows["P2"]
    assert (p2.count, p2.open, p2.mtta, p2.mttr) == (0, 0, None, None)

    p3 = rows["P3"]
    assert (p3.count, p3.acknowledged, p3.resolved, p3.open) == (1, 0, 1, 0)
    assert p3.mtta is None and p3.mttr == timedelta(days=1)


def test_the_window_is_configurable() -> None:
    rows = {row.severity: row for row in incident_stats(_mix(), now=NOW, days=60)}
    assert rows["P0"].count == 4 and rows["P1"].count == 2
    rows = {row.severity: row for row in incident_stats(_mix(), now=NOW, days=1)}
    assert rows["P0"].count == 1 and rows["P0"].mttr is None


@pytest.mark.parametrize(("delta", "en", "ko"), [
    (None, "—", "—"),
    (timedelta(seconds=45), "45 s", "45초"),
    (timedelta(minutes=12, seconds=59), "12 min", "12분"),
    (timedelta(hours=1), "1 h", "1시간"),
    (timedelta(hours=1, minutes=5), "1 h 5 min", "1시간 5분"),
    (timedelta(days=2, hours=3, minutes=40), "2 d 3 h", "2일 3시간"),
    (timedelta(days=2), "2 d", "2일"),
    (timedelta(seconds=-30), "0 s", "0초"),  # a clock that stepped back never shows a negative time
])
def test_format_duration_reads_like_a_person_wrote_it(delta: timedelta | None, en: str, ko: str) -> None:
    assert format_duration(delta, Translator("en")) == en
    assert format_duration(delta, Translator("ko")) == ko


def _column_start(line: str, cell: str) -> int:
    return display_width(line[: line.index(cell)])


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_stats_text_is_an_aligned_table_with_totals(lang: str) -> None:
    tr = Translator(lang)
    text = render_stats_text(incident_stats(_mix(), now=NOW), tr, days=30)
    lines = text.splitlines()
    assert lines[0] == tr("report.stats.title", days=30)
    header = next(line for line in lines if line.startswith(tr("report.stats.col.severity")))
    rows = {line.split()[0]: line for line in lines if line[:2] in ("P0", "P1", "P2", "P3")}
    assert list(rows) == ["P0", "P1", "P2", "P3"]

    assert rows["P0"].split()[1:3] == ["3", "1"]                         # total, open
    assert format_duration(timedelta(minutes=35) / 3, tr) in rows["P0"]  # MTTA 11 min
    assert format_duration(timedelta(minutes=90), tr) in rows["P0"]      # MTTR 1 h 30 min
    assert rows["P1"].split()[1:3] == ["1", "1"] and rows["P1"].count("—") == 2
    # MTTA values start under the MTTA heading on every row, Hangul counted as two columns
    mtta_at = _column_start(header, "MTTA")
    assert _column_start(rows["P0"], format_duration(timedelta(minutes=35) / 3, tr)) == mtta_at
    assert _column_start(rows["P1"], "—") == mtta_at
    assert tr("report.stats.totals", count=5, open=2, acknowledged=3, resolved=3) in lines
    assert lines[-1] == tr("report.stats.legend")


def test_stats_text_says_so_when_nothing_happened() -> None:
    tr = Translator("en")
    text = render_stats_text(incident_stats([], now=NOW), tr, days=30)
    assert "No incidents were opened in the last 30 days." in text
    assert [line.split()[:3] for line in text.splitlines() if line.startswith("P")] == [
        [sev, "0", "0"] for sev in ("P0", "P1", "P2", "P3")]
