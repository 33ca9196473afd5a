"""`sunflow-ops token rotate|refresh`: a new Instagram token from a shell (when Telegram is the
thing that broke), through the same domain as the private chat (`token_rotation`).

The terminal counts as a private place. The token is read from standard input, never from the
command line (a process list and a shell's history would show it): without echo on a terminal,
one line from a pipe. An admin only (`--as <id>` or SUNFLOW_OPERATOR).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from datetime import datetime

from bot.actions.recovery.token_rotation import Installed, TokenRefused
from bot.clock import Clock, local_time
from bot.config import Settings
from bot.exit_codes import EX_CONFIG, EX_NOPERM, EX_REFUSED
from bot.token_view import installed_text
from bot.services import Services, build_services
from bot.terminal.incidents import operator
from bot.terminal.store_access import open_store


def add_arguments(rotate: argparse.ArgumentParser, refresh: argparse.ArgumentParser) -> None:
    for parser in (rotate, refresh):
        parser.add_argument("--as", dest="operator", help="your Telegram user id (or SUNFLOW_OPERATOR)")


def read_token() -> str:
    """The new token: typed without echo on a terminal, or one line from a pipe."""
    if sys.stdin.isatty():
        return getpass.getpass("New INSTAGRAM_ACCESS_TOKEN (not shown): ")
    return sys.stdin.readline()


async def run(args: argparse.Namespace, settings: Settings, clock: Clock,
              token_reader: Callable[[], str] = read_token) -> int:
    who = operator(args, settings)
    if isinstance(who, str):
        print(f"sunflow-ops token: {who}")
        return EX_NOPERM
    store = open_store(settings, writing=True, busy_hint=(
        "the bot is running: use /token rotate in a private chat with it, or stop it first"))
    if isinstance(store, int):
        return store
    services = build_services(settings, store, clock=clock)
    try:
        if services.tokens is None:
            print(services.tr("rec.needs.publisher"))
            return EX_CONFIG
        try:
            if args.token_command == "rotate":
                done = await services.tokens.rotate(token_reader(), actor=who.actor,
                                                    admin=who.admin, private=True)
            else:
                done = await services.tokens.refresh(await services.token_status(), actor=who.actor,
                                                     admin=who.admin)
        except TokenRefused as refused:
            print(services.redact(services.tr(refused.key, **_plain(services, refused.params))))
            return EX_REFUSED
        print(_done(services, done))
        return 0
    finally:
        await services.aclose()
        store.close()


def _plain(services: Services, params: dict) -> dict:
    tz = services.settings.timezone
    return {k: local_time(v, tz) if isinstance(v, datetime) else v for k, v in params.items()}


def _done(services: Services, done: Installed) -> str:
    return services.redact(installed_text(services.tr, done, services.settings.timezone)
                           + f"\nfingerprint {done.fingerprint} (the group is told when the bot next starts)")
