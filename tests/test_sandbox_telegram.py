"""The Telegram sandbox, driven by the real python-telegram-bot over loopback HTTP."""

from __future__ import annotations

import asyncio
import datetime as dtm
import threading
import time

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyParameters,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    AIORateLimiter,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from bot.sandbox.telegram import (
    FakeTelegram,
    TgChat,
    TgUser,
    parse_html,
    parse_markdown_v2,
)

pytestmark = pytest.mark.asyncio

TOKEN = "123456:TEST-sandbox-token-not-real-000000"
OTHER_TOKEN = "654321:TEST-sandbox-token-not-real-999999"
ALICE = TgUser(1001, "Alice", "alice", language_code="ko")
BOB = TgUser(1002, "Bob", "bob", language_code="en")
GROUP = TgChat(-100777, "supergroup", title="SunFlow on-call")
FORUM = TgChat(-100888, "supergroup", title="SunFlow incidents", is_forum=True)
DM = TgChat.private_with(ALICE)
KEYBOARD = InlineKeyboardMarkup([
    [InlineKeyboardButton("Retry", callback_data="v1:i:7:diag:retry"),
     InlineKeyboardButton("Docs", url="https://example.com/playbook")],
    [InlineKeyboardButton("Resolve", callback_data="v1:i:7:verify:resolve")],
])


@pytest.fixture
def fake():
    server = FakeTelegram(TOKEN).start()
    server.add_chat(GROUP, ALICE, BOB)
    server.add_chat(DM, ALICE)
    yield server
    server.stop()


@pytest.fixture
async def bot(fake):
    async with Bot(TOKEN, base_url=fake.base_url) as client:
        yield client


def method_calls(fake: FakeTelegram, method: str):
    return fake.calls_to(lambda c: c.path.endswith(f"/{method}"))


async def bad_request(coro) -> str:
    """The Bot API's own description (PTB drops "Bad Request: " and capitalises)."""
    with pytest.raises(BadRequest) as caught:
        await coro
    return caught.value.message


# ---- transport, identity, routing ----------------------------------------------------------------
async def test_get_me_and_the_base_url(fake, bot):
    assert fake.base_url == f"{fake.url}/bot"
    assert bot.bot.id == 123456 and bot.bot.username == "sunflow_ops_bot" and bot.bot.is_bot
    assert method_calls(fake, "getMe")[0].method == "POST"


