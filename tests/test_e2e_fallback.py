"""When the fake Telegram refuses the bot's messages: a detected failure reaches the outbox at
once, a loopback webhook and a loopback SMTP server once Telegram has failed for longer than
TELEGRAM_DOWN_AFTER, and the group gets one summary when Telegram carries messages again."""

from __future__ import annotations

import asyncio
import socket
import time
from email import message_from_bytes

from aiosmtpd.controller import Controller

from bot.adapters.outbox import OutboxChannel
from bot.detection.signals import make_signal
from bot.sandbox import OPS_CHAT
from bot.sandbox.runner import BotRunner
from bot.sandbox.webhook import FakeWebhook
from conftest import Chat


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


async def test_alerts_reach_the_other_channels_then_the_group_hears_what_it_missed(
        sandbox, make_settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    webhook = FakeWebhook().start()
    try:
        settings = make_settings(TELEGRAM_DOWN_AFTER="10s", FALLBACK_WEBHOOK_URL=webhook.url + "/hook",
                                 SMTP_HOST="127.0.0.1", SMTP_PORT=str(port), SMTP_STARTTLS="false",
                                 SMTP_FROM="bot@sunflow.example", ALERT_EMAIL_TO="oncall@sunflow.example",
                                 CHECK_EVERY="0")
        async with BotRunner(settings) as runner:
            chat = Chat(sandbox, runner)
            detector = runner.application.bot_data["sunflow"].detector
            outbox = OutboxChannel(settings.data_dir / "outbox.jsonl")
            sandbox.telegram.set_fault("5xx", status=502, methods="sendMessage")

            await detector.receive(make_signal("intake", "cloudinary", "upload 401", at=runner.services.clock()))
            assert len(outbox.read()) == 1 and webhook.received == [] and inbox.messages == []

            began = time.monotonic()
            while time.monotonic() - began < 10.5:  # Telegram failing for longer than 10 s
                await asyncio.sleep(0.5)
            await detector.receive(make_signal("intake", "fal", "generation failed", at=runner.services.clock()))
            assert len(outbox.read()) == 2
            assert await sandbox.telegram.await_for(lambda: len(webhook.received) == 1, timeout=5)
            assert "before this, 1 alert(s) went to the outbox only" in webhook.received[0]["text"]
            assert len(inbox.messages) == 1 and "Image generation" in inbox.messages[0]["Subject"]

            sandbox.telegram.clear_faults()
            await detector.receive(make_signal("intake", "stats", "stale", at=runner.services.clock()))
            assert await chat.tg.await_for(lambda: any(
                (m.text or "").startswith("📬 Telegram was unreachable from")
                for m in chat.bot_messages(OPS_CHAT)), timeout=10)
            [summary] = [m for m in chat.bot_messages(OPS_CHAT) if (m.text or "").startswith("📬")]
            assert "2 alerts" in summary.text and "webhook, email" in summary.text
            assert webhook.url not in summary.text
    finally:
        webhook.stop()
        smtp.stop()
