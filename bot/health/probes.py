"""The probes behind `/health` and `sunflow-ops health`: one per component, each asking a plain
client (`bot.ports`) and grading the answer with `bot.health.thresholds`.

A probe never raises for a vendor's failure: a classified error becomes its line
(`failed_probe`), and the runner (`bot.health.report`) catches the rest. The pipeline's file
layout and log-line format stay with the adapter that reads them (`bot.adapters.files`).

Not imported by `bot.health` itself: `TokenProbe` needs `bot.health.token`, which needs
`bot.health`; only the composition root (`bot.services`) and tests import this module.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.health.token import check_token, describe_token
from bot.adapters.files import LOG_LINE_RE, LOGS_DIR, STATS_FILE
from bot.clock import Clock, utc_now
from bot.errors import ServiceError
from bot.health.report import ProbeResult, State, Stopwatch, failed_probe, worst
from bot.health.thresholds import LOG_ERROR_WINDOW, credits_state, quota_state, usage_state
from bot.i18n import Translator
from bot.ports import (
    ChatTransport,
    ImageGenerator,
    ImageHost,
    PipelineFiles,
    PipelineLogs,
    PublishingQuotaReader,
    TokenExpiryStore,
    TokenInspector,
)
from bot.store import Store


class InstagramProbe:
    """`instagram`: the 24-hour publishing quota, and Graph's app usage when it runs high."""

    component = "instagram"

    def __init__(self, graph: PublishingQuotaReader, *, tr: Translator) -> None:
        self._graph, self._tr = graph, tr

    async def probe(self) -> ProbeResult:
        watch = Stopwatch()
        try:
            quota = await self._graph.publishing_quota()
        except ServiceError as exc:
            return failed_probe(self.component, exc, watch.ms, self._tr)
        hours = max(1, round(quota.window_s / 3600))
        reason = self._tr("probe.instagram.quota", used=quota.used, total=quota.total, hours=hours)
        state = quota_state(quota)
        usage_pct = self._graph.last_usage_pct
        if usage_state(usage_pct) is State.DEGRADED:
            state = worst(state, State.DEGRADED)
            reason += " · " + self._tr("probe.instagram.usage", pct=f"{usage_pct:.0f}")
        # a full quota is an outage (scenario 4); one filling up, or Graph's usage running high,
        # is a warning before it
        cause = "quota_full" if state is State.DOWN else "usage" if state is State.DEGRADED else None
        return ProbeResult(self.component, state, watch.ms, reason, cause=cause)


class TokenProbe:
    """`token`: validity plus days left, the P0 the playbook opens with."""

    component = "token"

    def __init__(self, inspector: TokenInspector, expiry_store: TokenExpiryStore, *,
                 tr: Translator, clock: Clock = utc_now) -> None:
        self._inspector, self._store, self._tr, self._clock = inspector, expiry_store, tr, clock

    async def probe(self) -> ProbeResult:
        watch = Stopwatch()
        status = await check_token(self._inspector, self._store, clock=self._clock)
        return ProbeResult(self.component, status.state, watch.ms, describe_token(status, self._tr))


class CloudinaryProbe:
    """`cloudinary`: reachable (ping) and how much of the plan's credits are used."""

    component = "cloudinary"

    def __init__(self, host: ImageHost, *, tr: Translator) -> None:
        self._host, self._tr = host, tr

    async def probe(self) -> ProbeResult:
        watch = Stopwatch()
        try:
            _, usage = await asyncio.gather(self._host.ping(), self._host.usage())
        except ServiceError as exc:
            return failed_probe(self.component, exc, watch.ms, self._tr)
        pct = usage.credits_used_pct
        if pct is None:
            return ProbeResult(self.component, State.OK, watch.ms,
                               self._tr("probe.cloudinary.ok_no_usage", plan=usage.plan))
        state = credits_state(pct)
        return ProbeResult(self.component, state, watch.ms,
                           self._tr("probe.cloudinary.credits", pct=f"{pct:.0f}", plan=usage.plan),
                           cause="usage" if state is State.DEGRADED else None)


class FalProbe:
    """`fal`: is the key accepted (a check that spends no credit)."""

    component = "fal"

    def __init__(self, generator: ImageGenerator, *, tr: Translator) -> None:
        self._generator, self._tr = generator, tr

    async def probe(self) -> ProbeResult:
        watch = Stopwatch()
        try:
            await self._generator.check_key()
        except ServiceError as exc:
            return failed_probe(self.component, exc, watch.ms, self._tr)
        return ProbeResult(self.component, State.OK, watch.ms,
                           self._tr("probe.fal.ok", model=self._generator.model))


class TelegramProbe:
    """`telegram`: does the Bot API answer getMe for our token (the notification channel)."""

    component = "telegram"

    def __init__(self, bot_api: ChatTransport, *, tr: Translator) -> None:
        self._bot_api, self._tr = bot_api, tr

    async def probe(self) -> ProbeResult:
        watch = Stopwatch()
        try:
            me = await self._bot_api.get_me()
        except ServiceError as exc:
            return failed_probe(self.component, exc, watch.ms, self._tr)
        return ProbeResult(self.component, State.OK, watch.ms,
                           self._tr("probe.telegram.ok", username=me.username))


