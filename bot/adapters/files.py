"""The pipeline's own files under SUNFLOW_HOME: statistics freshness and stderr error lines.

Layout (the pipeline's, not ours):
    config/data/instagram_stats.json     {"last_updated": ISO-8601, ...}
    config/logs/*_stderr.log             Python logging lines: "2026-11-26 03:12:45,123 ERROR [name] ..."
A timestamp without a UTC offset is the pipeline machine's local time, as `datetime.now()` wrote it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bot.clock import utc_now
from bot.health import ProbeResult, State, Stopwatch
from bot.i18n import Translator
from bot.ports import LogLine, StatsFreshness

STATS_FILE = Path("config/data/instagram_stats.json")
LOGS_DIR = Path("config/logs")
TAIL_BYTES = 256 * 1024  # an error worth paging about is near the end of a log
LOG_LINE_RE = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:[,.](?P<frac>\d{1,6}))?"
    r"\s+(?P<level>[A-Z]+)\b"
)
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "FATAL"})
ERROR_WINDOW = timedelta(hours=24)


def parse_timestamp(text: str) -> datetime | None:
    """ISO-8601 (or the logging module's `YYYY-MM-DD HH:MM:SS`) as an aware UTC datetime."""
    try:
        stamp = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.astimezone()  # naive: the local time of the machine that wrote it
    return stamp.astimezone(timezone.utc)


def read_tail(path: Path, limit: int = TAIL_BYTES) -> list[str]:
    """The last lines of a file (at most `limit` bytes), decoded leniently."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - limit))
        data = handle.read()
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[1:] if size > limit and lines else lines  # the first line may be cut


class PipelineHome:
    """`PipelineFiles` for one SUNFLOW_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home

    @property
    def stats_path(self) -> Path:
        return self.home / STATS_FILE

    @property
    def logs_dir(self) -> Path:
        return self.home / LOGS_DIR

    async def stats_freshness(self) -> StatsFreshness:
        return await asyncio.to_thread(self._stats_freshness)

    def _stats_freshness(self) -> StatsFreshness:
        path = self.stats_path
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return StatsFreshness(path, None, "missing")
        except OSError:
            return StatsFreshness(path, None, "unreadable")
        try:
            body = json.loads(raw)
        except ValueError:
            return StatsFreshness(path, None, "unreadable")
        value = body.get("last_updated") if isinstance(body, dict) else None
        if not isinstance(value, str):
            return StatsFreshness(path, None, "no_last_updated")
        stamp = parse_timestamp(value)
        if stamp is None:
            return StatsFreshness(path, None, "bad_timestamp")
        return StatsFreshness(path, stamp)

    async def recent_errors(self, since: datetime) -> list[LogLine]:
        return await asyncio.to_thread(self._recent_errors, since)

    def _recent_errors(self, since: datetime) -> list[LogLine]:
        found: list[LogLine] = []
        for path in sorted(self.logs_dir.glob("*_stderr.log")):
            try:
                lines = read_tail(path)
            except OSError:
                continue
            for line in lines:
                match = LOG_LINE_RE.match(line)
                if not match or match.group("level") not in ERROR_LEVELS:
                    continue
                frac = match.group("frac")
                stamp = parse_timestamp(match.group("ts") + (f".{frac}" if frac else ""))
                if stamp is not None and stamp >= since:
                    found.append(LogLine(path.name, line.strip(), stamp))
        found.sort(key=lambda item: item.at or since)
        return found


class StatsProbe:
    """`stats`: is instagram_stats.json fresher than STATS_MAX_AGE_H (playbook scenario 5)?"""

    component = "stats"

    def __init__(self, files: PipelineHome, *, max_age_h: float, tr: Translator,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._files, self._max_age_h, self._tr, self._clock = files, max_age_h, tr, clock

    async def probe(self) -> ProbeResult:
        watch = Stopwatch()
        fresh = await self._files.stats_freshness()
        if fresh.last_updated is None:
            return ProbeResult(self.component, State.DOWN, watch.ms,
                               self._tr(f"probe.stats.{fresh.problem}", file=STATS_FILE.name))
        age_h = (self._clock() - fresh.last_updated).total_seconds() / 3600
        state = State.DEGRADED if age_h > self._max_age_h else State.OK
        key = "probe.stats.stale" if state is State.DEGRADED else "probe.stats.fresh"
        return ProbeResult(self.component, state, watch.ms,
                           self._tr(key, age=f"{max(age_h, 0):.1f}", max_age=f"{self._max_age_h:g}"))


class LogsProbe:
    """`logs`: error lines in config/logs/*_stderr.log over the last 24 hours."""

    component = "logs"

    def __init__(self, files: PipelineHome, *, tr: Translator,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._files, self._tr, self._clock = files, tr, clock

    async def probe(self) -> ProbeResult:
        watch = Stopwatch()
        if not self._files.logs_dir.is_dir():
            return ProbeResult(self.component, State.DEGRADED, watch.ms,
                               self._tr("probe.logs.no_dir", path=str(LOGS_DIR)))
        errors = await self._files.recent_errors(self._clock() - ERROR_WINDOW)
        if not errors:
            return ProbeResult(self.component, State.OK, watch.ms, self._tr("probe.logs.clean"))
        latest = errors[-1]
        message = LOG_LINE_RE.sub("", latest.text).strip()  # the time is implied: last 24 h
        excerpt = message if len(message) <= 80 else message[:79] + "…"
        return ProbeResult(self.component, State.DEGRADED, watch.ms,
                           self._tr("probe.logs.errors", count=len(errors), file=latest.file,
                                    line=excerpt))
