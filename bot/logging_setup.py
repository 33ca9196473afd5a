"""Logging for the bot and the CLI: every handler masks every configured secret."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path
from typing import TextIO

from bot.secrets import RedactingFormatter, Redactor

FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"


def _no_updates(record: logging.LogRecord) -> bool:
    """python-telegram-bot logs, at DEBUG and whole, what getUpdates returned and each update it
    processes: people's messages, one of which may hold a new token the bot has not yet been
    told to mask (it learns it on reading it). Those records are never written."""
    if not record.name.startswith("telegram") or not isinstance(record.args, tuple):
        return True
    if record.args[:1] == ("getUpdates",) and "return value" in str(record.msg):
        return False
    return not any(type(arg).__name__ == "Update" for arg in record.args)


def configure_logging(redactor: Redactor, *, level: int = logging.INFO, stream: TextIO | None = None,
                      console: bool = True, log_file: Path | None = None) -> None:
    """Replace the root handlers with redacting ones (stderr or `stream`, and a rotating file)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = RedactingFormatter(redactor, FORMAT)
    if console:
        to_console = logging.StreamHandler(stream or sys.stderr)
        to_console.setFormatter(formatter)
        to_console.addFilter(_no_updates)
        root.addHandler(to_console)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        to_file = logging.handlers.RotatingFileHandler(log_file, maxBytes=2_000_000, backupCount=3,
                                                       encoding="utf-8")
        to_file.setFormatter(formatter)
        to_file.addFilter(_no_updates)
        root.addHandler(to_file)
    root.setLevel(level)
    # httpx logs every request URL at INFO: Bot API URLs carry the token. Redaction would mask
    # it, but the lines are noise at 3 a.m. anyway.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

