"""`sunflow-ops token rotate|refresh` from a shell: the token from stdin (never argv), the same
rules as the private chat; the group is told when the bot next starts."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from bot.clock import utc_now
from bot.sandbox import ADMIN, OPERATOR, OPS_CHAT
from bot.sandbox.runner import BotRunner
from conftest import Chat

ROOT = Path(__file__).resolve().parents[1]


def _cli(sandbox, tmp_path: Path, *args: str, stdin: str = "", **env_overrides: str
         ) -> subprocess.CompletedProcess:
    env = {**os.environ, **sandbox.env(lang="en"), "PYTHONPATH": str(ROOT), **env_overrides}
    env.pop("SUNFLOW_OPERATOR", None)
    return subprocess.run([sys.executable, "-m", "bot.cli", "token", *args], cwd=tmp_path, env=env,
                          input=stdin, capture_output=True, text=True, timeout=60)


async def test_rotate_from_a_shell_then_the_group_hears_at_the_next_start(
        sandbox, tmp_path, make_settings) -> None:
    env = sandbox.home / ".env"
    before = env.read_bytes()
    new = sandbox.instagram.issue_token(expires_at=utc_now() + timedelta(days=50))

    operator = _cli(sandbox, tmp_path, "rotate", "--as", str(OPERATOR.id), stdin=new + "\n")
    assert operator.returncode == 1 and "Only an admin" in operator.stdout
    bogus = _cli(sandbox, tmp_path, "rotate", "--as", str(ADMIN.id),
                 stdin="sandbox-instagram-access-token-never-issued\n")
    assert bogus.returncode == 1 and "Graph refused that token" in bogus.stdout
    assert env.read_bytes() == before

    done = _cli(sandbox, tmp_path, "rotate", "--as", str(ADMIN.id), stdin=new + "\n")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("✅ Token rotated for @sunflow.daily")
    assert new not in done.stdout + done.stderr
    assert f"INSTAGRAM_ACCESS_TOKEN={new}\n" in env.read_text()

    async with BotRunner(make_settings()) as runner:  # the bot's settings: still the old token
        chat = Chat(sandbox, runner)
        assert await chat.tg.await_for(lambda: any(
            m.text.startswith("🔑 Instagram token rotated by") for m in chat.bot_messages(OPS_CHAT)),
            timeout=10)
        [status] = await chat.send("/token")
        assert "State: valid" in status.text and "(50 days left)" in status.text
    async with BotRunner(make_settings()) as runner:  # told once
        chat = Chat(sandbox, runner)
        await chat.send("/token")
        told = [m for m in chat.bot_messages(OPS_CHAT) if m.text.startswith("🔑 Instagram token")]
        assert len(told) == 1


def test_refresh_needs_an_instagram_login_token(sandbox, tmp_path) -> None:
    refused = _cli(sandbox, tmp_path, "refresh", "--as", str(ADMIN.id))
    assert refused.returncode == 1 and "Only a valid Instagram Login long-lived token" in refused.stdout
