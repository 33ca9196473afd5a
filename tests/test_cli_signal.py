"""`sunflow-ops signal` from a shell: checked, stored, its scenario's incident opened or counted;
the bot shows the incident to the group at its next start."""

from __future__ import annotations

import asyncio
import os
import socket
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


async def test_while_the_bot_runs_the_signal_goes_to_it_through_the_intake_endpoint(
        sandbox, tmp_path, make_settings) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    intake = {"INTAKE_ADDRESS": f"127.0.0.1:{port}", "INTAKE_SECRET": "intake-secret-for-the-tests-0001"}
    async with BotRunner(make_settings(**intake)) as runner:
        chat = Chat(sandbox, runner)
        env = {**os.environ, **sandbox.env(lang="en"), "PYTHONPATH": str(ROOT), **intake}
        env.pop("SUNFLOW_OPERATOR", None)
        done = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "bot.cli", "signal", "fal", "generation", "failed", "--as", str(OPERATOR.id)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.startswith("Signal handed to the running bot: opened, incident INC-")
        ref = done.stdout.strip().rsplit(" ", 1)[-1]
        assert await chat.tg.await_for(lambda: any(
            ref in (m.text or "") for m in chat.bot_messages(OPS_CHAT)), timeout=10)
        assert "intake-secret" not in done.stdout
