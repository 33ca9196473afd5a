"""The bot: `build_application()` wires the real python-telegram-bot Application (nothing run);
`run_bot()` opens the store and polls. The composition root: the one place in `bot/` besides
the sandbox that imports Telegram."""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import timedelta

from telegram import BotCommandScopeDefault, Update
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.config import ConfigError, Settings
from bot.exit_codes import EX_CONFIG, EX_IOERR, EX_TEMPFAIL
from bot.i18n import LANGUAGES
from bot.incidents.record import RECORD_CHECKS
from bot.runbooks import RunbookError
from bot.store import Store, StoreError, StoreLocked
from bot.i18n import Translator
from bot.retention import archive_old
from bot.services import Services, alert_channels, build_services
from bot.wiring import incident_engine, incident_flows
from bot.detection.detector import Detector
from bot.notify.fallback import Fallback
from bot.notify.fallback_notifier import FallbackNotifier
from bot.notify.heartbeat import BEAT_EVERY_S, beat
from bot.detection.intake import IntakeServer
from bot.detection.scheduled import signal_from_files, signal_report
from bot.detection.signals import COMPONENT_SCENARIOS
from bot.health import State
from handlers import callbacks as cb
from handlers.access import gate
from handlers.backups import backup_button, backups_command
from handlers.basic import bot_commands, help_command, start_command, stale_button
from handlers.context import KEY, BotContext
from handlers.errors import on_error
from handlers.health import health_command, health_recheck
from handlers.incidents import (
    incident_button,
    incident_command,
    incidents_command,
    scenario_button,
)
from handlers.job_scheduler import JobQueueScheduler
from handlers.postmortem import on_reply
from handlers.rollback import rollback_button, rollback_command
from handlers.silences import silence_button, silences_command
from handlers.runbooks import runbooks_command
from handlers.send_pacer import SendPacer
from handlers.update_slots import PressesApart
from handlers.stats import stats_command
from handlers.telegram_notifier import TelegramNotifier
from handlers.token_reminders import token_reminder_job, token_report_job
from handlers.token_rotation import (
    on_private_reply,
    on_private_text,
    tell_group_of_token_change,
    token_refresh_button,
)
from handlers.token import (
    token_command,
    token_guide_button,
    token_recheck_button,
    token_set_60_button,
)

log = logging.getLogger(__name__)
CONCURRENT_UPDATES = 16
CONCURRENT_PRESSES = 32
ARCHIVE_EVERY = timedelta(days=1)  # how often records nobody works on leave memory
# Commands and button presses; nothing else (reactions, member changes, edits) needs to reach
# the access gate.
ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


async def _on_start(application: Application) -> None:
    """setMyCommands in every language we speak; tell the group if the store was repaired."""
    ctx: BotContext = application.bot_data[KEY]
    scope = BotCommandScopeDefault()
    for lang in LANGUAGES:
        await application.bot.set_my_commands(bot_commands(Translator(lang)), scope=scope,
                                              language_code=lang)
    await application.bot.set_my_commands(bot_commands(ctx.tr), scope=scope)
    for damage in ctx.services.store.recovered:
        log.error("store damaged: %s moved to %s (%s)", damage.path, damage.moved_to, damage.reason)
        key = "store.quarantined_notice" if damage.kind == "record" else "store.recovered_notice"
        try:  # best effort: the moved-aside file keeps the store line degraded until reviewed
            await application.bot.send_message(
                ctx.settings.ops_chat_id,
                ctx.redact(ctx.tr(key, path=damage.path.name, moved_to=damage.moved_to.name,
                                  reason=damage.reason)),
                message_thread_id=ctx.settings.ops_thread_id,
            )
        except TelegramError:
            log.warning("could not tell the ops group about the damaged store file", exc_info=True)
    if ctx.settings.intake is not None and ctx.settings.intake_secret is not None:
        ctx.intake = IntakeServer(ctx.detector, ctx.services.store, ctx.settings.intake_secret.reveal(),
                                  ctx.services.clock)
        await ctx.intake.start(*ctx.settings.intake)
    if application.job_queue is not None:  # for `sunflow-ops watchdog`, which looks from outside
        # at once (an interval job first due before the scheduler starts would wait a whole
        # interval: APScheduler moves it to the next one), then every minute
        application.job_queue.run_once(_heartbeat_job, 0, name="heartbeat-first",
                                       job_kwargs={"misfire_grace_time": None})
        application.job_queue.run_repeating(_heartbeat_job, interval=BEAT_EVERY_S, first=BEAT_EVERY_S,
                                            name="heartbeat")
    if application.job_queue is not None and ctx.services.instagram is not None:
        application.job_queue.run_repeating(token_reminder_job, interval=REMINDER_EVERY_S,
                                            first=REMINDER_FIRST_S, name="token-reminders")
        if ctx.settings.token_report is not None:
            weekday, at = ctx.settings.token_report
            application.job_queue.run_daily(  # PTB counts days from Sunday (0)
                token_report_job, at.replace(tzinfo=ctx.settings.timezone),
                days=((weekday + 1) % 7,), name="token-report")
    every = ctx.settings.check_every
    if every is not None and application.job_queue is not None:
        # the pipeline's files at once (what they got while the bot was down; the first start
        # only notes where they end), every component a round later
        application.job_queue.run_once(_files_job, 0, name="detect-files",
                                       job_kwargs={"misfire_grace_time": None})
        application.job_queue.run_repeating(_detect_job, interval=every.total_seconds(),
                                            first=every.total_seconds(), name="detect")
    if application.job_queue is not None:  # at once, but after polling starts: the first
        # start on a year of records spends seconds moving them, and must not delay answers
        # (a job added before the scheduler runs is past due when it starts: no grace limit)
        application.job_queue.run_once(_archive_job, 0, name="archive",
                                       job_kwargs={"misfire_grace_time": None})
        application.job_queue.run_repeating(_archive_job, interval=ARCHIVE_EVERY,
                                            first=ARCHIVE_EVERY, name="archive")
    else:
        await _archive(application)
    if ctx.services.tokens is not None:  # a change a crash cut short is finished or forgotten
        await asyncio.to_thread(ctx.services.tokens.reconcile)
    await tell_group_of_token_change(application.bot, ctx)  # one made from the terminal
    armed, resumed, owing = await ctx.flows.start()
    if armed:
        log.info("%d open incident(s): escalation clocks re-armed", armed)
    if resumed:
        log.info("%d post-mortem write-up(s) resumed", resumed)
    if owing:
        log.info("%d incident(s) still owe the group a document: sending", owing)


