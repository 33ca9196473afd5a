"""`sunflow-ops watchdog` from cron: the bot silent (an old or missing heartbeat) or Telegram
down is an outage, alerted once through the fallback channels; its end is said once too.
`sunflow-ops outbox` shows what went to the outbox."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.clock import utc_now
from bot.notify.heartbeat import beat
from bot.sandbox.webhook import FakeWebhook

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def webhook() -> Iterator[FakeWebhook]:
    fake = FakeWebhook().start()
    yield fake
    fake.stop()


def _cli(sandbox, tmp_path: Path, webhook: FakeWebhook, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **sandbox.env(lang="en"), "PYTHONPATH": str(ROOT),
           "FALLBACK_WEBHOOK_URL": webhook.url + "/hook", "WATCHDOG_STALE": "5m"}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def test_a_silent_bot_is_alerted_once_and_its_return_said(sandbox, tmp_path, webhook) -> None:
    down = _cli(sandbox, tmp_path, webhook, "watchdog")
    assert down.returncode == 2 and "never written a heartbeat" in down.stdout
    assert "alerted by webhook, outbox" in down.stdout
    [alert] = webhook.received
    assert alert["title"] == "SunFlow Ops: the bot is silent or down"

    again = _cli(sandbox, tmp_path, webhook, "watchdog")
    assert again.returncode == 2 and "alerted already" in again.stdout
    assert len(webhook.received) == 1  # once per outage

    beat(sandbox.data_dir, utc_now())
    back = _cli(sandbox, tmp_path, webhook, "watchdog")
    assert back.returncode == 0 and "healthy again" in back.stdout
    assert webhook.received[-1]["title"] == "SunFlow Ops: the bot is back"
    fine = _cli(sandbox, tmp_path, webhook, "watchdog")
    assert fine.returncode == 0 and fine.stdout.startswith("healthy:") and len(webhook.received) == 2

    shown = _cli(sandbox, tmp_path, webhook, "outbox")
    assert "the bot is silent or down" in shown.stdout and "the bot is back" in shown.stdout


def test_an_old_heartbeat_or_telegram_down_is_an_outage(sandbox, tmp_path, webhook) -> None:
    # (the watchdog is another process: under faketime its clock starts afresh, so only the
    # order of magnitude of the age is asserted)
    beat(sandbox.data_dir, utc_now() - timedelta(minutes=30))
    old = _cli(sandbox, tmp_path, webhook, "watchdog")
    assert old.returncode == 2 and re.search(r"last heartbeat is \d+ min old", old.stdout), old.stdout
    beat(sandbox.data_dir, utc_now())
    assert _cli(sandbox, tmp_path, webhook, "watchdog").returncode == 0
    sandbox.telegram.set_fault("5xx", methods="getMe")
    down = _cli(sandbox, tmp_path, webhook, "watchdog")
    assert down.returncode == 2 and "Telegram getMe failed" in down.stdout
    assert sandbox.env()["TELEGRAM_BOT_TOKEN"] not in down.stdout + str(webhook.received)


def test_the_watchdog_alerts_when_the_bot_is_killed(sandbox, tmp_path, webhook) -> None:
    env = {**os.environ, **sandbox.env(lang="en"), "PYTHONPATH": str(ROOT), "CHECK_EVERY": "0"}
    bot = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        heartbeat = sandbox.data_dir / "heartbeat"
        deadline = time.monotonic() + 30
        while not heartbeat.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert heartbeat.exists(), "the running bot writes a heartbeat"
        fine = _cli(sandbox, tmp_path, webhook, "watchdog")
        assert fine.returncode == 0, fine.stdout
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=10)
        last = datetime.fromisoformat(heartbeat.read_text().strip())
        assert _cli(sandbox, tmp_path, webhook, "watchdog").returncode == 0  # not stale yet
        # three minutes on (dated back rather than waited for): the killed bot wrote no more
        beat(sandbox.data_dir, last - timedelta(minutes=3))
        down = subprocess.run([sys.executable, "-m", "bot.cli", "watchdog"], cwd=tmp_path, timeout=60,
                              env={**env, "FALLBACK_WEBHOOK_URL": webhook.url + "/hook",
                                   "WATCHDOG_STALE": "2m"}, capture_output=True, text=True)
        assert down.returncode == 2 and "last heartbeat is" in down.stdout, down.stdout
        assert [a["title"] for a in webhook.received] == ["SunFlow Ops: the bot is silent or down"]
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait(timeout=10)
