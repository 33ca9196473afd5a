"""`sunflow-ops backup list|show|restore`: the configuration backups from a shell.

The same domain as /backups (`bot.backups.service`): a restore needs an admin (`--as <id>` or
SUNFLOW_OPERATOR) and `--yes`, the terminal's confirmation; without it the command shows what
the restore would change and changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

from bot.backups.managed_files import ManagedFileError
from bot.backups.service import BackupRefused
from bot.backups.view import backup_line, change_lines
from bot.clock import Clock
from bot.config import Settings
from bot.exit_codes import EX_IOERR, EX_NOPERM, EX_REFUSED, EX_USAGE
from bot.services import Services, build_services
from bot.terminal.incidents import operator
from bot.terminal.store_access import open_store

_ID = r"BK-\d{8}-\d{4,}"


def add_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser("backup", help="the configuration backups (.env, config/*.json)")
    verbs = backup.add_subparsers(dest="backup_command", required=True, parser_class=parser_class)
    listing = verbs.add_parser("list", help="the backups, newest first")
    listing.add_argument("--page", type=int, default=1)
    verbs.add_parser("show", help="what restoring one would change now").add_argument("id")
    restore = verbs.add_parser("restore", help="restore one (an admin; --yes to do it)")
    restore.add_argument("id")
    restore.add_argument("--yes", action="store_true", help="confirm: write the files")
    restore.add_argument("--as", dest="operator", help="your Telegram user id (or SUNFLOW_OPERATOR)")


async def run(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    if getattr(args, "id", None) is not None and not re.fullmatch(_ID, args.id):
        print(f"sunflow-ops backup: {args.id!r} is not a backup id (like BK-20261205-0001)")
        return EX_USAGE
    writing = args.backup_command == "restore" and args.yes
    who = operator(args, settings) if writing else None
    if isinstance(who, str):
        print(f"sunflow-ops backup: {who}")
        return EX_NOPERM
    store = open_store(settings, writing=writing,
                       busy_hint="the bot is running: use /backups in the chat, or stop it first")
    if isinstance(store, int):
        return store
    services = build_services(settings, store, clock=clock)
    try:
        return await _command(args, services, who.actor if who else None, bool(who and who.admin))
    except BackupRefused as refused:
        print(services.redact(services.tr(refused.key, **refused.params)))
        return EX_REFUSED
    except ManagedFileError as exc:
        print(services.redact(services.tr("backup.unreadable", problem=str(exc))))
        return EX_IOERR
    finally:
        await services.aclose()
        store.close()


async def _command(args: argparse.Namespace, services: Services, actor: str | None, admin: bool) -> int:
    tr, tz, backups = services.tr, services.settings.timezone, services.backups

    def say(*lines: str) -> None:
        print(services.redact("\n".join(lines)))  # redacted last, after every line is made

    if args.backup_command == "list":
        page, pages = await asyncio.to_thread(backups.page, args.page - 1)
        if not page:
            say(tr("backup.none"))
            return 0
        say(tr("backup.title", page=min(max(args.page, 1), pages), pages=pages),
            *(backup_line(tr, b, tz) for b in page))
        return 0
    backup = await asyncio.to_thread(backups.get, args.id)
    changes = await asyncio.to_thread(backups.preview, args.id)
    if args.backup_command == "show" or not args.yes:
        say(backup_line(tr, backup, tz), tr("backup.show_title", id=backup.backup_id),
            *change_lines(tr, changes, services.redact))
        if args.backup_command == "restore":
            say("", "(nothing changed: add --yes to restore)")
        return 0
    assert actor is not None
    restored = await asyncio.to_thread(backups.restore, args.id, actor=actor, admin=admin,
                                       asked_at=services.clock())
    say(*change_lines(tr, changes, services.redact), tr("backup.restored", id=backup.backup_id, by=actor,
                                       files=", ".join(restored.changed) or tr("backup.restored_nothing"),
                                       undo=restored.undo.backup_id))
    return 0
