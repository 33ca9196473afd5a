"""What the diagnose actions share: plain-text times, sizes and lines, and long text as a file."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.actions.registry import ActionContext, Document, Outcome
from bot.health import State

# A step's message stays readable in a chat: longer text goes into a Document (Telegram's own
# limit is 4096 characters per message).
LONG_LINES = 30
LONG_CHARS = 3000
PREVIEW_LINES = 5
LINE_CHARS = 200

OUTCOME_OF_STATE = {State.OK: Outcome.OK, State.DEGRADED: Outcome.WARN, State.DOWN: Outcome.FAIL}
_UNSAFE_IN_NAME = re.compile(r"[^\w.-]+")


def human_size(size: int) -> str:
    """`151 B`, `12.3 KB`, `4.0 MB`."""
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} MB"  # pragma: no cover - the loop always returns


def clip(text: str, limit: int = LINE_CHARS) -> str:
    """One line, at most `limit` characters (indentation kept: traceback lines read better)."""
    text = " ".join(text.rstrip().splitlines())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def is_long(lines: Sequence[str]) -> bool:
    return len(lines) > LONG_LINES or sum(len(line) + 1 for line in lines) > LONG_CHARS


def day_stamp(ctx: ActionContext) -> str:
    """YYYYMMDD of the action's clock, as the playbook names its files (`error_YYYYMMDD.log`)."""
    return ctx.clock().astimezone(ctx.tz).strftime("%Y%m%d")  # the team's day, as refs use


def file_prefix(ctx: ActionContext, fallback: str) -> str:
    """The incident's ref (or `fallback`) made safe for a file name."""
    return _UNSAFE_IN_NAME.sub("-", ctx.incident_ref or "").strip("-.") or fallback


def text_document(ctx: ActionContext, filename: str, lines: Sequence[str], caption: str) -> Document:
    """The whole text as a redacted UTF-8 file."""
    body = ctx.redact("\n".join(lines) + "\n")
    return Document(filename=filename, content=body.encode("utf-8"), caption=caption)
