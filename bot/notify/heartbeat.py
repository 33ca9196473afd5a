"""The bot's heartbeat, for the watchdog that looks from outside: a small file under DATA_DIR
rewritten every minute (whole, atomically), read without the store (which the bot holds)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bot.durable_files import replace_durably

HEARTBEAT_FILE = "heartbeat"
BEAT_EVERY_S = 60


def beat(data_dir: Path, now: datetime) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    replace_durably(data_dir / HEARTBEAT_FILE, now.isoformat().encode() + b"\n", new_mode=0o644)


def last_beat(data_dir: Path) -> datetime | None:
    try:
        return datetime.fromisoformat((data_dir / HEARTBEAT_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
