"""The CLI: the chat's code paths without Telegram, with exit codes that mean something."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import EX_CONFIG, EX_IOERR, EX_TEMPFAIL, EX_USAGE, main
from bot.demo import run_demo
from bot.sandbox import ADMIN, BOT_TOKEN, OPS_CHAT
from bot.sandbox.home import make_stats_stale
from bot.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cli_env(sandbox, monkeypatch, tmp_path, restore_logging):
    """The sandbox's settings in the process environment, without Telegram (scenario 6)."""
    env = sandbox.env(lang="en", HEALTH_TIMEOUT_S="1")
    for name in ("TELEGRAM_BOT_TOKEN", "OPS_CHAT_ID", "ADMIN_USER_IDS", "OPERATOR_USER_IDS"):
        env.pop(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)  # no stray .env
    return env


def test_health_table_and_exit_codes(cli_env, sandbox, capsys) -> None:
    assert main(["health", "instagram", "token", "stats"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["COMPONENT", "STATE", "LATENCY", "REASON"]
    assert "instagram" in out and "overall: ok (All systems normal)" in out

    make_stats_stale(sandbox.home, 40)
    assert main(["health", "stats"]) == 1
    assert "stale: updated 40.0 h ago" in capsys.readouterr().out

    sandbox.instagram.set_fault("token_expired")
    assert main(["health"]) == 2
    out = capsys.readouterr().out
    assert "token expired" in out and "overall: down" in out
    assert "telegram    down" in out and "TELEGRAM_BOT_TOKEN is not set" in out


def test_token_commands(cli_env, capsys) -> None:
    assert main(["token", "guide"]) == 0
    assert "Renewing the Instagram token" in capsys.readouterr().out
    assert main(["token", "status"]) == 0
    out = capsys.readouterr().out
    assert "State: valid (@sunflow.daily)" in out and "<b>" not in out
    assert main(["token", "set-expiry", "30"]) == 0
    assert "token expiry registered: 30 days" in capsys.readouterr().out
    with Store.open(Path(cli_env["DATA_DIR"])) as store:
        assert store.token_expiry() is not None
        assert store.audit_records(event="token.set_expiry")[0].actor == "cli"
    assert main(["token", "status"]) == 0
    assert "Registered: " in capsys.readouterr().out


@pytest.mark.parametrize("days", ["0", "91", "soon"])
def test_bad_set_expiry_is_a_usage_error(cli_env, capsys, days) -> None:
    assert main(["token", "set-expiry", days]) == EX_USAGE
    assert "whole number of days from 1 to 90" in capsys.readouterr().err


def test_set_expiry_while_the_bot_holds_the_store(cli_env, capsys) -> None:
    with Store.open(Path(cli_env["DATA_DIR"])):
        assert main(["token", "set-expiry", "30"]) == EX_TEMPFAIL
        assert "use /token set-expiry in the chat" in capsys.readouterr().err
        assert main(["token", "status"]) == 0, "reading works beside the running bot"


def test_bad_configuration_lists_every_problem(cli_env, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HEALTH_TIMEOUT_S", "never")
    monkeypatch.delenv("FAL_KEY")
    assert main(["health"]) == EX_CONFIG
    err = capsys.readouterr().err
    assert "HEALTH_TIMEOUT_S: must be a number" in err and "FAL_KEY: is required" in err


def test_usage_errors_do_not_look_like_down(cli_env, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["healthz"])
    assert exited.value.code == EX_USAGE
    assert main(["health", "nope"]) == EX_USAGE


def test_the_installed_entry_point_runs(cli_env) -> None:
    script = Path(sys.executable).with_name("sunflow-ops")  # what `pip install -e .` put there
    result = subprocess.run([str(script), "health", "token"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "token" in result.stdout and "days left" in result.stdout


def test_demo_runs_a_piped_script_in_order(tmp_path) -> None:
    script = io.StringIO("\n".join([
        "/health",
        ":fault instagram token_expired",
        "1",
        ":faults",
        ":clear",
        "/health instagram token",
        ":as viewer",
        "/token set-expiry 30",
        ":as stranger",
        "/health",
        ":quit",
        "/never-reached",
    ]) + "\n")
    out = io.StringIO()
    assert run_demo("en", stdin=script, out=out, root=tmp_path / "demo") == 0
    text = out.getvalue()
    first = text.index("🟢 All systems normal")
    expired = text.index("🔴 Token")
    assert first < expired, "the re-check ran after the fault was set"
    # a fault switched in the demo is seen at once, though /health shares its checks
    assert "🟢 Token" in text[expired:], "after :clear, /health checked again"
    assert "instagram   token_expired" in text
    assert "/token set-expiry: only an admin can do this." in text
    assert "only answers in the team's ops group" in text
    assert text.rstrip().endswith("bye.")
    assert "never-reached" not in text


def test_demo_command_exits_cleanly_at_end_of_input(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--lang", "en"], input="/token\n", capture_output=True,
        text=True, timeout=90, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert "Instagram token" in result.stdout and result.stdout.rstrip().endswith("bye.")
    assert (tmp_path / "data" / "demo" / "demo.log").exists()


def test_demo_ends_cleanly_on_ctrl_c(tmp_path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "demo", "--lang", "en"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert "SunFlow Ops demo" in demo.stdout.readline()  # the bot is up and polling
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=30)
    finally:
        demo.kill()
    assert demo.returncode == 0, err
    assert out.rstrip().endswith("bye.") and "Traceback" not in err


def test_run_polls_answers_and_stops_on_sigterm(sandbox, tmp_path) -> None:
    """`sunflow-ops run` as an operator starts it, against the sandbox instead of Telegram."""
    env = {**os.environ, **sandbox.env(lang="en"), "PYTHONPATH": str(ROOT)}
    bot = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        tg = sandbox.telegram
        assert tg.wait_for(lambda: tg.commands_for(None, "ko"), timeout=30), "never started"
        sandbox.telegram.send_message(OPS_CHAT, ADMIN, "/health")
        assert tg.wait_for(lambda: any("All systems normal" in (m.text or "")
                                       for m in tg.bot_messages(OPS_CHAT.id)), timeout=30)
        bot.send_signal(signal.SIGTERM)
        out, err = bot.communicate(timeout=30)
    finally:
        bot.kill()
    assert bot.returncode == 0, err
    log_text = (sandbox.data_dir / "sunflow-ops.log").read_text()
    assert "SunFlow Ops starting" in log_text
    assert BOT_TOKEN not in log_text + err + out


def test_a_rejected_bot_token_is_reported_without_the_token(sandbox, tmp_path) -> None:
    wrong = "700000009:SANDBOX-a-token-telegram-does-not-know-00"
    env = {**os.environ, **sandbox.env(lang="en", TELEGRAM_BOT_TOKEN=wrong), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == EX_CONFIG
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in result.stderr
    log_text = (sandbox.data_dir / "sunflow-ops.log").read_text()
    assert wrong not in result.stdout + result.stderr + log_text


def test_an_unreadable_store_does_not_stop_the_checks(cli_env, monkeypatch, tmp_path, capsys) -> None:
    not_a_dir = tmp_path / "store-is-a-file"
    not_a_dir.write_text("oops")
    monkeypatch.setenv("DATA_DIR", str(not_a_dir))
    assert main(["health"]) == 2
    captured = capsys.readouterr()
    assert "the store cannot be read" in captured.err
    table = {line.split()[0]: line.split()[1] for line in captured.out.splitlines()[1:-1]}
    assert table["store"] == "down" and table["instagram"] == "ok" and table["cloudinary"] == "ok"
    assert main(["token", "set-expiry", "30"]) == EX_IOERR


def test_a_store_from_a_newer_version_is_reported_not_crashed_on(cli_env, capsys) -> None:
    data_dir = Path(cli_env["DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "store.json").write_text('{"schema": 99, "last_ids": {}, "tables": {}}')
    assert main(["token", "status"]) == 0
    assert "newer than this code" in capsys.readouterr().err


def test_run_refuses_broken_runbooks_and_lists_the_problems(sandbox, tmp_path) -> None:
    books = tmp_path / "runbooks"
    books.mkdir()
    (books / "token-expired.toml").write_text('id = "token-expired"\nseverity = "P9"\n',
                                              encoding="utf-8")
    env = {**os.environ, **sandbox.env(lang="en", RUNBOOKS_DIR=str(books)), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == EX_CONFIG
    assert "token-expired.toml: severity" in result.stderr and "P9" in result.stderr
    assert "common.toml" in result.stderr  # every problem at once, not the first one
    assert sandbox.telegram.commands_for(None, "ko") == []  # it never started


def _cli(sandbox, tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **sandbox.env(lang="en", HEALTH_TIMEOUT_S="2"), **env,
                   "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=tmp_path, env=environment,
                          capture_output=True, text=True, timeout=60)


def test_malformed_urls_are_named_without_echoing_any_secret(sandbox, tmp_path) -> None:
    from bot.sandbox import FAL_KEY, IG_TOKEN

    result = _cli(sandbox, tmp_path, "run",
                  TELEGRAM_API_BASE_URL=f"api.telegram.org/bot{BOT_TOKEN}",  # the scheme left out
                  INSTAGRAM_GRAPH_URL=IG_TOKEN,  # the token pasted into the wrong line
                  FAL_QUEUE_URL=f"queue.fal.run/?key={FAL_KEY}")
    assert result.returncode == EX_CONFIG, result.stderr
    for name in ("TELEGRAM_API_BASE_URL", "INSTAGRAM_GRAPH_URL", "FAL_QUEUE_URL"):
        assert f"{name}: must be an http(s) URL" in result.stderr
    for secret in (BOT_TOKEN, BOT_TOKEN.split(":")[1], IG_TOKEN, FAL_KEY, FAL_KEY.split(":")[1]):
        assert secret not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_cloudinary_url_is_named_and_health_checks_the_rest(sandbox, tmp_path) -> None:
    bad = "https://400000000000001:s3cr3t_from_the_console@sunflow-sandbox"  # the SDK's own parser
    ran = _cli(sandbox, tmp_path, "run", CLOUDINARY_URL=bad)  # raises on this at import
    assert ran.returncode == EX_CONFIG and "CLOUDINARY_URL: must look like cloudinary://" in ran.stderr
    assert "Traceback" not in ran.stderr
    checked = _cli(sandbox, tmp_path, "health", CLOUDINARY_URL=bad)
    assert checked.returncode == 2, checked.stderr  # down: one component cannot be checked
    table = {line.split()[0]: line for line in checked.stdout.splitlines()[1:-1]}
    assert "down" in table["cloudinary"] and "CLOUDINARY_URL" in table["cloudinary"]
    assert all(" ok " in table[c] for c in ("instagram", "token", "fal", "telegram", "stats"))
    assert "cloudinary is not checked: CLOUDINARY_URL" in checked.stderr
    for result in (ran, checked):
        assert "s3cr3t_from_the_console" not in result.stdout + result.stderr


def test_a_read_only_data_dir_is_one_sentence_and_exit_74(sandbox, tmp_path) -> None:
    env = {**os.environ, **sandbox.env(lang="en", DATA_DIR="/sys/fs/sunflow-ops-data"),
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 74, result.stderr
    assert result.stderr.count("\n") == 1 and "DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("broken", ["deeply nested", "a FIFO"])
def test_run_names_runbook_files_it_cannot_read_and_exits_78(sandbox, tmp_path, broken) -> None:
    """A nesting that overflows the TOML reader exited 70; a FIFO named *.toml blocked the
    reading for good. Both are a configuration problem named by file."""
    import shutil

    books = tmp_path / "runbooks"
    shutil.copytree(ROOT / "runbooks", books)
    if broken == "a FIFO":
        os.mkfifo(books / "waiting.toml")
        says = "waiting.toml: is not a regular file"
    else:
        (books / "nested.toml").write_text("x = " + "[" * 20000 + "]" * 20000 + "\n")
        says = "nested.toml: nested too deeply to read"
    env = {**os.environ, **sandbox.env(lang="en", RUNBOOKS_DIR=str(books)), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "run"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == EX_CONFIG and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr



def test_demo_shows_code_rollback_and_the_private_chat_for_a_new_token(tmp_path) -> None:
    script = io.StringIO("\n".join(["/rollback", "3", ":newtoken", ":as private", "/token rotate",
                                    ":quit"]) + "\n")
    out = io.StringIO()
    assert run_demo("en", stdin=script, out=out, root=tmp_path / "demo") == 0
    text = out.getvalue()
    assert "the last 4 commits of the pipeline's repository" in text
    assert "Add the daily-mood hashtag" in text and "changed · core/caption.py" in text
    assert "a new token for @sunflow.daily, valid 60 days: sandbox-instagram-access-token-" in text
    assert "in a private chat with the bot" in text
    assert "Reply to this message with the new Instagram access token" in text
