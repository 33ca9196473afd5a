"""Secrets that never show: a masked string type and a redactor for text and log lines."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "•••"


class Secret:
    """A credential. `str()` and `repr()` are masked; `reveal()` is the only way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


# Credentials that are not ours to know but look like credentials: the pipeline's own log lines
# (shown by /health and the log tools) may quote someone's token, an old one, or a URL.
_SHAPES = [
    (re.compile(r"\b(access_token|input_token|fb_exchange_token|client_secret|api_secret|"
                r"api_key|token)=[A-Za-z0-9_.%|\-]{8,}", re.IGNORECASE), r"\1=" + MASK),
    (re.compile(r"\b(Bearer|OAuth|Key)\s+[A-Za-z0-9_.:|\-]{16,}"), r"\1 " + MASK),
    (re.compile(r"cloudinary://[^\s:@/]+:[^\s@/]+@"), "cloudinary://" + MASK + "@"),
    (re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}"), MASK),  # a Telegram bot token
    (re.compile(r"\b(?:EAA|IGAA|IGQV)[A-Za-z0-9_-]{20,}"), MASK),  # Meta access tokens
]


class Redactor:
    """Masks every configured secret (raw, URL-encoded, HTML-escaped) and anything shaped
    like a credential."""

    MIN_LEN = 6  # shorter values would mask ordinary words and numbers

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for value in secrets:
            if not value or len(value) < self.MIN_LEN:
                continue
            forms.update({value, quote(value, safe=""), quote_plus(value), html.escape(value)})
        ordered = sorted(forms, key=len, reverse=True)  # longest first: no partial leftovers
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        for shape, replacement in _SHAPES:
            text = shape.sub(replacement, text)
        return text


class RedactingFormatter(logging.Formatter):
    """Formats a record (message, arguments and traceback) and then masks every secret.

    Redaction happens on the final text because secrets reach logs by many roads: httpx logs
    request URLs (the Bot API token is in the path), python-telegram-bot logs its base URL at
    DEBUG, and a traceback can quote a URL with an access token.
    """

    def __init__(self, redactor: Redactor, fmt: str | None = None, datefmt: str | None = None):
        super().__init__(fmt=fmt, datefmt=datefmt)
        self._redact = redactor

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))
