"""The team's own scripts bound to actions: the file's rules, and a run's exit code, output and
timeout, against real processes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.actions.catalog import all_actions, effective, run_action
from bot.adapters.team_scripts import ScriptBook, ScriptsError, load_scripts
from bot.config import Settings
from bot.sandbox import IG_TOKEN
from bot.services import build_services
from bot.store import Store


def scripts_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "sunflow-ops.scripts.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_every_problem_of_the_file_is_named(tmp_path) -> None:
    path = scripts_file(tmp_path, '''
[actions."nope.action"]
command = ["true"]
[actions."stats.daemon_restart"]
command = "python restart.py && rm -rf /"
[actions."telegram.restart"]
command = ["{python}", "x.py", "{home}"]
[actions."stats.collect"]
command = ["{topic}", "x"]
[actions."publish.retry"]
command = ["x"]
timeout = "2h"
''')
    with pytest.raises(ScriptsError) as caught:
        load_scripts(path, all_actions())
    said = "\n".join(caught.value.problems)
    for words in ("'nope.action': unknown action", "list of non-empty strings (no shell line)",
                  "unknown placeholders ['home']", "program itself cannot come from a placeholder",
                  "timeout must be a duration from 1s to 30m"):
        assert words in said, words
    assert len(caught.value.problems) == 5
    assert load_scripts(tmp_path / "missing.toml", all_actions()) == {}


def test_a_bound_planned_action_becomes_runnable_and_needs_the_topic_when_its_command_does(tmp_path) -> None:
    book = ScriptBook(load_scripts(scripts_file(tmp_path, '''
[actions."telegram.restart"]
command = ["{python}", "-c", "print('{topic}')"]
'''), all_actions()), tmp_path)
    spec = effective(book.bound())["telegram.restart"]
    assert all_actions()["telegram.restart"].planned and not spec.planned and spec.needs_topic


@pytest.fixture
async def services(sandbox, tmp_path):
    script = tmp_path / "team.py"
    script.write_text(
        "import sys, time\n"
        f"print('using token {IG_TOKEN} for', sys.argv[1:])\n"
        "print('trace SF-20261205-0042 written')\n"
        "if sys.argv[1] == 'slow': time.sleep(30)\n"
        "sys.exit(3 if sys.argv[1] == 'fail' else 0)\n", encoding="utf-8")
    path = scripts_file(tmp_path, f'''
[actions."stats.daemon_restart"]
command = ["{{python}}", "{script}", "ok", "{{incident}}"]
[actions."telegram.restart"]
command = ["{{python}}", "{script}", "fail"]
[actions."publish.reschedule"]
command = ["{{python}}", "{script}", "slow"]
timeout = "1s"
''')
    settings = Settings.from_env(sandbox.env(lang="en", SCRIPTS_FILE=str(path)), dotenv_path=None)
    made = build_services(settings, Store.in_memory())
    yield made
    await made.aclose()


async def run(services, name: str):
    ctx = services.action_context(topic=None, incident_ref="INC-20261205-007", actor="tg:1001")
    return await run_action(name, ctx, {}, timeout_s=30)


async def test_exit_zero_is_ok_with_its_output_redacted_and_its_trace_id(services) -> None:
    result = await run(services, "stats.daemon_restart")
    assert result.outcome.value == "ok" and "exit 0" in result.summary
    text = "\n".join(result.lines)
    assert IG_TOKEN not in text and "INC-20261205-007" in text  # {incident} reached the script
    # the bot's own trace of the run, then the one the script printed
    own, printed = result.trace_ids
    assert printed == "SF-20261205-0042" and own.startswith("SF-") and own != printed
    [trace] = [t for t in services.store.traces() if t.trace_id == own]
    assert trace.detail["action"] == "stats.daemon_restart" and trace.status == "ok"
    assert [stage["stage"] for stage in trace.detail["stages"]] == ["script"]


async def test_a_non_zero_exit_is_a_failure(services) -> None:
    result = await run(services, "telegram.restart")
    assert result.outcome.value == "fail" and "exit 3" in result.summary


async def test_a_script_past_its_timeout_is_killed(services) -> None:
    started = time.monotonic()
    result = await run(services, "publish.reschedule")
    assert result.outcome.value == "fail" and "did not finish in time" in result.summary
    assert time.monotonic() - started < 10


async def test_a_restart_that_leaves_a_daemon_holding_the_pipe_is_ok_and_the_daemon_lives(tmp_path) -> None:
    marker = tmp_path / "daemon.alive"
    daemon = tmp_path / "daemon.py"
    daemon.write_text(f"import pathlib, time\ntime.sleep(2.5)\npathlib.Path({str(marker)!r}).write_text('up')\n",
                      encoding="utf-8")
    script = tmp_path / "restart.py"
    script.write_text(f"import subprocess, sys\nsubprocess.Popen([sys.executable, {str(daemon)!r}])\n"
                      "print('daemon restarted')\n", encoding="utf-8")
    book = ScriptBook(load_scripts(scripts_file(tmp_path, f'''
[actions."stats.daemon_restart"]
command = ["{{python}}", "{script}"]
timeout = "2s"
'''), all_actions()), tmp_path)
    started = time.monotonic()
    done = await book.run("stats.daemon_restart", topic=None, incident=None)
    assert done.exit_code == 0 and done.tail == ("daemon restarted",)
    assert time.monotonic() - started < 2  # not held until the daemon ends (nor killed at 2 s)
    for _ in range(40):
        if marker.exists():
            break
        await asyncio.sleep(0.1)
    assert marker.read_text() == "up"  # the daemon it started was not killed with the script
