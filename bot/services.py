"""The composition root: settings in, adapters wired to their ports, one facade out.

Both the chat handlers and the CLI go through `Services`, so `/health` and `sunflow-ops health`
are the same code path, as are `/token` and `sunflow-ops token`.
"""

from __future__ import annotations

import logging

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from bot.actions.catalog import all_actions, run_action
from bot.actions.recovery.code_rollback import CodeRollback
from bot.actions.recovery.token_rotation import TokenRotation, fingerprint, rotated_token
from bot.adapters.team_scripts import SCRIPTS_FILE, ScriptBook, ScriptsError, load_scripts
from bot.backups.managed_files import ENV_FILE, ManagedFileError, ManagedFiles
from bot.backups.service import Backups
from bot.actions.registry import ActionContext, StepResult
from bot.health.token import TokenStatus, check_token, set_token_expiry
from bot.adapters.cloudinary import CloudinaryImageHost
from bot.adapters.fal import FalImageGenerator
from bot.adapters.git import GitRepository
from bot.adapters.intake_client import post_signal as post_signal  # the terminal: to the running bot
from bot.adapters.log_follow import LogFollower
from bot.adapters.outbox import OUTBOX_FILE, OutboxChannel
from bot.adapters.smtp import SmtpChannel
from bot.adapters.webhook import WebhookChannel
from bot.detection.silences import Silences
from bot.adapters.content_writes import ContentFiles
from bot.adapters.files import PipelineHome
from bot.adapters.instagram import InstagramGraph
from bot.adapters.telegram import TelegramBotApi
from bot.adapters.web import HttpFetcher
from bot.ports import (
    AlertChannel,
    ChatClient,
    FileFollower,
    ContentWrites,
    ImageGeneratorClient,
    ImageHostClient,
    InstagramClient,
    PipelineFiles,
    WebClient,
)
from bot.clock import Clock, utc_now
from bot.config import ConfigError, Settings
from bot.health import LOCAL_COMPONENTS, HealthProbe, HealthReport, SharedHealth
from bot.health.probes import (
    CloudinaryProbe,
    FalProbe,
    InstagramProbe,
    LogsProbe,
    NotConfiguredProbe,
    StatsProbe,
    StoreProbe,
    TelegramProbe,
    TokenProbe,
)
from bot.i18n import Translator
from bot.secrets import Redactor, Secret
from bot.store import Store

_T = TypeVar("_T")
log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    store: Store
    tr: Translator
    redact: Redactor
    # None: not configured, or its settings are wrong (`settings.unusable`, the CLI's health)
    instagram: InstagramClient | None
    cloudinary: ImageHostClient | None
    fal: ImageGeneratorClient | None
    telegram: ChatClient | None
    files: PipelineFiles
    content: ContentWrites
    web: WebClient
    backups: Backups
    scripts: ScriptBook
    clock: Clock = utc_now
    probes: list[HealthProbe] = field(default_factory=list)
    tokens: TokenRotation | None = None  # None: Instagram is not configured
    rollback: CodeRollback | None = None
    follower: FileFollower | None = None  # the pipeline's logs and traces, a little at a time
    silences: Silences | None = None  # alerts muted for a while

    shared: SharedHealth | None = None

    async def health(self, only: Iterable[str] | None = None, *, fresh: bool = True) -> HealthReport:
        """Every (or `only` some) component's state. `fresh=False` (the /health command) may
        reuse a check less than HEALTH_SHARE_S old and joins one running: many requests, one
        round of vendor calls."""
        if self.shared is None:
            self.shared = SharedHealth(self.probes, timeout_s=self.settings.health_timeout_s,
                                       tr=self.tr, share_s=self.settings.health_share_s,
                                       clock=self.clock, always_fresh=LOCAL_COMPONENTS)
        return await self.shared.check(only, fresh=fresh)

    async def token_status(self) -> TokenStatus:
        if self.instagram is None:  # settings the CLI's `incident` and `health` went on without
            reason = self.settings.unusable.get("instagram") or "not configured"
            raise ConfigError([f"instagram: cannot check the token: {reason}"])
        return await check_token(self.instagram, self.store, clock=self.clock)

    def set_token_expiry(self, days: int, *, actor: str) -> datetime:
        try:  # the configuration as it was when the expiry was set (best effort: no file changes)
            self.backups.take(actor=actor, reason=f"before set-expiry {days}")
        except ManagedFileError as exc:
            log.warning("no backup before set-expiry: %s", self.redact(str(exc)))
        return set_token_expiry(self.store, days, actor=actor, clock=self.clock)

    def action_context(self, *, topic: str | None = None, incident_ref: str | None = None,
                       actor: str | None = None,
                       progress: Callable[[str], None] | None = None,
                       opened_at: datetime | None = None) -> ActionContext:
        """What a step's action may use, for one incident (or none: the CLI, a drill)."""
        return ActionContext(
            health=self.health, token_status=self.token_status, instagram=self.instagram,
            images=self.cloudinary, chat=self.telegram, files=self.files, store=self.store,
            tr=self.tr, redact=self.redact, clock=self.clock, tz=self.settings.timezone, actor=actor,
            topic=topic,
            incident_ref=incident_ref, ops_chat_id=self.settings.ops_chat_id,
            ops_thread_id=self.settings.ops_thread_id, publisher=self.instagram,
            stats_source=self.instagram, uploader=self.cloudinary, generator=self.fal,
            web=self.web, content=self.content, scripts=self.scripts, backups=self.backups,
            incident_opened_at=opened_at,
            **({"progress": progress} if progress is not None else {}),
        )

    async def run_step(self, action: str, args: Mapping[str, Any], *, topic: str | None,
                       incident_ref: str, actor: str,
                       progress: Callable[[str], None] | None = None,
                       opened_at: datetime | None = None) -> StepResult:
        """Run an incident step's action to a StepResult, whatever happens (`run_action`)."""
        context = self.action_context(topic=topic, incident_ref=incident_ref, actor=actor,
                                      progress=progress, opened_at=opened_at)
        return await run_action(action, context, args, timeout_s=self.settings.action_timeout_s)

    async def aclose(self) -> None:
        for adapter in (self.instagram, self.cloudinary, self.fal, self.telegram, self.web):
            if adapter is not None:
                await adapter.aclose()


