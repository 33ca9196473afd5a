"""Following the pipeline's logs and trace files a little at a time: only bytes written since
the last look, across restarts (the positions are the caller's to keep), through rotation (a new
file under the same name: another inode) and truncation (a file shorter than the position).

A file seen for the first time is taken from its end: its past is history, not news. Only whole
lines are taken; a line still being written waits for its newline. One look reads at most
`MAX_BYTES_PER_LOOK` per file, so a burst cannot hold the bot up (the rest comes next time).
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.ports import NewInFiles

MAX_BYTES_PER_LOOK = 4 * 1024 * 1024
MAX_TRACE_BYTES = 1024 * 1024
UNREADABLE_LOOKS = 1  # an unreadable trace may be half written: looked at again this many times
TRACE_DAYS_KEPT = 3  # trace names seen are remembered this many days (by the date in the name)
_TRACE_DAY = re.compile(r"SF-(\d{8})-")


class LogFollower:
    def __init__(self, logs_dir: Path, traces_dir: Path, *, log_glob: str = "*_stderr.log",
                 trace_glob: str = "SF-*.json") -> None:
        self.logs_dir, self.traces_dir = logs_dir, traces_dir
        self.log_glob, self.trace_glob = log_glob, trace_glob

    def look(self, positions: dict[str, Any], *, today: date | None = None) -> NewInFiles:
        """What is new since `positions` (a previous look's `positions`, or {} the first time)."""
        looked = NewInFiles([], [], 0, {})
        files = dict(positions.get("files") or {})
        first_time = "files" not in positions
        for path in sorted(self.logs_dir.glob(self.log_glob)) if self.logs_dir.is_dir() else ():
            try:
                files[path.name] = self._read(path, files.get(path.name), looked, first_time)
            except OSError:
                continue  # unreadable now: its position stays, it is read next time
        oldest = ((today or datetime.now().date()) - timedelta(days=TRACE_DAYS_KEPT)).strftime("%Y%m%d")
        seen = [n for n in positions.get("traces") or [] if _day(n) >= oldest]
        known = set(seen)
        waiting = {n: int(k) for n, k in (positions.get("unreadable") or {}).items() if n not in known}
        still: dict[str, int] = {}
        for path in sorted(self.traces_dir.glob(self.trace_glob)) if self.traces_dir.is_dir() else ():
            if path.name in known or _day(path.name) < oldest:
                continue  # seen, or older than what is remembered: history either way
            if first_time:
                seen.append(path.name)
                continue  # the traces there before the first look are history
            body = _trace(path)
            if body is None and waiting.get(path.name, 0) < UNREADABLE_LOOKS:
                still[path.name] = waiting.get(path.name, 0) + 1
                continue  # perhaps still being written: looked at again next time
            seen.append(path.name)
            if body is None:
                looked.skipped += 1
            else:
                looked.traces.append((path.name, body))
        looked.positions = {"files": files, "traces": seen, "unreadable": still}
        return looked

    @staticmethod
    def _read(path: Path, known: Any, looked: NewInFiles, first_time: bool) -> dict[str, int]:
        stat = path.stat()
        inode, size = stat.st_ino, stat.st_size
        if not isinstance(known, dict):  # a file not seen before
            start = size if first_time else 0  # a new file after the first look is all news
        elif known.get("inode") != inode or size < int(known.get("offset", 0)):
            start = 0  # rotated (a new file under the name) or truncated
        else:
            start = int(known.get("offset", 0))
        if size <= start:
            return {"inode": inode, "offset": start}
        with path.open("rb") as f:
            f.seek(start)
            chunk = f.read(min(size - start, MAX_BYTES_PER_LOOK))
        end = chunk.rfind(b"\n")
        if end < 0:
            if len(chunk) < MAX_BYTES_PER_LOOK:
                return {"inode": inode, "offset": start}  # no whole line yet
            looked.skipped += 1  # a "line" longer than a whole look: not a log line; past it
            return {"inode": inode, "offset": start + len(chunk)}
        for raw in chunk[:end].split(b"\n"):
            line = raw.decode("utf-8", "replace").rstrip("\r")
            if line.strip():
                looked.lines.append((path.name, line))
        return {"inode": inode, "offset": start + end + 1}


def _day(name: str) -> str:
    match = _TRACE_DAY.match(name)
    return match[1] if match else "00000000"


def _trace(path: Path) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > MAX_TRACE_BYTES:
            return None
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None



