"""The files a backup holds: the pipeline's `.env`, `config/*.json` and its mistakes record
`CLAUDE.md`, under SUNFLOW_HOME.

`read` takes them as they are (a file that is a symlink leading out of the home, a folder or
something unreadable is refused, not followed); `write_exactly` makes the managed set equal a
backup's: each file written whole (write, fsync, rename, permissions kept) and a managed file
the backup did not have removed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from bot.durable_files import fsync_dir, replace_durably

ENV_FILE = ".env"
MISTAKES_FILE = "CLAUDE.md"  # the playbook's mistakes record, appended after each post-mortem
CONFIG_GLOB = "config/*.json"
MAX_FILE_BYTES = 2 * 1024 * 1024  # a config file is small; anything this big is not one


class ManagedFileError(ValueError):
    """A managed file that cannot be backed up or written; the message says which and why."""


def content_hash(files: Mapping[str, bytes]) -> str:
    """One sha256 over the names and contents, in name order: equal hashes, equal files."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


class ManagedFiles:
    def __init__(self, home: Path) -> None:
        self.home = home

    def names(self) -> list[str]:
        """The managed files there now, relative to the home, sorted."""
        found = [name for name in (ENV_FILE, MISTAKES_FILE)
                 if (self.home / name).is_file() or (self.home / name).is_symlink()]
        found += sorted(p.relative_to(self.home).as_posix() for p in self.home.glob(CONFIG_GLOB))
        return found

    def _path(self, name: str) -> Path:
        if name not in (ENV_FILE, MISTAKES_FILE) and not (name.startswith("config/") and name.endswith(".json")
                                     and name.count("/") == 1 and ".." not in name):
            raise ManagedFileError(f"{name!r} is not a managed file ({ENV_FILE}, {CONFIG_GLOB}, "
                                   f"{MISTAKES_FILE})")
        path = self.home / name
        home = self.home.resolve()
        if not path.parent.resolve().is_relative_to(home) or (
                path.is_symlink() and not path.resolve().is_relative_to(home)):
            raise ManagedFileError(f"{name} leads outside SUNFLOW_HOME")
        return path

    def read(self) -> dict[str, bytes]:
        files = {}
        for name in self.names():
            path = self._path(name)
            if not path.is_file():
                raise ManagedFileError(f"{name} is not a regular file")
            try:
                with path.open("rb") as f:
                    content = f.read(MAX_FILE_BYTES + 1)
            except OSError as exc:
                raise ManagedFileError(f"{name} cannot be read: {exc.strerror or exc}") from None
            if len(content) > MAX_FILE_BYTES:
                raise ManagedFileError(f"{name} is larger than {MAX_FILE_BYTES // 1024} KB")
            files[name] = content
        return files

    def write_one(self, name: str, content: bytes) -> None:
        """Write one managed file whole (the others untouched)."""
        path = self._path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_durably(path, content, new_mode=0o600 if name == ENV_FILE else 0o644)

    def write_exactly(self, files: Mapping[str, bytes]) -> list[str]:
        """Make the managed files exactly `files`; the names written or removed."""
        for name in files:
            self._path(name)  # every name checked before anything is written
        changed = []
        current = self.read()
        for name, content in sorted(files.items()):
            if current.get(name) == content:
                continue
            path = self._path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_durably(path, content, new_mode=0o600 if name == ENV_FILE else 0o644)
            changed.append(name)
        for name in sorted(set(current) - set(files)):
            os.unlink(self._path(name))
            fsync_dir(self._path(name).parent)
            changed.append(name)
        return changed
