"""sunflow-ops: run the bot, the sandbox demo, or the same checks without Telegram.

Exit codes: 0 ok · 1 degraded · 2 down (health and token status), or refused (incident
commands: nothing changed) · 64 bad usage · 70 an unexpected failure (logged, secrets masked) ·
74 the store cannot be written · 75 the store is busy (the bot holds it) · 77 not an operator ·
78 bad configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from bot.health.token import MAX_EXPIRY_DAYS, MIN_EXPIRY_DAYS, parse_expiry_days
from bot.clock import utc_now
from bot.config import ConfigError, Settings
from bot.exit_codes import EX_CONFIG, EX_IOERR, EX_SOFTWARE, EX_TEMPFAIL, EX_USAGE
from bot.incidents.record import RECORD_CHECKS
from bot.logging_setup import configure_logging
from bot.health import COMPONENTS
from bot.services import build_services
from bot.wiring import viewer
from bot.store import Store, StoreError, StoreLocked
from bot.terminal import backups as backup_commands
from bot.terminal import signals as signal_commands
from bot.terminal import tokens as token_commands
from bot.terminal import watchdog as watchdog_commands
from bot.terminal import incidents as incident_commands
from bot.terminal.render import guide_text, health_table, token_text

log = logging.getLogger("sunflow-ops")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's 2 would read as "down"
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sunflow-ops", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-file", default=".env", help="settings file (default: .env)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("run", help="run the bot against Telegram (long polling)")
    demo = sub.add_parser("demo", help="the bot on loopback fakes, in this terminal")
    demo.add_argument("--lang", choices=("ko", "en"), help="the bot's language (default: BOT_LANG or ko)")
    health = sub.add_parser("health", help="check every component; exit 0 ok, 1 degraded, 2 down")
    health.add_argument("components", nargs="*", help="only these components")
    token = sub.add_parser("token", help="the Instagram token")
    token_sub = token.add_subparsers(dest="token_command", required=True, parser_class=_Parser)
    token_sub.add_parser("status", help="valid or not, expiry, days left")
    token_sub.add_parser("guide", help="how to renew it")
    set_expiry = token_sub.add_parser("set-expiry", help="register the expiry, N days from now (1-90)")
    set_expiry.add_argument("days")
    token_commands.add_arguments(
        token_sub.add_parser("rotate", help="an admin: put a new token to use (read from stdin)"),
        token_sub.add_parser("refresh", help="an admin: refresh an Instagram Login token (60 days)"))
    incident_commands.add_parser(sub, _Parser)
    backup_commands.add_parser(sub, _Parser)
    signal_commands.add_parser(sub, _Parser)
    sub.add_parser("watchdog", help="for cron: alert through the fallback channels when the bot is "
                                    "silent or Telegram down (exit 2), once per outage")
    outbox_parser = sub.add_parser("outbox", help="the alerts Telegram could not carry")
    outbox_parser.add_argument("--last", type=int, default=20)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from bot.demo import run_demo

        return run_demo(lang=args.lang)
    try:
        # health checks what it can: a component whose settings are wrong shows down
        settings = Settings.from_env(dotenv_path=args.env_file, require_telegram=args.command == "run",
                                     partial=args.command in ("health", "incident", "backup", "signal",
                                                              "watchdog", "outbox"))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EX_CONFIG
    for component, problem in settings.unusable.items():
        print(f"sunflow-ops: {component} is not checked: {problem}", file=sys.stderr)
    running = args.command == "run"
    level = logging.DEBUG if args.verbose else logging.INFO if running else logging.WARNING
    log_file = settings.data_dir / "sunflow-ops.log" if running else None
    try:
        configure_logging(settings.redactor(), level=level, log_file=log_file)
        if args.command == "incident" and not args.verbose:
            # the flows' notes that the group was not reached are the bot's to act on at its
            # next start; in a shell they would only alarm (the store's warnings still show)
            logging.getLogger("bot.incidents.flows").setLevel(logging.ERROR)
    except OSError as exc:
        print(f"sunflow-ops: cannot write the log file {log_file} (DATA_DIR): "
              f"{exc.strerror or exc}", file=sys.stderr)
        return EX_IOERR
    try:
        if running:
            from bot.app import run_bot  # the one command that needs python-telegram-bot

            return run_bot(settings)
        if args.command == "incident":
            return asyncio.run(incident_commands.run(args, settings, utc_now))
        if args.command == "backup":
            return asyncio.run(backup_commands.run(args, settings, utc_now))
        if args.command == "signal":
            return asyncio.run(signal_commands.run(args, settings, utc_now))
        if args.command == "watchdog":
            return watchdog_commands.run_watchdog(settings, utc_now)
        if args.command == "outbox":
            return watchdog_commands.show_outbox(settings, max(1, min(args.last, 1000)))
        if args.command == "token" and args.token_command in ("rotate", "refresh"):
            return asyncio.run(token_commands.run(args, settings, utc_now))
        return asyncio.run(_offline(args, settings))
    except Exception:
        # Never Python's own traceback printer: it knows nothing of secrets (a rejected bot
        # token, for one, is quoted whole in python-telegram-bot's InvalidToken).
        log.exception("sunflow-ops %s failed", args.command)
        return EX_SOFTWARE


async def _offline(args: argparse.Namespace, settings: Settings) -> int:
    """health and token: the chat's code paths, printed to the terminal."""
    if args.command == "health" and (unknown := [c for c in args.components if c not in COMPONENTS]):
        print(f"unknown component(s): {', '.join(unknown)}; known: {', '.join(COMPONENTS)}",
              file=sys.stderr)
        return EX_USAGE
    if args.command == "token" and args.token_command == "set-expiry":
        return await _set_expiry(args.days, settings)
    store_problem = None
    try:
        store = Store.open_readonly(settings.data_dir)
    except StoreError as exc:  # keep checking everything else: this is when the CLI is needed
        store, store_problem = Store.in_memory(), str(exc)
        print(f"sunflow-ops: the store cannot be read ({exc}); going on without it", file=sys.stderr)
    services = build_services(settings, store, store_problem=store_problem)
    try:
        if args.command == "health":
            report = await services.health(only=args.components or None)
            print(health_table(report, services.tr, services.redact))
            return report.exit_code
        team = viewer(services)
        if args.token_command == "guide":
            print(guide_text(team))
            return 0
        status = await services.token_status()
        print(token_text(status, team))
        return status.state.rank
    finally:
        await services.aclose()
        store.close()


async def _set_expiry(days_text: str, settings: Settings) -> int:
    try:
        days = parse_expiry_days(days_text)
    except ValueError:
        print(f"set-expiry takes a whole number of days from {MIN_EXPIRY_DAYS} to "
              f"{MAX_EXPIRY_DAYS}, got {days_text!r}", file=sys.stderr)
        return EX_USAGE
    try:
        store = Store.open(settings.data_dir, checks=RECORD_CHECKS)
    except StoreLocked as exc:
        print(f"sunflow-ops: {exc}\n  (the bot is running: use /token set-expiry in the chat, "
              "or stop the bot first)", file=sys.stderr)
        return EX_TEMPFAIL
    except StoreError as exc:
        print(f"sunflow-ops: {exc}", file=sys.stderr)
        return EX_IOERR
    services = build_services(settings, store)
    try:
        expires_at = services.set_token_expiry(days, actor="cli")
        local = expires_at.astimezone(settings.timezone).strftime("%Y-%m-%d")
        print(f"token expiry registered: {days} days, until {local}")
        return 0
    finally:
        await services.aclose()
        store.close()


if __name__ == "__main__":
    sys.exit(main())
