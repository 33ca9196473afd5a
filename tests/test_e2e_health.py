"""/health end to end: the real Application polling the sandbox Telegram, real SDKs to the fakes."""

from __future__ import annotations

import asyncio

import pytest

from bot.sandbox import ADMIN, OPS_CHAT, VIEWER, Sandbox
from bot.sandbox.home import corrupt_stats, make_stats_stale, remove_stats
from bot.sandbox.runner import BotRunner
from conftest import Chat
from bot.health import COMPONENTS
from handlers import callbacks as cb

NAMES = {"instagram": "Instagram", "token": "Token", "cloudinary": "Cloudinary", "fal": "fal.ai",
         "telegram": "Telegram", "stats": "Statistics", "logs": "Logs", "store": "Bot store"}


def line_for(text: str, component: str) -> str:
    matches = [line for line in text.splitlines() if f" {NAMES[component]} · " in line]
    assert len(matches) == 1, f"no single line for {component} in:\n{text}"
    return matches[0]


async def test_health_all_ok_in_one_message_with_a_recheck_button(chat) -> None:
    sent = await chat.send("/health")
    assert len(sent) == 1, "one message: the report (ready within a second, so no placeholder)"
    report = sent[0]
    assert report.edits == 0
    lines = report.text.splitlines()
    assert lines[0].startswith("🟢 All systems normal")
    assert len(lines) == 1 + len(COMPONENTS)
    assert all(line.startswith("🟢") for line in lines[1:]), report.text
    assert "publishing quota 0/100 per 24 h" in line_for(report.text, "instagram")
    assert "54 days left" in line_for(report.text, "token")
    assert "ms ·" in line_for(report.text, "cloudinary")
    assert report.buttons() == [("🔄 Check again", cb.HEALTH_RECHECK)]


FAULTS = [
    # (fake, mode, params, component, icon, words in the reason)
    ("instagram", "token_expired", {}, "token", "🔴", "token expired"),
    ("instagram", "token_expired", {}, "instagram", "🔴", "190/463"),
    # graph.instagram.com's form: no subcode, the message says so
    ("instagram", "token_expired", {"subcode": "none"}, "token", "🔴", "token expired"),
    ("instagram", "token_invalid", {"subcode": 460}, "token", "🔴", "credentials rejected"),
    ("instagram", "rate_limited", {"retry_after": 900}, "instagram", "🟡", "retry in ~15 min"),
    ("instagram", "rate_limited", {"code": 4, "retry_after": 60}, "instagram", "🟡", "Graph 4"),
    ("instagram", "rate_limited", {"http429": True}, "instagram", "🟡", "HTTP 429"),
    ("instagram", "5xx", {}, "instagram", "🔴", "service unavailable"),
    ("instagram", "hang", {}, "instagram", "🔴", "timed out"),
    ("cloudinary", "auth", {}, "cloudinary", "🔴", "credentials rejected"),
    ("cloudinary", "rate_limited", {}, "cloudinary", "🟡", "rate limited"),
    ("cloudinary", "rate_limited", {"status": 429}, "cloudinary", "🟡", "HTTP 429"),
    ("cloudinary", "quota", {}, "cloudinary", "🔴", "credits 104% used"),
    ("cloudinary", "5xx", {}, "cloudinary", "🔴", "service unavailable"),
    ("cloudinary", "hang", {}, "cloudinary", "🔴", "timed out"),
    ("fal", "key_invalid", {}, "fal", "🔴", "credentials rejected"),
    # an account lock: fal's support may have to lift it even after a top-up
    ("fal", "quota", {"scope": "all"}, "fal", "🔴", "a person must act at the vendor"),
    ("fal", "quota", {"scope": "all", "reason": "admin"}, "fal", "🔴", "contact fal support"),
    ("fal", "rate_limited", {"retry_after": 120}, "fal", "🟡", "retry in ~2 min"),
    ("fal", "5xx", {}, "fal", "🔴", "service unavailable"),
    ("fal", "hang", {}, "fal", "🔴", "timed out"),
    ("telegram", "unauthorized", {"methods": "getMe"}, "telegram", "🔴", "credentials rejected"),
    ("telegram", "5xx", {"methods": "getMe"}, "telegram", "🔴", "service unavailable"),
    ("telegram", "hang", {"methods": "getMe"}, "telegram", "🔴", "timed out"),
]


