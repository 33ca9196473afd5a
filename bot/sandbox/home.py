"""A SunFlow pipeline home for demos and tests: `data/sample-home/`, copied and made current.

`seed_home(dest)` copies the sample home and moves every timestamp in it by one offset, so the
newest log line and trace end a few minutes before `now` and the story the logs tell keeps its
shape (and its formats). `instagram_stats.json`'s `last_updated` is set apart, `stats_age_h`
before `now`, so a health check sees fresh stats unless the caller asks for stale ones.

The drills for playbook scenario 5 change the stats file afterwards: `make_stats_stale`,
`remove_stats`, `corrupt_stats`.

Timestamps the sample uses, all moved by the same offset:
    log line start     `2026-11-26 03:05:03,402` naive. The sample was written in Seoul
                       (KST); a seeded home has them in this machine's local time, as the
                       pipeline's `logging` would write them here (and as the files adapter
                       reads a naive time)
    ISO with offset    `2026-11-26T03:05:02.118+09:00` (traces, stats, some log messages)
    UTC in messages    `2026-11-24 03:00:00 UTC` (Cloudinary's rate-limit reset)
    Graph's clock      `Wednesday, 25-Nov-26 09:00:00 PST`
    Unix seconds       `timestamp=1795629083`, `version=…`, `/v1795392046/` (Cloudinary)
Trace ids follow their trace: `SF-<KST date of started_at>-<n-th run that day>`, renamed in
every file that mentions them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from bot.clock import utc_now

SAMPLE_HOME = Path(__file__).resolve().parents[2] / "data" / "sample-home"
PIPELINE_TZ = timezone(timedelta(hours=9), "KST")  # the offset traces and stats carry
SAMPLE_LOG_TZ = PIPELINE_TZ  # the zone the sample's naive log times were written in
STATS_FILE = Path("config/data/instagram_stats.json")
LOGS_DIR = Path("config/logs")
TRACES_DIR = LOGS_DIR / "traces"
IMAGES_DIR = Path("content/images")
NEWEST_EVENT_AGE = timedelta(minutes=2)

LOG_LINE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}),(\d{3})(?= )", re.MULTILINE)
LOG_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
_ISO_OFFSET = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?[+-]\d{2}:\d{2}\b")
_UTC_WORDS = re.compile(r"\b(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC\b")
_GRAPH_TIME = re.compile(r"\b([A-Z][a-z]+day, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2}) "
                         r"(P[SD]T)\b")
_EPOCH = re.compile(r"(?<=timestamp=)\d{10}\b|(?<=version=)\d{10}\b|(?<=/v)\d{10}(?=/)")
_TRACE_ID = re.compile(r"\bSF-\d{8}-\d{4}\b")
_TEXT_SUFFIXES = (".log", ".json", ".md", ".txt")

try:
    from zoneinfo import ZoneInfo

    _PACIFIC: Any = ZoneInfo("America/Los_Angeles")
except Exception:  # pragma: no cover - no tz database on this host
    _PACIFIC = None


def seed_home(dest: Path, *, now: datetime | None = None, stats_age_h: float = 1.0) -> Path:
    """Copy the sample home to `dest` (replacing it) and move its clock to `now`.

    `now` defaults to the current time; a naive `now` is read as local time. Returns `dest`.
    """
    dest = Path(dest)
    now = _aware(now)
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(SAMPLE_HOME, dest)

    traces = _read_traces(dest)
    newest = max([_newest_log_time(dest, SAMPLE_LOG_TZ)]
                 + [_parse_iso(t["ended_at"]) for t in traces.values()])
    delta = (now - NEWEST_EVENT_AGE) - newest
    renames = _new_trace_ids(traces, delta)

    def rewrite(text: str) -> str:
        text = _shift_text(text, delta)
        return _TRACE_ID.sub(lambda m: renames.get(m.group(0), m.group(0)), text)

    for path in sorted(dest.rglob("*")):
        if path.is_file() and path.suffix in _TEXT_SUFFIXES and path.parent != dest:
            path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
    for old, new in renames.items():
        if old != new:
            (dest / TRACES_DIR / f"{old}.json").rename(dest / TRACES_DIR / f"{new}.json.tmp")
    for tmp in (dest / TRACES_DIR).glob("*.json.tmp"):
        tmp.rename(tmp.with_suffix(""))

    _set_last_updated(dest, now - timedelta(hours=stats_age_h))
    _touch_files(dest, now)
    return dest


def trace_ids(home: Path) -> dict[str, str]:
    """The sample's trace id -> the id the same trace has in the seeded `home`.

    Seeding renames traces by their moved dates, so a test names a trace by its id in the
    sample (`SF-20261125-0001`) and asks for today's name; both sides are in start order.
    """
    def in_order(traces: dict[str, dict[str, Any]]) -> list[str]:
        return sorted(traces, key=lambda tid: _parse_iso(traces[tid]["started_at"]))

    return dict(zip(in_order(_read_traces(SAMPLE_HOME)), in_order(_read_traces(Path(home)))))


def stats_path(home: Path) -> Path:
    return Path(home) / STATS_FILE


def make_stats_stale(home: Path, hours: float, *, now: datetime | None = None) -> datetime:
    """Set `last_updated` to `hours` before `now`; returns the new value."""
    at = _aware(now) - timedelta(hours=hours)
    _set_last_updated(Path(home), at)
    return at.astimezone(PIPELINE_TZ)


def remove_stats(home: Path) -> None:
    """The stats collector never wrote its file (or someone deleted it)."""
    stats_path(home).unlink(missing_ok=True)


def corrupt_stats(home: Path) -> None:
    """A write cut short: the file holds the first part of its JSON and nothing else."""
    path = stats_path(home)
    text = path.read_text(encoding="utf-8") if path.exists() else '{"last_updated": "'
    path.write_text(text[: max(len(text) * 2 // 5, 20)], encoding="utf-8")


def parse_log_time(line: str, tz: timezone | None = None) -> datetime | None:
    """The aware time a log line starts with, or None (traceback lines).

    The naive time is read in `tz`, by default this machine's local time (a seeded home's
    logs); the untouched sample's lines are in `SAMPLE_LOG_TZ`.
    """
    match = LOG_LINE_TIME.match(line)
    if match is None:
        return None
    at = datetime.strptime(match.group(1), LOG_TIME_FORMAT).replace(
        microsecond=int(match.group(2)) * 1000)
    return at.astimezone() if tz is None else at.replace(tzinfo=tz)


# ---- internals ---------------------------------------------------------------------------------
def _aware(now: datetime | None) -> datetime:
    if now is None:
        return utc_now()
    return now if now.tzinfo is not None else now.astimezone()


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _format_iso_like(original: str, at: datetime) -> str:
    """`at` in `original`'s offset and precision."""
    at = at.astimezone(datetime.fromisoformat(original).tzinfo)
    fraction = re.match(r"\.(\d+)", original[19:])
    if fraction is None:
        return at.isoformat(timespec="seconds")
    return at.isoformat(timespec="milliseconds" if len(fraction.group(1)) == 3
                        else "microseconds")


