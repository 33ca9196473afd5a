"""Every document the group is owed is delivered: tried again while Telegram refuses it, sent at
the next start, and at once on /incident <id>; never twice."""

from __future__ import annotations

import handlers.deliveries as deliveries
from bot.sandbox import OPS_CHAT
from bot.sandbox.runner import BotRunner
from conftest import Chat
from tests.incident_walk import Walk, open_incident


def documents(chat, suffix: str) -> list:
    return [m for m in chat.tg.bot_messages(OPS_CHAT.id)
            if m.document is not None and m.document.filename.endswith(suffix)]


async def _write_up_while_documents_fail(chat) -> Walk:
    walk = await open_incident(chat, "/incident stats")
    await walk.walk()
    chat.tg.set_fault("5xx", methods=["sendDocument"])  # Telegram answers 502 for a while
    await walk.press("res")
    for answer in ("the collector's cron line was deleted", "cron is in the deploy checklist"):
        question = walk.incident["pending_reply"]["message_id"]
        await chat.send(answer, reply_to=question)
    incident = walk.incident
    assert incident["postmortem"]["written_at"] and documents(chat, "-postmortem.md") == []
    assert [entry["kind"] for entry in incident["owed"]] == ["postmortem"]
    return walk


async def test_a_postmortem_refused_by_telegram_is_tried_again_until_delivered(
        chat, sandbox, monkeypatch) -> None:
    monkeypatch.setattr(deliveries, "RETRY_AFTER_S", (0.3, 0.6))
    walk = await _write_up_while_documents_fail(chat)
    assert "written" in walk.live().text
    assert not await chat.tg.await_for(lambda: documents(chat, "-postmortem.md"), timeout=1.0)
    chat.tg.clear_faults()  # Telegram is back: no restart, no command
    assert await chat.tg.await_for(lambda: documents(chat, "-postmortem.md"), timeout=5)
    await chat.runner.settle()
    (sent,) = documents(chat, "-postmortem.md")
    assert sent.reply_to_message_id == walk.live().message_id and walk.ref in sent.document.data.decode()
    assert walk.incident["owed"] == []


async def test_what_is_owed_goes_out_at_the_next_start_and_only_once(sandbox, make_settings) -> None:
    settings = make_settings()
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        walk = await _write_up_while_documents_fail(chat)
        kept = sorted(p.name for p in (settings.data_dir / "documents" / walk.ref).iterdir())
        assert f"{walk.ref}-postmortem.md" in kept  # with the log bundle, delivered earlier
    sandbox.telegram.clear_faults()
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        assert await chat.tg.await_for(lambda: documents(chat, "-postmortem.md"), timeout=10)
        await runner.settle()
        assert len(documents(chat, "-postmortem.md")) == 1
        assert Walk(chat, walk.ref).incident["owed"] == []
    async with BotRunner(settings) as runner:  # delivered is delivered: not sent again
        await runner.settle()
        assert len(documents(Chat(sandbox, runner), "-postmortem.md")) == 1


async def test_a_log_bundle_owed_is_sent_at_once_on_incident_id(chat, sandbox, monkeypatch) -> None:
    monkeypatch.setattr(deliveries, "RETRY_AFTER_S", (60.0,))  # the retry would be far off
    chat.tg.set_fault("5xx", methods=["sendDocument"])
    walk = await open_incident(chat, "/incident cloudinary")
    await walk.walk(until_phase="respond")  # diagnose collects the logs into a bundle
    assert documents(chat, ".tar.gz") == []
    assert [entry["filename"].endswith(".tar.gz") for entry in walk.incident["owed"]] == [True]
    chat.tg.clear_faults()
    await chat.send(f"/incident {walk.ref}")
    (bundle,) = documents(chat, ".tar.gz")
    assert bundle.reply_to_message_id == walk.live().message_id
    assert walk.incident["owed"] == []


async def test_a_kept_file_removed_by_hand_is_reported_not_retried_forever(
        chat, sandbox, monkeypatch, caplog) -> None:
    monkeypatch.setattr(deliveries, "RETRY_AFTER_S", (0.2,))
    walk = await _write_up_while_documents_fail(chat)
    for path in (chat.runner.settings.data_dir / "documents" / walk.ref).iterdir():
        path.unlink()
    chat.tg.clear_faults()
    assert await chat.tg.await_for(lambda: walk.incident["owed"] == [], timeout=5)
    assert documents(chat, "-postmortem.md") == []
    assert any("gone from DATA_DIR" in r.getMessage() for r in caplog.records)
