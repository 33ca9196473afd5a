"""Cold storage for records the bot no longer works on: JSON lines, one file per table and month
(``archive/<table>/<YYYY-MM>.jsonl`` under DATA_DIR), appended and fsynced, never held in memory.

A record is written here before it leaves its table (``Store.archive``), so a crash in between
leaves it in both places and the next archival writes it again: readers keep the last line per
id. A torn last line (a crash mid-append) is skipped with a warning, as the journal's is, and
the next append starts on a line of its own.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

log = logging.getLogger("bot.store")
ARCHIVE_DIR = "archive"
MONTH_RE = re.compile(r"^\d{4}-\d{2}$")


def archive_path(data_dir: Path, table: str, month: str) -> Path:
    if not MONTH_RE.match(month):
        raise ValueError(f"an archive month is YYYY-MM, not {month!r}")
    return data_dir / ARCHIVE_DIR / table / f"{month}.jsonl"


def encode_records(records: list[dict]) -> bytes:
    """The records as JSON lines, to append (`bot.store.store._append_durably`)."""
    return b"".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                    for r in records)


def read_records(path: Path) -> list[dict]:
    """The records of one archive file, the last line per id; [] when there is none."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    found: dict[object, dict] = {}
    lines = raw.split(b"\n")
    for n, line in enumerate(lines):
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            where = "its last line (a write cut short)" if n >= len(lines) - 2 else f"line {n + 1}"
            log.warning("archive %s: %s is not JSON; skipped", path, where)
            continue
        if isinstance(record, dict):
            found[record.get("id")] = record
    return list(found.values())
