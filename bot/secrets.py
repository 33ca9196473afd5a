"""Secrets that never show: a masked string type and a redactor for text and log lines."""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
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


# Credentials that are not ours to know but look like credentials. The pipeline's own log lines
# (shown by /health, the log tools and the log bundle) quote other bots' tokens inside Bot API
# URLs, JSON bodies with "access_token", headers and connection strings. Each shape masks the
# value and keeps what names it, so a line still says *what* was there.
_VALUE = r"[^\s\"'<>&,;)}\]]{3,}"  # up to a quote, a separator or a placeholder's '<'
_SECRET_NAME = (r"[\w.-]*?(?:access[_-]?token|refresh[_-]?token|auth[_-]?token|id[_-]?token|"
                r"input[_-]?token|exchange[_-]?token|bot[_-]?token|token|client[_-]?secret|"
                r"app[_-]?secret|api[_-]?secret|secret[_-]?key|secret|password|passwd|pwd|"
                r"api[_-]?key|apikey|access[_-]?key|private[_-]?key|fal[_-]?key|signature|"
                r"credentials?)")
# a replacement: a template (\1 and the like) or a function of the match
_SHAPES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # Authorization: Bearer …, "authorization": "Key id:secret", proxy-authorization=Basic …
    (re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?)"
                r"(?:(bearer|basic|digest|oauth|key|token|bot)\s+)?" + _VALUE),
     lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + MASK),
    # key=value, "key": "value", 'key': 'value' for anything named like a secret
    (re.compile(r"(?i)(?<![\w.-])(" + _SECRET_NAME + r"(?:\s*=\s*[\"']?|[\"']\s*[:=]\s*[\"']?))"
                + _VALUE), lambda m: m.group(1) + MASK),
    # key: value (YAML, headers, prose): only a value that looks generated (a digit, 8+ long),
    # so "access token: Session has expired" keeps its words
    (re.compile(r"(?i)(?<![\w.-])(" + _SECRET_NAME + r"\s*:\s*)(?=[^\s\"']*\d)[^\s\"'<>&,;)}\]]{8,}"),
     lambda m: m.group(1) + MASK),
    (re.compile(r"\b(Bearer|OAuth|Key|Basic)\s+[A-Za-z0-9_.:|+/=\-]{16,}"), r"\1 " + MASK),
    # user:password in any URL (cloudinary://key:secret@cloud, postgres://u:p@host, https://u:p@h)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]{1,20}://)[^\s:/@<>\"']+:[^\s@/<>\"']+@"),
     r"\1" + MASK + "@"),
    # a Telegram bot token anywhere, also glued to "bot" in a Bot API URL path
    (re.compile(r"(?<!\d)\d{5,12}:[A-Za-z0-9_-]{30,}"), MASK),
    # Meta access tokens (Facebook/Graph EAA…, Instagram Login IGAA…, legacy IGQV…)
    (re.compile(r"(?<![A-Za-z0-9])(?:EAA[A-Za-z0-9]|IGAA|IGQV)[A-Za-z0-9_-]{20,}"), MASK),
    # a fal key: <uuid>:<32 hex>
    (re.compile(r"(?i)\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}:[0-9a-f]{32}\b"), MASK),
]


class Redactor:
    """Masks every configured secret (raw, URL-encoded, HTML- or JSON-escaped) and anything
    shaped like a credential.

    Use it on text as it arrives, before it is clipped to a length or escaped for HTML or
    Markdown: a cut secret no longer has the shape that is recognised, and an escaped one
    (`_` as `\\_`) no longer matches the configured value.
    """

    MIN_LEN = 6  # shorter values would mask ordinary words and numbers

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.learn(*secrets)

    def learn(self, *secrets: str) -> None:
        """Mask these too from now on (a token the bot was given while running). Every holder
        of this redactor (logs, chat text, stored traces) sees the change at once."""
        forms = set(self._forms)
        for value in secrets:
            if not value or len(value) < self.MIN_LEN:
                continue
            forms.update({value, quote(value, safe=""), quote_plus(value), html.escape(value),
                          json.dumps(value)[1:-1]})
        ordered = sorted(forms, key=len, reverse=True)  # longest first: no partial leftovers
        # one assignment: a thread redacting meanwhile uses the old pattern or the new, whole
        self._forms, self._pattern = forms, (
            re.compile("|".join(map(re.escape, ordered))) if ordered else None)

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._pattern is not None:
            text = self._pattern.sub(MASK, text)
        for shape, replacement in _SHAPES:
            text = shape.sub(replacement, text)
        return text

    def deep(self, value: Any) -> Any:
        """A copy of a JSON-like value with every string in it (keys too) redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(k) if isinstance(k, str) else k: self.deep(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.deep(v) for v in value]
        return value


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