def _newest_log_time(home: Path, tz: timezone | None) -> datetime:
    newest = datetime.min.replace(tzinfo=timezone.utc)
    for path in (home / LOGS_DIR).glob("*.log"):
        for line in path.read_text(encoding="utf-8").splitlines():
            at = parse_log_time(line, tz)
            if at is not None and at > newest:
                newest = at
    return newest


def _read_traces(home: Path) -> dict[str, dict[str, Any]]:
    traces = {}
    for path in sorted((home / TRACES_DIR).glob("SF-*.json")):
        trace = json.loads(path.read_text(encoding="utf-8"))
        traces[path.stem] = trace
    return traces


def _new_trace_ids(traces: dict[str, dict[str, Any]], delta: timedelta) -> dict[str, str]:
    """Old id → `SF-<KST date of the moved started_at>-<n-th that day>`."""
    ordered = sorted(traces.items(), key=lambda kv: _parse_iso(kv[1]["started_at"]))
    per_day: dict[str, int] = {}
    renames = {}
    for old, trace in ordered:
        day = (_parse_iso(trace["started_at"]) + delta).astimezone(PIPELINE_TZ)
        key = day.strftime("%Y%m%d")
        per_day[key] = per_day.get(key, 0) + 1
        renames[old] = f"SF-{key}-{per_day[key]:04d}"
    return renames


