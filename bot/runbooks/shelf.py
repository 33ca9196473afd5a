"""The runbook library in use, and `python -m bot.runbooks` to check files without the bot."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import DEFAULT_RUNBOOKS_DIR
from bot.runbooks.loader import read_library
from bot.runbooks.model import Library, RunbookError

if TYPE_CHECKING:
    from bot.actions.registry import ActionSpec

log = logging.getLogger(__name__)


class RunbookShelf:
    """The library in use: loaded at start, swapped on reload only when the new files are sound."""

    def __init__(self, directory: Path, *, actions: Mapping[str, ActionSpec] | None = None) -> None:
        self.directory = Path(directory)
        self._actions = actions
        self._lock = threading.Lock()  # handlers reload in a worker thread; one reload at a time
        self._library = load_library(self.directory, actions=actions)

    @property
    def library(self) -> Library:
        return self._library

    def reload(self) -> Library:
        """Read the files again; on any problem raise RunbookError and keep the previous library."""
        with self._lock:
            try:
                library = load_library(self.directory, actions=self._actions)
            except RunbookError as exc:
                log.warning("runbook reload rejected, still using %s: %s", self._library.digest, exc)
                raise
            log.info("runbooks reloaded: %s -> %s", self._library.digest, library.digest)
            self._library = library
            return library


def load_library(directory: Path, *, actions: Mapping[str, ActionSpec] | None = None) -> Library:
    """Read and check every runbook file in `directory`; raises RunbookError listing all problems."""
    return read_library(Path(directory), _registered_actions() if actions is None else actions)


def _registered_actions() -> Mapping[str, ActionSpec]:
    # imported here: the catalog imports the action modules, which import the runbook model
    from bot.actions.catalog import all_actions

    return all_actions()


def main(argv: list[str] | None = None) -> int:
    """`python -m bot.runbooks [DIR]`: check runbook files without the bot; exit 1 on problems."""
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0]) if args else DEFAULT_RUNBOOKS_DIR
    try:
        library = load_library(directory)
    except RunbookError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"{directory}: version {library.digest}, {len(library.runbooks)} scenarios")
    for rb in library.runbooks.values():
        print(f"  {rb.number}. {rb.id} ({rb.severity}): {len(rb.steps)} steps")
    return 0

