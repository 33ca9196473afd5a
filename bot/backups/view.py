"""Backups in words (plain text; each transport escapes it its own way), redacted last."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import tzinfo

from bot.actors import display_name
from bot.backups.diff import FileChange
from bot.backups.service import Backup
from bot.clock import local_time

Translate = Callable[..., str]
KEYS_SHOWN = 12  # per file; the rest are counted
VALUE_CHARS = 60


def backup_line(tr: Translate, backup: Backup, tz: tzinfo) -> str:
    return tr("backup.line", id=backup.backup_id, at=local_time(backup.at, tz),
              by=display_name(backup.actor) if backup.actor else "-", why=backup.reason,
              files=len(backup.names))


def change_lines(tr: Translate, changes: Sequence[FileChange],
                 redact: Callable[[str], str]) -> list[str]:
    """What a restore would change: each file, then its keys (`+` added, `-` removed, `~`);
    values redacted whole, then clipped."""
    if not changes:
        return [tr("backup.no_changes")]

    def shown(value: str | None) -> str:
        text = redact(value or "")
        return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"

    lines = []
    for change in changes:
        lines.append(tr(f"backup.file_{change.status}", name=change.name))
        for key in change.keys[:KEYS_SHOWN]:
            if key.before is None:
                lines.append(f"  + {key.key} = {shown(key.after)}")
            elif key.after is None:
                lines.append(f"  - {key.key} (= {shown(key.before)})")
            else:
                lines.append(f"  ~ {key.key}: {shown(key.before)} → {shown(key.after)}")
        if len(change.keys) > KEYS_SHOWN:
            lines.append("  " + tr("backup.more_keys", count=len(change.keys) - KEYS_SHOWN))
    return lines
