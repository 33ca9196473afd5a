"""Token reminders: 14, 7, 3, 1 days before and on the day, each once (also across restarts),
only the most urgent after a gap; to the group and each admin directly; the weekly report."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from types import SimpleNamespace

import pytest

from bot.clock import utc_now
from bot.config import parse_report_time
from bot.detection.reminders import due, remember
from bot.sandbox import ADMIN, OPS_CHAT, private_chat
from bot.sandbox.runner import BotRunner
from conftest import Chat
from handlers.token_reminders import token_reminder_job, token_report_job

NOW = datetime(2026, 12, 5, 0, 0, tzinfo=timezone.utc)
KST = timezone(timedelta(hours=9))


def reminder_at(days_left: float, sent: list[str]) -> tuple[int | None, list[str]]:
    found = due(NOW + timedelta(days=days_left), NOW, sent, tz=KST)
    return (None, sent) if found is None else (found.days, remember(sent, found))


def test_each_threshold_once_and_only_the_most_urgent_after_a_gap() -> None:
    sent: list[str] = []
    assert reminder_at(20, sent)[0] is None
    days, sent = reminder_at(13.5, sent)
    assert days == 14
    assert reminder_at(13.4, sent)[0] is None  # sent already
    days, sent = reminder_at(6.9, sent)
    assert days == 7
    days, sent = reminder_at(2.5, sent)  # the bot was off on the way: 3 only, not 3 and more
    assert days == 3
    days, sent = reminder_at(0.5, sent)
    assert days == 0  # on the day (1 was skipped: the day itself is more urgent)
    assert reminder_at(0.4, sent)[0] is None
    assert due(NOW - timedelta(hours=1), NOW, [], tz=KST) is None  # expired: the incident's business
    assert due(None, NOW, [], tz=KST) is None
    # a new token, a new date: its reminders start afresh
    assert due(NOW + timedelta(days=10.2), NOW, sent, tz=KST).days == 14


@pytest.mark.parametrize(("text", "parsed"), [
    ("mon 09:00", (0, time(9, 0))), ("Friday 17:30", (4, time(17, 30))), ("sun 0:05", (6, time(0, 5))),
    ("someday 09:00", None), ("mon 24:00", None), ("mon", None),
])
def test_the_weekly_report_time(text, parsed) -> None:
    assert parse_report_time(text) == parsed


async def test_a_due_reminder_goes_to_the_group_and_each_admin_once(sandbox, make_settings) -> None:
    sandbox.instagram.token_expires_at = utc_now() + timedelta(days=6, hours=12)
    async with BotRunner(make_settings()) as runner:
        chat = Chat(sandbox, runner)
        job = SimpleNamespace(application=runner.application, bot=runner.application.bot)
        await token_reminder_job(job)
        [group] = [m for m in chat.bot_messages(OPS_CHAT) if m.text.startswith("⏰")]
        assert group.text.startswith("⏰ The Instagram token expires in 6 days")
        assert "Instagram token" in group.text and "State: valid" in group.text
        assert [d for _, d in group.buttons()][0] == "v1:t:guide"
        assert any("start=rotate" in b.get("url", "") for row in group.button_rows() for b in row)
        [direct] = [m for m in chat.tg.bot_messages(private_chat(ADMIN).id) if m.text.startswith("⏰")]
        assert direct.text == group.text
        await token_reminder_job(job)  # once
        assert len([m for m in chat.bot_messages(OPS_CHAT) if m.text.startswith("⏰")]) == 1
    async with BotRunner(make_settings()) as runner:  # once, also after a restart
        chat = Chat(sandbox, runner)
        await token_reminder_job(SimpleNamespace(application=runner.application, bot=runner.application.bot))
        assert len([m for m in chat.bot_messages(OPS_CHAT) if m.text.startswith("⏰")]) == 1


async def test_the_weekly_report(chat) -> None:
    await token_report_job(SimpleNamespace(application=chat.runner.application,
                                           bot=chat.runner.application.bot))
    [report] = [m for m in chat.bot_messages(OPS_CHAT) if m.text.startswith("📅")]
    assert report.text.startswith("📅 Weekly token check") and "(54 days left)" in report.text


async def test_the_jobs_are_scheduled_at_the_configured_weekday_and_hour(sandbox, make_settings) -> None:
    async with BotRunner(make_settings(TOKEN_REPORT="wed 17:30", BOT_TIMEZONE="Asia/Seoul")) as runner:
        jobs = {job.name: job for job in runner.application.job_queue.jobs()}
        report = jobs["token-report"].next_t.astimezone(runner.services.settings.timezone)
        assert (report.weekday(), report.hour, report.minute) == (2, 17, 30)  # Wednesday, KST
        assert "token-reminders" in jobs
    async with BotRunner(make_settings(TOKEN_REPORT="off")) as runner:
        assert "token-report" not in {job.name for job in runner.application.job_queue.jobs()}
