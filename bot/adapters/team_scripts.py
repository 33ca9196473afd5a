"""The team's own scripts bound to actions: a TOML file of allowed commands, and running one.

    # SUNFLOW_HOME/sunflow-ops.scripts.toml (or SCRIPTS_FILE)
    [actions."stats.daemon_restart"]
    command = ["{python}", "services/scripts/stats_collector_daemon.py", "restart"]
    timeout = "60s"                      # optional, 1 s to 30 min (default 2 min)

A command is an argument list, never a shell line. Placeholders are whole arguments or parts of
one: `{topic}` (the incident's topic, a folder name already checked), `{incident}` (its id),
`{python}` (the bot's own interpreter); any other `{...}` is refused when the file loads, as is
an action name the bot does not know. A bound action runs the script in SUNFLOW_HOME with the
timeout (the process and its children are killed after it); exit code 0 is OK, anything else a
failure; the output's last lines come back redacted, with an `SF-YYYYMMDD-NNNN` trace id the
script printed.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.config import parse_duration
from bot.ports import Binding, ScriptRun

SCRIPTS_FILE = "sunflow-ops.scripts.toml"
PLACEHOLDERS = frozenset({"topic", "incident", "python"})
DEFAULT_TIMEOUT = timedelta(minutes=2)
MAX_TIMEOUT = timedelta(minutes=30)
TAIL_LINES = 20
MAX_OUTPUT_BYTES = 256 * 1024  # the end of the output that is read
_FIELD = re.compile(r"\{([^{}]*)\}")
TRACE_ID = re.compile(r"\bSF-\d{8}-\d{4,}\b")


class ScriptsError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Script:
    action: str
    command: tuple[str, ...]
    timeout_s: float

    @property
    def needs_topic(self) -> bool:
        return any("{topic}" in arg for arg in self.command)

    def argv(self, *, topic: str | None, incident: str | None) -> list[str]:
        values = {"topic": topic or "", "incident": incident or "", "python": sys.executable}
        return [_FIELD.sub(lambda m: values[m.group(1)], arg) for arg in self.command]


def load_scripts(path: Path, known_actions: Iterable[str]) -> dict[str, Script]:
    """The bindings in `path` ({} when there is no such file). ScriptsError naming every problem."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScriptsError([f"{path.name}: cannot be read: {exc}"]) from None
    known = set(known_actions)
    problems: list[str] = []
    unknown_keys = set(data) - {"actions"}
    if unknown_keys:
        problems.append(f"{path.name}: unknown keys {sorted(unknown_keys)} (only [actions.\"<name>\"])")
    actions = data.get("actions", {})
    if not isinstance(actions, Mapping):
        raise ScriptsError(problems + [f"{path.name}: actions must be a table"])
    found = {}
    for name, spec in actions.items():
        where = f"{path.name}: actions.{name!r}"
        if name not in known:
            problems.append(f"{where}: unknown action (known: {', '.join(sorted(known))})")
            continue
        if not isinstance(spec, Mapping) or set(spec) - {"command", "timeout"}:
            problems.append(f"{where}: takes command = [...] and an optional timeout")
            continue
        command = spec.get("command")
        if (not isinstance(command, list) or not command
                or not all(isinstance(a, str) and a and "\0" not in a for a in command)):
            problems.append(f"{where}: command must be a list of non-empty strings (no shell line)")
            continue
        bad = sorted({f for a in command for f in _FIELD.findall(a)} - PLACEHOLDERS)
        if bad or any("{" in _FIELD.sub("", a) or "}" in _FIELD.sub("", a) for a in command):
            problems.append(f"{where}: unknown placeholders {bad or 'unbalanced braces'}; "
                            f"known: {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}")
            continue
        if "{" in command[0] and command[0] != "{python}":
            problems.append(f"{where}: the program itself cannot come from a placeholder")
            continue
        timeout = parse_duration(spec["timeout"]) if isinstance(spec.get("timeout"), str) else (
            DEFAULT_TIMEOUT if "timeout" not in spec else None)
        if timeout is None or not timedelta(seconds=1) <= timeout <= MAX_TIMEOUT:
            problems.append(f"{where}: timeout must be a duration from 1s to 30m (\"90s\", \"5m\")")
            continue
        found[name] = Script(name, tuple(command), timeout.total_seconds())
    if problems:
        raise ScriptsError(problems)
    return found


async def run_script(script: Script, *, cwd: Path, topic: str | None, incident: str | None) -> ScriptRun:
    """Run it to its end or its timeout (then its whole process group is killed).

    The output goes to an unnamed temporary file, not a pipe: a daemon the script starts keeps
    its inherited stdout open, and a pipe would hold the step (and an open transport) until the
    daemon ends. The daemon is left running: starting it is the point."""
    with tempfile.TemporaryFile() as output:
        process = await asyncio.create_subprocess_exec(
            *script.argv(topic=topic, incident=incident), cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
        try:
            await asyncio.wait_for(process.wait(), script.timeout_s)
            code: int | None = process.returncode
        except (asyncio.TimeoutError, TimeoutError):
            _kill_group(process.pid)
            await process.wait()
            code = None
        except BaseException:
            _kill_group(process.pid)
            raise
        size = output.seek(0, os.SEEK_END)
        output.seek(max(0, size - MAX_OUTPUT_BYTES))
        text = output.read().decode("utf-8", errors="replace")
    return ScriptRun(code, tuple(text.splitlines()[-TAIL_LINES:]), tuple(dict.fromkeys(TRACE_ID.findall(text))))


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class ScriptBook:
    """`TeamScripts` for one SUNFLOW_HOME: the loaded bindings, run in that folder."""

    def __init__(self, scripts: Mapping[str, Script], home: Path) -> None:
        self._scripts, self._home = dict(scripts), home

    def bound(self) -> Mapping[str, Binding]:
        return {name: Binding(s.needs_topic, s.timeout_s) for name, s in self._scripts.items()}

    async def run(self, action: str, *, topic: str | None, incident: str | None) -> ScriptRun:
        return await run_script(self._scripts[action], cwd=self._home, topic=topic, incident=incident)
