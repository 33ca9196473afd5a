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


@pytest.mark.parametrize("key, params, text", [
    ("incident.linked_reports", {"count": 1}, "Reported again 1 time; linked here."),
    ("incident.linked_reports", {"count": 3}, "Reported again 3 times; linked here."),
    ("act.traces.summary", {"shown": 1, "errors": 0, "imported": 1},
     "1 recent trace, 0 with errors (1 trace file imported)"),
    ("act.traces.summary", {"shown": 6, "errors": 2, "imported": 6},
     "6 recent traces, 2 with errors (6 trace files imported)"),
    ("incident.more_lines", {"count": 1}, "… and 1 more line"),
    ("token.days_left", {"days": 1}, "1 day left"),
    ("probe.logs.errors", {"count": 1, "file": "x.log", "line": "boom"},
     "1 error in 24 h, latest in x.log: boom"),
])
def test_english_counts_say_one_thing_or_many(key: str, params: dict, text: str) -> None:
    assert Translator("en")(key, **params) == text


def test_no_english_message_says_s_in_brackets() -> None:
    assert not [k for k, v in CATALOGS["en"].items() if "(s)" in v]
