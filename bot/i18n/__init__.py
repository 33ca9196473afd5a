"""Message catalogs: Korean (the playbook's language, the default) and English.

Every user-visible sentence lives in `ko.py` and `en.py` under the same key with the same
`{placeholders}`; a test holds the two catalogs to that.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.i18n import en, ko

CATALOGS: dict[str, Mapping[str, str]] = {"ko": ko.MESSAGES, "en": en.MESSAGES}


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
        return template.format(**params)
