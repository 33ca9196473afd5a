"""`sunflow-ops signal` from a shell: checked, stored, its scenario's incident opened or counted;
the bot shows the incident to the group at its next start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.sandbox import OPERATOR, OPS_CHAT
from bot.sandbox.runner import BotRunner
from conftest import Chat

ROOT = Path(__file__).resolve().parents[1]


def _cli(sandbox, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **sandbox.env(lang="en"), "PYTHONPATH": str(ROOT)}
    env.pop("SUNFLOW_OPERATOR", None)
    return subprocess.run([sys.executable, "-m", "bot.cli", "signal", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


async def test_a_signal_from_the_shell_opens_then_counts_and_the_bot_shows_it(
        sandbox, tmp_path, make_settings) -> None:
    me = ("--as", str(OPERATOR.id))
    first = _cli(sandbox, tmp_path, "cloudinary", "upload", "answered", "401", "--trace",
                 "SF-20261205-0001", *me)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.startswith("Signal taken: cloudinary failing; incident INC-")
    ref = first.stdout.split("incident ", 1)[1].split()[0]
    again = _cli(sandbox, tmp_path, "cloudinary", "still", "401", *me)
    assert again.returncode == 0 and f"counted on incident {ref}" in again.stdout

    async with BotRunner(make_settings()) as runner:
        chat = Chat(sandbox, runner)
        assert await chat.tg.await_for(
            lambda: any(ref in (m.text or "") for m in chat.bot_messages(OPS_CHAT)), timeout=10)
        live = next(m for m in chat.bot_messages(OPS_CHAT) if ref in (m.text or ""))
        assert "🔁 Detected: Cloudinary failing, 2 times" in live.text
        incident = runner.application.bot_data["sunflow"].engine.by_ref(ref)
        assert incident.trace_ids == ("SF-20261205-0001",)
        assert runner.store.count("signals") == 2


def test_bad_input_is_refused_before_anything_is_stored(sandbox, tmp_path) -> None:
    unknown = _cli(sandbox, tmp_path, "database", "down", "--as", str(OPERATOR.id))
    assert unknown.returncode == 64 and "unknown component 'database'" in unknown.stdout
    bad_trace = _cli(sandbox, tmp_path, "fal", "down", "--trace", "nope", "--as", str(OPERATOR.id))
    assert bad_trace.returncode == 64 and "not trace ids" in bad_trace.stdout
    nobody = _cli(sandbox, tmp_path, "fal", "down")
    assert nobody.returncode == 77 and "--as" in nobody.stdout
    assert not sandbox.data_dir.exists()  # refused before the store was even opened
