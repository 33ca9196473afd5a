"""The one error handler: full traceback to the log, a short secret-free note to the chat."""

from __future__ import annotations

import logging
import secrets

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from handlers.context import bot_context

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log it with the traceback, tell the chat where it happened, keep polling."""
    ref = "E-" + secrets.token_hex(3)
    log.error("update failed (ref %s)", ref, exc_info=context.error)
    if not isinstance(update, Update):
        return  # a job or the poller itself: the log is the only place to tell
    tr = bot_context(context).tr
    try:
        if update.callback_query is not None:
            try:
                await update.callback_query.answer(tr("error.internal_short", ref=ref), show_alert=True)
            except TelegramError:
                pass  # already answered by the handler before it failed
        if update.effective_chat is not None:
            await context.bot.send_message(
                update.effective_chat.id,
                tr("error.internal", ref=ref),
                message_thread_id=(update.effective_message.message_thread_id
                                   if update.effective_message and update.effective_message.is_topic_message
                                   else None),
            )
    except TelegramError:
        log.warning("could not post the error note (ref %s)", ref, exc_info=True)
