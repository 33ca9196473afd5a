"""Message catalogs: Korean (the playbook's language, the default) and English.

Every user-visible sentence lives in `ko.py` and `en.py` (and the per-area `actions_*`,
`incidents_*` modules) under the same key with the same
`{placeholders}`; a test holds the two catalogs to that.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any

from bot.i18n import (
    actions_en,
    actions_ko,
    en,
    incidents_en,
    incidents_ko,
    ko,
    recovery_en,
    recovery_ko,
    reports_en,
    reports_ko,
)


def _merged(*parts: Mapping[str, str]) -> dict[str, str]:
    """One catalog from per-area modules; a key defined twice is a bug, not an override."""
    out: dict[str, str] = {}
    for part in parts:
        twice = sorted(set(out) & set(part))
        if twice:
            raise ValueError(f"message keys defined twice: {', '.join(twice)}")
        out.update(part)
    return out


LANGUAGES = ("ko", "en")  # the bot's languages; Korean, the playbook's, first
CATALOGS: dict[str, Mapping[str, str]] = {
    "ko": _merged(ko.MESSAGES, actions_ko.MESSAGES, incidents_ko.MESSAGES, reports_ko.MESSAGES,
                  recovery_ko.MESSAGES),
    "en": _merged(en.MESSAGES, actions_en.MESSAGES, incidents_en.MESSAGES, reports_en.MESSAGES,
                  recovery_en.MESSAGES),
}


class _Formatter(string.Formatter):
    """`str.format`, plus a number with its noun: `{count:#trace|traces}` -> "1 trace",
    "2 traces" (English needs it; Korean counts without plurals)."""

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec.startswith("#") and "|" in format_spec:
            one, other = format_spec[1:].split("|", 1)
            try:
                single = float(value) == 1
            except (TypeError, ValueError):
                single = False
            return f"{value} {one if single else other}"
        return super().format_field(value, format_spec)


_FORMATTER = _Formatter()

# What a view needs to put words on screen: `tr(key, **params) -> str`. A Translator is one;
# views take this, so a caller may hand them any such function.
Translate = Callable[..., str]


class Translator:
    """`tr("health.title", state=...)` in one language, English as the fallback."""

    def __init__(self, lang: str = "ko") -> None:
        if lang not in CATALOGS:
            raise ValueError(f"unknown language {lang!r}; known: {', '.join(CATALOGS)}")
        self.lang = lang
        self._messages = CATALOGS[lang]

    def __call__(self, key: str, **params: object) -> str:
        template = self._messages.get(key) or CATALOGS["en"].get(key)
        if template is None:
            raise KeyError(f"no message {key!r}")
        return _FORMATTER.format(template, **params)
