"""The pipeline files a recovery action reads whole or writes (`ContentWrites`).

* A topic's image: read by its plain file name from `content/images/<topic>/` (or its
  `archive/`), at most `MAX_IMAGE_BYTES`; written there whole (write, fsync, rename), so a
  crash never leaves half an image where the pipeline looks for one; an image made anew moves
  its predecessor into `archive/` under a dated name (a rename, never a copy lost half-way).
* `config/data/instagram_stats.json`: read, and written whole the same way.

Topic and file names are checked before a path is built (`check_topic`, `check_image_name`):
one folder name, one plain image file name, nothing that leads out through a symlink.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.adapters.files import ARCHIVE_DIR, IMAGES_DIR, STATS_FILE, check_topic
from bot.adapters.topic_post import IMAGE_SUFFIXES
from bot.durable_files import fsync_dir, replace_durably
from bot.errors import BadRequest
from bot.ports import UnsafePath

MAX_IMAGE_BYTES = 30 * 1024 * 1024  # Instagram takes 8 MB; a source image may be larger


def check_image_name(name: str) -> str:
    """`name` when it is one plain image file name; UnsafePath otherwise."""
    if (not isinstance(name, str) or not name or "/" in name or "\\" in name or "\0" in name
            or name.startswith(".") or not name.lower().endswith(IMAGE_SUFFIXES)):
        raise UnsafePath(f"not an image file name: {name!r}")
    return name


class ContentFiles:
    """`ContentWrites` for one SUNFLOW_HOME."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def _folder(self, topic: str, archive: bool) -> Path:
        check_topic(topic)
        images = self.home / IMAGES_DIR
        folder = images / topic / ARCHIVE_DIR if archive else images / topic
        if folder.exists() and not folder.resolve().is_relative_to(images.resolve()):
            raise UnsafePath(f"{IMAGES_DIR}/{topic} leads outside {IMAGES_DIR}")
        return folder

    def _image_path(self, topic: str, name: str, archive: bool) -> Path:
        folder = self._folder(topic, archive)
        path = folder / check_image_name(name)
        if path.is_symlink() and not path.resolve().is_relative_to(folder.resolve()):
            raise UnsafePath(f"{name!r} leads outside its topic's folder")
        return path

    async def read_image(self, topic: str, name: str, *, archive: bool = False) -> bytes:
        return await asyncio.to_thread(self._read_image, topic, name, archive)

    def _read_image(self, topic: str, name: str, archive: bool) -> bytes:
        path = self._image_path(topic, name, archive)
        with path.open("rb") as f:
            content = f.read(MAX_IMAGE_BYTES + 1)
        if len(content) > MAX_IMAGE_BYTES:
            raise BadRequest("files", f"{name} is larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
        return content

    async def save_image(self, topic: str, name: str, content: bytes) -> None:
        await asyncio.to_thread(self._save_image, topic, name, content)

    def _save_image(self, topic: str, name: str, content: bytes) -> None:
        path = self._image_path(topic, name, False)
        if not path.parent.is_dir():
            raise FileNotFoundError(f"{IMAGES_DIR}/{topic}/ does not exist")
        replace_durably(path, content, new_mode=0o644)

    async def archive_image(self, topic: str, name: str) -> str:
        return await asyncio.to_thread(self._archive_image, topic, name)

    def _archive_image(self, topic: str, name: str) -> str:
        path = self._image_path(topic, name, False)
        archive = self._folder(topic, True)
        archive.mkdir(exist_ok=True)
        stem, dot, suffix = name.rpartition(".")
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        target = archive / f"{stem}-{stamp}{dot}{suffix}"
        n = 1
        while target.exists():
            n += 1
            target = archive / f"{stem}-{stamp}-{n}{dot}{suffix}"
        os.rename(path, target)  # same folder tree: the file is in one place or the other
        fsync_dir(archive)
        fsync_dir(path.parent)
        return target.name

    @property
    def stats_path(self) -> Path:
        return self.home / STATS_FILE

    async def read_stats(self) -> dict[str, Any] | None:
        return await asyncio.to_thread(self._read_stats)

    def _read_stats(self) -> dict[str, Any] | None:
        """None when there is no file; BadRequest when there is one that is not a JSON object
        (then it is not overwritten: what Graph does not give would be lost with it)."""
        try:
            body = json.loads(self.stats_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            body = None
        if not isinstance(body, dict):
            raise BadRequest("files", f"{STATS_FILE} is not a readable JSON object: not overwritten")
        return body

    async def write_stats(self, stats: Mapping[str, Any]) -> None:
        body = json.dumps(stats, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"
        await asyncio.to_thread(self._write_stats, body)

    def _write_stats(self, body: bytes) -> None:
        self.stats_path.parent.mkdir(parents=True, exist_ok=True)
        replace_durably(self.stats_path, body, new_mode=0o644)
