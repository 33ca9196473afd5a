"""The playbook's post-incident "update the mistakes record in CLAUDE.md", through the backups
domain: CLAUDE.md in SUNFLOW_HOME gains one entry per incident (made with a heading when it is
missing), backed up first and written whole; an incident whose entry is there already is not
added twice (a write-up resumed after a restart)."""

from __future__ import annotations

import asyncio

from bot.backups.managed_files import MISTAKES_FILE
from bot.backups.service import BackupRefused, Backups

HEADING = "# CLAUDE.md — mistakes record\n\nWhat went wrong, why, and what prevents it, one entry per incident (added by SunFlow Ops after each post-mortem).\n"


class MistakesFile:
    """`MistakesRecord` on SUNFLOW_HOME/CLAUDE.md."""

    def __init__(self, backups: Backups) -> None:
        self._backups = backups

    async def append(self, ref: str, entry: str, *, actor: str | None) -> str | None:
        marker = f"· {ref} ·"

        def edit(content: bytes | None) -> bytes:
            text = content.decode("utf-8", errors="replace") if content else HEADING
            if marker in text:
                raise BackupRefused("mistakes.already", ref=ref)
            return (text.rstrip("\n") + "\n\n" + entry.rstrip("\n") + "\n").encode("utf-8")

        try:
            backup, _ = await asyncio.to_thread(self._backups.change, MISTAKES_FILE, edit,
                                                actor=actor, reason=f"mistakes record of {ref}")
        except BackupRefused:
            return None
        return backup.backup_id
