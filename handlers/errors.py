"""The one error handler: full traceback to the log, a short secret-free note to the chat."""

from __future__ import annotations

import logging
import secrets

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from handlers.access import Role, update_role
from handlers.context import bot_context
from handlers.messages import answer

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log it with the traceback, tell the chat where it happened (if it is ours), keep polling."""
    ref = "E-" + secrets.token_hex(3)
    log.error("update failed (ref %s)", ref, exc_info=context.error)
    if not isinstance(update, Update) or update_role(update, context) is Role.STRANGER:
        return  # a job, the poller, or a chat we do not talk to: the log is the place
    tr = bot_context(context).tr
    if update.callback_query is not None:
        await answer(update.callback_query, tr("error.internal_short", ref=ref), alert=True)
    if update.effective_chat is None:
        return
    message = update.effective_message
    thread = (message.message_thread_id
              if isinstance(message, Message) and message.is_topic_message else None)
    try:
        await context.bot.send_message(update.effective_chat.id, tr("error.internal", ref=ref),
                                       message_thread_id=thread)
    except TelegramError:
        log.warning("could not post the error note (ref %s)", ref, exc_info=True)
