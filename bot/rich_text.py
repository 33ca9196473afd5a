"""Text with a little structure (bold, code) that each transport renders in its own way.

Views (`bot/incidents/view.py`) build lines of plain strings and `Span`s from the catalogs'
plain text and from records, redacted and clipped as they go in; `to_html` (Telegram) escapes
every piece exactly once as it renders, `to_plain` (the terminal) drops the styles.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import NamedTuple


class Span(NamedTuple):
    text: str
    style: str  # "b" or "code"


def bold(text: str) -> Span:
    return Span(text, "b")


def code(text: str) -> Span:
    return Span(text, "code")


Piece = str | Span
Line = Sequence[Piece]


def to_html(lines: Sequence[Line]) -> str:
    return "\n".join("".join(escape(p) if isinstance(p, str) else f"<{p.style}>{escape(p.text)}</{p.style}>"
                             for p in line) for line in lines)


def to_plain(lines: Sequence[Line]) -> str:
    return "\n".join("".join(p if isinstance(p, str) else p.text for p in line) for line in lines)
