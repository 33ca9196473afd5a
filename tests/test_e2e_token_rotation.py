"""Token rotation end to end: asked for in a private chat with an admin, the reply deleted at
once, validated with Graph, .env rewritten, the group told with a fingerprint only; refusals
leave .env as it was; a refresh from the token report's button."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.clock import utc_now
from bot.sandbox import ADMIN, IG_TOKEN, OPERATOR, OPS_CHAT, private_chat
from bot.sandbox.runner import BotRunner
from conftest import Chat
from handlers import callbacks as cb

ADMIN_CHAT = private_chat(ADMIN)


def everything_the_bot_said(chat: Chat) -> str:
    return "\n".join(m.text or "" for c in (OPS_CHAT, ADMIN_CHAT, private_chat(OPERATOR))
                     for m in chat.tg.bot_messages(c.id, include_deleted=True))


def stored_bytes(chat: Chat) -> bytes:
    """Everything under DATA_DIR: the store, its journal, the documents (backups of .env hold
    the token that was in use then, never one given later), the log."""
    data = chat.sandbox.data_dir
    return b"".join(p.read_bytes() for p in sorted(data.rglob("*")) if p.is_file())


async def test_an_admin_rotates_the_token_in_private_and_the_group_hears_of_it(chat) -> None:
    env = chat.sandbox.home / ".env"
    before = env.read_text()
    chat.sandbox.instagram.set_fault("token_expired")
    new = chat.sandbox.instagram.issue_token(expires_at=utc_now() + timedelta(days=60))

    [ask] = await chat.send("/token rotate", chat=ADMIN_CHAT)
    assert "Reply to this message with the new Instagram access token" in ask.text
    assert ask.reply_markup == {"force_reply": True, "selective": True}
    group_before = len(chat.bot_messages(OPS_CHAT))

    replies = await chat.send(new, chat=ADMIN_CHAT, reply_to=ask.message_id)
    sent = [m for m in chat.tg.messages(ADMIN_CHAT.id, include_deleted=True) if m.text == new]
    assert len(sent) == 1 and sent[0].deleted  # the token left the chat at once
    [result] = replies
    done = chat.tg.message(ADMIN_CHAT.id, result.message_id).text
    assert done.startswith("✅ Token rotated for @sunflow.daily") and "expires " in done
    assert "🟢 Token" in done and "🟢 Instagram" in done  # the checks, run with the new token
    assert env.read_text() == before.replace(IG_TOKEN, new)

    [told] = chat.bot_messages(OPS_CHAT)[group_before:]
    assert told.text.startswith("🔑 Instagram token rotated by @mina_admin (fingerprint ")
    assert new not in everything_the_bot_said(chat)
    assert new.encode() not in stored_bytes(chat)
    [status] = await chat.send("/token")
    assert "State: valid (@sunflow.daily)" in status.text and "(60 days left)" in status.text


async def test_a_bad_token_is_deleted_refused_and_changes_nothing(chat) -> None:
    env = chat.sandbox.home / ".env"
    before = env.read_bytes()
    [ask] = await chat.send("/token rotate", chat=ADMIN_CHAT)
    bogus = "sandbox-instagram-access-token-made-up-0042"
    [result] = await chat.send(bogus, chat=ADMIN_CHAT, reply_to=ask.message_id)
    assert chat.tg.messages(ADMIN_CHAT.id, include_deleted=True)[-2].deleted
    refused = chat.tg.message(ADMIN_CHAT.id, result.message_id).text
    assert refused.startswith("Graph refused that token (HTTP 400, Graph 190") and "Nothing changed" in refused
    assert env.read_bytes() == before
    assert chat.store.backups() == []
    assert bogus not in everything_the_bot_said(chat)

    # the question stays open for another try within its ten minutes
    good = chat.sandbox.instagram.issue_token()
    [result] = await chat.send(good, chat=ADMIN_CHAT, reply_to=ask.message_id)
    assert chat.tg.message(ADMIN_CHAT.id, result.message_id).text.startswith("✅ Token rotated")
    # answered: a token sent to it again is still deleted, and not used
    again = chat.sandbox.instagram.issue_token()
    [gone] = await chat.send(again, chat=ADMIN_CHAT, reply_to=ask.message_id)
    assert "That question has expired or was answered" in gone.text
    assert chat.tg.messages(ADMIN_CHAT.id, include_deleted=True)[-2].deleted
    assert again not in env.read_text()


async def test_a_question_older_than_ten_minutes_takes_no_token(chat) -> None:
    before = (chat.sandbox.home / ".env").read_bytes()
    [ask] = await chat.send("/token rotate", chat=ADMIN_CHAT)
    key = f"token.rotate.prompt.{ADMIN_CHAT.id}"
    prompt = chat.store.get_setting(key)
    prompt["asked_at"] = (utc_now() - timedelta(minutes=11)).isoformat()
    await asyncio.to_thread(chat.store.set_setting, key, prompt)
    token = chat.sandbox.instagram.issue_token()
    [gone] = await chat.send(token, chat=ADMIN_CHAT, reply_to=ask.message_id)
    assert "That question has expired" in gone.text
    assert (chat.sandbox.home / ".env").read_bytes() == before


async def test_never_in_the_group_and_never_for_an_operator(chat) -> None:
    [group] = await chat.send("/token rotate")
    assert group.text.startswith("A new token is only taken in a private chat with me")
    [operator] = await chat.send("/token rotate", user=OPERATOR, chat=private_chat(OPERATOR))
    assert operator.text == "Only an admin can change the Instagram token."
    assert chat.store.get_setting(f"token.rotate.prompt.{OPERATOR.id}") is None


async def test_the_token_report_links_to_a_private_chat_and_start_rotate_asks(chat) -> None:
    [status] = await chat.send("/token")
    urls = [b["url"] for row in status.button_rows() for b in row if "url" in b]
    assert urls == [f"https://t.me/{chat.tg.bot_user.username}?start=rotate"]
    [ask] = await chat.send("/start rotate", chat=ADMIN_CHAT)
    assert "Reply to this message with the new Instagram access token" in ask.text


async def test_refresh_button_for_an_instagram_login_token(sandbox, make_settings) -> None:
    ig_token = sandbox.instagram.issue_token("IGAAsandboxlonglived0123456789abcdefXYZ",
                                             issued_at=utc_now() - timedelta(days=30),
                                             expires_at=utc_now() + timedelta(days=30))
    env_before = (sandbox.home / ".env").read_bytes()
    async with BotRunner(make_settings(INSTAGRAM_ACCESS_TOKEN=ig_token)) as runner:
        chat = Chat(sandbox, runner)
        [status] = await chat.send("/token")
        assert "(30 days left)" in status.text
        assert cb.TOKEN_REFRESH in [data for _, data in status.buttons()]
        refused = await chat.press(status, data=cb.TOKEN_REFRESH, user=OPERATOR)
        assert refused["text"] == "Refreshing the token…"  # answered first, whoever pressed
        assert chat.bot_messages()[-1].text == "Only an admin can change the Instagram token."
        assert (sandbox.home / ".env").read_bytes() == env_before

        group_before = len(chat.bot_messages())
        await chat.press(status, data=cb.TOKEN_REFRESH)
        assert "INSTAGRAM_ACCESS_TOKEN=IGAA" in (sandbox.home / ".env").read_text()
        shown = chat.tg.message(OPS_CHAT.id, status.message_id)
        assert "(60 days left)" in shown.text or "(59 days left)" in shown.text
        assert cb.TOKEN_REFRESH not in [data for _, data in shown.buttons()]  # too new now
        [told] = chat.bot_messages()[group_before:]
        assert told.text.startswith("🔑 Instagram token refreshed by @mina_admin")


async def test_an_answer_that_is_no_token_is_kept_and_not_masked(chat) -> None:
    [ask] = await chat.send("/token rotate", chat=ADMIN_CHAT)
    [said] = await chat.send("cancel", chat=ADMIN_CHAT, reply_to=ask.message_id)
    assert said.text.startswith("That does not look like an access token")
    assert not chat.tg.messages(ADMIN_CHAT.id, include_deleted=True)[-2].deleted
    assert chat.services.redact("Step cancelled") == "Step cancelled"


async def test_a_token_pasted_without_replying_is_deleted_all_the_same(chat) -> None:
    token = chat.sandbox.instagram.issue_token()
    [hint] = await chat.send(token, chat=ADMIN_CHAT)
    assert chat.tg.messages(ADMIN_CHAT.id, include_deleted=True)[-2].deleted
    assert "send /token rotate again" in hint.text
    assert token not in (chat.sandbox.home / ".env").read_text()


async def test_undoing_a_rotation_from_backups_takes_the_bot_back_and_tells_the_group(chat) -> None:
    chat.sandbox.instagram.set_fault("token_expired")
    new = chat.sandbox.instagram.issue_token()
    [ask] = await chat.send("/token rotate", chat=ADMIN_CHAT)
    await chat.send(new, chat=ADMIN_CHAT, reply_to=ask.message_id)
    [backup] = chat.store.backups()
    [listing] = await chat.send("/backups")
    await chat.press(listing, data=cb.backup_restore(backup.backup_id))
    [(_, confirm), _] = chat.tg.message(OPS_CHAT.id, listing.message_id).buttons()
    before = len(chat.bot_messages(OPS_CHAT))
    await chat.press(listing, data=confirm)
    assert IG_TOKEN in (chat.sandbox.home / ".env").read_text()
    told = [m.text for m in chat.bot_messages(OPS_CHAT)[before:]]
    assert any(t.startswith("🔑 Instagram token put back from a backup by @mina_admin") for t in told)
    [status] = await chat.send("/token")
    assert "State: expired" in status.text  # the bot is back on the token the pipeline has
