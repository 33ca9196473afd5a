"""`sunflow-ops watchdog` from cron: the bot silent (an old or missing heartbeat) or Telegram
down is an outage, alerted once through the fallback channels; its end is said once too.
`sunflow-ops outbox` shows what went to the outbox."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
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
    beat(sandbox.data_dir, utc_now() - timedelta(minutes=9))
    old = _cli(sandbox, tmp_path, webhook, "watchdog")
    assert old.returncode == 2 and "last heartbeat is 9 min old" in old.stdout
    beat(sandbox.data_dir, utc_now())
    assert _cli(sandbox, tmp_path, webhook, "watchdog").returncode == 0
    sandbox.telegram.set_fault("5xx", methods="getMe")
    down = _cli(sandbox, tmp_path, webhook, "watchdog")
    assert down.returncode == 2 and "Telegram getMe failed" in down.stdout
    assert sandbox.env()["TELEGRAM_BOT_TOKEN"] not in down.stdout + str(webhook.received)
