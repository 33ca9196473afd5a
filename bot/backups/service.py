"""Backups as a domain: take one, list them, say what a restore would change, restore, undo.

Every rule lives here, whoever asks (a button, the CLI, an action): a restore needs an admin
and a confirmation given within `CONFIRM_WITHIN` of being asked for; it first backs up what it
is about to overwrite (so it can be undone: the undo is a restore of that backup), then makes
the managed files exactly the backup's. One restore at a time. Retention keeps at most `keep`
backups and none older than `keep_days`, always the newest.

A backup's record (id, time, who, why, content hash, file names) is in the store; the files
themselves — `.env` holds the pipeline's secrets — are kept beside it as a 0600 document under
DATA_DIR/documents/backups/, never in the store's records (which hold no secrets). Nothing here
ever shows a secret value (`diff`).
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from bot.errors import Refusal
from bot.backups.diff import FileChange, restore_changes
from bot.backups.managed_files import ManagedFiles, content_hash
from bot.store import BackupRecord, NotFound, Store

CONFIRM_WITHIN = timedelta(minutes=5)  # a confirmation button older than this has expired
PAGE = 5


class BackupRefused(Refusal):
    """Nothing was changed; `key` (a message key) and `params` say why in one sentence."""


@dataclass(frozen=True)
class Backup:
    backup_id: str
    at: datetime
    actor: str | None
    reason: str
    hash: str
    names: tuple[str, ...]  # the files it holds (their contents: `Backups.files_of`)
    document: str | None  # where the contents are kept


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
        # told after a restore wrote the files (who, the files before, after): a domain that
        # holds what a managed file says (the token in use) follows the files
        self.after_restore: list[Callable[[str | None, Mapping[str, bytes], Mapping[str, bytes]], None]] = []

    # -- taking and reading

    def take(self, *, actor: str | None, reason: str) -> Backup:
        """Snapshot the managed files now (before a change). Raises ManagedFileError."""
        files = self.files.read()
        now = self.clock()
        day = now.astimezone(self.tz).strftime("%Y%m%d")
        number = self.store.next_sequence(f"backup:{day}")
        backup_id = f"BK-{day}-{number:04d}"
        body = json.dumps({name: _stored(content) for name, content in files.items()}).encode()
        document = self.store.put_document("backups", f"{backup_id}.json", body)
        detail = {"actor": actor, "reason": reason[:200], "hash": content_hash(files),
                  "files": sorted(files), "document": document}
        record = self.store.add_backup(backup_id, at=now, kind="snapshot", detail=detail)
        self.prune()
        return _backup(record)

    def get(self, backup_id: str) -> Backup:
        record = self.store.backup(backup_id)
        if record is None:
            raise BackupRefused("backup.unknown", id=backup_id)
        return _backup(record)

    def files_of(self, backup_id: str) -> dict[str, bytes]:
        """The backup's files as they were."""
        backup = self.get(backup_id)
        try:
            stored = json.loads(self.store.document(backup.document or ""))
        except (NotFound, ValueError):
            raise BackupRefused("backup.contents_gone", id=backup_id) from None
        return {name: _content(value) for name, value in stored.items() if isinstance(value, dict)}

    def taken_since(self, since: datetime) -> list[Backup]:
        """The backups taken at or after `since`, oldest first."""
        records = self.store.backups(limit=self.keep + 1)
        return [_backup(r) for r in reversed(records) if r.at >= since]

    def page(self, number: int) -> tuple[list[Backup], int]:
        """Page `number` (0 first, newest first) and how many pages there are."""
        records = self.store.backups(limit=self.keep + 1)
        pages = max(1, -(-len(records) // PAGE))
        number = min(max(number, 0), pages - 1)
        return [_backup(r) for r in records[number * PAGE:(number + 1) * PAGE]], pages

    def preview(self, backup_id: str) -> list[FileChange]:
        """What restoring `backup_id` would change now."""
        return restore_changes(self.files.read(), self.files_of(backup_id))

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
            self.files.write_one(name, new)
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
            files = self.files_of(backup_id)
            if content_hash(self.files.read()) == backup.hash:
                raise BackupRefused("backup.same", id=backup_id)
            before = self.files.read()
            undo = self.take(actor=actor, reason=f"before restoring {backup_id}")
            changed = self.files.write_exactly(files)
            self.store.audit("backup.restored", actor=actor, detail={
                "backup": backup_id, "undo": undo.backup_id, "files": changed})
            for follow in self.after_restore:
                follow(actor, before, files)
            return Restored(backup, undo, tuple(changed))
        finally:
            self._lock.release()

    def prune(self) -> int:
        """Drop backups beyond `keep` or older than `keep_days` (never the newest); how many."""
        records = self.store.backups(limit=100_000)
        cutoff = self.clock() - timedelta(days=self.keep_days)
        drop = [r for n, r in enumerate(records) if n > 0 and (n >= self.keep or r.at < cutoff)]
        if not drop:
            return 0
        removed = self.store.remove_backups([r.backup_id for r in drop])
        for record in drop:  # the record goes first: a crash leaves a file, never a dangling record
            if isinstance(document := record.detail.get("document"), str):
                self.store.remove_document(document)
        return removed


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
    names = detail.get("files")
    document = detail.get("document")
    return Backup(backup_id=record.backup_id, at=record.at, actor=detail.get("actor"),
                  reason=str(detail.get("reason", "")), hash=str(detail.get("hash", "")),
                  names=tuple(str(n) for n in names) if isinstance(names, list) else (),
                  document=document if isinstance(document, str) else None)