def _required(value: _T | None, name: str) -> _T:
    """A setting `build_services` checked is set (`missing`), now typed as set."""
    if value is None:
        raise ConfigError([f"{name}: is required but not set"])
    return value


def alert_channels(settings: Settings) -> tuple[list[AlertChannel], OutboxChannel]:
    """The fallback channels the settings name, in order (webhook, e-mail), and the outbox."""
    channels: list[AlertChannel] = []
    if settings.fallback_webhook_url:
        channels.append(WebhookChannel(settings.fallback_webhook_url))
    if settings.smtp is not None:
        smtp = settings.smtp
        channels.append(SmtpChannel(smtp.host, smtp.port, sender=smtp.sender, recipients=smtp.recipients,
                                    user=smtp.user, password=smtp.password, starttls=smtp.starttls))
    return channels, OutboxChannel(settings.data_dir / OUTBOX_FILE)


def bot_api(settings: Settings) -> TelegramBotApi | None:
    """The Bot API client for a check from outside (the watchdog's getMe)."""
    if settings.telegram_bot_token is None:
        return None
    return TelegramBotApi(base_url=settings.telegram_api_base_url, token=settings.telegram_bot_token,
                          timeout_s=10)


def _current_token(settings: Settings, store: Store, redact: Redactor) -> Secret:
    """The settings' token, unless the bot has since rotated it into SUNFLOW_HOME/.env."""
    configured = _required(settings.instagram_access_token, "INSTAGRAM_ACCESS_TOKEN")
    newer = rotated_token(store, ManagedFiles(settings.sunflow_home), configured)
    if newer is None:
        return configured
    redact.learn(newer.reveal())
    log.warning("INSTAGRAM_ACCESS_TOKEN in the bot's settings is older than the token it put in "
                "%s (fingerprint %s): using that one; update the bot's settings too",
                settings.sunflow_home / ENV_FILE, fingerprint(newer))
    return newer


