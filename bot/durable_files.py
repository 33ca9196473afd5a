"""Writing a file so that a crash leaves the old one or the new one, whole, never a mix.

Write to `<name>.tmp`, fsync it, rename it over the file, fsync the folder: the store's
snapshots and the pipeline files the bot changes (statistics, images, `.env` on a restore) all
go through `replace_durably`.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def replace_durably(path: Path, body: bytes, directory: Path | None = None, *,
                    new_mode: int = 0o600) -> None:
    """Write `body` to `path` so that a crash leaves the old file or the new one, whole. It
    keeps the old file's permissions (and owner, where the bot may set it); a file that was
    not there gets `new_mode`. The temporary file is made afresh, never followed if a link."""
    try:
        old = path.stat()
        mode, owner = old.st_mode & 0o7777, (old.st_uid, old.st_gid)
    except FileNotFoundError:
        mode, owner = new_mode, None
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.unlink(missing_ok=True)  # a leftover (or a planted link) is not written through
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            if owner is not None and (os.fstat(fd).st_uid, os.fstat(fd).st_gid) != owner:
                try:  # the pipeline's own .env stays readable by the pipeline's user
                    os.fchown(fd, *owner)
                except PermissionError:
                    pass
            os.fchmod(fd, mode)
            write_all(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(directory or path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