class StatsProbe:
    """`stats`: is instagram_stats.json fresher than STATS_MAX_AGE_H (playbook scenario 5)?"""

    component = "stats"

    def __init__(self, files: PipelineFiles, *, max_age_h: float, tr: Translator,
                 clock: Clock = utc_now) -> None:
        self._files, self._max_age_h, self._tr, self._clock = files, max_age_h, tr, clock

    async def probe(self) -> ProbeResult:
        watch = Stopwatch()
        fresh = await self._files.stats_freshness()
        if fresh.last_updated is None:
            return ProbeResult(self.component, State.DOWN, watch.ms,
                               self._tr(f"probe.stats.{fresh.problem}", file=STATS_FILE.name))
        age_h = (self._clock() - fresh.last_updated).total_seconds() / 3600
        state = State.DEGRADED if age_h > self._max_age_h else State.OK
        key = "probe.stats.stale" if state is State.DEGRADED else "probe.stats.fresh"
        return ProbeResult(self.component, state, watch.ms,
                           self._tr(key, age=f"{max(age_h, 0):.1f}", max_age=f"{self._max_age_h:g}"))


class LogsProbe:
    """`logs`: error lines in config/logs/*_stderr.log over the last 24 hours."""

    component = "logs"

    def __init__(self, files: PipelineLogs, *, tr: Translator, clock: Clock = utc_now) -> None:
        self._files, self._tr, self._clock = files, tr, clock

    async def probe(self) -> ProbeResult:
        watch = Stopwatch()
        if not self._files.logs_dir.is_dir():
            return ProbeResult(self.component, State.DEGRADED, watch.ms,
                               self._tr("probe.logs.no_dir", path=str(LOGS_DIR)))
        count, latest = await self._files.recent_errors(self._clock() - LOG_ERROR_WINDOW)
        if latest is None:
            return ProbeResult(self.component, State.OK, watch.ms, self._tr("probe.logs.clean"))
        message = LOG_LINE_RE.sub("", latest.text).strip()  # the time is implied: last 24 h
        excerpt = message if len(message) <= 80 else message[:79] + "…"
        return ProbeResult(self.component, State.DEGRADED, watch.ms,
                           self._tr("probe.logs.errors", count=count, file=latest.file,
                                    line=excerpt))


class StoreProbe:
    """`store`: the bot's own records.

    Down while writes fail (a full disk, a read-only file): each check also tries to make them
    possible again, so the line turns green as soon as the disk has room. Degraded while a
    damaged file or a set-aside record is still in DATA_DIR: it stays a finding across restarts
    until someone has looked at it and removed it. Down when the store could not be opened at
    all (`problem`, the CLI's case: it then runs on an empty one).
    """

    component = "store"

    def __init__(self, store: Store, tr: Translator, problem: str | None = None) -> None:
        self._store, self._tr, self._problem = store, tr, problem

    async def probe(self) -> ProbeResult:
        watch = Stopwatch()
        if self._problem is not None:
            return ProbeResult(self.component, State.DOWN, watch.ms,
                               self._tr("probe.store.unusable", problem=self._problem))
        if self._store.write_problem is not None and not await asyncio.to_thread(self._store.heal):
            return ProbeResult(self.component, State.DOWN, watch.ms,
                               self._tr("probe.store.unwritable", problem=self._store.write_problem))
        set_aside = await asyncio.to_thread(self._set_aside)
        if set_aside:
            return ProbeResult(self.component, State.DEGRADED, watch.ms,
                               self._tr("probe.store.recovered", moved_to=set_aside[-1].name))
        return ProbeResult(self.component, State.OK, watch.ms,
                           self._tr("probe.store.ok", incidents=self._store.count("incidents")))


    def _set_aside(self) -> list[Path]:
        """Damaged files and quarantined records in DATA_DIR, oldest first (one an operator
        removes meanwhile sorts first, not as an error)."""
        data_dir = self._store.data_dir
        if data_dir is None:
            return []

        def age(path: Path) -> float:
            try:
                return path.stat().st_mtime
            except OSError:
                return 0.0

        return sorted([*data_dir.glob("*.damaged-*"), *data_dir.glob("*.quarantined-*")], key=age)


class NotConfiguredProbe:
    """A component whose settings are absent (the CLI runs without Telegram settings) or wrong
    (`problem`: what `Settings` found, already secret-free)."""

    def __init__(self, component: str, variable: str, tr: Translator,
                 problem: str | None = None) -> None:
        self.component, self._variable, self._tr, self._problem = component, variable, tr, problem

    async def probe(self) -> ProbeResult:
        if self._problem is not None:
            return ProbeResult(self.component, State.DOWN, None,
                               self._tr("probe.misconfigured", problem=self._problem))
        return ProbeResult(self.component, State.DOWN, None,
                           self._tr("probe.not_configured", variable=self._variable))