@pytest.mark.parametrize(("fake", "mode", "params", "component", "icon", "words"), FAULTS,
                         ids=[f"{f[0]}-{f[1]}-{f[3]}" for f in FAULTS])
async def test_health_shows_each_provider_failing_each_way(chat, fake, mode, params, component, icon,
                                                           words) -> None:
    chat.sandbox.fakes[fake].set_fault(mode, **params)
    (report,) = await chat.send("/health")
    line = line_for(report.text, component)
    assert line.startswith(icon), line
    assert words in line, line
    expected_overall = "🔴 Something is down" if icon == "🔴" else "🟡 Degraded"
    assert report.text.splitlines()[0].startswith(expected_overall)
    # the other vendors still show their real state
    untouched = {"instagram": "cloudinary", "cloudinary": "fal", "fal": "instagram",
                 "telegram": "cloudinary"}[fake]
    assert line_for(report.text, untouched).startswith("🟢")
    assert line_for(report.text, "stats").startswith("🟢")


async def test_a_hung_probe_costs_its_timeout_and_the_rest_still_show(chat) -> None:
    chat.sandbox.cloudinary.set_fault("hang")
    (report,) = await chat.send("/health")
    cloud = line_for(report.text, "cloudinary")
    assert cloud.startswith("🔴") and "timed out" in cloud
    latency_ms = int(cloud.split(" · ")[1].split()[0])
    assert 800 <= latency_ms <= 3000  # cut at ~1 s; slack for a loaded machine
    for component in ("instagram", "token", "fal", "telegram", "stats", "logs", "store"):
        assert line_for(report.text, component).startswith("🟢"), component


@pytest.mark.parametrize(
    ("drill", "icon", "words"),
    [
        (lambda home: make_stats_stale(home, 30), "🟡", "stale: updated 30.0 h ago (limit 26 h)"),
        (remove_stats, "🔴", "instagram_stats.json is missing"),
        (corrupt_stats, "🔴", "cannot be read as JSON"),
    ],
    ids=["stale", "missing", "corrupt"],
)
async def test_health_statistics_freshness(chat, drill, icon, words) -> None:
    drill(chat.sandbox.home)
    (report,) = await chat.send("/health")
    line = line_for(report.text, "stats")
    assert line.startswith(icon) and words in line, line


async def test_recent_pipeline_errors_degrade_the_logs_line(sandbox, make_settings, tmp_path) -> None:
    busy = Sandbox.start(tmp_path / "busy", history_age_h=0)
    try:
        settings = make_settings(SUNFLOW_HOME=str(busy.home))
        async with BotRunner(settings) as runner:
            (report,) = await Chat(sandbox, runner).send("/health logs")
        line = line_for(report.text, "logs")
        assert line.startswith("🟡") and "errors in 24 h" in line, line
    finally:
        busy.stop()


async def test_recheck_edits_the_same_message(chat) -> None:
    (report,) = await chat.send("/health")
    assert line_for(report.text, "token").startswith("🟢")
    chat.sandbox.instagram.set_fault("token_expired")
    answer = await chat.press(report, 0)
    assert answer["text"] == "Checking again…"
    assert len(chat.bot_messages()) == 1, "re-check edits, it does not post"
    edited = chat.tg.message(report.chat_id, report.message_id)
    assert edited.edits == 1
    assert line_for(edited.text, "token").startswith("🔴")
    assert edited.buttons() == [("🔄 Check again", cb.HEALTH_RECHECK)]


async def test_health_for_some_components_and_a_clear_error_for_unknown_ones(chat) -> None:
    (report,) = await chat.send("/health token stats")
    assert len(report.text.splitlines()) == 3
    assert line_for(report.text, "token") and line_for(report.text, "stats")
    (error,) = await chat.send("/health tokn")
    assert "Unknown component: tokn" in error.text and "instagram, token" in error.text


