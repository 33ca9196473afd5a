"""Backups as a domain: take one, list them, say what a restore would change, restore, undo.

Every rule lives here, whoever asks (a button, the CLI, an action): a restore needs an admin
and a confirmation given within `CONFIRM_WITHIN` of being asked for; it first backs up what it
is about to overwrite (so it can be undone: the undo is a restore of that backup), then makes
the managed files exactly the backup's. One restore at a time. Retention keeps at most `keep`
backups and none older than `keep_days`, always the newest.

A backup's files are kept in the store as text (or base64 for bytes that are not UTF-8): the
store lives in DATA_DIR with 0600 files; nothing here ever shows a secret value (`diff`).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from bot.backups.diff import FileChange, restore_changes
from bot.backups.managed_files import ManagedFiles, content_hash
from bot.store import BackupRecord, Store

CONFIRM_WITHIN = timedelta(minutes=5)  # a confirmation button older than this has expired
PAGE = 5


class BackupRefused(Exception):
    """Nothing was changed; `key` (a message key) and `params` say why in one sentence."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


@dataclass(frozen=True)
class Backup:
    backup_id: str
    at: datetime
    actor: str | None
    reason: str
    hash: str
    files: Mapping[str, bytes]


@dataclass(frozen=True)
class Restored:
    backup: Backup  # what the files are now
    undo: Backup  # what they were: restoring it undoes this
    changed: tuple[str, ...]  # files written or removed


class Backups:
    def __init__(self, store: Store, files: ManagedFiles, *, clock: Callable[[], datetime],
                 tz: tzinfo, keep: int = 50, keep_days: int = 90) -> None:
        self.store, self.files, self.clock, self.tz = store, files, clock, tz
        self.keep, self.keep_days = keep, keep_days
        self._lock = threading.Lock()

    # -- taking and reading

    def take(self, *, actor: str | None, reason: str) -> Backup:
        """Snapshot the managed files now (before a change). Raises ManagedFileError."""
        files = self.files.read()
        now = self.clock()
        day = now.astimezone(self.tz).strftime("%Y%m%d")
        number = self.store.next_sequence(f"backup:{day}")
        backup_id = f"BK-{day}-{number:04d}"
        detail = {"actor": actor, "reason": reason[:200], "hash": content_hash(files),
                  "files": {name: _stored(content) for name, content in files.items()}}
        record = self.store.add_backup(backup_id, at=now, kind="snapshot", detail=detail)
        self.prune()
        return _backup(record)

    def get(self, backup_id: str) -> Backup:
        record = self.store.backup(backup_id)
        if record is None:
            raise BackupRefused("backup.unknown", id=backup_id)
        return _backup(record)

    def page(self, number: int) -> tuple[list[Backup], int]:
        """Page `number` (0 first, newest first) and how many pages there are."""
        records = self.store.backups(limit=self.keep + 1)
        pages = max(1, -(-len(records) // PAGE))
        number = min(max(number, 0), pages - 1)
        return [_backup(r) for r in records[number * PAGE:(number + 1) * PAGE]], pages

    def preview(self, backup_id: str) -> list[FileChange]:
        """What restoring `backup_id` would change now."""
        return restore_changes(self.files.read(), self.get(backup_id).files)

    # -- changing

    def change(self, name: str, edit: Callable[[bytes | None], bytes], *, actor: str | None,
               reason: str) -> tuple[Backup, bytes]:
        """Change one managed file the bot's way: back everything up, then write the file
        whole. `edit` gets the file's bytes (None when it is missing) and returns the new ones
        (raising BackupRefused leaves everything as it was). (the backup, the new bytes)"""
        with self._lock:
            current = self.files.read()
            new = edit(current.get(name))
            backup = self.take(actor=actor, reason=reason)
            self.files.write_exactly({**current, name: new})
            self.store.audit("config.changed", actor=actor, detail={
                "file": name, "backup": backup.backup_id, "reason": reason[:200]})
            return backup, new

    # -- restoring

    def restore(self, backup_id: str, *, actor: str, admin: bool, asked_at: datetime) -> Restored:
        """Make the managed files exactly the backup's, after backing up what they are now.
        `asked_at`: when the confirmation was asked for (a button's time; the CLI: now)."""
        if not admin:
            raise BackupRefused("backup.needs_admin")
        now = self.clock()
        if not timedelta(seconds=-5) <= now - asked_at <= CONFIRM_WITHIN:
            raise BackupRefused("backup.confirm_expired", minutes=int(CONFIRM_WITHIN.total_seconds() // 60))
        if not self._lock.acquire(blocking=False):
            raise BackupRefused("backup.busy")
        try:
            backup = self.get(backup_id)
            if content_hash(self.files.read()) == backup.hash:
                raise BackupRefused("backup.same", id=backup_id)
            undo = self.take(actor=actor, reason=f"before restoring {backup_id}")
            changed = self.files.write_exactly(backup.files)
            self.store.audit("backup.restored", actor=actor, detail={
                "backup": backup_id, "undo": undo.backup_id, "files": changed})
            return Restored(backup, undo, tuple(changed))
        finally:
            self._lock.release()

    def prune(self) -> int:
        """Drop backups beyond `keep` or older than `keep_days` (never the newest); how many."""
        records = self.store.backups(limit=100_000)
        cutoff = self.clock() - timedelta(days=self.keep_days)
        drop = [r.backup_id for n, r in enumerate(records) if n > 0 and (n >= self.keep or r.at < cutoff)]
        return self.store.remove_backups(drop) if drop else 0


def _stored(content: bytes) -> dict[str, str]:
    try:
        return {"text": content.decode("utf-8")}
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(content).decode("ascii")}


def _content(value: Mapping[str, str]) -> bytes:
    if "b64" in value:
        return base64.b64decode(value["b64"])
    return str(value.get("text", "")).encode("utf-8")


def _backup(record: BackupRecord) -> Backup:
    detail = record.detail
    stored = detail.get("files")
    files: dict[str, Any] = stored if isinstance(stored, dict) else {}
    return Backup(backup_id=record.backup_id, at=record.at, actor=detail.get("actor"),
                  reason=str(detail.get("reason", "")), hash=str(detail.get("hash", "")),
                  files={name: _content(v) for name, v in files.items() if isinstance(v, dict)})