async def test_wrong_token_is_401_and_unknown_method_is_404(fake, bot):
    with pytest.raises(InvalidToken):
        async with Bot(OTHER_TOKEN, base_url=fake.base_url):
            pass
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTeleportation", api_kwargs={"chat_id": GROUP.id})
    async with httpx.AsyncClient() as client:
        wrong = await client.post(f"{fake.base_url}{OTHER_TOKEN}/getMe")
        unknown = await client.post(f"{fake.base_url}{TOKEN}/noSuchMethod")
        outside = await client.get(f"{fake.url}/favicon.ico")
    assert (wrong.status_code, wrong.json()) == (
        401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert (unknown.status_code, unknown.json()["description"]) == (404, "Not Found")
    assert outside.status_code == 404


async def test_json_body_query_string_and_case_insensitive_methods(fake):
    async with httpx.AsyncClient() as client:
        me = await client.get(f"{fake.base_url}{TOKEN}/getme")
        sent = await client.post(f"{fake.base_url}{TOKEN}/sendMessage",
                                 json={"chat_id": GROUP.id, "text": "<b>json</b>", "parse_mode": "HTML",
                                       "reply_markup": {"inline_keyboard": [
                                           [{"text": "A", "callback_data": "a"}]]}})
        queried = await client.get(f"{fake.base_url}{TOKEN}/sendMessage",
                                   params={"chat_id": str(GROUP.id), "text": "query"})
    assert me.json()["result"]["username"] == "sunflow_ops_bot"
    assert sent.json()["ok"] and sent.json()["result"]["entities"][0]["type"] == "bold"
    assert queried.json()["result"]["text"] == "query"
    assert [m.text for m in fake.bot_messages(GROUP.id)] == ["json", "query"]
    assert fake.bot_messages(GROUP.id)[0].buttons() == [("A", "a")]


async def test_methods_the_bot_never_calls_are_unknown(fake):
    async with httpx.AsyncClient() as client:
        for method in ("setWebhook", "pinChatMessage", "getChat"):
            answer = await client.post(f"{fake.base_url}{TOKEN}/{method}",
                                       data={"chat_id": str(GROUP.id), "url": "https://e.com/h"})
            assert (answer.status_code, answer.json()) == (
                404, {"ok": False, "error_code": 404, "description": "Not Found"})


async def test_delete_webhook_drops_pending_updates_only_when_asked(fake, bot):
    fake.send_message(GROUP, ALICE, "/health")
    assert await bot.delete_webhook()
    assert len(fake.pending_updates()) == 1
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert fake.pending_updates() == []
    assert await bot.get_updates(timeout=0) == ()


# ---- updates ---------------------------------------------------------------------------------------
async def test_commands_arrive_with_a_bot_command_entity(fake, bot):
    plain = fake.send_message(GROUP, ALICE, "/ping")
    addressed = fake.send_message(GROUP, BOB, "/incident@sunflow_ops_bot 42 now")
    chatter = fake.send_message(GROUP, BOB, "just words, /not a command")
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [plain.update_id, addressed.update_id, chatter.update_id]
    first, second, third = (u.message for u in updates)
    assert first.text == "/ping" and first.entities[0].type == "bot_command"
    assert (first.entities[0].offset, first.entities[0].length) == (0, 5)
    assert second.parse_entity(second.entities[0]) == "/incident@sunflow_ops_bot"
    assert not third.entities and third.from_user.id == BOB.id
    assert first.chat.id == GROUP.id and first.from_user.language_code == "ko"


async def test_offset_confirms_and_drops_older_updates_and_limit_caps(fake, bot):
    ids = [fake.send_message(DM, ALICE, f"/step{i}").update_id for i in range(5)]
    assert [u.update_id for u in await bot.get_updates(timeout=0, limit=2)] == ids[:2]
    assert [u.update_id for u in await bot.get_updates(timeout=0)] == ids  # nothing confirmed yet
    assert [u.update_id for u in await bot.get_updates(offset=ids[3], timeout=0)] == ids[3:]
    assert len(fake.pending_updates()) == 2
    assert await bot.get_updates(offset=ids[-1] + 1, timeout=0) == ()
    assert fake.pending_updates() == []
    later = fake.send_message(DM, ALICE, "/later").update_id
    assert [u.update_id for u in await bot.get_updates(offset=-1, timeout=0)] == [later]


async def test_allowed_updates_is_honoured_and_persists(fake, bot):
    msg = fake.send_message(GROUP, ALICE, "/menu")
    await bot.get_updates(offset=msg.update_id + 1, timeout=0)
    fake.message(GROUP.id, msg.message_id).reply_markup = KEYBOARD.to_dict()
    await bot.get_updates(timeout=0, allowed_updates=["callback_query"])
    fake.send_message(GROUP, ALICE, "/ignored")
    query_id = fake.press(GROUP, BOB, msg.message_id, 0)
    updates = await bot.get_updates(timeout=0)  # the setting persists between calls
    assert [u.callback_query.id for u in updates] == [query_id]
    await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0, allowed_updates=[])
    fake.send_message(GROUP, ALICE, "/seen")
    assert [u.message.text for u in await bot.get_updates(timeout=0)] == ["/seen"]


async def test_long_poll_wakes_at_once_on_a_new_update(fake, bot):
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    assert await fake.await_for(lambda: fake.polls_waiting == 1, timeout=2)
    started = time.monotonic()
    fake.send_message(DM, ALICE, "/health")
    updates = await poll
    latency = time.monotonic() - started
    assert [u.message.text for u in updates] == ["/health"]
    assert latency < 0.5, f"long poll took {latency:.3f}s to deliver"


