"""The two catalogs say the same things with the same placeholders."""

from __future__ import annotations

import string

import pytest

from bot.i18n import CATALOGS, Translator


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_catalogs_have_the_same_keys() -> None:
    assert set(CATALOGS["ko"]) == set(CATALOGS["en"])


@pytest.mark.parametrize("key", sorted(CATALOGS["en"]))
def test_placeholders_match(key: str) -> None:
    assert _fields(CATALOGS["ko"][key]) == _fields(CATALOGS["en"][key]), key


def test_translator_formats_and_rejects_unknown_things() -> None:
    assert Translator("en")("token.days_left", days=3) == "3 days left"
    assert "3" in Translator("ko")("token.days_left", days=3)
    with pytest.raises(KeyError):
        Translator("en")("no.such.key")
    with pytest.raises(ValueError):
        Translator("fr")