def _shift_text(text: str, delta: timedelta) -> str:
    def log_time(m: re.Match[str]) -> str:
        at = datetime.strptime(m.group(1), LOG_TIME_FORMAT).replace(
            microsecond=int(m.group(2)) * 1000, tzinfo=SAMPLE_LOG_TZ) + delta
        at = at.astimezone()  # naive again, in this machine's local time
        return f"{at.strftime(LOG_TIME_FORMAT)},{at.microsecond // 1000:03d}"

    def iso(m: re.Match[str]) -> str:
        return _format_iso_like(m.group(0), _parse_iso(m.group(0)) + delta)

    def utc_words(m: re.Match[str]) -> str:
        at = datetime.strptime(m.group(1), LOG_TIME_FORMAT) + delta
        return f"{at.strftime(LOG_TIME_FORMAT)} UTC"

    def graph_time(m: re.Match[str]) -> str:
        offset = -8 if m.group(2) == "PST" else -7
        at = datetime.strptime(m.group(1), "%A, %d-%b-%y %H:%M:%S").replace(
            tzinfo=timezone(timedelta(hours=offset))) + delta
        if _PACIFIC is not None:
            return at.astimezone(_PACIFIC).strftime("%A, %d-%b-%y %H:%M:%S %Z")
        return at.strftime("%A, %d-%b-%y %H:%M:%S") + f" {m.group(2)}"

    def epoch(m: re.Match[str]) -> str:
        return str(int(m.group(0)) + int(delta.total_seconds()))

    replacers: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
        (LOG_LINE_TIME, log_time), (_ISO_OFFSET, iso), (_UTC_WORDS, utc_words),
        (_GRAPH_TIME, graph_time), (_EPOCH, epoch),
    ]
    for pattern, replace in replacers:
        text = pattern.sub(replace, text)
    return text


def _set_last_updated(home: Path, at: datetime) -> None:
    path = stats_path(home)
    stats = json.loads(path.read_text(encoding="utf-8"))
    stats["last_updated"] = at.astimezone(PIPELINE_TZ).isoformat(timespec="seconds")
    path.write_text(json.dumps(stats, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    stamp = at.timestamp()
    os.utime(path, (stamp, stamp))


def _touch_files(home: Path, now: datetime) -> None:
    """Give files the modification times their contents claim (`ls -la` agrees with them)."""
    for path in (home / LOGS_DIR).glob("*.log"):
        times = [t for t in map(parse_log_time, path.read_text(encoding="utf-8").splitlines())
                 if t is not None]
        if times:
            os.utime(path, (max(times).timestamp(),) * 2)
    for path in (home / TRACES_DIR).glob("SF-*.json"):
        ended = _parse_iso(json.loads(path.read_text(encoding="utf-8"))["ended_at"])
        os.utime(path, (ended.timestamp(),) * 2)
    for topic in sorted((home / IMAGES_DIR).iterdir()):
        if not topic.is_dir():
            continue
        for i, image in enumerate(sorted(topic.glob("*.png"))):
            stamp = (now - timedelta(hours=3, minutes=i)).timestamp()
            os.utime(image, (stamp, stamp))
        for i, image in enumerate(sorted((topic / "archive").glob("*.png"))):
            stamp = (now - timedelta(days=8 + 3 * i)).timestamp()
            os.utime(image, (stamp, stamp))