def build_services(settings: Settings, store: Store, *, clock: Clock = utc_now,
                   store_problem: str | None = None) -> Services:
    """Wire every adapter from settings. `Settings.from_env` already checked what is required;
    a component in `settings.unusable` gets no adapter, and its health line says why."""
    unusable = settings.unusable
    missing = [name for name, value, component in (
        ("INSTAGRAM_ACCESS_TOKEN", settings.instagram_access_token, "instagram"),
        ("INSTAGRAM_USER_ID", settings.instagram_user_id, "instagram"),
        ("CLOUDINARY_URL", settings.cloudinary, "cloudinary"),
        ("FAL_KEY", settings.fal_key, "fal")) if not value and component not in unusable]
    if missing:
        raise ConfigError([f"{name}: is required but not set" for name in missing])
    tr = Translator(settings.bot_lang)
    # Each call to a vendor gets a little less than the health deadline, so a slow vendor is
    # reported by its probe (with its own reason) rather than cut off by the runner.
    timeout_s = settings.health_timeout_s * 0.9
    redact = settings.redactor()
    access_token = None if "instagram" in unusable else _current_token(settings, store, redact)
    instagram = None if access_token is None else InstagramGraph(
        graph_url=settings.instagram_graph_url,
        access_token=access_token,
        user_id=_required(settings.instagram_user_id, "INSTAGRAM_USER_ID"),
        app_id=settings.instagram_app_id,
        app_secret=settings.instagram_app_secret,
        timeout_s=timeout_s,
    )
    cloudinary = None if "cloudinary" in unusable else CloudinaryImageHost(
        _required(settings.cloudinary, "CLOUDINARY_URL"), timeout_s=timeout_s)
    fal = None if "fal" in unusable else FalImageGenerator(
        key=_required(settings.fal_key, "FAL_KEY"), queue_url=settings.fal_queue_url,
        timeout_s=timeout_s)
    telegram = (
        TelegramBotApi(base_url=settings.telegram_api_base_url, token=settings.telegram_bot_token,
                       timeout_s=timeout_s)
        if settings.telegram_bot_token and "telegram" not in unusable else None
    )
    files = PipelineHome(settings.sunflow_home, redact)
    scripts_file = settings.scripts_file or settings.sunflow_home / SCRIPTS_FILE
    try:
        scripts = ScriptBook(load_scripts(scripts_file, all_actions()), settings.sunflow_home)
    except ScriptsError as exc:
        raise ConfigError([f"SCRIPTS_FILE: {p}" for p in exc.problems]) from None
    services = Services(settings=settings, store=store, tr=tr, redact=redact,
                        instagram=instagram, cloudinary=cloudinary, fal=fal, telegram=telegram,
                        files=files, content=ContentFiles(settings.sunflow_home),
                        web=HttpFetcher(timeout_s=timeout_s), clock=clock,
                        backups=Backups(store, ManagedFiles(settings.sunflow_home), clock=clock,
                                        tz=settings.timezone, keep=settings.backup_keep,
                                        keep_days=settings.backup_keep_days),
                        scripts=scripts)

    def not_configured(component: str, variable: str, settings_of: str | None = None) -> HealthProbe:
        return NotConfiguredProbe(component, variable, tr, unusable.get(settings_of or component))

    services.follower = LogFollower(files.logs_dir, files.traces_dir)
    services.silences = Silences(store, clock=clock)
    services.rollback = CodeRollback(GitRepository(settings.sunflow_repo or settings.sunflow_home),
                                     store, clock=clock, tz=settings.timezone)
    if instagram is not None:
        services.tokens = TokenRotation(
            instagram, services.backups, store,
            current=_required(access_token, "INSTAGRAM_ACCESS_TOKEN"),
            redact=redact, clock=clock,
            recheck=lambda: services.health(("token", "instagram"), fresh=True))
    services.probes = [
        InstagramProbe(instagram, tr=tr) if instagram is not None
        else not_configured("instagram", "INSTAGRAM_ACCESS_TOKEN"),
        TokenProbe(instagram, store, tr=tr, clock=clock) if instagram is not None
        else not_configured("token", "INSTAGRAM_ACCESS_TOKEN", settings_of="instagram"),
        CloudinaryProbe(cloudinary, tr=tr) if cloudinary is not None
        else not_configured("cloudinary", "CLOUDINARY_URL"),
        FalProbe(fal, tr=tr) if fal is not None else not_configured("fal", "FAL_KEY"),
        TelegramProbe(telegram, tr=tr) if telegram is not None
        else not_configured("telegram", "TELEGRAM_BOT_TOKEN"),
        StatsProbe(files, max_age_h=settings.stats_max_age_h, tr=tr, clock=clock),
        LogsProbe(files, tr=tr, clock=clock),
        StoreProbe(store, tr, store_problem),
    ]
    return services
