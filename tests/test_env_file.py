"""One variable of a .env changed in place: every other byte stays, python-dotenv reads the new
value, and what cannot be changed safely is refused."""

from __future__ import annotations

import io

import pytest
from dotenv import dotenv_values

from bot.backups.env_file import EnvEditError, set_value

NEW = "IGAAnewtoken0123456789abcdef"


def read(content: bytes) -> dict[str, str | None]:
    return dict(dotenv_values(stream=io.StringIO(content.decode())))


@pytest.mark.parametrize(("line", "expected"), [
    ("INSTAGRAM_ACCESS_TOKEN=old-token-value", f"INSTAGRAM_ACCESS_TOKEN={NEW}"),
    ("export INSTAGRAM_ACCESS_TOKEN=old", f"export INSTAGRAM_ACCESS_TOKEN={NEW}"),
    ('INSTAGRAM_ACCESS_TOKEN="old # not a comment"', f'INSTAGRAM_ACCESS_TOKEN="{NEW}"'),
    ("INSTAGRAM_ACCESS_TOKEN='old'  # rotated monthly", f"INSTAGRAM_ACCESS_TOKEN='{NEW}'  # rotated monthly"),
    ("INSTAGRAM_ACCESS_TOKEN = old   # the team's", f"INSTAGRAM_ACCESS_TOKEN = {NEW}   # the team's"),
    ('INSTAGRAM_ACCESS_TOKEN="a \\" quote" # kept', f'INSTAGRAM_ACCESS_TOKEN="{NEW}" # kept'),
    ("INSTAGRAM_ACCESS_TOKEN=", f"INSTAGRAM_ACCESS_TOKEN={NEW}"),
])
def test_the_line_keeps_its_shape_and_the_rest_of_the_file_its_bytes(line, expected) -> None:
    before = f"# SunFlow settings\n\nFAL_KEY=abc:def  # fal\n{line}\nLOG_LEVEL=INFO\n# end\n"
    after = set_value(before.encode(), "INSTAGRAM_ACCESS_TOKEN", NEW).decode()
    assert after == before.replace(line, expected)
    values = read(after.encode())
    assert values["INSTAGRAM_ACCESS_TOKEN"] == NEW
    assert {k: v for k, v in values.items() if k != "INSTAGRAM_ACCESS_TOKEN"} == {
        k: v for k, v in read(before.encode()).items() if k != "INSTAGRAM_ACCESS_TOKEN"}


def test_crlf_endings_and_a_missing_final_newline_are_kept() -> None:
    before = b"A=1\r\nINSTAGRAM_ACCESS_TOKEN=old\r\nB=2"
    assert set_value(before, "INSTAGRAM_ACCESS_TOKEN", NEW) == (
        b"A=1\r\nINSTAGRAM_ACCESS_TOKEN=" + NEW.encode() + b"\r\nB=2")


def test_every_assignment_of_the_key_changes_and_lookalikes_do_not() -> None:
    before = (b"INSTAGRAM_ACCESS_TOKEN=one\nOLD_INSTAGRAM_ACCESS_TOKEN=keep\n"
              b"#INSTAGRAM_ACCESS_TOKEN=commented\nINSTAGRAM_ACCESS_TOKEN=two\n")
    after = set_value(before, "INSTAGRAM_ACCESS_TOKEN", NEW)
    assert after == (b"INSTAGRAM_ACCESS_TOKEN=" + NEW.encode() + b"\nOLD_INSTAGRAM_ACCESS_TOKEN=keep\n"
                     b"#INSTAGRAM_ACCESS_TOKEN=commented\nINSTAGRAM_ACCESS_TOKEN=" + NEW.encode() + b"\n")


@pytest.mark.parametrize("before", [b"A=1\n", b"A=1", b"", None])
def test_a_missing_key_is_appended_on_a_line_of_its_own(before) -> None:
    after = set_value(before, "INSTAGRAM_ACCESS_TOKEN", NEW)
    assert after.endswith(f"INSTAGRAM_ACCESS_TOKEN={NEW}\n".encode())
    assert read(after)["INSTAGRAM_ACCESS_TOKEN"] == NEW
    if before:
        assert read(after)["A"] == "1"


@pytest.mark.parametrize("value", ["has space", 'quote"', "hash#", "new\nline", "", "back\\slash", "a'b"])
def test_a_value_that_needs_quoting_or_escaping_is_refused(value) -> None:
    with pytest.raises(EnvEditError):
        set_value(b"INSTAGRAM_ACCESS_TOKEN=old\n", "INSTAGRAM_ACCESS_TOKEN", value)


def test_an_unreadable_file_is_refused_not_guessed_at() -> None:
    with pytest.raises(EnvEditError, match="does not end on its line"):
        set_value(b'INSTAGRAM_ACCESS_TOKEN="multi\nline"\n', "INSTAGRAM_ACCESS_TOKEN", NEW)
    with pytest.raises(EnvEditError, match="UTF-8"):
        set_value(b"A=\xff\n", "INSTAGRAM_ACCESS_TOKEN", NEW)


@pytest.mark.parametrize("before", [
    "INSTAGRAM_ACCESS_TOKEN='a\\'b' # c\n",  # an escape dotenv reads differently
    'INSTAGRAM_ACCESS_TOKEN="old"junk\n',
    'PEM="-----BEGIN KEY-----\nINSTAGRAM_ACCESS_TOKEN=inside-another-value\n-----END KEY-----"\n',
])
def test_a_file_dotenv_would_read_otherwise_is_refused_not_half_changed(before) -> None:
    with pytest.raises(EnvEditError, match="cannot change safely"):
        set_value(before.encode(), "INSTAGRAM_ACCESS_TOKEN", NEW)


def test_a_form_feed_is_not_a_line_break() -> None:
    after = set_value(b"INSTAGRAM_ACCESS_TOKEN=old\x0cjunk\nA=1\n", "INSTAGRAM_ACCESS_TOKEN", NEW)
    assert read(after)["INSTAGRAM_ACCESS_TOKEN"] == NEW and read(after)["A"] == "1"