async def test_long_poll_times_out_empty_and_returns_at_once_on_stop(fake, bot):
    started = time.monotonic()
    assert await bot.get_updates(timeout=0.3) == ()
    assert 0.25 <= time.monotonic() - started < 2
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    assert await fake.await_for(lambda: fake.polls_waiting == 1, timeout=2)
    started = time.monotonic()
    await asyncio.to_thread(fake.stop)
    assert await asyncio.wait_for(poll, 2) == ()
    assert time.monotonic() - started < 1
    with pytest.raises(NetworkError):  # a stopped server answers nothing, not even kept-alive
        await bot.get_me()


async def test_a_newer_poll_terminates_an_older_one_with_conflict(fake):
    async with Bot(TOKEN, base_url=fake.base_url) as first, Bot(TOKEN, base_url=fake.base_url) as second:
        older = asyncio.create_task(first.get_updates(timeout=10))
        assert await fake.await_for(lambda: fake.polls_waiting == 1, timeout=2)
        newer = asyncio.create_task(second.get_updates(timeout=10))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(older, 2)
        fake.send_message(DM, ALICE, "/ok")
        assert [u.message.text for u in await asyncio.wait_for(newer, 2)] == ["/ok"]


async def test_press_builds_a_full_callback_query(fake, bot):
    sent = await bot.send_message(GROUP.id, "Incident #7", reply_markup=KEYBOARD)
    assert fake.message(GROUP.id, sent.message_id).buttons() == [
        ("Retry", "v1:i:7:diag:retry"), ("Resolve", "v1:i:7:verify:resolve")]
    query_id = fake.press(GROUP, BOB, sent.message_id, 1)
    forged = fake.press_button(GROUP, BOB, sent.message_id, "v1:i:7:verify:forged")
    first, second = await bot.get_updates(timeout=0)
    query = first.callback_query
    assert (query.id, query.data, query.from_user.id) == (query_id, "v1:i:7:verify:resolve", BOB.id)
    assert query.message.message_id == sent.message_id and query.message.text == "Incident #7"
    assert query.message.reply_markup == KEYBOARD and query.chat_instance
    assert second.callback_query.id == forged and second.callback_query.data.endswith("forged")
    with pytest.raises(IndexError):
        fake.press(GROUP, BOB, sent.message_id, 2)
    with pytest.raises(KeyError):
        fake.press_button(GROUP, BOB, 999, "x")


async def test_updates_keep_queueing_while_a_fault_is_on(fake, bot):
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    assert await fake.await_for(lambda: fake.polls_waiting == 1, timeout=2)
    fake.set_fault("5xx", status=503)  # the outage also ends a long poll already waiting
    with pytest.raises(NetworkError, match="Service Unavailable"):
        await asyncio.wait_for(poll, 1)
    fake.send_message(DM, ALICE, "/during-outage")
    with pytest.raises(NetworkError, match="Service Unavailable"):
        await bot.get_updates(timeout=0)
    fake.clear_faults()
    assert [u.message.text for u in await bot.get_updates(timeout=0)] == ["/during-outage"]


async def test_privacy_mode_and_membership(fake, bot):
    fake.set_member(GROUP, fake.bot_user, "member")  # not an admin: privacy mode applies
    asked = await bot.send_message(GROUP.id, "Root cause?")
    chatter = fake.send_message(GROUP, ALICE, "lunch?")
    answer = fake.send_message(GROUP, ALICE, "disk full", reply_to=asked.message_id)
    other = fake.send_message(GROUP, ALICE, "/ping@some_other_bot")
    assert chatter.update_id is None and other.update_id is None and answer.update_id is not None
    [update] = await bot.get_updates(timeout=0)
    assert update.message.reply_to_message.message_id == asked.message_id
    assert "lunch?" in [m.text for m in fake.messages(GROUP.id)]  # people still see it
    assert "can't be deleted" in await bad_request(bot.delete_message(GROUP.id, chatter.message_id))
    fake.set_member(GROUP, fake.bot_user, "kicked")
    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP.id, "hello?")
    fake.set_member(DM, fake.bot_user, "kicked")
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(DM.id, "hello?")


