"""Code rollback (the playbook's `git checkout <commit> -- <file>`): one file of the pipeline's
repository made as it was at one of the last ten commits, backed up first, undoable.

Every rule lives here, whoever asks:
- only the last `COMMITS` commits, and only a file that commit changed (picked by its place in
  that list, never by a path someone typed); the path must stay inside the repository (no `..`,
  no `.git/`, no symlink on the way: git tracks links, and writing through one would land
  outside);
- a restore needs an admin and a confirmation given within `CONFIRM_WITHIN`; it is refused when
  the work tree has uncommitted changes to that file (they would be lost), when the commit did
  not have the file (it deleted it), or when the file is already that version;
- what the file is now is kept first (a 0600 document under DATA_DIR) with a record `RB-…`;
  then the file is written whole (write, fsync, rename; its permissions kept). git only reads:
  `git checkout` would also stage the file and writes in place, not atomically;
- undo puts the kept bytes back (or removes a file the restore created), only while the file is
  still what the restore wrote: a later edit is never overwritten.
One restore or undo at a time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path, PurePosixPath
from typing import TypeVar

from bot.errors import Refusal
from bot.backups.service import CONFIRM_WITHIN
from bot.durable_files import fsync_dir, replace_durably
from bot.ports import ChangedFile, CodeRepository, Commit, RepositoryError
from bot.store import NotFound, Store

COMMITS = 10  # what /rollback offers: the playbook's "last commits"
MAX_FILES = 20  # files of one commit offered as buttons
RECORD_PREFIX = "rollback."
_T = TypeVar("_T")


class RollbackRefused(Refusal):
    """Nothing was changed; `key` (a message key) and `params` say why in one sentence."""


@dataclass(frozen=True)
class Preview:
    commit: Commit
    file: ChangedFile
    index: int
    diff: str  # unified diff: the work tree now → the file at the commit ("" when the same)
    restorable: bool
    why_not: str | None  # a message key when it is not


@dataclass(frozen=True)
class RolledBack:
    commit: Commit
    path: str
    rollback_id: str  # what undoes it


@dataclass(frozen=True)
class Undone:
    rollback_id: str
    path: str


def _digest(content: bytes | None) -> str | None:
    return None if content is None else hashlib.sha256(content).hexdigest()


class CodeRollback:
    def __init__(self, repo: CodeRepository, store: Store, *, clock: Callable[[], datetime],
                 tz: tzinfo) -> None:
        self.repo, self.store, self.clock, self.tz = repo, store, clock, tz
        self._lock = asyncio.Lock()

    # -- looking

    async def commits(self) -> list[Commit]:
        return await self._git(self.repo.commits(COMMITS))

    async def commit(self, sha: str) -> Commit:
        """One of the last `COMMITS` commits, by its full id or a prefix of 7 or more."""
        if len(sha) >= 7:
            for commit in await self.commits():
                if commit.sha.startswith(sha.lower()):
                    return commit
        raise RollbackRefused("rollback.unknown_commit", sha=sha[:12])

    async def files(self, commit: Commit) -> list[ChangedFile]:
        changed = await self._git(self.repo.changed_files(commit.sha))
        return changed[:MAX_FILES]

    async def preview(self, sha: str, index: int) -> Preview:
        commit, file = await self._pick(sha, index)
        why_not = await self._why_not(commit, file.path, await self._top())
        diff = "" if why_not else await self._git(self.repo.diff_to(commit.sha, file.path))
        return Preview(commit, file, index, diff, why_not is None, why_not)

    def kept(self, rollback_id: str) -> str:
        """The path a restore `rollback_id` wrote (for asking before its undo)."""
        record = self.store.get_setting(RECORD_PREFIX + rollback_id)
        if not isinstance(record, dict):
            raise RollbackRefused("rollback.unknown", id=rollback_id)
        return str(record.get("path", "?"))

    # -- changing

    async def restore(self, sha: str, index: int, *, actor: str, admin: bool,
                      asked_at: datetime) -> RolledBack:
        self._allowed(admin, asked_at)
        async with self._claimed():
            commit, file = await self._pick(sha, index)
            top = await self._top()
            why_not = await self._why_not(commit, file.path, top)
            if why_not:
                raise RollbackRefused(why_not, path=file.path)
            content = await self._git(self.repo.content_at(commit.sha, file.path))
            assert content is not None  # `_why_not` checked the commit has it
            executable = await self._git(self.repo.executable_at(commit.sha, file.path))
            target = self._inside(file.path, top)
            before = await asyncio.to_thread(_read, target)
            rollback_id = await asyncio.to_thread(self._keep, commit, file.path, before, content,
                                                  actor)
            await asyncio.to_thread(_write, target, content, 0o755 if executable else 0o644)
            await asyncio.to_thread(self.store.audit, "code.rolled_back", actor=actor, detail={
                "rollback": rollback_id, "commit": commit.sha, "path": file.path})
            return RolledBack(commit, file.path, rollback_id)

    async def undo(self, rollback_id: str, *, actor: str, admin: bool, asked_at: datetime) -> Undone:
        self._allowed(admin, asked_at)
        async with self._claimed():
            record = self.store.get_setting(RECORD_PREFIX + rollback_id)
            if not isinstance(record, dict):
                raise RollbackRefused("rollback.unknown", id=rollback_id)
            if record.get("undone"):
                raise RollbackRefused("rollback.already_undone", id=rollback_id)
            path = str(record["path"])
            target = self._inside(path, await self._top())
            if _digest(await asyncio.to_thread(_read, target)) != record["written"]:
                raise RollbackRefused("rollback.changed_since", path=path)
            try:
                kept = json.loads(self.store.document(str(record["document"])))
            except (NotFound, ValueError):
                raise RollbackRefused("rollback.backup_gone", id=rollback_id) from None
            before = base64.b64decode(kept["before"]) if kept.get("before") is not None else None
            await asyncio.to_thread(_write, target, before, 0o644)
            await asyncio.to_thread(self.store.set_setting, RECORD_PREFIX + rollback_id,
                                    {**record, "undone": True})
            await asyncio.to_thread(self.store.audit, "code.rollback_undone", actor=actor,
                                    detail={"rollback": rollback_id, "path": path})
            return Undone(rollback_id, path)

    # -- the rules

    def _allowed(self, admin: bool, asked_at: datetime) -> None:
        if not admin:
            raise RollbackRefused("rollback.needs_admin")
        if not timedelta(seconds=-5) <= self.clock() - asked_at <= CONFIRM_WITHIN:
            raise RollbackRefused("rollback.confirm_expired",
                                  minutes=int(CONFIRM_WITHIN.total_seconds() // 60))

    def _claimed(self) -> asyncio.Lock:
        if self._lock.locked():
            raise RollbackRefused("rollback.busy")
        return self._lock

    async def _pick(self, sha: str, index: int) -> tuple[Commit, ChangedFile]:
        commit = await self.commit(sha)
        files = await self.files(commit)
        if not 0 <= index < len(files):
            raise RollbackRefused("rollback.unknown_file")
        return commit, files[index]

    async def _top(self) -> Path:
        """The repository's top folder: git names every path from there, whatever folder of
        the repository `SUNFLOW_REPO` is."""
        return await self._git(self.repo.top_level())

    async def _why_not(self, commit: Commit, path: str, top: Path) -> str | None:
        """The message key of the rule a restore of `path` to `commit` breaks, if any."""
        try:
            target = self._inside(path, top)
        except RollbackRefused as refused:
            return refused.key
        content = await self._git(self.repo.content_at(commit.sha, path))
        if content is None:
            return "rollback.not_in_commit"
        if await self._git(self.repo.has_changes(path)):
            return "rollback.uncommitted"
        if await asyncio.to_thread(_read, target) == content:
            return "rollback.same"
        return None

    @staticmethod
    def _inside(path: str, top: Path) -> Path:
        """`path` as a file of the work tree under `top`, checked to lie inside it with no link
        on the way (a linked folder would lead the write elsewhere)."""
        parts = PurePosixPath(path).parts
        if (not parts or PurePosixPath(path).is_absolute() or ".." in parts or parts[0] == ".git"
                or "\0" in path):
            raise RollbackRefused("rollback.outside")
        root = top.resolve()
        current = root
        for part in parts:
            current = current / part
            if current.is_symlink():
                raise RollbackRefused("rollback.outside")
        if not current.resolve().is_relative_to(root):
            raise RollbackRefused("rollback.outside")
        return current

    def _keep(self, commit: Commit, path: str, before: bytes | None, after: bytes, actor: str) -> str:
        now = self.clock()
        day = now.astimezone(self.tz).strftime("%Y%m%d")
        rollback_id = f"RB-{day}-{self.store.next_sequence(f'rollback:{day}'):04d}"
        body = {"path": path, "before": base64.b64encode(before).decode() if before is not None else None}
        document = self.store.put_document("rollbacks", f"{rollback_id}.json", json.dumps(body).encode())
        self.store.set_setting(RECORD_PREFIX + rollback_id, {
            "at": now.isoformat(), "actor": actor, "commit": commit.sha, "path": path,
            "document": document, "written": _digest(after), "undone": False})
        return rollback_id

    @staticmethod
    async def _git(work: Awaitable[_T]) -> _T:
        try:
            return await work
        except RepositoryError as exc:
            raise RollbackRefused("rollback.git", problem=str(exc)) from None  # masked, then cut, where shown


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write(path: Path, content: bytes | None, new_mode: int) -> None:
    """`content` whole (a file that is there keeps its permissions; a new one gets `new_mode`),
    or no file at all."""
    if content is None:
        path.unlink(missing_ok=True)
        fsync_dir(path.parent)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_durably(path, content, new_mode=new_mode)