async def test_a_slow_health_check_does_not_hold_up_other_commands(sandbox, make_settings) -> None:
    async with BotRunner(make_settings(HEALTH_TIMEOUT_S="8")) as runner:
        chat = Chat(sandbox, runner)
        sandbox.instagram.set_fault("hang")
        slow = chat.tg.send_message(OPS_CHAT, ADMIN, "/health instagram")
        quick = await chat.send("/help", user=VIEWER)
        assert quick and quick[-1].text.startswith("SunFlow Ops commands")
        assert slow.update_id not in runner.application.handled_ids, "help waited for health"
        sandbox.instagram.clear_faults()  # releases the hung call: no need to wait 8 s
        assert await runner.wait_handled(slow.update_id, timeout=15)


async def test_a_damaged_store_is_announced_and_shown_until_reviewed(sandbox, make_settings) -> None:
    settings = make_settings()
    settings.data_dir.mkdir(parents=True)
    (settings.data_dir / "store.json").write_text('{"schema": 1, "tables": {"audit": ')  # torn
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        (notice,) = chat.bot_messages()
        assert notice.text.startswith("⚠️ The bot's store file store.json was damaged")
        (report,) = await chat.send("/health store")
        line = line_for(report.text, "store")
        assert line.startswith("🟡") and "store.json.damaged-" in line and "remove it once reviewed" in line
    async with BotRunner(settings) as runner:  # a restart: no second notice, still degraded
        chat = Chat(sandbox, runner)
        (report,) = await chat.send("/health store")
        assert line_for(report.text, "store").startswith("🟡")
        assert not any("was damaged" in (m.text or "") for m in chat.bot_messages()[1:])
    for moved in settings.data_dir.glob("*.damaged-*"):
        moved.unlink()  # reviewed
    async with BotRunner(settings) as runner:
        (report,) = await Chat(sandbox, runner).send("/health store")
        assert line_for(report.text, "store").startswith("🟢")


def vendor_calls(sandbox: Sandbox) -> dict[str, int]:
    return {name: len(fake.calls) for name, fake in sandbox.fakes.items() if name != "telegram"}


async def test_many_health_requests_share_one_round_of_vendor_calls_and_one_message(
        sandbox, make_settings) -> None:
    async with BotRunner(make_settings(HEALTH_SHARE_S="5", HEALTH_TIMEOUT_S="5")) as runner:
        chat = Chat(sandbox, runner)
        sandbox.instagram.set_fault("slow", delay_ms=1500)  # a slow vendor: a placeholder first
        before = vendor_calls(sandbox)
        asked = [chat.tg.send_message(OPS_CHAT, VIEWER, "/health") for _ in range(10)]
        for message in asked:
            assert await runner.wait_handled(message.update_id, timeout=20)
        spent = {name: n - before[name] for name, n in vendor_calls(sandbox).items()}
        assert spent == {"instagram": 3, "cloudinary": 2, "fal": 1}, spent  # one round
        reports = [m for m in chat.bot_messages() if "Instagram ·" in (m.text or "")]
        assert len(reports) == 1 and reports[0].edits == 1, [m.text for m in chat.bot_messages()]
        sandbox.clear_faults()
        (again,) = await chat.send("/health", user=VIEWER)  # back to back: the same round
        assert vendor_calls(sandbox) == {n: before[n] + spent[n] for n in spent}
        assert again.edits == 0 and "Instagram ·" in again.text
        await asyncio.sleep(2.5)
        (older,) = await chat.send("/health", user=VIEWER)  # still shared, and it says so
        assert vendor_calls(sandbox) == {n: before[n] + spent[n] for n in spent}
        assert "seconds ago, shared" in older.text.splitlines()[0], older.text
        await asyncio.sleep(3.0)  # HEALTH_SHARE_S later: a new round
        await chat.send("/health", user=VIEWER)
        assert vendor_calls(sandbox)["instagram"] == before["instagram"] + 6


async def test_the_recheck_button_forces_a_fresh_check_once_a_while_per_person(chat, sandbox) -> None:
    (report,) = await chat.send("/health")
    before = vendor_calls(sandbox)
    assert (await chat.press(report, 0))["text"] == "Checking again…"
    after_first = vendor_calls(sandbox)
    assert after_first["instagram"] > before["instagram"]
    shared = await chat.press(report, 0)
    assert "moments ago" in shared["text"] and vendor_calls(sandbox) == after_first
    other = await chat.press(report, 0, user=VIEWER)  # another person may force one
    assert other["text"] == "Checking again…"