# ---- commands --------------------------------------------------------------------------------------
async def test_commands_per_scope_and_language(fake, bot):
    ko = [BotCommand("health", "상태 점검"), BotCommand("token", "토큰 상태")]
    en = [BotCommand("health", "Health check"), BotCommand("token", "Token status")]
    assert await bot.set_my_commands(ko, language_code="ko")
    assert await bot.set_my_commands(en, language_code="en")
    assert await bot.set_my_commands(en[:1], scope=BotCommandScopeChat(GROUP.id))
    assert await bot.set_my_commands(en[1:], scope=BotCommandScopeAllGroupChats())
    assert fake.commands[("default", "ko")] == [c.to_dict() for c in ko]
    assert fake.commands[("default", "en")][0] == {"command": "health", "description": "Health check"}
    assert fake.commands[("all_group_chats", None)] == [en[1].to_dict()]
    assert fake.commands_for(BotCommandScopeChat(GROUP.id)) == [en[0].to_dict()]
    assert await bot.get_my_commands(language_code="ko") == tuple(ko)
    assert await bot.get_my_commands() == ()  # exact scope + language, no fallback
    assert await bot.set_my_commands([], language_code="ko")  # an empty list clears that list
    assert await bot.get_my_commands(language_code="ko") == ()
    langs = {c.form.get("language_code") for c in method_calls(fake, "setMyCommands")}
    assert {"ko", "en"} <= langs
    assert await bad_request(bot.set_my_commands([BotCommand("Health", "x")])) == "Bot_command_invalid"
    assert "chat not found" in (await bad_request(
        bot.set_my_commands(en, scope=BotCommandScopeChat(-42)))).lower()


# ---- sending and formatting ------------------------------------------------------------------------
async def test_send_message_html_is_stripped_and_entities_use_utf16(fake, bot):
    html = ("🚨 <b>SF-502</b> &lt;publish&gt; <i>재시도</i> &amp; "
            '<a href="https://example.com/x?a=1&amp;b=2">log</a>\n'
            '<pre><code class="language-json">{}</code></pre>')
    sent = await bot.send_message(GROUP.id, html, parse_mode="HTML", reply_markup=KEYBOARD)
    stored = fake.last_bot_message(GROUP.id)
    assert stored.text == "🚨 SF-502 <publish> 재시도 & log\n{}"
    assert stored.html == html and stored.parse_mode == "HTML"
    assert stored.reply_markup == KEYBOARD.to_dict() and stored.from_user == fake.bot_user
    assert sent.text == stored.text and sent.reply_markup == KEYBOARD
    assert sent.parse_entity(sent.entities[0]) == "SF-502"  # offsets counted in UTF-16 (🚨 is 2)
    assert [e.type for e in sent.entities] == ["bold", "italic", "text_link", "pre"]
    assert sent.entities[2].url == "https://example.com/x?a=1&b=2"
    assert sent.entities[3].language == "json"
    assert sent.text_html.startswith("🚨 <b>SF-502</b>")  # PTB can rebuild the markup


async def test_plain_text_trimmed_reply_and_forum_thread(fake, bot):
    fake.add_chat(FORUM, ALICE)
    asked = fake.send_message(FORUM, ALICE, "/incident", thread_id=42)
    [update] = await bot.get_updates(timeout=0)
    assert update.message.message_thread_id == 42 and update.message.is_topic_message
    sent = await bot.send_message(FORUM.id, "  on it \n", message_thread_id=42,
                                  reply_parameters=ReplyParameters(asked.message_id))
    stored = fake.message(FORUM.id, sent.message_id)
    assert stored.text == "on it" and stored.message_thread_id == 42
    assert stored.reply_to_message_id == asked.message_id
    assert sent.reply_to_message.text == "/incident" and sent.is_topic_message
    assert [m.message_id for m in fake.messages(FORUM.id)] == [asked.message_id, sent.message_id]
    assert [m.message_id for m in fake.bot_messages(FORUM.id)] == [sent.message_id]


