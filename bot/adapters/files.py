"""The pipeline's own files under SUNFLOW_HOME: stats freshness, logs, traces, local images.

Layout (the pipeline's, not ours):
    config/data/instagram_stats.json     {"last_updated": ISO-8601, ...}
    config/logs/*_stderr.log             Python logging lines: "2026-11-26 03:12:45,123 ERROR [name] ..."
    config/logs/*.log                    other logs (the publisher's INFO log)
    config/logs/traces/SF-*.json         one trace per pipeline run
    content/images/<topic>/[archive/]    generated images, older substitutes in archive/
    content/images/<topic>/post.toml     the post: caption, images in order, prompt
                                         (`bot.adapters.topic_post`)
A timestamp without a UTC offset is the pipeline machine's local time, as `datetime.now()` wrote it.
Lines without a timestamp (tracebacks) belong to the line above.

Everything here is read-only, and nothing is read outside these folders: a file pattern is a
name inside config/logs (no `/`, no `..`), a topic is one folder name under content/images, and
anything else raises `UnsafePath` before a file is touched.

The pipeline's text is redacted as it is read, line by line, before anyone clips, escapes or
stores it: its logs quote tokens (other bots' in Bot API URLs, Graph `access_token`s, JSON
bodies), and a secret cut at a preview's length or escaped for HTML is no longer recognisable.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import tarfile
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path

from bot.clock import parse_pipeline_time
from bot.secrets import Redactor
from bot.ports import (
    ImageFolder,
    LocalImage,
    LogBundle,
    LogLine,
    LogMatches,
    LogTail,
    StatsFreshness,
    TopicPost,
    TraceFile,
    UnsafePath,
)
from bot.adapters.topic_post import IMAGE_SUFFIXES, read_topic_post

STATS_FILE = Path("config/data/instagram_stats.json")
LOGS_DIR = Path("config/logs")
TRACES_DIR = LOGS_DIR / "traces"
IMAGES_DIR = Path("content/images")
ARCHIVE_DIR = "archive"
STDERR_LOGS = "*_stderr.log"
TRACE_GLOB = "SF-*.json"
MAX_TAIL_BYTES = 8 * 1024 * 1024  # a tail of very long lines stops here rather than read a whole log
MAX_TRACE_BYTES = 1024 * 1024  # a trace is a few hundred bytes; anything huge is not one
_TOPIC_RE = re.compile(r"\w[\w.-]*")  # one folder name: letters (any script), digits, _ . -
TAIL_BYTES = 256 * 1024  # an error worth paging about is near the end of a log
LOG_LINE_RE = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})(?:[,.](?P<frac>\d{1,6}))?"
    r"\s+(?P<level>[A-Z]+)\b"
)
ERROR_LEVELS = frozenset({"ERROR", "CRITICAL", "FATAL"})


def read_tail(path: Path, limit: int = TAIL_BYTES) -> list[str]:
    """The last lines of a file (at most `limit` bytes), decoded leniently."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - limit))
        data = handle.read()
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[1:] if size > limit and lines else lines  # the first line may be cut


def read_last_lines(path: Path, count: int, *, max_bytes: int = MAX_TAIL_BYTES) -> list[str]:
    """The last `count` lines of a file, read backwards from its end (`tail -n`)."""
    block = 64 * 1024
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = start = handle.tell()
        data = b""
        # count + 1 newlines: the last line usually ends in one, and the first found may be cut
        while start > 0 and data.count(b"\n") <= count and size - start < max_bytes:
            step = min(block, start)
            start -= step
            handle.seek(start)
            data = handle.read(step) + data
    lines = data.decode("utf-8", errors="replace").splitlines()
    if start > 0 and lines:
        lines = lines[1:]
    return lines[-count:] if count > 0 else []


def line_level(line: str) -> str | None:
    """The logging level a line starts with ("ERROR"), or None (tracebacks, free text)."""
    match = LOG_LINE_RE.match(line)
    return match.group("level") if match else None


def line_time(line: str) -> datetime | None:
    """The aware UTC time a log line starts with, or None."""
    match = LOG_LINE_RE.match(line)
    if match is None:
        return None
    frac = match.group("frac")
    return parse_pipeline_time(match.group("ts") + (f".{frac}" if frac else ""))