async def _archive(application: Application) -> None:
    """Records nobody works on any more leave memory (`bot.retention`); best effort."""
    ctx: BotContext = application.bot_data[KEY]
    try:
        moved = await asyncio.to_thread(archive_old, ctx.engine, ctx.services.clock)
    except StoreError as exc:  # the records stay in memory until the next try
        log.error("archiving old records failed: %s", exc)
        return
    if any(moved.values()):
        log.info("archived: %s", ", ".join(f"{n} {table}" for table, n in moved.items() if n))


async def _archive_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await _archive(context.application)


async def _announce(application: Application, settings: Settings, text: str) -> None:
    """A plain message to the ops group (the summary of what an outage held)."""
    if settings.ops_chat_id is not None:
        await application.bot.send_message(settings.ops_chat_id, text,  # plain text: nothing to escape
                                           message_thread_id=settings.ops_thread_id)


async def _heartbeat_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    ctx: BotContext = context.application.bot_data[KEY]
    try:
        await asyncio.to_thread(beat, ctx.settings.data_dir, ctx.services.clock())
    except OSError:
        log.warning("the heartbeat could not be written", exc_info=True)


async def _files_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    ctx: BotContext = context.application.bot_data[KEY]
    if ctx.services.follower is None:
        return
    try:
        await signal_from_files(ctx.services.follower, ctx.detector, ctx.services.store,
                                now=ctx.services.clock)
    except Exception:
        log.exception("reading the pipeline's files failed")


async def _detect_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """The scheduled check: every watched component, each failure to its incident."""
    ctx: BotContext = context.application.bot_data[KEY]
    try:
        report = await ctx.services.health(list(COMPONENT_SCENARIOS))
        received = await signal_report(report, ctx.detector, now=ctx.services.clock)
        telegram = report.get("telegram")
        if telegram is not None and telegram.state is State.OK and ctx.fallback is not None:
            await ctx.fallback.telegram_works()  # an outage nothing else ended: its summary
        if ctx.services.follower is not None:
            files = await signal_from_files(ctx.services.follower, ctx.detector, ctx.services.store,
                                            now=ctx.services.clock)
            received += files.received
            if files.skipped:
                log.warning("detection: %d unreadable log lines or trace files skipped", files.skipped)
    except Exception:  # the next round tries again; a job that raises would only be logged too
        log.exception("the scheduled check failed")
        return
    for outcome in received:
        if outcome.kind in ("opened", "recovered"):
            log.info("detection: %s %s", outcome.kind, outcome.ref)


async def _on_stop(application: Application) -> None:
    """Edits still waiting for the group's turn and documents waiting for a retry are dropped:
    the next start shows every incident's state again and sends what is still owed."""
    ctx: BotContext = application.bot_data[KEY]
    if ctx.intake is not None:
        await ctx.intake.stop()
    await ctx.stop()


REMINDER_EVERY_S = 3600  # token reminders are looked for hourly
REMINDER_FIRST_S = 30  # and soon after a start (one due while the bot was down goes out)


class SunflowApplication(Application):
    """The Application, stopping without waiting for the group's turn: sends still queued for
    it fail at once, so a handler waiting on one ends and `stop()` does not wait minutes."""

    async def stop(self) -> None:
        if isinstance(self.bot.rate_limiter, SendPacer):
            self.bot.rate_limiter.close()
        await super().stop()