@pytest.mark.parametrize(("text", "parse_mode", "expected"), [
    ("line<br>two", "HTML", 'Unsupported start tag "br" at byte offset 4'),
    ("<b>bold <i>both</b></i>", "HTML",
     'Unmatched end tag at byte offset 15, expected "</i>", found "</b>"'),
    ("<b>open", "HTML", 'Can\'t find end tag corresponding to start tag "b"'),
    ("p95 < 2s", "HTML", 'Unsupported start tag "" at byte offset 4'),
    ("done</b>", "HTML", "Unexpected end tag at byte offset 4"),
    ("<span>x</span>", "HTML", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ("v1.2 released", "MarkdownV2",
     "Character '.' is reserved and must be escaped with the preceding '\\'"),
    ("*bold", "MarkdownV2", "Can't find end of Bold entity at byte offset 0"),
])
async def test_unparseable_markup_is_rejected_like_telegram(fake, text, parse_mode, expected):
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{fake.base_url}{TOKEN}/sendMessage",
                                     data={"chat_id": str(GROUP.id), "text": text, "parse_mode": parse_mode})
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error_code": 400,
                               "description": f"Bad Request: can't parse entities: {expected}"}
    assert fake.bot_messages(GROUP.id) == []


async def test_parsers_accept_what_telegram_accepts():
    assert parse_html("<tg-spoiler>s</tg-spoiler> <span class=\"tg-spoiler\">t</span> "
                      "<blockquote expandable>q</blockquote> A & B &nbsp; &#128680;")[0] == \
        "s t q A & B &nbsp; 🚨"
    text, entities = parse_markdown_v2(r"*SF\-502* __u__ ||s|| [log](https://e.com/a\)b) `x.y` v1\.2")
    assert text == "SF-502 u s log x.y v1.2"
    assert [e["type"] for e in entities] == ["bold", "underline", "spoiler", "text_link", "code"]
    assert entities[3]["url"] == "https://e.com/a)b"


async def test_send_message_errors(fake, bot):
    assert await bad_request(bot.send_message(-999, "hi")) == "Chat not found"
    assert await bad_request(bot.send_message(GROUP.id, "   ")) == "Message text is empty"
    assert await bad_request(bot.send_message(GROUP.id, "<b></b>", parse_mode="HTML")) == \
        "Message text is empty"
    assert await bad_request(bot.send_message(GROUP.id, "x" * 4097)) == "Message is too long"
    assert await bad_request(bot.send_message(GROUP.id, "🚨" * 2049)) == "Message is too long"
    ok = await bot.send_message(GROUP.id, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")
    assert len(ok.text) == 4096  # the limit applies after entity parsing
    for data in ("x" * 65, "가" * 22):  # 65 and 66 bytes
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("b", callback_data=data)]])
        assert await bad_request(bot.send_message(GROUP.id, "hi", reply_markup=markup)) == \
            "Button_data_invalid"
    ok = await bot.send_message(GROUP.id, "hi", reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("b", callback_data="x" * 64)]]))
    assert ok.reply_markup.inline_keyboard[0][0].callback_data == "x" * 64
    async with httpx.AsyncClient() as client:
        empty = await client.post(f"{fake.base_url}{TOKEN}/sendMessage", data={
            "chat_id": str(GROUP.id), "text": "hi",
            "reply_markup": '{"inline_keyboard": [[{"text": "b", "callback_data": ""}]]}'})
    assert empty.json()["description"] == "Bad Request: BUTTON_DATA_INVALID"
    assert "message to be replied not found" in (await bad_request(
        bot.send_message(GROUP.id, "hi", reply_parameters=ReplyParameters(999)))).lower()
    assert await bot.send_message(GROUP.id, "hi", reply_parameters=ReplyParameters(
        999, allow_sending_without_reply=True))
    assert "wrong http url" in (await bad_request(bot.send_message(GROUP.id, "hi", reply_markup=(
        InlineKeyboardMarkup([[InlineKeyboardButton("dash", url="http://localhost:8080")]]))))).lower()


