"""The local outbox: every alert Telegram could not carry, one JSON line each, appended and
fsynced (`sunflow-ops outbox` shows it). The channel that always works while the disk does."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from bot.ports import Alert, ChannelError

OUTBOX_FILE = "outbox.jsonl"


class OutboxChannel:
    name = "outbox"

    def __init__(self, path: Path) -> None:
        self.path = path

    async def send(self, alert: Alert) -> None:
        await asyncio.to_thread(self._append, alert)

    def _append(self, alert: Alert) -> None:
        line = json.dumps(alert.as_dict(), ensure_ascii=False) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0),
                         0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise ChannelError(f"outbox: {exc.strerror or exc}") from None

    def read(self, last: int = 50) -> list[dict]:
        """The newest `last` entries, oldest first (lines that are not JSON are skipped)."""
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines[-last:]:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
        return out
