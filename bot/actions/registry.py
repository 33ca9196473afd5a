"""Named step actions: what a runbook step can run, and what running it gives back.

An action is `async def run(ctx: ActionContext, args: Mapping) -> StepResult`, declared as an
`ActionSpec` under a name (`health.check`, `logs.grep`, ...) with the arguments it accepts, in its
module's `ACTIONS`; `bot.actions.catalog` puts them together when asked (no import registers
anything). Runbook files name actions; the loader checks each name and argument against the
catalog at start and on reload. Actions see
only ports (`bot.ports`) and the store, never Telegram, so each is testable on its own.

Names in `PLANNED` belong to the recovery actions that a later issue builds (publish retries,
uploads, restarts...): a runbook may name them now, and running one says plainly that it is not
available yet instead of pretending.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo
from enum import StrEnum
from typing import Any

from bot.backups.service import Backups
from bot.clock import Clock, utc_now
from bot.health import HealthReport
from bot.health.token import TokenStatus
from bot.ports import (
    ChatTransport,
    ContentWrites,
    ImageHost,
    ImageRequests,
    ImageUploader,
    PipelineFiles,
    Publisher,
    StatsSource,
    TeamScripts,
    TokenInspector,
    WebFetcher,
)
from bot.store import Store
from bot.i18n import Translator



class Outcome(StrEnum):
    OK = "ok"  # ran, and what it found is fine
    WARN = "warn"  # ran, and found something worth a look
    FAIL = "fail"  # ran, and found the problem (or the service refused)
    UNAVAILABLE = "unavailable"  # a planned action that does not exist yet
    ERROR = "error"  # the action itself crashed or timed out; see the bot's log


@dataclass(frozen=True)
class Document:
    """A file to send with the result (long logs, a log bundle)."""

    filename: str
    content: bytes
    caption: str = ""


@dataclass(frozen=True)
class StepResult:
    """What a step's action found. Text is plain (the renderer escapes it) and secret-free."""

    outcome: Outcome
    summary: str  # one line, in the bot's language
    lines: tuple[str, ...] = ()  # details, a few lines at most (the rest goes in `document`)
    document: Document | None = None
    trace_ids: tuple[str, ...] = ()  # SF-* trace ids the action saw (collected on the incident)
    data: Mapping[str, Any] = field(default_factory=dict)  # JSON-able facts for the record


@dataclass(frozen=True)
class Param:
    """One argument an action accepts in a runbook file."""

    kind: type  # int, str, bool or list (of str)
    default: Any = None
    low: int | None = None  # ints: inclusive bounds
    high: int | None = None
    choices: tuple[str, ...] | None = None  # str (and each item of a list): allowed values
    required: bool = False  # a runbook step must give it (checked when the runbook loads)
    pattern: str | None = None  # str: the whole value must match (a backup id, say)

    def problem(self, value: Any) -> str | None:
        """Why `value` is not acceptable, or None."""
        if self.kind is int:
            if isinstance(value, bool) or not isinstance(value, int):
                return f"must be an integer, got {value!r}"
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                return f"must be between {self.low} and {self.high}, got {value}"
            return None
        if self.kind is bool:
            return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
        if self.kind is str:
            if not isinstance(value, str) or not value:
                return f"must be a non-empty string, got {value!r}"
            if self.choices is not None and value not in self.choices:
                return f"must be one of {', '.join(self.choices)}, got {value!r}"
            if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
                return f"must look like {self.pattern}, got {value!r}"
            return None
        if self.kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                return f"must be a list of strings, got {value!r}"
            bad = [v for v in value if self.choices is not None and v not in self.choices]
            return f"unknown values {bad}; known: {', '.join(self.choices or ())}" if bad else None
        return f"unsupported parameter type {self.kind.__name__}"


@dataclass
class ActionContext:
    """Everything an action may use: ports, the store, the incident it runs for."""

    health: Callable[[Iterable[str] | None], Awaitable[HealthReport]]
    token_status: Callable[[], Awaitable[TokenStatus]]
    instagram: TokenInspector | None  # None: not configured (or its settings are wrong)
    images: ImageHost | None
    chat: ChatTransport | None
    files: PipelineFiles
    store: Store
    tr: Translator
    # what the recovery actions change things with (None: not configured)
    publisher: Publisher | None = None
    stats_source: StatsSource | None = None
    uploader: ImageUploader | None = None
    generator: ImageRequests | None = None
    web: WebFetcher | None = None
    content: ContentWrites | None = None
    scripts: TeamScripts | None = None  # the team's own commands bound to actions
    backups: Backups | None = None  # every configuration change goes through it (backed up first)
    redact: Callable[[str], str] = str  # masks configured secrets; apply to document contents
    clock: Clock = utc_now
    tz: tzinfo = timezone.utc  # the team's zone (BOT_TIMEZONE) for times in results
    actor: str | None = None  # who pressed Run ("tg:1001 @mina"), for actions that change things
    topic: str | None = None  # the incident's topic (content/images/<topic>/), when it has one
    incident_ref: str | None = None  # e.g. "INC-20261127-001": file names, test messages
    incident_opened_at: datetime | None = None  # when the incident opened (None: a drill)
    ops_chat_id: int | None = None
    ops_thread_id: int | None = None
    # where a long action is ("uploading 2 of 3"): the live message shows it while it runs
    progress: Callable[[str], None] = lambda _text: None


ActionFn = Callable[[ActionContext, Mapping[str, Any]], Awaitable[StepResult]]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    run: ActionFn | None  # None: planned, not built yet
    params: Mapping[str, Param] = field(default_factory=dict)
    needs_topic: bool = False  # the step cannot run without the incident's topic
    # the services (ActionContext fields) it cannot run without; the terminal runs steps with
    # the settings it could read, so one may be missing (`catalog.run_action` says which)
    needs: tuple[str, ...] = ()
    timeout_s: float | None = None  # its own deadline (a publish waits on Instagram); None: ACTION_TIMEOUT_S
    # it overwrites the team's configuration: a step naming it must say `admin = true` and
    # `confirm = true` (the loader refuses the runbook otherwise), so it runs for an admin only
    # after an "are you sure?"
    guarded: bool = False

    @property
    def planned(self) -> bool:
        return self.run is None

    def arg_problems(self, args: Mapping[str, Any]) -> list[str]:
        """Problems with a runbook step's `args` for this action, one line each."""
        problems = [f"unknown argument {name!r} (known: {', '.join(self.params) or 'none'})"
                    for name in args if name not in self.params]
        problems += [f"argument {name!r} is required" for name, param in self.params.items()
                     if param.required and name not in args]
        for name, value in args.items():
            param = self.params.get(name)
            if param is not None and (why := param.problem(value)) is not None:
                problems.append(f"argument {name!r} {why}")
        return problems

    def with_defaults(self, args: Mapping[str, Any]) -> dict[str, Any]:
        return {**{k: p.default for k, p in self.params.items() if p.default is not None}, **args}


# Respond actions the "Recovery actions" issue builds; runbooks may name them already.
# name -> whether it needs the incident's topic
PLANNED: Mapping[str, bool] = {
    "stats.daemon_restart": False,  # stats_collector_daemon.py restart
    "telegram.restart": False,  # telegram_bot.py
}