# ---- editing, deleting, answering -----------------------------------------------------------------
async def test_edit_text_removes_the_keyboard_unless_resent_and_refuses_no_ops(fake, bot):
    sent = await bot.send_message(GROUP.id, "<b>Step 1</b>", parse_mode="HTML", reply_markup=KEYBOARD)
    edited = await bot.edit_message_text("<b>Step 2</b>", chat_id=GROUP.id, message_id=sent.message_id,
                                         parse_mode="HTML", reply_markup=KEYBOARD)
    stored = fake.message(GROUP.id, sent.message_id)
    assert (stored.text, stored.edits, edited.text) == ("Step 2", 1, "Step 2")
    assert edited.edit_date is not None and stored.history == [("Step 1", KEYBOARD.to_dict())]
    described = await bad_request(bot.edit_message_text(
        "<b>Step 2</b>", chat_id=GROUP.id, message_id=sent.message_id, parse_mode="HTML",
        reply_markup=KEYBOARD))
    assert described == ("Message is not modified: specified new message content and reply markup "
                         "are exactly the same as a current content and reply markup of the message")
    await bot.edit_message_text("<b>Step 2</b>", chat_id=GROUP.id, message_id=sent.message_id,
                                parse_mode="HTML")  # same text, no markup: the keyboard goes
    assert stored.buttons() == [] and stored.edits == 2
    await bot.edit_message_reply_markup(chat_id=GROUP.id, message_id=sent.message_id, reply_markup=KEYBOARD)
    assert len(stored.buttons()) == 2 and stored.text == "Step 2"
    assert "not modified" in await bad_request(bot.edit_message_reply_markup(
        chat_id=GROUP.id, message_id=sent.message_id, reply_markup=KEYBOARD))
    assert await bad_request(bot.edit_message_text("x", chat_id=GROUP.id, message_id=999)) == \
        "Message to edit not found"
    user_message = fake.send_message(GROUP, ALICE, "mine")
    assert await bad_request(bot.edit_message_text(
        "hijack", chat_id=GROUP.id, message_id=user_message.message_id)) == "Message can't be edited"


async def test_delete_message(fake, bot):
    sent = await bot.send_message(DM.id, "token: ****")
    secret = fake.send_message(DM, ALICE, "new-token-value")
    assert await bot.delete_message(DM.id, secret.message_id)  # bots may delete in private chats
    assert await bot.delete_message(DM.id, sent.message_id)
    assert fake.message(DM.id, sent.message_id).deleted and fake.messages(DM.id) == []
    assert len(fake.messages(DM.id, include_deleted=True)) == 2
    assert fake.last_bot_message(DM.id) is None
    assert await bad_request(bot.delete_message(DM.id, sent.message_id)) == "Message to delete not found"
    assert await bad_request(bot.edit_message_text("x", chat_id=DM.id, message_id=sent.message_id)) == \
        "Message to edit not found"


async def test_answer_callback_query_once(fake, bot):
    sent = await bot.send_message(GROUP.id, "Incident #7", reply_markup=KEYBOARD)
    query_id = fake.press(GROUP, ALICE, sent.message_id, 0)
    assert await bot.answer_callback_query(query_id, text="재시도 중…", show_alert=True)
    assert fake.callback_answers[query_id] == {"text": "재시도 중…", "show_alert": True}
    expected = "Query is too old and response timeout expired or query id is invalid"
    assert await bad_request(bot.answer_callback_query(query_id)) == expected
    assert await bad_request(bot.answer_callback_query("123")) == expected


# ---- documents, chats, members ---------------------------------------------------------------------
async def test_send_document_multipart(fake, bot):
    body = "# 사후 분석\n\n원인: 토큰 만료\n".encode()
    sent = await bot.send_document(GROUP.id, body, filename="postmortem-SF-7.md",
                                   caption="<b>Post-mortem</b> #7", parse_mode="HTML")
    stored = fake.last_bot_message(GROUP.id)
    assert stored.document.filename == "postmortem-SF-7.md" and stored.document.data == body
    assert stored.text == "Post-mortem #7" and stored.html == "<b>Post-mortem</b> #7"
    assert sent.document.file_name == "postmortem-SF-7.md" and sent.document.file_size == len(body)
    assert sent.caption == "Post-mortem #7" and sent.caption_entities[0].type == "bold"
    again = await bot.send_document(DM.id, sent.document.file_id)  # re-sent by file_id
    assert fake.last_bot_message(DM.id).document.data == body and again.document.file_id
    assert await bad_request(bot.send_document(GROUP.id, b"", filename="empty.txt")) == \
        "File must be non-empty"
    assert await bad_request(bot.send_document(GROUP.id, b"x", filename="a.txt", caption="c" * 1025)) == \
        "Message caption is too long"


