"""Token reminders and the weekly token report: JobQueue callbacks that ask the reminders domain
(`bot.detection.reminders`) what is due and say it in the group, and to each admin directly. A
reminder counts as sent once the group has it; an admin's direct message is best effort (an
admin who never opened a chat with the bot cannot be written to first)."""

from __future__ import annotations

import asyncio
import logging

from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.detection.reminders import SENT_KEY, due, remember
from bot.config import ConfigError
from bot.errors import ServiceError
from bot.health.token import TokenStatus
from handlers.context import KEY, BotContext
from handlers.messages import html
from handlers.render import token_keyboard, token_text

log = logging.getLogger(__name__)


async def _status(ctx: BotContext, what: str) -> TokenStatus | None:
    """The token checked now, for a job that tells the group; None when there is no group,
    no Instagram, or the check failed (logged; the job tries again at its next run)."""
    if ctx.services.instagram is None or ctx.settings.ops_chat_id is None:
        return None
    try:
        return await ctx.services.token_status()
    except (ServiceError, ConfigError) as exc:
        log.warning("%s: the token could not be checked: %s", what, ctx.redact(str(exc)))
        return None


async def token_reminder_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Hourly: the most urgent reminder not yet sent, if one is due."""
    ctx: BotContext = context.application.bot_data[KEY]
    status = await _status(ctx, "token reminders")
    if status is None or ctx.settings.ops_chat_id is None:
        return
    store, now = ctx.services.store, ctx.services.clock()
    sent = await asyncio.to_thread(store.get_setting, SENT_KEY, [])
    reminder = due(None if status.never_expires else status.expires_at, now,
                   sent if isinstance(sent, list) else [], tz=ctx.settings.timezone,
                   days=ctx.settings.token_reminder_days)
    if reminder is None:
        return
    head = html(ctx.tr, "token.reminder_today" if reminder.days == 0 else "token.reminder",
                days=max(0, (reminder.expires_at - now).days), date=ctx.local_date(reminder.expires_at))
    text = f"{head}\n\n{token_text(status, ctx)}"
    keyboard = token_keyboard(ctx, status, context.bot.username)
    try:
        await context.bot.send_message(ctx.settings.ops_chat_id, text, parse_mode=ParseMode.HTML,
                                       reply_markup=keyboard, message_thread_id=ctx.settings.ops_thread_id)
    except TelegramError as exc:  # not sent: it is still due at the next hour
        log.warning("token reminder not sent: %s", ctx.redact(str(exc)))
        return
    await asyncio.to_thread(store.set_setting, SENT_KEY,
                            remember(sent if isinstance(sent, list) else [], reminder))
    for admin in sorted(ctx.settings.admin_user_ids):
        try:
            await context.bot.send_message(admin, text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        except TelegramError as exc:
            log.info("token reminder not sent to admin %s directly: %s", admin, ctx.redact(str(exc)))


async def token_report_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Weekly (TOKEN_REPORT): the token's state in the group, as /token shows it."""
    ctx: BotContext = context.application.bot_data[KEY]
    status = await _status(ctx, "weekly token report")
    if status is None or ctx.settings.ops_chat_id is None:
        return
    text = f"{html(ctx.tr, 'token.weekly_title')}\n\n{token_text(status, ctx)}"
    try:
        await context.bot.send_message(ctx.settings.ops_chat_id, text, parse_mode=ParseMode.HTML,
                                       reply_markup=token_keyboard(ctx, status, context.bot.username),
                                       message_thread_id=ctx.settings.ops_thread_id)
    except TelegramError as exc:
        log.warning("weekly token report not sent: %s", ctx.redact(str(exc)))