def build_application(settings: Settings, services: Services, *,
                      application_class: type[Application] = SunflowApplication) -> Application:
    """The Application with every handler; `application_class` lets the demo observe it."""
    if settings.telegram_bot_token is None or settings.ops_chat_id is None:
        raise ConfigError(["TELEGRAM_BOT_TOKEN and OPS_CHAT_ID: required to run the bot"])
    application = (
        ApplicationBuilder()
        .application_class(application_class)
        .token(settings.telegram_bot_token.reveal())
        .base_url(settings.telegram_api_base_url)
        .rate_limiter(SendPacer(settings.telegram_group_max_rate, max_retries=2))
        # A /health waiting on a hung vendor must not hold up everyone else's commands, and no
        # number of commands waiting for their turn in the group may hold up a button press.
        .concurrent_updates(PressesApart(presses=CONCURRENT_PRESSES, others=CONCURRENT_UPDATES))
        .post_init(_on_start)
        .post_stop(_on_stop)
        .build()
    )
    engine = incident_engine(services)  # RunbookError: every problem, named by file
    ctx = application.bot_data[KEY] = BotContext(settings=settings, services=services, engine=engine,
                                                 runbooks_loaded_at=services.clock())
    channels, outbox = alert_channels(settings)
    notifier = ctx.fallback = FallbackNotifier(
        TelegramNotifier(application.bot, ctx),
        Fallback(channels, outbox, services.store, clock=services.clock,
                 after=settings.telegram_down_after),
        tr=ctx.tr, lang=settings.bot_lang, tz=settings.timezone, redact=services.redact,
        clock=services.clock, announce=lambda text: _announce(application, settings, text))
    ctx.flows = incident_flows(services, engine, notifier,
                               JobQueueScheduler(application.job_queue, services.clock))
    ctx.detector = Detector(services.store, ctx.flows, redact=services.redact,
                            silences=services.silences,
                            announce=lambda component, warning: _announce(application, settings, ctx.tr(
                                "detection.warning", component=ctx.tr(f"component.{component}"),
                                warning=warning)))

    application.add_handler(TypeHandler(Update, gate), group=-1)
    application.add_handlers([
        CommandHandler("health", health_command),
        CommandHandler("token", token_command),
        CommandHandler("incident", incident_command),
        CommandHandler("incidents", incidents_command),
        CommandHandler("stats", stats_command),
        CommandHandler("runbooks", runbooks_command),
        CommandHandler("backups", backups_command),
        CommandHandler("rollback", rollback_command),
        CommandHandler("silences", silences_command),
        CommandHandler("help", help_command),
        CommandHandler("start", start_command),
        CallbackQueryHandler(health_recheck, pattern=cb.exactly(cb.HEALTH_RECHECK)),
        CallbackQueryHandler(token_guide_button, pattern=cb.exactly(cb.TOKEN_GUIDE)),
        CallbackQueryHandler(token_set_60_button, pattern=cb.exactly(cb.TOKEN_SET_60)),
        CallbackQueryHandler(token_recheck_button, pattern=cb.exactly(cb.TOKEN_RECHECK)),
        CallbackQueryHandler(token_refresh_button, pattern=cb.exactly(cb.TOKEN_REFRESH)),
        CallbackQueryHandler(incident_button, pattern=cb.INCIDENT_RE),
        CallbackQueryHandler(scenario_button, pattern=cb.OPEN_SCENARIO_RE),
        CallbackQueryHandler(backup_button, pattern=cb.BACKUP_RE),
        CallbackQueryHandler(rollback_button, pattern=cb.ROLLBACK_RE),
        CallbackQueryHandler(silence_button, pattern=cb.SILENCE_RE),
        CallbackQueryHandler(stale_button),  # last: whatever nobody else claimed
        # a private reply may hold a new token: its own handler, before any other reply's
        MessageHandler(filters.ChatType.PRIVATE & filters.REPLY & filters.TEXT & ~filters.COMMAND,
                       on_private_reply),
        MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, on_private_text),
        MessageHandler(filters.REPLY & filters.TEXT & ~filters.COMMAND, on_reply),
    ])
    application.add_error_handler(on_error)
    return application


def run_bot(settings: Settings) -> int:
    """`sunflow-ops run`: poll Telegram until stopped; an exit code."""
    try:
        store = Store.open(settings.data_dir, checks=RECORD_CHECKS)
    except StoreError as exc:
        print(f"sunflow-ops: {exc}", file=sys.stderr)
        return EX_TEMPFAIL if isinstance(exc, StoreLocked) else EX_IOERR
    services = build_services(settings, store)
    try:
        application = build_application(settings, services)
    except RunbookError as exc:
        print(f"sunflow-ops: {exc}", file=sys.stderr)
        store.close()
        return EX_CONFIG

    async def _close(_app: object) -> None:
        await services.aclose()

    application.post_shutdown = _close
    log.info("SunFlow Ops starting (polling %s)", settings.telegram_api_base_url.split("/bot")[0])
    try:
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except InvalidToken:
        print("sunflow-ops: Telegram rejected TELEGRAM_BOT_TOKEN (check it with @BotFather)",
              file=sys.stderr)
        return EX_CONFIG
    finally:
        store.close()
    return 0