def check_log_pattern(pattern: str) -> str:
    """`pattern` when it is a file-name glob inside config/logs; UnsafePath otherwise."""
    if (not pattern or "/" in pattern or "\\" in pattern or "\x00" in pattern
            or ".." in pattern or pattern.startswith("~")):
        raise UnsafePath(f"not a file name pattern inside {LOGS_DIR}: {pattern!r}")
    return pattern


def check_topic(topic: str) -> str:
    """`topic` when it is one folder name (no separators, no `..`); UnsafePath otherwise."""
    if not isinstance(topic, str) or not _TOPIC_RE.fullmatch(topic) or ".." in topic:
        raise UnsafePath(f"not a topic folder name: {topic!r}")
    return topic


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    except OSError:
        return None


def _problem(exc: OSError) -> str:
    # the class and errno text only: the message repeats the absolute path
    return f"{type(exc).__name__}: {exc.strerror}" if exc.strerror else type(exc).__name__


class PipelineHome:
    """`PipelineFiles` for one SUNFLOW_HOME."""

    def __init__(self, home: Path, redact: Redactor | None = None) -> None:
        self.home = home
        # shapes alone when the caller knows no secrets (a drill, a test); the bot passes its own
        self._redact = redact or Redactor()

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
        stamp = parse_pipeline_time(value)
        if stamp is None:
            return StatsFreshness(path, None, "bad_timestamp")
        return StatsFreshness(path, stamp)

    async def recent_errors(self, since: datetime) -> tuple[int, LogLine | None]:
        return await asyncio.to_thread(self._recent_errors, since)

    def _recent_errors(self, since: datetime) -> tuple[int, LogLine | None]:
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
                stamp = parse_pipeline_time(match.group("ts") + (f".{frac}" if frac else ""))
                if stamp is not None and stamp >= since:
                    found.append(LogLine(path.name, line.strip(), stamp))
        if not found:
            return 0, None
        found.sort(key=lambda item: item.at or since)
        latest = found[-1]  # redacted: the one line shown
        return len(found), LogLine(latest.file, self._redact(latest.text), latest.at)

    # ---- logs ------------------------------------------------------------------------------

    @property
    def traces_dir(self) -> Path:
        return self.home / TRACES_DIR

    @property
    def images_dir(self) -> Path:
        return self.home / IMAGES_DIR

    def _log_files(self, pattern: str) -> list[Path]:
        check_log_pattern(pattern)
        if not self.logs_dir.is_dir():
            return []
        return sorted(p for p in self.logs_dir.glob(pattern) if p.is_file())

    async def tail_logs(self, pattern: str, lines: int) -> list[LogTail]:
        return await asyncio.to_thread(self._tail_logs, pattern, lines)

    def _tail_logs(self, pattern: str, lines: int) -> list[LogTail]:
        tails = []
        for path in self._log_files(pattern):
            try:
                text = read_last_lines(path, lines)
            except OSError as exc:
                tails.append(LogTail(path.name, (), (), _mtime(path), _problem(exc)))
                continue
            text = [self._redact(line) for line in text]
            errors = tuple(LogLine(path.name, line, line_time(line)) for line in text
                           if line_level(line) in ERROR_LEVELS)
            tails.append(LogTail(path.name, tuple(text), errors, _mtime(path)))
        return tails

    async def grep_logs(self, pattern: str, text: str, show: int) -> list[LogMatches]:
        return await asyncio.to_thread(self._grep_logs, pattern, text, show)

    def _grep_logs(self, pattern: str, text: str, show: int) -> list[LogMatches]:
        found = []
        for path in self._log_files(pattern):
            count, at = 0, None
            last: deque[LogLine] = deque(maxlen=max(show, 0))
            try:
                with path.open("r", encoding="utf-8", errors="replace") as handle:
                    for raw in handle:
                        line = raw.rstrip("\r\n")
                        at = line_time(line) or at  # a traceback line belongs to the line above
                        if text in line:  # searched as written, shown redacted
                            count += 1
                            last.append(LogLine(path.name, line, at))
            except OSError as exc:
                found.append(LogMatches(path.name, 0, (), _problem(exc)))
                continue
            shown = tuple(LogLine(m.file, self._redact(m.text), m.at) for m in last)  # the kept ones
            found.append(LogMatches(path.name, count, shown))
        return found

    # ---- traces ----------------------------------------------------------------------------

    async def trace_files(self) -> list[TraceFile]:
        return await asyncio.to_thread(self._trace_files)

    def _trace_paths(self) -> list[Path]:
        if not self.traces_dir.is_dir():
            return []
        return sorted(p for p in self.traces_dir.glob(TRACE_GLOB) if p.is_file())

    def _trace_files(self) -> list[TraceFile]:
        found = []
        for path in self._trace_paths():
            try:
                if path.stat().st_size > MAX_TRACE_BYTES:
                    found.append(TraceFile(path.name, None, "too large for a trace"))
                    continue
                body = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                found.append(TraceFile(path.name, None, _problem(exc)))
                continue
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
                found.append(TraceFile(path.name, None, f"not JSON ({type(exc).__name__})"))
                continue
            if not isinstance(body, dict):
                found.append(TraceFile(path.name, None, "not a JSON object"))
                continue
            found.append(TraceFile(path.name, self._redact.deep(body)))
        return found

    # ---- local images ----------------------------------------------------------------------

    async def images(self, topic: str, archive: bool = False) -> ImageFolder:
        return await asyncio.to_thread(self._images, topic, archive)

    def _images(self, topic: str, archive: bool) -> ImageFolder:
        check_topic(topic)
        relative = IMAGES_DIR / topic / ARCHIVE_DIR if archive else IMAGES_DIR / topic
        folder = self.home / relative
        shown = relative.as_posix() + "/"
        if not folder.is_dir():
            return ImageFolder(shown, False, ())
        # a symlinked topic folder could point anywhere: its real place must be under content/images
        if not folder.resolve().is_relative_to(self.images_dir.resolve()):
            raise UnsafePath(f"{shown} leads outside {IMAGES_DIR}")
        images = []
        for entry in folder.iterdir():
            if (entry.name.startswith(".") or not entry.name.lower().endswith(IMAGE_SUFFIXES)
                    or not entry.is_file()):
                continue  # (post.toml, notes: not images)
            try:
                stat = entry.stat()
            except OSError:
                continue
            images.append(LocalImage(entry.name, stat.st_size,
                                     datetime.fromtimestamp(stat.st_mtime, tz=timezone.utc)))
        images.sort(key=lambda image: (image.modified, image.name), reverse=True)
        return ImageFolder(shown, True, tuple(images))

    async def topic_post(self, topic: str) -> TopicPost | None:
        """The topic's post.toml, read and checked (TopicPostError); None when it has none."""
        return await asyncio.to_thread(self._topic_post, topic)

    def _topic_post(self, topic: str) -> TopicPost | None:
        check_topic(topic)
        relative = IMAGES_DIR / topic
        folder = self.home / relative
        if folder.is_dir() and not folder.resolve().is_relative_to(self.images_dir.resolve()):
            raise UnsafePath(f"{relative.as_posix()}/ leads outside {IMAGES_DIR}")
        try:
            return read_topic_post(folder, relative.as_posix() + "/")
        except FileNotFoundError:
            return None

    # ---- the playbook's log collection -----------------------------------------------------

    async def collect_bundle(self, lines: int, day: str, folder: str) -> LogBundle:
        return await asyncio.to_thread(self._collect_bundle, lines, day, folder)

    def _collect_bundle(self, lines: int, day: str, folder: str) -> LogBundle:
        # `tail -200 config/logs/*_stderr.log > error_YYYYMMDD.log`: one file, tail's headers
        sections, log_files = [], []
        for tail in self._tail_logs(STDERR_LOGS, lines):
            body = "\n".join(tail.lines) if tail.problem is None else f"({tail.problem})"
            sections.append(f"==> {tail.file} <==\n{body}")
            log_files.append(tail.file)
        members: list[tuple[str, str]] = []
        if sections:
            members.append((f"error_{day}.log", "\n\n".join(sections) + "\n"))
        trace_ids = []
        for path in self._trace_paths():  # `cp config/logs/traces/SF-*.json`, as they are
            try:
                if path.stat().st_size > MAX_TRACE_BYTES:
                    continue
                raw = path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            members.append((f"traces/{path.name}", raw))
            trace_ids.append(path.stem)
        buffer = io.BytesIO()
        now = time.time()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            for name, text in members:
                data = self._redact(text).encode("utf-8")
                info = tarfile.TarInfo(f"{folder}/{name}")
                info.size, info.mtime, info.mode = len(data), now, 0o644
                archive.addfile(info, io.BytesIO(data))
        return LogBundle(buffer.getvalue(), tuple(f"{folder}/{name}" for name, _ in members),
                         tuple(log_files), tuple(trace_ids))
