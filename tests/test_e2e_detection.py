"""Detection in the running bot: the scheduled check (on the JobQueue) opens the failing
component's incident in the group by itself, within one check interval."""

from __future__ import annotations

import time

from bot.sandbox import OPS_CHAT
from bot.sandbox.runner import BotRunner
from conftest import Chat


async def test_a_fault_opens_its_incident_within_one_interval(sandbox, make_settings) -> None:
    async with BotRunner(make_settings(CHECK_EVERY="10s")) as runner:
        chat = Chat(sandbox, runner)
        sandbox.cloudinary.set_fault("auth")
        began = time.monotonic()
        assert await chat.tg.await_for(lambda: any(
            "Cloudinary" in (m.text or "") and "Detected" in (m.text or "")
            for m in chat.bot_messages(OPS_CHAT)), timeout=14)
        assert time.monotonic() - began <= 10 + 2
        [incident] = runner.application.bot_data["sunflow"].engine.unresolved()
        assert incident.opened_by == "detector" and incident.scenario == "cloudinary-upload"
