"""A loopback fake of the Telegram Bot API that the real python-telegram-bot runs against unmodified.

    fake = FakeTelegram(TOKEN).start()
    app = ApplicationBuilder().token(TOKEN).base_url(fake.base_url).build()   # POST /bot<TOKEN>/<method>
    chat = TgChat(-100123, "supergroup", title="SunFlow on-call")
    msg = fake.send_message(chat, alice, "/health")       # delivered like Telegram: a bot_command entity
    fake.wait_for(lambda: fake.last_bot_message(chat.id) is not None)
    fake.press(chat, alice, fake.last_bot_message(chat.id).message_id, 0)

What it emulates (what PTB and our handlers can observe):
- Requests the way PTB sends them: form-encoded (multipart when a file is attached) with nested
  objects JSON-encoded as strings and numbers as strings; a JSON body and GET query parameters are
  accepted too. Method names are case-insensitive, as on Telegram.
- Long polling: `getUpdates` confirms by `offset` (negative offsets keep the last |offset|), honours
  `limit`, `timeout` and `allowed_updates` (the setting persists between calls, as on Telegram; an
  update of a kind not allowed is discarded), wakes at once when an update is injected, returns
  `[]` at once when the server stops, and a newer `getUpdates` terminates an older still-waiting
  one with 409 "Conflict: terminated by other getUpdates request..." (two bot instances).
- Messages as Telegram stores them: text with HTML / MarkdownV2 / Markdown parsed into entities
  (UTF-16 offsets; Telegram's own "can't parse entities" error texts), leading/trailing whitespace
  trimmed, 4096 / 1024 length limits counted in UTF-16 units after parsing, inline keyboards
  validated (BUTTON_DATA_INVALID, text-only buttons, loopback URLs), `editMessageText` without a
  `reply_markup` removes the keyboard (as Telegram does), "message is not modified", replies,
  forum topics, documents, per-scope and per-language bot commands.
- Membership: a user who writes in a chat is a member; the bot is a member of private chats and an
  administrator of groups unless `set_member()` says otherwise. A bot that is "left"/"kicked"
  gets Telegram's 403s; in groups where the bot is not an administrator, privacy mode applies
  (only commands and replies to the bot are delivered) and deleting others' messages fails as on
  Telegram.

Faults (`fake.set_fault(mode, **params)`, see base.py), in Telegram's shape, for every Bot API call
including getUpdates: "rate_limited" (retry_after=5) -> 429 "Too Many Requests: retry after N" with
`parameters.retry_after` and a Retry-After header; "5xx" (status=502) -> that status with its HTTP
phrase ("Bad Gateway"); "unauthorized" -> 401; "forbidden" (description=...) -> 403 on the sending
methods; "conflict" -> 409 on getUpdates; "hang" and "slow" as in base.py. Two optional parameters
narrow any mode: `methods="sendMessage,editMessageText"` (only those methods) and `times=N` (only
the next N matching calls; the mode then stops applying but stays set until cleared).
While a fault is on, injected updates keep queueing (Telegram keeps a bot's updates while it is
down) and are delivered once getUpdates succeeds again; `set_fault()` also ends a long poll that
is already waiting with the fault's error, so nothing slips through an outage.

Flood limits: `set_group_limit(20)` refuses a group's 21st message (sends and edits) within 60 s
with Telegram's 429 and a retry_after of when the oldest leaves the window; button answers are
not counted. Off by default.

Bot API methods (what the bot and PTB's Application/Updater use): getMe, deleteWebhook (it only
drops pending updates on request), getUpdates, setMyCommands, getMyCommands, sendMessage,
editMessageText, editMessageReplyMarkup, deleteMessage, deleteMessages, answerCallbackQuery,
sendDocument. Any other method gets 404 "Not Found", Telegram's answer for a method it does not
know.

Not emulated: inline mode, webhooks, media other than documents, service messages, the 30 calls/s
overall limit, message age limits for edits/deletes, getFile downloads.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from bot.sandbox.base import FakeServer, Reply, Request, UploadedFile

__all__ = [
    "EntityParseError",
    "FakeTelegram",
    "SentMessage",
    "TgChat",
    "TgUser",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
]

_LOG = logging.getLogger(__name__)

MAX_TEXT_UTF16 = 4096
MAX_CAPTION_UTF16 = 1024
MAX_CALLBACK_DATA_BYTES = 64
DEFAULT_ALLOWED_UPDATES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "inline_query",
    "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query",
    "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_join_request",
    "chat_boost", "removed_chat_boost",
})  # Telegram's default: every kind except chat_member, message_reaction, message_reaction_count
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
NOT_MODIFIED = ("Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message")
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
_FLOOD_COUNTED = frozenset({"sendmessage", "senddocument", "editmessagetext",
                            "editmessagereplymarkup"})
_SEND_METHODS = frozenset({
    "sendmessage", "senddocument", "editmessagetext", "editmessagereplymarkup",
    "deletemessage", "deletemessages", "answercallbackquery",
})


# ---- the people and places ---------------------------------------------------------------------
@dataclass(frozen=True)
class TgUser:
    id: int
    first_name: str
    username: str | None = None
    language_code: str | None = "ko"
    is_bot: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data


@dataclass(frozen=True)
class TgChat:
    id: int
    type: str  # "private" | "group" | "supergroup"
    title: str | None = None
    username: str | None = None
    is_forum: bool = False
    first_name: str | None = None  # private chats: the user's name (taken from the user if unset)

    @classmethod
    def private_with(cls, user: TgUser) -> TgChat:
        """The private chat between `user` and the bot (its id is the user's id, as on Telegram)."""
        return cls(user.id, "private", username=user.username, first_name=user.first_name)

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")

    @property
    def has_topics(self) -> bool:
        return self.type == "supergroup" and self.is_forum


@dataclass
class SentMessage:
    """A message in a chat as the fake stores it (the bot's and users'); edits mutate it in place."""

    chat_id: int
    message_id: int
    from_user: TgUser
    date: int
    text: str | None = None  # what the user SEES (tags stripped, entities unescaped); a caption
    html: str | None = None  # the raw text as sent when parse_mode was HTML, else same as text
    parse_mode: str | None = None
    reply_markup: dict | None = None  # as sent (JSON dict)
    message_thread_id: int | None = None
    reply_to_message_id: int | None = None
    document: UploadedFile | None = None  # the caption is in `text`
    edits: int = 0
    deleted: bool = False
    # additions
    entities: list[dict] = field(default_factory=list)  # text / caption entities, UTF-16 offsets
    raw_text: str | None = None  # the text / caption parameter exactly as sent
    edit_date: int | None = None
    update_id: int | None = None  # users' messages: the update that delivered it (None: not delivered)
    file_id: str | None = None  # documents
    history: list[tuple[str | None, dict | None]] = field(default_factory=list)  # before each edit

    @property
    def is_bot(self) -> bool:
        return self.from_user.is_bot

    def button_rows(self) -> list[list[dict]]:
        markup = self.reply_markup or {}
        rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
        return [list(row) for row in rows or []]

    def buttons(self) -> list[tuple[str, str]]:
        """[(button text, callback_data)] row by row; only callback buttons."""
        return [(b.get("text", ""), b["callback_data"]) for row in self.button_rows() for b in row
                if isinstance(b, dict) and "callback_data" in b]


class EntityParseError(ValueError):
    """Telegram's "can't parse entities" reason (without the "Bad Request: ..." prefix)."""


class _ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.code, self.description = code, description
        self.parameters, self.headers = parameters, headers or {}

    def reply(self) -> Reply:
        body: dict[str, Any] = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return Reply(self.code, body, dict(self.headers))


def _bad(description: str) -> _ApiError:
    return _ApiError(400, f"Bad Request: {description}")


# ---- text: UTF-16 units, entity parsers ---------------------------------------------------------
def _u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _LazyOffset:
    """A UTF-8 byte offset for an error message, computed only if one is formatted."""

    __slots__ = ("index", "text")

    def __init__(self, text: str, index: int) -> None:
        self.text, self.index = text, index

    def __str__(self) -> str:
        return str(_byte_offset(self.text, self.index))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class _Builder:
    """Visible text plus the UTF-16 offset where the next character lands."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0  # UTF-16 units
        self.chars = 0  # Python characters

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.chars += len(chunk)
        self.offset += len(chunk) if chunk.isascii() else _u16(chunk)

    def text(self) -> str:
        return "".join(self.parts)


def _sorted_entities(entities: list[dict]) -> list[dict]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"]))


_NAMED_HTML = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _decode_html_entity(text: str, i: int) -> tuple[str | None, int]:
    """At text[i] == '&': (decoded char, index after it) or (None, i) if it is a literal '&'."""
    n, j = len(text), i + 1
    char: str | None
    if j < n and text[j] == "#":
        j += 1
        base, digits = 10, "0123456789"
        if j < n and text[j] in "xX":
            base, digits, j = 16, "0123456789abcdefABCDEF", j + 1
        start = j
        while j < n and text[j] in digits:
            j += 1
        if j == start:
            return None, i
        code = int(text[start:j], base)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None, i
        char = chr(code)
    else:
        start = j
        while j < n and text[j].isascii() and text[j].isalpha():
            j += 1
        char = _NAMED_HTML.get(text[start:j])
        if char is None:
            return None, i
    if j < n and text[j] == ";":
        j += 1
    return char, j


def _decode_html(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "&":
            char, j = _decode_html_entity(text, i)
            if char is not None:
                out.append(char)
                i = j
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


_HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "a": "text_link", "code": "code", "pre": "pre", "tg-spoiler": "spoiler", "span": "spoiler",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}


def parse_html(text: str) -> tuple[str, list[dict]]:
    """Telegram's HTML parse mode: (visible text, entities) or EntityParseError with its message."""
    out = _Builder()
    entities: list[dict] = []
    stack: list[tuple[str, str, int]] = []  # (tag, argument, utf-16 start)
    i, n = 0, len(text)

    def err(message: str) -> EntityParseError:
        return EntityParseError(message)

    while i < n:
        c = text[i]
        if c == "&":
            char, j = _decode_html_entity(text, i)
            if char is not None:
                out.add(char)
                i = j
                continue
        if c != "<":
            out.add(c)
            i += 1
            continue
        begin = _LazyOffset(text, i)
        i += 1
        if i < n and text[i] == "/":  # an end tag
            if not stack:
                raise err(f"Unexpected end tag at byte offset {begin}")
            j = i + 1
            while j < n and not text[j].isspace() and text[j] != ">":
                j += 1
            end_name = text[i + 1:j].lower()
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != ">":
                raise err(f"Unclosed end tag at byte offset {begin}")
            tag, argument, start = stack.pop()
            if end_name and end_name != tag:
                raise err(f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", '
                          f'found "</{end_name}>"')
            i = j + 1
            _close_html_entity(entities, tag, argument, start, out)
            continue
        # a start tag
        j = i
        while j < n and not text[j].isspace() and text[j] != ">":
            j += 1
        if j >= n:
            raise err(f"Unclosed start tag at byte offset {begin}")
        tag = text[i:j].lower()
        if tag not in _HTML_TAGS:
            raise err(f'Unsupported start tag "{tag}" at byte offset {begin}')
        argument = ""
        while True:
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise err(f'Unclosed start tag "{tag}" at byte offset {begin}')
            if text[j] == ">":
                break
            name_start = j
            while j < n and not text[j].isspace() and text[j] not in "=>":
                j += 1
            name = text[name_start:j]
            if not name:
                raise err(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
            while j < n and text[j].isspace():
                j += 1
            if j >= n or text[j] != "=":
                if tag == "blockquote" and name == "expandable":
                    argument = "1"
                    continue
                if j >= n:
                    raise err(f'Unclosed start tag "{tag}" at byte offset {begin}')
                raise err(f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                          f"at byte offset {begin}")
            j += 1
            while j < n and text[j].isspace():
                j += 1
            if j >= n:
                raise err(f'Unclosed start tag "{tag}" at byte offset {begin}')
            if text[j] in "'\"":
                end = text.find(text[j], j + 1)
                if end < 0:
                    raise err(f"Unclosed start tag at byte offset {_byte_offset(text, j + 1)}")
                value = _decode_html(text[j + 1:end])
                j = end + 1
            else:
                k = j
                while k < n and ((text[k].isascii() and text[k].isalnum()) or text[k] in ".-"):
                    k += 1
                value = text[j:k].lower()
                if k < n and not text[k].isspace() and text[k] != ">":
                    raise err(f"Unexpected end of name token at byte offset {_byte_offset(text, j)}")
                j = k
            if tag == "a" and name == "href":
                argument = value
            elif tag == "code" and name == "class" and value.startswith("language-"):
                argument = value[len("language-"):]
            elif tag == "span" and name == "class" and value.startswith("tg-"):
                argument = value[len("tg-"):]
            elif tag == "tg-emoji" and name == "emoji-id":
                argument = value
            elif tag == "blockquote" and name == "expandable":
                argument = "1"
        if tag == "span" and argument != "spoiler":
            raise err(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
        stack.append((tag, argument, out.offset))
        i = j + 1
    if stack:
        raise err(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.text(), _sorted_entities(entities)


def _close_html_entity(entities: list[dict], tag: str, argument: str, start: int,
                       out: _Builder) -> None:
    length = out.offset - start
    if length <= 0:
        return
    kind = _HTML_TAGS[tag]
    entity: dict[str, Any] = {"type": kind, "offset": start, "length": length}
    if tag == "a":
        if not argument:
            return  # Telegram would auto-detect a bare URL; the fake keeps it plain
        entity["url"] = argument
    elif tag == "code" and argument:
        entity["_language"] = argument
    elif tag == "pre":
        for inner in entities:  # <pre><code class="language-x">...</code></pre>
            if inner.get("_language") and (inner["offset"], inner["length"]) == (start, length):
                entities.remove(inner)
                entity["language"] = inner["_language"]
                break
    elif tag == "tg-emoji":
        if not argument:
            return
        entity["custom_emoji_id"] = argument
    elif tag == "blockquote" and argument:
        entity["type"] = "expandable_blockquote"
    entities.append(entity)
    if entity.get("_language") is None:
        entity.pop("_language", None)


def _finish_code_languages(entities: list[dict]) -> list[dict]:
    for entity in entities:
        entity.pop("_language", None)  # a lone <code class="language-x"> is plain code
    return entities


_MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {"bold": "Bold", "italic": "Italic", "underline": "Underline",
               "strikethrough": "Strikethrough", "spoiler": "Spoiler", "code": "Code", "pre": "Pre",
               "pre_code": "PreCode", "text_link": "TextUrl", "custom_emoji": "CustomEmoji"}


def parse_markdown_v2(text: str) -> tuple[str, list[dict]]:
    """Telegram's MarkdownV2 parse mode (blockquotes: '>' at a line start, one entity per run)."""
    out, entities = _Builder(), []
    stack: list[dict] = []  # {"type", "offset", "byte", "text_at", "argument"}
    i, n = 0, len(text)
    quote_start: int | None = None

    def reserved(char: str) -> EntityParseError:
        return EntityParseError(f"Character '{char}' is reserved and must be escaped with the "
                                "preceding '\\'")

    def at(k: int) -> str:
        return text[k] if k < n else ""

    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        in_code = bool(stack) and stack[-1]["type"] in ("code", "pre", "pre_code")
        line_start = i == 0 or text[i - 1] == "\n"
        if c == ">" and line_start and not in_code and not stack:
            if quote_start is None:
                quote_start = out.offset
            i += 1
            continue
        if c == "\n" and quote_start is not None and at(i + 1) != ">":
            out.add(c)
            if out.offset - 1 > quote_start:
                entities.append({"type": "blockquote", "offset": quote_start,
                                 "length": out.offset - 1 - quote_start})
            quote_start = None
            i += 1
            continue
        reserved_here = {"`"} if in_code else _MDV2_RESERVED
        if c not in reserved_here:
            out.add(c)
            i += 1
            continue
        top = stack[-1]["type"] if stack else None
        is_end = {
            "bold": c == "*", "italic": c == "_" and at(i + 1) != "_", "code": c == "`",
            "pre": c == "`" and at(i + 1) == "`" and at(i + 2) == "`",
            "pre_code": c == "`" and at(i + 1) == "`" and at(i + 2) == "`",
            "text_link": c == "]", "underline": c == "_" and at(i + 1) == "_",
            "strikethrough": c == "~", "spoiler": c == "|" and at(i + 1) == "|",
            "custom_emoji": c == "]",
        }.get(top or "", False)
        if not is_end:
            begin_byte = _LazyOffset(text, i)
            argument = ""
            if c == "_":
                kind = "underline" if at(i + 1) == "_" else "italic"
                i += 2 if kind == "underline" else 1
            elif c == "*":
                kind, i = "bold", i + 1
            elif c == "~":
                kind, i = "strikethrough", i + 1
            elif c == "|":
                if at(i + 1) != "|":
                    raise reserved(c)
                kind, i = "spoiler", i + 2
            elif c == "[":
                kind, i = "text_link", i + 1
            elif c == "!":
                if at(i + 1) != "[":
                    raise reserved(c)
                kind, i = "custom_emoji", i + 2
            elif c == "`":
                if at(i + 1) == "`" and at(i + 2) == "`":
                    i += 3
                    kind = "pre"
                    end = i
                    while end < n and not text[end].isspace() and text[end] != "`":
                        end += 1
                    if end != i and end < n and text[end] != "`":
                        kind, argument, i = "pre_code", text[i:end], end
                    if at(i) in ("\n", "\r"):
                        i += 2 if at(i + 1) in ("\n", "\r") and at(i + 1) != at(i) else 1
                else:
                    kind, i = "code", i + 1
            else:
                raise reserved(c)
            stack.append({"type": kind, "offset": out.offset, "byte": begin_byte,
                          "text_at": out.chars, "argument": argument})
            continue
        # the end of the innermost entity
        opened = stack.pop()
        kind, length = opened["type"], out.offset - opened["offset"]
        entity: dict[str, Any] = {"type": kind, "offset": opened["offset"], "length": length}
        if kind in ("underline", "spoiler"):
            i += 2
        elif kind in ("pre", "pre_code"):
            i += 3
            entity["type"] = "pre"
            if kind == "pre_code":
                entity["language"] = opened["argument"]
        elif kind in ("text_link", "custom_emoji"):
            i += 1
            if at(i) != "(":
                if kind == "custom_emoji":
                    raise EntityParseError("Custom emoji entity must contain a tg://emoji URL")
                url = out.text()[opened["text_at"]:]
            else:
                i += 1
                url_begin, url_chars = _byte_offset(text, i), []
                while i < n and text[i] != ")":
                    if text[i] == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                        url_chars.append(text[i + 1])
                        i += 2
                        continue
                    url_chars.append(text[i])
                    i += 1
                if i >= n:
                    raise EntityParseError(f"Can't find end of a URL at byte offset {url_begin}")
                i += 1
                url = "".join(url_chars)
            if kind == "custom_emoji":
                match = re.fullmatch(r"tg://emoji\?id=(\d+)", url)
                if not match:
                    raise EntityParseError("Custom emoji URL must have an emoji identifier")
                entity["custom_emoji_id"] = match.group(1)
            else:
                entity["url"] = url
        else:
            i += 1
        if length > 0 and (kind != "text_link" or entity.get("url")):
            entities.append(entity)
    if stack:
        opened = stack[-1]
        raise EntityParseError(f"Can't find end of {_MDV2_NAMES[opened['type']]} entity at byte "
                               f"offset {opened['byte']}")
    if quote_start is not None and out.offset > quote_start:
        entities.append({"type": "blockquote", "offset": quote_start,
                         "length": out.offset - quote_start})
    return out.text(), _sorted_entities(entities)


def parse_markdown(text: str) -> tuple[str, list[dict]]:
    """Telegram's legacy Markdown parse mode: *bold* _italic_ `code` ```pre``` [text](url)."""
    out, entities = _Builder(), []
    i, n = 0, len(text)

    def at(k: int) -> str:
        return text[k] if k < n else ""

    while i < n:
        c = text[i]
        if c == "\\" and at(i + 1) in ("_", "*", "`", "["):
            out.add(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.add(c)
            i += 1
            continue
        begin_byte = _LazyOffset(text, i)
        end_char = "]" if c == "[" else c
        is_pre, language = False, ""
        i += 1
        if c == "`" and at(i) == "`" and at(i + 1) == "`":
            i += 2
            is_pre = True
            end = i
            while end < n and not text[end].isspace() and text[end] != "`":
                end += 1
            if end != i and end < n and text[end] != "`":
                language, i = text[i:end], end
            if at(i) in ("\n", "\r"):
                i += 2 if at(i + 1) in ("\n", "\r") and at(i + 1) != at(i) else 1
        start, text_at = out.offset, out.chars
        while i < n and (text[i] != end_char or (is_pre and not (at(i + 1) == "`" and at(i + 2) == "`"))):
            out.add(text[i])
            i += 1
        if i >= n:
            raise EntityParseError(f"Can't find end of the entity starting at byte offset {begin_byte}")
        length = out.offset - start
        entity: dict[str, Any] = {"offset": start, "length": length}
        if c == "_":
            entity["type"] = "italic"
        elif c == "*":
            entity["type"] = "bold"
        elif c == "`":
            entity["type"] = "pre" if is_pre else "code"
            if language:
                entity["language"] = language
            if is_pre:
                i += 2
        else:
            entity["type"] = "text_link"
            if at(i + 1) == "(":
                close = text.find(")", i + 2)
                if close >= 0:
                    entity["url"] = text[i + 2:close]
                    i = close
            entity.setdefault("url", out.text()[text_at:])
        i += 1
        if length > 0:
            entities.append(entity)
    return out.text(), _sorted_entities(entities)


def _trim(text: str, entities: list[dict]) -> tuple[str, list[dict]]:
    """Telegram drops leading and trailing whitespace from a message (entities move with it)."""
    whitespace = " \t\r\n"
    lead = len(text) - len(text.lstrip(whitespace))
    trimmed = text.strip(whitespace)
    total = _u16(trimmed)
    kept = []
    for entity in entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] - lead + entity["length"], total)
        if end > start:
            kept.append({**entity, "offset": start, "length": end - start})
    return trimmed, kept


# ---- parameter coercion -------------------------------------------------------------------------
def _as_int(value: Any, name: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {name} specified") from None


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes")


def _as_json(value: Any, what: str) -> Any:
    if value is None or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _bad(f"can't parse {what} JSON object") from None


def _is_loopback_host(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1") or host.endswith(".localhost")


class FakeTelegram(FakeServer):
    """The Telegram Bot API on 127.0.0.1 (see the module docstring for what is emulated)."""

    name = "telegram"

    def __init__(self, token: str, *, bot_id: int | None = None,
                 bot_username: str = "sunflow_ops_bot", bot_first_name: str = "SunFlow Ops",
                 privacy_mode: bool = True) -> None:
        super().__init__()
        self.token = token
        if bot_id is None:
            prefix = token.split(":", 1)[0]
            bot_id = int(prefix) if prefix.isdigit() else 1_000_001
        self.bot_user = TgUser(bot_id, bot_first_name, bot_username, language_code=None, is_bot=True)
        self.privacy_mode = privacy_mode  # applies in groups where the bot is not an administrator
        self.callback_query_ttl_s: float | None = None  # None: an unanswered query never expires
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._listeners: list[tuple[Callable[[str, Any], None], bool]] = []
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._next_update_id = 1  # never reset: a running poller's offset must stay valid
        self._poll_generation = 0
        self.polls_waiting = 0  # getUpdates calls now blocked in a long poll
        self._fault_budget: tuple[object, int] | None = None
        # Telegram's flood limit for groups: None (off, the default) or messages per minute
        self.group_limit: int | None = None
        self.group_sends: dict[int, list[float]] = {}  # monotonic times of counted group calls
        self.flood_refusals = 0
        self._clear_state()

    def set_group_limit(self, per_minute: int | None) -> None:
        """Refuse a group's messages beyond `per_minute` in any 60 s with Telegram's 429 (the
        retry_after being when the oldest leaves the window); None turns it off. Counted:
        sendMessage, sendDocument and the edit methods, per chat; button answers are not."""
        with self._cond:
            self.group_limit = per_minute
            self.group_sends.clear()
            self.flood_refusals = 0

    def _flood_check(self, method: str, params: dict[str, Any]) -> _ApiError | None:
        """Under the lock: a 429 when this call would exceed the group's limit, else None
        (the call is counted)."""
        if self.group_limit is None or method.lower() not in _FLOOD_COUNTED:
            return None
        raw = params.get("chat_id")
        if raw is None:
            return None
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            return None
        if chat_id >= 0:
            return None
        now = time.monotonic()
        sends = [t for t in self.group_sends.get(chat_id, []) if t > now - 60.0]
        if len(sends) >= self.group_limit:
            self.group_sends[chat_id] = sends
            self.flood_refusals += 1
            retry = max(1, int(sends[0] + 60.0 - now + 0.999))
            return _ApiError(429, f"Too Many Requests: retry after {retry}",
                             {"retry_after": retry}, {"Retry-After": str(retry)})
        self.group_sends[chat_id] = sends + [now]
        return None

    def _clear_state(self) -> None:
        # public containers are cleared in place, so references a test holds stay live
        for name in ("chats", "users", "callback_answers", "commands"):
            getattr(self, name, {}).clear()
        self.chats: dict[int, TgChat] = getattr(self, "chats", {})
        self.users: dict[int, TgUser] = getattr(self, "users", {})
        self.callback_answers: dict[str, dict] = getattr(self, "callback_answers", {})
        self.commands: dict[tuple[str, str | None], list[dict]] = getattr(self, "commands", {})
        self._members: dict[tuple[int, int], str] = {}
        self._messages: dict[int, list[SentMessage]] = {}
        self._by_id: dict[tuple[int, int], SentMessage] = {}
        self._next_message_id: dict[int, int] = {}
        self._updates: list[tuple[int, str, dict]] = []
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._queries: dict[str, dict[str, Any]] = {}
        self._next_query = 1
        self._files: dict[str, UploadedFile] = {}

    # ---- lifecycle ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    def start(self) -> FakeTelegram:
        super().start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()  # long polls return [] at once
        super().stop()

    def reset(self) -> None:
        """Forget chats, messages, updates, answers, commands and the call log (keeps token, faults,
        listeners and the update-id counter)."""
        with self._cond:
            self._clear_state()
            with self._calls_lock:
                self.calls.clear()
            self._cond.notify_all()

    # ---- the world: chats and members --------------------------------------------------------
    def add_chat(self, chat: TgChat, *members: TgUser) -> TgChat:
        """Make a chat known (as if the bot had been added to it), with optional members."""
        with self._cond:
            self.chats[chat.id] = chat
            for user in members:
                self.users[user.id] = user
                self._members.setdefault((chat.id, user.id), "member")
            self._cond.notify_all()
        return chat

    def set_member(self, chat: TgChat, user: TgUser, status: str) -> None:
        """A member's status: creator|administrator|member|restricted|left|kicked. For the bot in a
        private chat, "kicked" means the user blocked the bot."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"unknown member status {status!r}")
        with self._cond:
            self.chats.setdefault(chat.id, chat)
            if not user.is_bot or user.id != self.bot_user.id:
                self.users[user.id] = user
            self._members[(chat.id, user.id)] = status

    def member_status(self, chat_id: int, user_id: int) -> str:
        with self._lock:
            chat = self.chats.get(chat_id)
            status = self._members.get((chat_id, user_id))
            if status:
                return status
            if user_id == self.bot_user.id:
                return "administrator" if chat is not None and chat.is_group else "member"
            if chat is not None and chat.type == "private":
                return "member" if user_id == chat_id else "left"
            return "left"

    # ---- delivering updates the way Telegram does -------------------------------------------
    def send_message(self, chat: TgChat, user: TgUser, text: str, *, reply_to: int | None = None,
                     thread_id: int | None = None) -> SentMessage:
        """A user writes `text` in `chat`; returns the stored message (`update_id` set if delivered)."""
        entities = []
        match = re.match(r"/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]{3,64})?", text)
        if match:
            entities.append({"type": "bot_command", "offset": 0, "length": _u16(match.group(0))})
        with self._cond:
            self.chats[chat.id] = chat
            self.users[user.id] = user
            self._members.setdefault((chat.id, user.id), "member")
            if reply_to is not None and (chat.id, reply_to) not in self._by_id:
                raise KeyError(f"no message {reply_to} in chat {chat.id} to reply to")
            msg = self._store(chat, user, text=text, entities=entities,
                              thread_id=thread_id if chat.has_topics else None, reply_to=reply_to)
            if self._delivered(chat, msg, match.group(1) if match else None):
                msg.update_id = self._enqueue("message", self._message_dict(msg))
            self._cond.notify_all()
            events = [("incoming", msg)]
        self._emit(events)
        return msg

    def _delivered(self, chat: TgChat, msg: SentMessage, addressed_to: str | None) -> bool:
        bot_status = self.member_status(chat.id, self.bot_user.id)
        if chat.type == "private":
            return True
        if bot_status in ("left", "kicked"):
            return False
        if not self.privacy_mode or bot_status in ("administrator", "creator"):
            return True
        if msg.entities and msg.entities[0]["type"] == "bot_command":  # privacy mode
            return addressed_to is None or addressed_to[1:].lower() == (self.bot_user.username or "").lower()
        replied = self._by_id.get((chat.id, msg.reply_to_message_id or 0))
        return replied is not None and replied.from_user.id == self.bot_user.id

    def press_button(self, chat: TgChat, user: TgUser, message_id: int, data: str) -> str:
        """A user presses a callback button carrying `data` (not checked against the keyboard)."""
        with self._cond:
            msg = self._by_id.get((chat.id, message_id))
            if msg is None or msg.deleted:
                raise KeyError(f"no message {message_id} in chat {chat.id} to press a button on")
            self.chats.setdefault(chat.id, chat)
            self.users[user.id] = user
            self._members.setdefault((chat.id, user.id), "member")
            query_id = str(4_000_000_000_000_000 + self._next_query)
            self._next_query += 1
            payload = {
                "id": query_id, "from": user.to_dict(), "message": self._message_dict(msg),
                "chat_instance": str(abs(chat.id) * 7 + 1_000_000_000_000), "data": data,
            }
            self._queries[query_id] = {"answered": False, "at": time.monotonic(),
                                       "chat_id": chat.id, "message_id": message_id}
            self._enqueue("callback_query", payload)
            self._cond.notify_all()
            events = [("pressed", {"id": query_id, "chat_id": chat.id, "message_id": message_id,
                                   "user": user, "data": data})]
        self._emit(events)
        return query_id

    def press(self, chat: TgChat, user: TgUser, message_id: int, button_index: int) -> str:
        """Press the n-th callback button (0-based, in buttons() order); IndexError if none."""
        buttons = self.message(chat.id, message_id).buttons()
        if not 0 <= button_index < len(buttons):
            raise IndexError(f"message {message_id} has {len(buttons)} callback buttons, "
                             f"not {button_index + 1}")
        return self.press_button(chat, user, message_id, buttons[button_index][1])

    def inject_update(self, kind: str, payload: dict) -> int:
        """Queue any other update (e.g. "my_chat_member"); returns its update_id."""
        with self._cond:
            update_id = self._enqueue(kind, payload)
            self._cond.notify_all()
        return update_id

    def pending_updates(self) -> list[dict]:
        with self._lock:
            return [{"update_id": uid, kind: payload} for uid, kind, payload in self._updates]

    @property
    def last_update_id(self) -> int:
        return self._next_update_id - 1

    def _enqueue(self, kind: str, payload: dict) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        if kind in self._allowed_updates:  # Telegram creates no updates of kinds the bot declined
            self._updates.append((update_id, kind, payload))
        self._wake_async()
        return update_id

    # ---- inspecting what the bot did ---------------------------------------------------------
    def messages(self, chat_id: int, *, include_deleted: bool = False) -> list[SentMessage]:
        with self._lock:
            return [m for m in self._messages.get(chat_id, []) if include_deleted or not m.deleted]

    def bot_messages(self, chat_id: int, *, include_deleted: bool = False) -> list[SentMessage]:
        return [m for m in self.messages(chat_id, include_deleted=include_deleted)
                if m.from_user.id == self.bot_user.id]

    def message(self, chat_id: int, message_id: int) -> SentMessage:
        with self._lock:
            try:
                return self._by_id[(chat_id, message_id)]
            except KeyError:
                raise KeyError(f"no message {message_id} in chat {chat_id}") from None

    def last_bot_message(self, chat_id: int) -> SentMessage | None:
        sent = self.bot_messages(chat_id)
        return sent[-1] if sent else None

    @staticmethod
    def scope_key(scope: Any) -> str:
        """The `commands` key for a BotCommandScope (object or dict): its type for the plain scopes
        ("default", "all_private_chats", ...), canonical JSON for chat-bound ones."""
        if scope is None:
            return "default"
        if hasattr(scope, "to_dict"):
            scope = scope.to_dict()
        if isinstance(scope, str):
            scope = json.loads(scope)
        scope = {k: (int(v) if k in ("chat_id", "user_id") and str(v).lstrip("-").isdigit() else v)
                 for k, v in scope.items()}
        if set(scope) == {"type"}:
            return str(scope["type"])
        return json.dumps(scope, sort_keys=True)

    def commands_for(self, scope: Any = None, language_code: str | None = None) -> list[dict]:
        with self._lock:
            return list(self.commands.get((self.scope_key(scope), language_code or None), []))

    # ---- waiting -----------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> bool:
        """Block until predicate() is true (re-checked on every Bot API call and injection)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if predicate():
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return bool(predicate())
                self._cond.wait(min(remaining, 0.05))  # also catches state outside the fake

    async def await_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> bool:
        """wait_for for async tests: never blocks the event loop the bot runs on."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        entry = (loop, asyncio.Event())
        with self._lock:
            self._async_waiters.add(entry)
        try:
            while True:
                entry[1].clear()
                if predicate():
                    return True
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return bool(predicate())
                try:
                    await asyncio.wait_for(entry[1].wait(), min(remaining, 0.05))
                except TimeoutError:
                    pass
        finally:
            with self._lock:
                self._async_waiters.discard(entry)

    def _wake_async(self) -> None:
        for loop, event in list(self._async_waiters):
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that loop is closed
                self._async_waiters.discard((loop, event))

    # ---- listeners ---------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[str, SentMessage | dict], None], *,
                  all_events: bool = False) -> None:
        """Call `listener(kind, obj)` from the server thread after each outbound effect: "sent",
        "edited", "deleted", "document" (a SentMessage) and "answered" ({"id","text","show_alert"}).
        With all_events also, called from the thread that injected them, "incoming" (a user's
        SentMessage) and "pressed" ({"id","chat_id","message_id","user","data"}). Listeners run
        outside the fake's lock, before the bot gets its HTTP answer; an exception in one is logged
        and ignored."""
        with self._lock:
            self._listeners.append((listener, all_events))

    def unsubscribe(self, listener: Callable[[str, Any], None]) -> None:
        with self._lock:
            self._listeners = [(f, a) for f, a in self._listeners if f is not listener]

    def _emit(self, events: list[tuple[str, Any]]) -> None:
        if not events:
            return
        with self._lock:
            listeners = list(self._listeners)
        for kind, obj in events:
            extra = kind not in ("sent", "edited", "deleted", "answered", "document")
            for listener, all_events in listeners:
                if extra and not all_events:
                    continue
                try:
                    listener(kind, obj)
                except Exception:  # a broken renderer must not break the Bot API
                    _LOG.exception("telegram sandbox listener failed on %s", kind)

    # ---- faults ------------------------------------------------------------------------------
    def _method_of(self, request: Request) -> str | None:
        parts = request.path.split("/")
        if len(parts) == 3 and parts[0] == "" and parts[1].startswith("bot"):
            return parts[2]
        return None

    def _fault_applies(self, method: str | None) -> bool:
        """Whether the current fault mode hits this call (consumes one of `times`)."""
        params = self.faults.params
        methods = params.get("methods")
        if methods:
            names = methods.split(",") if isinstance(methods, str) else list(methods)
            if (method or "").lower() not in {m.strip().lower() for m in names}:
                return False
        if "times" in params:
            with self._lock:
                used = self._fault_budget[1] if self._fault_budget and self._fault_budget[0] is params else 0
                if used >= int(params["times"]):
                    return False
                self._fault_budget = (params, used + 1)
        return True

    def apply_common_faults(self, request: Request) -> Reply | None:
        if self.faults.mode == "hang" and not self._fault_applies(self._method_of(request)):
            if self.faults.delay_ms:
                self._stopping.wait(self.faults.delay_ms / 1000)
            return None
        return super().apply_common_faults(request)

    def set_fault(self, name: str, **params: Any) -> None:
        super().set_fault(name, **params)
        with self._cond:
            self._cond.notify_all()  # a long poll already waiting fails at once, as on a real outage

    def _fault_error(self, method: str) -> _ApiError | None:
        """The error the current fault mode gives this call, in Telegram's shape (or None)."""
        mode, params = self.faults.mode, self.faults.params
        lowered = method.lower()
        if mode not in ("rate_limited", "5xx", "unauthorized", "forbidden", "conflict"):
            return None  # no fault, hang/slow (base.py), or a mode this fake does not know
        if mode == "forbidden" and lowered not in _SEND_METHODS:
            return None
        if mode == "conflict" and lowered != "getupdates":
            return None
        if not self._fault_applies(method):
            return None
        if mode == "rate_limited":
            retry = int(params.get("retry_after", params.get("secs", 5)))
            return _ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry},
                             {"Retry-After": str(retry)})
        if mode == "5xx":
            status = int(params.get("status", 502))
            try:
                phrase = HTTPStatus(status).phrase
            except ValueError:
                phrase = "Server Error"
            return _ApiError(status, phrase)
        if mode == "unauthorized":
            return _ApiError(401, "Unauthorized")
        if mode == "forbidden":
            return _ApiError(403, str(params.get("description",
                                                 "Forbidden: bot was blocked by the user")))
        return _ApiError(409, "Conflict: terminated by other getUpdates request; make sure "
                              "that only one bot instance is running")

    # ---- the Bot API -------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        method = self._method_of(request)
        if method is None:
            return _ApiError(404, "Not Found").reply()
        fault = self._fault_error(method)
        if fault is not None:
            return fault.reply()
        if unquote(request.path.split("/")[1]) != f"bot{self.token}":
            return _ApiError(401, "Unauthorized").reply()
        handler = self._methods().get(method.lower())
        if handler is None:
            return _ApiError(404, "Not Found").reply()
        params: dict[str, Any] = dict(request.query)
        params.update(request.form)
        if isinstance(request.json, dict):
            params.update({k: v for k, v in request.json.items() if v is not None})
        prepared = None
        if method.lower() == "senddocument":
            try:  # outside the lock: it may fetch a loopback URL
                prepared = self._resolve_document(params, request)
            except _ApiError as exc:
                return exc.reply()
        events: list[tuple[str, Any]] = []
        with self._cond:
            try:
                flooded = self._flood_check(method, params)
                if flooded is not None:
                    raise flooded
                result = handler(params, events, prepared) if prepared else handler(params, events)
                reply = Reply(200, {"ok": True, "result": result})
            except _ApiError as exc:
                reply = exc.reply()
            self._cond.notify_all()
            self._wake_async()
        self._emit(events)
        return reply

    def _methods(self) -> dict[str, Callable[..., Any]]:
        return {
            "getme": self._get_me, "deletewebhook": self._delete_webhook,
            "getupdates": self._get_updates,
            "setmycommands": self._set_my_commands, "getmycommands": self._get_my_commands,
            "sendmessage": self._send_message, "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message, "deletemessages": self._delete_messages,
            "answercallbackquery": self._answer_callback_query,
            "senddocument": self._send_document,
        }

    # -- identity, webhook, updates
    def _get_me(self, p: dict, events: list) -> dict:
        return {**self.bot_user.to_dict(), "can_join_groups": True,
                "can_read_all_group_messages": not self.privacy_mode,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    def _delete_webhook(self, p: dict, events: list) -> bool:
        if _as_bool(p.get("drop_pending_updates", False)):
            self._updates.clear()
        return True

    def _get_updates(self, p: dict, events: list) -> list[dict]:
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()  # an older poll still waiting is terminated
        offset = _as_int(p.get("offset", 0), "offset")
        limit = min(max(_as_int(p.get("limit", 100), "limit"), 1), 100)
        try:
            timeout = max(float(p.get("timeout", 0) or 0), 0.0)
        except ValueError:
            raise _bad("invalid timeout specified") from None
        if "allowed_updates" in p:
            allowed = _as_json(p["allowed_updates"], "allowed_updates")
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        if offset > 0:
            self._updates = [u for u in self._updates if u[0] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        deadline = time.monotonic() + timeout
        waiting = False
        try:
            while True:
                if self._stopping.is_set():
                    return []
                if generation != self._poll_generation:
                    raise _ApiError(409, "Conflict: terminated by other getUpdates request; make "
                                         "sure that only one bot instance is running")
                fault = self._fault_error("getUpdates") if waiting else None
                if fault is not None:  # switched on while this poll waited
                    raise fault
                self._updates = [u for u in self._updates if u[1] in self._allowed_updates]
                if self._updates:
                    return [{"update_id": uid, kind: payload}
                            for uid, kind, payload in self._updates[:limit]]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                if not waiting:
                    waiting = True
                    self.polls_waiting += 1
                    self._wake_async()
                self._cond.wait(remaining)
        finally:
            if waiting:
                self.polls_waiting -= 1

    # -- commands
    def _command_key(self, p: dict) -> tuple[str, str | None]:
        scope = _as_json(p.get("scope"), "scope") or {"type": "default"}
        if not isinstance(scope, dict) or "type" not in scope:
            raise _bad("can't parse BotCommandScope JSON object")
        kinds = {"default", "all_private_chats", "all_group_chats", "all_chat_administrators",
                 "chat", "chat_administrators", "chat_member"}
        if scope["type"] not in kinds:
            raise _bad("wrong bot command scope type specified")
        if scope["type"].startswith("chat"):
            self._chat(scope.get("chat_id"))
        language = p.get("language_code") or None
        if language is not None and not re.fullmatch(r"[a-z]{2}", str(language)):
            raise _bad("invalid language code specified")
        return self.scope_key(scope), language

    def _set_my_commands(self, p: dict, events: list) -> bool:
        commands = _as_json(p.get("commands"), "commands")
        if not isinstance(commands, list):
            raise _bad("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("too many commands specified")
        key = self._command_key(p)
        cleaned = []
        for item in commands:
            if not isinstance(item, dict):
                raise _bad("can't parse BotCommand JSON object")
            command, description = str(item.get("command", "")), str(item.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(description.strip()) <= 256:
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": command, "description": description})
        if cleaned:
            self.commands[key] = cleaned
        else:
            self.commands.pop(key, None)
        return True

    def _get_my_commands(self, p: dict, events: list) -> list[dict]:
        return list(self.commands.get(self._command_key(p), []))

    # -- messages
    def _chat(self, raw: Any) -> TgChat:
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        if isinstance(raw, str) and raw.startswith("@"):
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == raw[1:].lower():
                    return chat
            raise _bad("chat not found")
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise _bad("chat not found") from None
        known = self.chats.get(chat_id)
        if known is None:
            raise _bad("chat not found")
        return known

    def _writable_chat(self, raw: Any) -> TgChat:
        chat = self._chat(raw)
        status = self.member_status(chat.id, self.bot_user.id)
        if chat.type == "private" and status == "kicked":
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        if chat.is_group and status == "kicked":
            kind = "supergroup" if chat.type == "supergroup" else "group"
            raise _ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        if chat.is_group and status == "left":
            raise _ApiError(403, f"Forbidden: bot is not a member of the "
                                 f"{'supergroup' if chat.type == 'supergroup' else 'group'} chat")
        return chat

    def _bot_is_admin(self, chat: TgChat) -> bool:
        return self.member_status(chat.id, self.bot_user.id) in ("administrator", "creator")

    def _formatted(self, p: dict, key: str, entities_key: str, limit: int, *,
                   empty: str, too_long: str) -> tuple[str, list[dict], str | None, str | None]:
        raw = p.get(key)
        raw = "" if raw is None else str(raw)
        mode = p.get("parse_mode") or None
        if mode is not None:
            mode_key = str(mode).lower()
            parser = {"html": parse_html, "markdownv2": parse_markdown_v2,
                      "markdown": parse_markdown}.get(mode_key)
            if parser is None:
                raise _bad("unsupported parse_mode")
            try:
                text, entities = parser(raw)
            except EntityParseError as exc:
                raise _bad(f"can't parse entities: {exc}") from None
            entities = _finish_code_languages(entities)
        else:
            text = raw
            entities = _as_json(p.get(entities_key), entities_key) or []
            if not isinstance(entities, list):
                raise _bad(f"can't parse {entities_key} JSON object")
        text, entities = _trim(text, entities)
        if not text and empty:
            raise _bad(empty)
        if _u16(text) > limit:
            raise _bad(too_long)
        return text, entities, raw, mode

    def _markup(self, p: dict) -> dict | None:
        markup = _as_json(p.get("reply_markup"), "reply keyboard markup")
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in markup:
            rows = markup["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup must be an Array '
                           "of Arrays")
            actions = ("callback_data", "url", "login_url", "switch_inline_query",
                       "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                       "callback_game", "pay", "web_app", "copy_text")
            for row in rows:
                for button in row:
                    if not isinstance(button, dict) or "text" not in button:
                        raise _bad("can't parse inline keyboard button: Can't find field \"text\"")
                    if not any(a in button for a in actions):
                        raise _bad("can't parse inline keyboard button: Text buttons are "
                                   "unallowed in the inline keyboard")
                    if "callback_data" in button:
                        data = str(button["callback_data"]).encode("utf-8")
                        if not 1 <= len(data) <= MAX_CALLBACK_DATA_BYTES:
                            raise _bad("BUTTON_DATA_INVALID")
                    if "url" in button:
                        self._check_button_url(str(button["url"]))
        return markup

    @staticmethod
    def _check_button_url(url: str) -> None:
        if not url:
            raise _bad("BUTTON_URL_INVALID")
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme in ("http", "https") and (
                not parts.hostname or _is_loopback_host(parts.hostname) or "." not in parts.hostname):
            raise _bad(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")

    def _reply_target(self, p: dict, chat: TgChat) -> int | None:
        reply = _as_json(p.get("reply_parameters"), "reply parameters")
        if reply is None and p.get("reply_to_message_id") is not None:
            reply = {"message_id": p["reply_to_message_id"],
                     "allow_sending_without_reply": p.get("allow_sending_without_reply", False)}
        if not reply:
            return None
        if not isinstance(reply, dict) or "message_id" not in reply:
            raise _bad("can't parse reply parameters JSON object")
        target_chat = chat
        if reply.get("chat_id") not in (None, chat.id, str(chat.id)):
            target_chat = self._chat(reply["chat_id"])
        message_id = _as_int(reply["message_id"], "message_id")
        target = self._by_id.get((target_chat.id, message_id))
        if target is None or target.deleted:
            if _as_bool(reply.get("allow_sending_without_reply", False)):
                return None
            raise _bad("message to be replied not found")
        return message_id

    @staticmethod
    def _thread_id(p: dict) -> int | None:
        raw = p.get("message_thread_id")
        return _as_int(raw, "message_thread_id") if raw not in (None, "") else None

    def _store(self, chat: TgChat, user: TgUser, *, text: str | None, entities: list[dict],
               raw: str | None = None, parse_mode: str | None = None, markup: dict | None = None,
               thread_id: int | None = None, reply_to: int | None = None,
               document: UploadedFile | None = None, file_id: str | None = None) -> SentMessage:
        message_id = self._next_message_id.get(chat.id, 1)
        self._next_message_id[chat.id] = message_id + 1
        html = raw if parse_mode and str(parse_mode).lower() == "html" else text
        msg = SentMessage(chat_id=chat.id, message_id=message_id, from_user=user,
                          date=int(time.time()), text=text, html=html, parse_mode=parse_mode,
                          reply_markup=markup, message_thread_id=thread_id,
                          reply_to_message_id=reply_to, document=document, entities=entities,
                          raw_text=raw if raw is not None else text, file_id=file_id)
        self._messages.setdefault(chat.id, []).append(msg)
        self._by_id[(chat.id, message_id)] = msg
        return msg

    def _send_message(self, p: dict, events: list) -> dict:
        chat = self._writable_chat(p.get("chat_id"))
        text, entities, raw, mode = self._formatted(
            p, "text", "entities", MAX_TEXT_UTF16, empty="message text is empty",
            too_long="message is too long")
        markup = self._markup(p)
        reply_to = self._reply_target(p, chat)
        thread_id = self._thread_id(p)
        msg = self._store(chat, self.bot_user, text=text, entities=entities, raw=raw,
                          parse_mode=mode, markup=markup, thread_id=thread_id, reply_to=reply_to)
        events.append(("sent", msg))
        return self._message_dict(msg)

    def _target(self, p: dict, not_found: str) -> SentMessage:
        if p.get("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")  # inline mode is not emulated
        chat = self._chat(p.get("chat_id"))
        if p.get("message_id") in (None, ""):
            raise _bad("message identifier is not specified")
        msg = self._by_id.get((chat.id, _as_int(p["message_id"], "message_id")))
        if msg is None or msg.deleted:
            raise _bad(not_found)
        return msg

    def _editable(self, p: dict) -> SentMessage:
        msg = self._target(p, "message to edit not found")
        self._writable_chat(msg.chat_id)
        if msg.from_user.id != self.bot_user.id:
            raise _bad("message can't be edited")
        return msg

    @staticmethod
    def _inline(markup: dict | None) -> dict | None:
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            return markup
        return None

    def _apply_edit(self, msg: SentMessage, text: str | None, entities: list[dict],
                    markup: dict | None, raw: str | None, mode: str | None,
                    events: list) -> dict:
        if (text, entities, self._inline(markup)) == (msg.text, msg.entities, self._inline(msg.reply_markup)):
            raise _ApiError(400, NOT_MODIFIED)
        msg.history.append((msg.text, msg.reply_markup))
        msg.text, msg.entities, msg.reply_markup = text, entities, markup
        msg.raw_text, msg.parse_mode = raw, mode
        msg.html = raw if mode and str(mode).lower() == "html" else text
        msg.edits += 1
        msg.edit_date = int(time.time())
        events.append(("edited", msg))
        return self._message_dict(msg)

    def _kept_markup(self, p: dict, msg: SentMessage) -> dict | None:
        markup = self._markup(p)
        if markup is None and msg.reply_markup is not None and self._inline(msg.reply_markup) is None:
            return msg.reply_markup  # a reply keyboard / force_reply is not touched by edits
        return markup  # no reply_markup: Telegram removes the inline keyboard

    def _edit_message_text(self, p: dict, events: list) -> dict:
        msg = self._editable(p)
        if msg.document is not None:
            raise _bad("there is no text in the message to edit")
        text, entities, raw, mode = self._formatted(
            p, "text", "entities", MAX_TEXT_UTF16, empty="message text is empty",
            too_long="message is too long")
        return self._apply_edit(msg, text, entities, self._kept_markup(p, msg), raw, mode, events)

    def _edit_message_reply_markup(self, p: dict, events: list) -> dict:
        msg = self._editable(p)
        return self._apply_edit(msg, msg.text, msg.entities, self._markup(p), msg.raw_text,
                                msg.parse_mode, events)

    def _delete_one(self, chat: TgChat, message_id: int, events: list) -> None:
        msg = self._by_id.get((chat.id, message_id))
        if msg is None or msg.deleted:
            raise _bad("message to delete not found")
        if (chat.is_group and msg.from_user.id != self.bot_user.id
                and not self._bot_is_admin(chat)):
            raise _bad("message can't be deleted")
        msg.deleted = True
        events.append(("deleted", msg))

    def _delete_message(self, p: dict, events: list) -> bool:
        chat = self._writable_chat(p.get("chat_id"))
        if p.get("message_id") in (None, ""):
            raise _bad("message identifier is not specified")
        self._delete_one(chat, _as_int(p["message_id"], "message_id"), events)
        return True

    def _delete_messages(self, p: dict, events: list) -> bool:
        chat = self._writable_chat(p.get("chat_id"))
        ids = _as_json(p.get("message_ids"), "message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise _bad("message_ids must be a non-empty array of at most 100 identifiers")
        for message_id in ids:  # Telegram skips the ones it can't delete
            try:
                self._delete_one(chat, _as_int(message_id, "message_id"), events)
            except _ApiError:
                pass
        return True

    def _answer_callback_query(self, p: dict, events: list) -> bool:
        query_id = str(p.get("callback_query_id", ""))
        query = self._queries.get(query_id)
        expired = (query is not None and self.callback_query_ttl_s is not None
                   and time.monotonic() - query["at"] > self.callback_query_ttl_s)
        if query is None or query["answered"] or expired:
            raise _ApiError(400, QUERY_INVALID)
        query["answered"] = True
        text = p.get("text")
        if text is not None and len(str(text)) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        answer = {"text": None if text is None else str(text),
                  "show_alert": _as_bool(p.get("show_alert", False))}
        if p.get("url"):
            answer["url"] = str(p["url"])
        self.callback_answers[query_id] = answer
        events.append(("answered", {"id": query_id, "text": answer["text"],
                                    "show_alert": answer["show_alert"]}))
        return True

    # -- documents
    def _resolve_document(self, p: dict, request: Request) -> tuple[UploadedFile, str | None]:
        """(the file, an existing file_id when re-sent by id)."""
        value = p.get("document")
        if value is None:
            upload = request.files.get("document")
            if upload is None:
                raise _bad("there is no document in the request")
            return upload, None
        value = str(value)
        if value.startswith("attach://"):
            upload = request.files.get(value[len("attach://"):])
            if upload is None:
                raise _bad("there is no document in the request")
            return upload, None
        with self._lock:
            known = self._files.get(value)
        if known is not None:
            return known, value
        parts = urlsplit(value)
        if parts.scheme in ("http", "https"):
            if not _is_loopback_host(parts.hostname or ""):
                raise _bad("failed to get HTTP URL content")  # the sandbox never goes online
            try:
                with urllib.request.urlopen(value, timeout=5) as response:  # noqa: S310 - loopback only
                    data = response.read()
                    ctype = response.headers.get_content_type()
            except (urllib.error.URLError, OSError):
                raise _bad("failed to get HTTP URL content") from None
            name = unquote(parts.path.rsplit("/", 1)[-1]) or "file"
            return UploadedFile(name, ctype, data), None
        raise _bad("wrong file identifier/HTTP URL specified")

    def _send_document(self, p: dict, events: list,
                       prepared: tuple[UploadedFile, str | None]) -> dict:
        chat = self._writable_chat(p.get("chat_id"))
        upload, file_id = prepared
        if not upload.data:
            raise _bad("file must be non-empty")
        if len(upload.data) > 50 * 1024 * 1024:
            raise _ApiError(413, "Request Entity Too Large")
        caption, entities, raw, mode = self._formatted(
            p, "caption", "caption_entities", MAX_CAPTION_UTF16, empty="",
            too_long="message caption is too long")
        markup = self._markup(p)
        reply_to = self._reply_target(p, chat)
        thread_id = self._thread_id(p)
        if file_id is None:
            file_id = f"BQACAgUAAxkDAAI{len(self._files) + 1:06d}sandbox"
            self._files[file_id] = upload
        msg = self._store(chat, self.bot_user, text=caption or None, entities=entities,
                          raw=raw or None, parse_mode=mode, markup=markup, thread_id=thread_id,
                          reply_to=reply_to, document=upload, file_id=file_id)
        events.append(("document", msg))
        return self._message_dict(msg)

    # -- the Chat and Message objects
    def _chat_dict(self, chat: TgChat) -> dict[str, Any]:
        data: dict[str, Any] = {"id": chat.id, "type": chat.type}
        if chat.type == "private":
            user = self.users.get(chat.id)
            data["first_name"] = chat.first_name or (user.first_name if user else None) or str(chat.id)
            username = chat.username or (user.username if user else None)
            if username:
                data["username"] = username
        else:
            data["title"] = chat.title or str(chat.id)
            if chat.username:
                data["username"] = chat.username
            if chat.has_topics:
                data["is_forum"] = True
        return data

    def _message_dict(self, msg: SentMessage, *, with_reply: bool = True) -> dict[str, Any]:
        chat = self.chats.get(msg.chat_id) or TgChat(msg.chat_id, "private")
        data: dict[str, Any] = {"message_id": msg.message_id, "from": msg.from_user.to_dict(),
                                "chat": self._chat_dict(chat), "date": msg.date}
        if msg.message_thread_id is not None:
            data["message_thread_id"] = msg.message_thread_id
            if chat.has_topics:
                data["is_topic_message"] = True
        if msg.reply_to_message_id is not None and with_reply:
            replied = self._by_id.get((msg.chat_id, msg.reply_to_message_id))
            if replied is not None and not replied.deleted:
                data["reply_to_message"] = self._message_dict(replied, with_reply=False)
        if msg.edit_date is not None:
            data["edit_date"] = msg.edit_date
        if msg.document is not None:
            data["document"] = {"file_id": msg.file_id,
                                "file_unique_id": f"AgAD{(msg.file_id or '')[-13:-7]}",
                                "file_name": msg.document.filename,
                                "mime_type": msg.document.content_type or mimetypes.guess_type(
                                    msg.document.filename)[0] or "application/octet-stream",
                                "file_size": len(msg.document.data)}
            if msg.text:
                data["caption"] = msg.text
                if msg.entities:
                    data["caption_entities"] = msg.entities
        else:
            data["text"] = msg.text or ""
            if msg.entities:
                data["entities"] = msg.entities
        if self._inline(msg.reply_markup):
            data["reply_markup"] = msg.reply_markup
        return data
