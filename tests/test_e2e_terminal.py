"""The terminal as a second way in: an incident walked from a shell while the bot is stopped,
with the same rules and store, and the group sees its state when the bot starts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from bot.sandbox import ADMIN, OPERATOR, OPS_CHAT, VIEWER
from bot.sandbox.runner import BotRunner

ROOT = Path(__file__).parents[1]


def _incident(sandbox, tmp_path: Path, *args: str, who=OPERATOR) -> subprocess.CompletedProcess:
    env = {**os.environ, **sandbox.env(lang="en", HEALTH_TIMEOUT_S="2"), "PYTHONPATH": str(ROOT)}
    env.pop("SUNFLOW_OPERATOR", None)
    as_ = ["--as", str(who.id)] if who is not None else []
    return subprocess.run([sys.executable, "-m", "bot.cli", "incident", *as_, *args], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=90)


def _live_text(sandbox, ref: str) -> str:
    messages = [m for m in sandbox.telegram.bot_messages(OPS_CHAT.id)
                if (m.text or "").split(" · ")[0].endswith(ref) and m.buttons() is not None]
    return messages[-1].text if messages else ""


async def test_a_walk_from_the_terminal_shows_in_the_group_when_the_bot_starts(
        sandbox, make_settings, tmp_path) -> None:
    def incident(*args: str, who=OPERATOR) -> subprocess.CompletedProcess:
        return _incident(sandbox, tmp_path, *args, who=who)

    opened = await asyncio.to_thread(incident, "open", "stats", who=ADMIN)
    assert opened.returncode == 0, opened.stdout + opened.stderr
    ref = next(word for word in opened.stdout.split() if word.startswith("INC-"))
    assert "the group sees it when the bot next runs" in opened.stdout
    assert (await asyncio.to_thread(incident, "ack", ref)).returncode == 0
    ran = await asyncio.to_thread(incident, "run", ref)  # step 1: the health check, for real
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "Last result" in ran.stdout and "step 2 of" in ran.stdout
    # the same rules as the buttons: not the current step, not an operator, nobody named
    stale = await asyncio.to_thread(incident, "skip", ref, "1")
    assert stale.returncode == 1 and "no longer current" in stale.stdout
    no_such = await asyncio.to_thread(incident, "skip", ref, "99")
    assert no_such.returncode == 64 and "has steps 1 to" in no_such.stdout
    bad_topic = await asyncio.to_thread(incident, "open", "images", "../etc")
    assert bad_topic.returncode == 64 and "is not a topic" in bad_topic.stdout
    viewer = await asyncio.to_thread(incident, "skip", ref, who=VIEWER)
    assert viewer.returncode == 77 and "not in OPERATOR_USER_IDS" in viewer.stdout
    nobody = await asyncio.to_thread(incident, "skip", ref, who=None)
    assert nobody.returncode == 77 and "--as" in nobody.stdout
    assert (await asyncio.to_thread(incident, "skip", ref)).returncode == 0
    listed = await asyncio.to_thread(incident, "list")
    assert ref in listed.stdout and "Acknowledged" in listed.stdout and "step 3 of" in listed.stdout

    async with BotRunner(make_settings()):
        # the 0-minute alert never went out: the bot posts it, showing the state as walked
        assert await sandbox.telegram.await_for(lambda: "step 3 of" in _live_text(sandbox, ref), timeout=10)
        text = _live_text(sandbox, ref)
        assert "Acknowledged" in text and f"tg:{OPERATOR.id}" in text
        # while the bot holds the store, changing commands say so; reading still works
        busy = await asyncio.to_thread(incident, "skip", ref)
        assert busy.returncode == 75 and "the bot is running" in busy.stdout
        shown = await asyncio.to_thread(incident, "show", ref)
        assert shown.returncode == 0 and "step 3 of" in shown.stdout

    unverified = await asyncio.to_thread(incident, "resolve", ref)
    assert unverified.returncode == 1 and "verify" in unverified.stdout
    resolved = await asyncio.to_thread(incident, "resolve", ref, "--reason", "fixed by hand", who=ADMIN)
    assert resolved.returncode == 0, resolved.stdout + resolved.stderr
    assert "Resolved" in resolved.stdout

    async with BotRunner(make_settings()) as runner:
        assert await sandbox.telegram.await_for(lambda: "Resolved" in _live_text(sandbox, ref), timeout=10)
        assert await sandbox.telegram.await_for(lambda: any(
            "root cause" in (m.text or "") and ref in (m.text or "")
            for m in sandbox.telegram.bot_messages(OPS_CHAT.id)), timeout=10)
        record = runner.store.find("incidents")[0]
        events = [e["event"] for e in record["timeline"]]
        assert events[:4] == ["opened", "acknowledged", "step.run", "step.result"]
        assert record["resolve_override"] == "fixed by hand"
        audited = [a.event for a in runner.store.audit_records(limit=20)]
        assert {"terminal.open", "terminal.ack", "terminal.run", "terminal.resolve"} <= set(audited)


def test_done_and_a_confirmed_run_from_the_terminal(sandbox, monkeypatch, tmp_path, capsys,
                                                   restore_logging) -> None:
    """Steps done by hand, and a step that changes things: refused without --yes (nothing
    changes), asked and confirmed with it, as the chat's Run and Confirm buttons do."""
    from bot.cli import main
    from bot.store import Store

    for name, value in sandbox.env(lang="en", HEALTH_TIMEOUT_S="1").items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray .env

    def incident(*args: str) -> tuple[int, str]:
        code = main(["incident", "--as", str(ADMIN.id), *args])
        return code, capsys.readouterr().out

    code, out = incident("open", "token", "autumn-cafe")
    assert code == 0
    ref = next(word for word in out.split() if word.startswith("INC-"))
    for _ in range(5):  # the diagnose steps and the guide
        assert incident("skip", ref)[0] == 0
    code, out = incident("done", ref)  # step 6: guidance, done by hand
    assert code == 0 and "step 7 of" in out and "Marked done." in out
    code, out = incident("done", ref)  # step 7: an admin's step done by hand
    assert code == 0 and "step 8 of" in out and "Marked done." in out
    code, out = incident("run", ref)  # step 8 registers the token's expiry: confirm first
    assert code == 1 and "--yes" in out
    with Store.open_readonly(sandbox.data_dir) as store:
        assert store.token_expiry_registration() is None
    code, out = incident("run", ref, "--yes")
    assert code == 0 and "Token expiry registered: 60 days" in out and "step 9 of" in out
    with Store.open_readonly(sandbox.data_dir) as store:
        registered = store.token_expiry_registration()
        events = [e["event"] for e in store.find("incidents")[0]["timeline"]]
    assert registered is not None and registered.actor == f"tg:{ADMIN.id}"
    assert events.count("step.done") == 2 and events[-3:] == ["step.confirm_asked", "step.run",
                                                                "step.result"]
