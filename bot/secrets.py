"""Secrets that never show: a masked string type and a redactor for text and log lines."""

from __future__ import annotations

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


class Redactor:
    """Replaces every known secret value (and its URL-encoded forms) with a mask."""

    MIN_LEN = 6  # shorter values would mask ordinary words and numbers

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for value in secrets:
            if not value or len(value) < self.MIN_LEN:
                continue
            forms.update({value, quote(value, safe=""), quote_plus(value)})
        ordered = sorted(forms, key=len, reverse=True)  # longest first: no partial leftovers
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)


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