async def test_chat_objects_and_member_status(fake, bot):
    info = (await bot.send_message(GROUP.id, "Incident #7 (live)")).chat
    assert (info.id, info.type, info.title) == (GROUP.id, "supergroup", "SunFlow on-call")
    assert (await bot.send_message(DM.id, "hi")).chat.first_name == "Alice"
    assert fake.member_status(GROUP.id, ALICE.id) == "member"
    assert fake.member_status(GROUP.id, fake.bot_user.id) == "administrator"
    fake.set_member(GROUP, BOB, "administrator")
    assert fake.member_status(GROUP.id, BOB.id) == "administrator"
    carol = TgUser(1003, "Carol")
    assert fake.member_status(GROUP.id, carol.id) == "left"
    fake.set_member(GROUP, carol, "restricted")
    assert fake.member_status(GROUP.id, carol.id) == "restricted"
    with pytest.raises(ValueError, match="unknown member status"):
        fake.set_member(GROUP, carol, "banned")


# ---- faults ----------------------------------------------------------------------------------------
PTB_DEPRECATION = "ignore::telegram.warnings.PTBDeprecationWarning"  # RetryAfter's int retry_after


@pytest.mark.filterwarnings(PTB_DEPRECATION)
async def test_rate_limited_surfaces_as_retry_after(fake, bot):
    fake.set_fault("rate_limited", retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP.id, "hi")
    retry = caught.value.retry_after
    assert (retry.total_seconds() if isinstance(retry, dtm.timedelta) else retry) == 7
    with pytest.raises(RetryAfter):
        await bot.get_updates(timeout=0)  # faults hit getUpdates too
    async with httpx.AsyncClient() as client:
        raw = await client.post(f"{fake.base_url}{TOKEN}/getMe")
    assert raw.status_code == 429 and raw.headers["retry-after"] == "7"
    assert raw.json() == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
                          "parameters": {"retry_after": 7}}
    assert fake.bot_messages(GROUP.id) == []
    fake.clear_faults()
    assert await bot.send_message(GROUP.id, "hi")


async def test_the_group_flood_limit_refuses_the_21st_message_of_a_minute(fake, bot):
    fake.set_group_limit(3)
    sent = [await bot.send_message(GROUP.id, "m0", reply_markup=KEYBOARD),
            await bot.send_message(GROUP.id, "m1")]
    await bot.edit_message_text("m1 edited", chat_id=GROUP.id, message_id=sent[1].message_id)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP.id, "one too many")
    retry = caught.value.retry_after
    assert 55 <= (retry.total_seconds() if isinstance(retry, dtm.timedelta) else retry) <= 60
    assert fake.flood_refusals == 1
    assert [m.text for m in fake.bot_messages(GROUP.id)] == ["m0", "m1 edited"]
    # private chats and button answers are not counted
    assert await bot.send_message(DM.id, "direct")
    query = fake.press(GROUP, ALICE, sent[0].message_id, 0)
    assert await bot.answer_callback_query(query, text="ok")
    assert fake.callback_answers[query]["text"] == "ok"
    fake.set_group_limit(None)
    assert await bot.send_message(GROUP.id, "after")


@pytest.mark.filterwarnings(PTB_DEPRECATION)
async def test_5xx_unauthorized_and_narrowed_faults(fake, bot):
    fake.set_fault("5xx")
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.get_me()
    fake.set_fault("unauthorized")
    with pytest.raises(InvalidToken):
        await bot.get_updates(timeout=0)
    fake.set_fault("rate_limited", retry_after=1, methods="sendMessage", times=1)
    assert await bot.send_document(GROUP.id, b"x", filename="a.txt")  # another method: untouched
    with pytest.raises(RetryAfter):
        await bot.send_message(GROUP.id, "first")
    assert (await bot.send_message(GROUP.id, "second")).text == "second"  # times=1 used up
    fake.set_fault("forbidden")
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(DM.id, "hi")
    assert await bot.get_me()  # forbidden only hits the sending methods


