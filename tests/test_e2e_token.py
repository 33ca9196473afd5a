"""/token end to end: status, guide, set-expiry by command and by button, refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.sandbox import ADMIN, VIEWER
from bot.sandbox.runner import BotRunner
from conftest import Chat
from handlers import callbacks as cb


async def test_token_status_from_debug_token(chat) -> None:
    (status,) = await chat.send("/token")
    text = status.text
    assert text.startswith("🟢 Instagram token")
    assert "State: valid (@sunflow.daily)" in text
    assert "(54 days left)" in text
    assert "Source: Graph API debug_token" in text
    assert [data for _, data in status.buttons()] == [cb.TOKEN_GUIDE, cb.TOKEN_SET_60, cb.TOKEN_RECHECK]


async def test_without_app_credentials_the_registered_expiry_is_used(sandbox, make_settings) -> None:
    async with BotRunner(make_settings(debug_token=False)) as runner:
        chat = Chat(sandbox, runner)
        (unknown,) = await chat.send("/token")
        assert unknown.text.startswith("🟡")
        assert "unknown: register it with /token set-expiry <days>" in unknown.text

        (done,) = await chat.send("/token set-expiry 30")
        assert "Token expiry registered: 30 days" in done.text
        stored = runner.store.token_expiry()
        assert timedelta(days=29, hours=23) < stored - runner.services.clock() <= timedelta(days=30)

        (status,) = await chat.send("/token")
        assert "(30 days left)" in status.text
        assert "registered with set-expiry by @mina_admin" in status.text
        assert status.text.startswith("🟢")


@pytest.mark.parametrize("arguments", ["0", "91", "abc", "1.5", "-3", "", "30 40"])
async def test_set_expiry_rejects_bad_input_clearly(chat, arguments) -> None:
    (reply,) = await chat.send(f"/token set-expiry {arguments}".strip())
    assert "takes a whole number of days from 1 to 90" in reply.text
    assert chat.store.token_expiry() is None


async def test_set_expiry_needs_an_admin(chat) -> None:
    (reply,) = await chat.send("/token set-expiry 30", user=VIEWER)
    assert reply.text == "/token set-expiry: only an admin can do this."
    assert chat.store.token_expiry() is None
    denied = chat.store.audit_records(event="access.denied")
    assert denied and denied[0].actor.startswith(f"tg:{VIEWER.id}")


async def test_buttons_guide_set_60_and_recheck(chat) -> None:
    (status,) = await chat.send("/token")

    before = len(chat.bot_messages())
    answer = await chat.press(status, 0)  # guide
    guide = chat.bot_messages()[before:]
    assert len(guide) == 1 and guide[0].text.startswith("📖 Renewing the Instagram token")
    assert "set-expiry 60" in guide[0].text and answer["text"] in (None, "")

    refused = await chat.press(status, 1, user=VIEWER)  # set 60 days, as a viewer
    assert refused["show_alert"] and "only an admin" in refused["text"]
    assert chat.store.token_expiry() is None

    done = await chat.press(status, 1, user=ADMIN)
    assert done["text"].startswith("Expiry registered: ")
    expiry = chat.store.token_expiry()
    assert timedelta(days=59, hours=23) < expiry - chat.services.clock() <= timedelta(days=60)
    assert chat.store.audit_records(event="token.set_expiry")[0].actor == "tg:1001 @mina_admin"
    # debug_token stays the authority for the date, and the registration shows beside it
    refreshed = chat.tg.message(status.chat_id, status.message_id)
    assert "Source: Graph API debug_token" in refreshed.text
    assert f"Registered: {expiry.astimezone(chat.services.settings.timezone):%Y-%m-%d} (by @mina_admin)" in refreshed.text

    chat.sandbox.instagram.set_fault("token_expired")
    await chat.press(status, 2)  # re-check
    refreshed = chat.tg.message(status.chat_id, status.message_id)
    assert refreshed.text.startswith("🔴 Instagram token")
    assert "State: expired" in refreshed.text


async def test_token_guide_command_and_usage(chat) -> None:
    (guide,) = await chat.send("/token guide")
    assert guide.text.startswith("📖 Renewing the Instagram token")
    assert len([line for line in guide.text.splitlines() if line[:2] in {f"{n}." for n in range(1, 7)}]) == 6
    (usage,) = await chat.send("/token rotate now")
    assert usage.text.startswith("Usage: /token")


async def test_expired_token_is_shown_as_such(chat) -> None:
    chat.sandbox.instagram.set_fault("token_expired")
    (status,) = await chat.send("/token")
    assert status.text.startswith("🔴")
    assert "State: expired — token expired (HTTP 400, Graph 190/463)" in status.text
