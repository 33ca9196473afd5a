"""Change one variable of a dotenv file in place: every other line, comment and blank line stays
byte for byte, and so does the changed line's own shape (`export`, spacing, quotes, a trailing
`# comment`, its line ending).

Only values that need no escaping are written (a token is letters, digits and a few marks), so a
value can never end a quote early or start a comment. A line this module cannot read for sure
(a quoted value that runs onto the next line) is refused, not guessed at.
"""

from __future__ import annotations

import io
import re

from dotenv import dotenv_values

# KEY=value as python-dotenv reads it: optional `export`, spaces around `=`
_ASSIGN = re.compile(r"(?P<lead>[ \t]*(?:export[ \t]+)?)(?P<key>[A-Za-z_][A-Za-z0-9_.]*)"
                     r"(?P<eq>[ \t]*=[ \t]*)(?P<rest>[^\r\n]*)(?P<eol>\r\n|\n|\r)?")
SAFE_VALUE = re.compile(r"[A-Za-z0-9._~+/=|:-]{1,4096}")


class EnvEditError(ValueError):
    """The file or the value cannot be changed safely; nothing was changed."""


def set_value(content: bytes | None, key: str, value: str) -> bytes:
    """`content` with every assignment of `key` set to `value` (appended when there is none)."""
    if not SAFE_VALUE.fullmatch(value):
        raise EnvEditError(f"{key}: the value holds characters a .env cannot take unquoted")
    try:
        text = (content or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise EnvEditError(".env is not UTF-8 text") from None
    lines = io.StringIO(text, newline="").readlines()  # \n, \r\n, \r only: not \f and the like
    found = False
    for number, line in enumerate(lines):
        match = _ASSIGN.fullmatch(line)
        if match is None or match["key"] != key:
            continue
        body, tail = _split_value(match["rest"], key, number + 1)
        quote = body[:1] if body[:1] in ("'", '"') else ""
        lines[number] = (match["lead"] + key + match["eq"] + quote + value + quote + tail
                         + (match["eol"] or ""))
        found = True
    if not found:
        newline = "\r\n" if lines and lines[0].endswith("\r\n") else "\n"
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += newline
        lines.append(f"{key}={value}{newline}")
    new = "".join(lines)
    # what python-dotenv reads is the judge: the key has the value, every other key is as it was
    # (a line this reading got wrong, say inside another value's quotes, is refused, not written)
    before, after = _values(text), _values(new)
    if after.get(key) != value or {k: v for k, v in after.items() if k != key} != {
            k: v for k, v in before.items() if k != key}:
        raise EnvEditError(f"{key}: .env has a line this edit cannot change safely; edit it by hand")
    return new.encode("utf-8")


def _values(text: str) -> dict[str, str | None]:
    return dict(dotenv_values(stream=io.StringIO(text)))


def _split_value(rest: str, key: str, line: int) -> tuple[str, str]:
    """(the value as written, what follows it: spaces and a comment)."""
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        end = 1
        while end < len(rest):
            if rest[end] == "\\" and quote == '"':
                end += 2
                continue
            if rest[end] == quote:
                return rest[:end + 1], rest[end + 1:]
            end += 1
        raise EnvEditError(f"{key} (line {line}): a quoted value that does not end on its line")
    comment = re.search(r"[ \t]+#", rest)
    if comment is not None:
        return rest[:comment.start()], rest[comment.start():]
    stripped = rest.rstrip(" \t")
    return stripped, rest[len(stripped):]


def get_value(content: bytes, key: str) -> str | None:
    """`key`'s value as python-dotenv reads it (None: not set, or not readable)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return dotenv_values(stream=io.StringIO(text)).get(key)