async def test_hang_holds_a_call_until_cleared(fake, bot):
    fake.set_fault("hang", methods=["sendMessage"])
    pending = asyncio.create_task(bot.send_message(GROUP.id, "stuck"))
    await asyncio.sleep(0.2)
    assert not pending.done() and await bot.get_me()
    fake.clear_faults()
    assert (await asyncio.wait_for(pending, 2)).text == "stuck"


# ---- observing ------------------------------------------------------------------------------------
async def test_listeners_wait_for_and_reset(fake, bot):
    seen: list[tuple[str, object]] = []
    everything: list[str] = []
    fake.subscribe(lambda kind, obj: seen.append((kind, obj)))
    fake.subscribe(lambda kind, obj: everything.append(kind), all_events=True)
    fake.subscribe(lambda kind, obj: 1 / 0)  # a broken listener changes nothing
    sent = await bot.send_message(GROUP.id, "live", reply_markup=KEYBOARD)
    query_id = fake.press(GROUP, ALICE, sent.message_id, 0)
    await bot.edit_message_text("live 2", chat_id=GROUP.id, message_id=sent.message_id)
    await bot.answer_callback_query(query_id, text="ok")
    await bot.send_document(GROUP.id, b"log", filename="x.log")
    await bot.delete_message(GROUP.id, sent.message_id)
    kinds = [kind for kind, _ in seen]
    assert kinds == ["sent", "edited", "answered", "document", "deleted"]
    assert seen[2][1] == {"id": query_id, "text": "ok", "show_alert": False}
    assert seen[1][1].text == "live 2"
    assert "pressed" in everything and "incoming" not in kinds

    threading.Timer(0.05, fake.send_message, args=(GROUP, ALICE, "/late")).start()
    assert fake.wait_for(lambda: len(fake.pending_updates()) == 2, timeout=2)
    assert fake.wait_for(lambda: False, timeout=0.05) is False
    fake.reset()
    assert fake.messages(GROUP.id) == [] and fake.callback_answers == {} and fake.pending_updates() == []
    assert await bad_request(bot.send_message(GROUP.id, "hi")) == "Chat not found"
    fake.add_chat(GROUP)
    assert (await bot.send_message(GROUP.id, "back")).message_id == 1


# ---- the real Application -------------------------------------------------------------------------
async def test_real_application_polls_replies_and_handles_buttons(fake):
    async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer /ping with pong and a button."""
        await update.message.reply_text("pong", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Again", callback_data="v1:ping:again")]]))

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Answer the press and edit the message."""
        await update.callback_query.answer("pressed")
        await update.callback_query.edit_message_text(f"pong ({update.callback_query.data})")

    async def remind(context: ContextTypes.DEFAULT_TYPE) -> None:
        await context.bot.send_message(GROUP.id, "escalation due")

    app = (ApplicationBuilder().token(TOKEN).base_url(fake.base_url)
           .rate_limiter(AIORateLimiter()).build())
    app.add_handler(CommandHandler("ping", ping))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=dtm.timedelta(seconds=5))
        try:
            fake.send_message(GROUP, ALICE, "/ping")
            assert await fake.await_for(lambda: fake.last_bot_message(GROUP.id) is not None)
            reply = fake.last_bot_message(GROUP.id)
            assert reply.text == "pong" and reply.reply_to_message_id == 1
            query_id = fake.press(GROUP, BOB, reply.message_id, 0)
            assert await fake.await_for(lambda: reply.edits == 1 and query_id in fake.callback_answers)
            assert reply.text == "pong (v1:ping:again)"
            assert fake.callback_answers[query_id] == {"text": "pressed", "show_alert": False}
            app.job_queue.run_once(remind, 0.01)
            assert await fake.await_for(
                lambda: fake.last_bot_message(GROUP.id).text == "escalation due")
        finally:
            await app.updater.stop()
            await app.stop()
    assert fake.pending_updates() == []  # the updater confirmed everything on the way out
    assert method_calls(fake, "deleteWebhook")
