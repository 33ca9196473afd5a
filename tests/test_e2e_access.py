"""Who gets answers, forged buttons, the error handler, commands, and secrets never leaking."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

from bot.logging_setup import configure_logging
from bot.secrets import MASK
from bot.store import StoreError
from bot.sandbox import ADMIN, OPERATOR, OPS_CHAT, STRANGER, STRANGER_CHAT, VIEWER, private_chat
from bot.sandbox.runner import BotRunner
from bot.sandbox.telegram import TgChat
from bot.clock import utc_now
from conftest import Chat

REFUSAL = "This is SunFlow Ops, the SunFlow team's incident bot."


async def test_a_stranger_chat_gets_one_polite_refusal_and_every_attempt_is_audited(chat) -> None:
    first = await chat.send("/health", user=STRANGER, chat=STRANGER_CHAT)
    assert len(first) == 1 and first[0].text.startswith(REFUSAL)
    again = await chat.send("/token", user=STRANGER, chat=STRANGER_CHAT)
    assert again == [], "one refusal per chat per day, not one per message"
    records = chat.store.audit_records(event="access.refused", chat_id=STRANGER_CHAT.id)
    assert [r.detail["what"] for r in records] == ["/token", "/health"]
    assert all(r.actor == f"tg:{STRANGER.id} @random_person" for r in records)
    assert chat.bot_messages(OPS_CHAT) == [], "nothing leaked into the ops group"


async def test_private_chats_are_for_listed_people_only(chat) -> None:
    (refused,) = await chat.send("/health", user=VIEWER, chat=private_chat(VIEWER))
    assert refused.text.startswith(REFUSAL)
    (answered,) = await chat.send("/token", user=OPERATOR, chat=private_chat(OPERATOR))
    assert answered.text.startswith("🟢 Instagram token")
    (start,) = await chat.send("/start", user=ADMIN, chat=private_chat(ADMIN))
    assert "SunFlow Ops" in start.text and "registered operators and admins" in start.text


async def test_group_members_may_look_but_not_change(chat) -> None:
    (report,) = await chat.send("/health", user=VIEWER)
    assert report.text.startswith("🟢 All systems normal")
    (helped,) = await chat.send("/help", user=VIEWER)
    assert "/health" in helped.text and "/token set-expiry" in helped.text
    assert "You are an admin" not in helped.text
    (admin_help,) = await chat.send("/help")
    assert "You are an admin" in admin_help.text


async def test_forged_or_stale_buttons_change_nothing(chat) -> None:
    (status,) = await chat.send("/token")
    for data in ("v1:t:exp999", "v1:t:exp60:extra", "v0:h:re", "garbage", "x" * 64):
        answer = await chat.press(status, data=data)
        assert answer["text"] == "This button is no longer valid." and answer["show_alert"]
    assert chat.store.token_expiry() is None
    assert chat.tg.message(status.chat_id, status.message_id).edits == 1
    assert len(chat.bot_messages()) == 1


async def test_a_button_in_a_stranger_chat_is_refused_and_answered(chat) -> None:
    (refusal,) = await chat.send("/health", user=STRANGER, chat=STRANGER_CHAT)
    answer = await chat.press(refusal, data="v1:t:exp60", user=STRANGER, chat=STRANGER_CHAT)
    assert answer["show_alert"] and "only serves the SunFlow ops team" in answer["text"]
    assert chat.store.token_expiry() is None


async def test_commands_are_announced_in_korean_english_and_by_default(chat) -> None:
    for lang in ("ko", "en", None):
        names = [c["command"] for c in chat.tg.commands_for(None, lang)]
        assert names == ["health", "token", "incident", "incidents", "stats", "runbooks", "backups", "rollback", "silences", "help",
                         "start"], lang
    korean = {c["command"]: c["description"] for c in chat.tg.commands_for(None, "ko")}
    assert korean["health"] == "파이프라인 구성 요소 상태"


async def test_a_failing_handler_is_logged_answered_briefly_and_polling_goes_on(
        chat, monkeypatch, caplog) -> None:
    async def broken() -> None:
        raise RuntimeError("simulated bug in the token check")

    monkeypatch.setattr(chat.services, "token_status", broken)
    with caplog.at_level(logging.ERROR):
        sent = await chat.send("/token")
    note = sent[-1]
    assert note.text.startswith("⚠️ Something went wrong handling that (ref E-")
    assert "simulated bug" not in note.text
    failure = [r for r in caplog.records if r.getMessage().startswith("update failed")]
    assert failure and failure[0].exc_info and "simulated bug" in str(failure[0].exc_info[1])
    (report,) = await chat.send("/health token")
    assert report.text.startswith("🟢"), "the bot keeps polling after an error"


async def test_the_bot_rides_out_a_telegram_429(chat) -> None:
    chat.tg.set_fault("rate_limited", retry_after=1, methods="sendMessage", times=1)
    sent = await chat.send("/help")
    assert len(sent) == 1 and sent[0].text.startswith("SunFlow Ops commands")


async def test_no_configured_secret_appears_in_anything_sent_or_logged(
        sandbox, make_settings, restore_logging) -> None:
    settings = make_settings()
    stream = io.StringIO()
    configure_logging(settings.redactor(), level=logging.DEBUG, stream=stream,
                      log_file=settings.data_dir / "sunflow-ops.log")
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        await chat.send("/health")
        await chat.send("/token")
        await chat.send("/token guide")
        sandbox.instagram.set_fault("token_invalid")
        sandbox.fal.set_fault("key_invalid")
        sandbox.cloudinary.set_fault("auth")
        await chat.send("/health")
        await chat.send("/token set-expiry 45")
        await chat.send("/health", user=STRANGER, chat=STRANGER_CHAT)
        await chat.press(chat.bot_messages()[0], data="forged")
        pasted = sandbox.instagram.issue_token()  # a token the bot learns only once it reads it
        await chat.send(pasted, chat=private_chat(ADMIN))
    for handler in logging.getLogger().handlers:
        handler.flush()
    logged = stream.getvalue() + (settings.data_dir / "sunflow-ops.log").read_text()
    sent = [m.html or m.text or "" for c in (OPS_CHAT, STRANGER_CHAT) for m in sandbox.telegram.messages(c.id)]
    answers = [a.get("text") or "" for a in sandbox.telegram.callback_answers.values()]
    everything = "\n".join([logged, *sent, *answers])
    # python-telegram-bot logs its base URL, token included, at DEBUG: it must arrive masked
    assert "Set Bot API URL: " in logged and MASK in logged
    # what getUpdates returned (people's messages, a token among them) is never written
    assert "Calling Bot API endpoint `getUpdates`" in logged
    assert "`getUpdates` finished with return value" not in logged
    for secret in [*settings.secret_values(), pasted]:
        assert secret not in everything, f"a secret leaked ({len(secret)} chars)"


async def test_chatter_in_a_stranger_group_is_ignored_not_audited(chat) -> None:
    assert await chat.send("anyone seen the deploy?", user=STRANGER, chat=STRANGER_CHAT) == []
    assert chat.store.audit_records(event="access.refused") == []
    (refusal,) = await chat.send("/health", user=STRANGER, chat=STRANGER_CHAT)
    assert refusal.text.startswith(REFUSAL)


async def test_the_gate_fails_closed_when_the_refusal_cannot_be_sent(chat) -> None:
    chat.tg.set_fault("5xx", methods="sendMessage", times=1)
    await chat.send("/token", user=STRANGER, chat=STRANGER_CHAT)
    texts = [m.text or "" for m in chat.bot_messages(STRANGER_CHAT)]
    assert not any("Instagram token" in t for t in texts), "a stranger got the token report"
    assert chat.store.audit_records(event="access.refused"), "the attempt is still on record"


async def test_the_gate_fails_closed_when_the_audit_cannot_be_written(chat, monkeypatch) -> None:
    def disk_full(*args, **kwargs):
        raise StoreError("could not write store.journal: [Errno 28] No space left on device")

    monkeypatch.setattr(chat.store, "audit", disk_full)
    sent = await chat.send("/health", user=STRANGER, chat=STRANGER_CHAT)
    assert not any("All systems normal" in (m.text or "") for m in sent)


async def test_a_burst_of_messages_from_a_stranger_gets_one_refusal(chat) -> None:
    stranger_dm = private_chat(STRANGER)
    burst = [chat.tg.send_message(stranger_dm, STRANGER, f"/health {n}") for n in range(40)]
    for message in burst:
        assert await chat.runner.wait_handled(message.update_id, timeout=20)
    assert len(chat.bot_messages(stranger_dm)) == 1, "one refusal a day, however fast they come"
    assert len(chat.store.audit_records(event="access.refused", chat_id=STRANGER.id)) == 40


async def test_the_refusal_is_repeated_after_a_day(chat) -> None:
    assert len(await chat.send("/health", user=STRANGER, chat=STRANGER_CHAT)) == 1
    assert await chat.send("/health", user=STRANGER, chat=STRANGER_CHAT) == []
    tomorrow = utc_now() + timedelta(hours=25)
    chat.services.clock = lambda: tomorrow
    assert len(await chat.send("/health", user=STRANGER, chat=STRANGER_CHAT)) == 1


async def test_a_press_too_old_to_answer_still_does_its_work(chat) -> None:
    (report,) = await chat.send("/health")
    chat.sandbox.instagram.set_fault("token_expired")
    chat.tg.callback_query_ttl_s = 0.0  # Telegram: "query is too old and response timeout expired"
    query_id = chat.tg.press(OPS_CHAT, ADMIN, report.message_id, 0)
    assert await chat.runner.wait_handled(chat.tg.last_update_id, timeout=20)
    assert query_id not in chat.tg.callback_answers
    edited = chat.tg.message(report.chat_id, report.message_id)
    assert "🔴 Token" in edited.text, "the re-check ran although the press could not be answered"
    assert not any("Something went wrong" in (m.text or "") for m in chat.bot_messages())


async def test_replies_stay_in_the_forum_topic_they_were_asked_in(chat) -> None:
    forum = TgChat(id=OPS_CHAT.id, type="supergroup", title=OPS_CHAT.title, is_forum=True)
    chat.tg.add_chat(forum)
    message = chat.tg.send_message(forum, ADMIN, "/health", thread_id=77)
    assert await chat.runner.wait_handled(message.update_id, timeout=20)
    (report,) = chat.bot_messages(forum)
    assert report.message_thread_id == 77 and report.text.startswith("🟢 All systems normal")
