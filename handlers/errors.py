"""The one error handler: full traceback to the log, a short secret-free note to the chat."""

from __future__ import annotations

import logging
import secrets

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.store import StoreError
from handlers.access import Role, update_role
from handlers.context import bot_context
from handlers.messages import answer

log = logging.getLogger(__name__)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log it with the traceback, tell the chat where it happened (if it is ours), keep polling.

    A store that cannot be written is said as such (why, and that nothing changed), not as
    "something went wrong": it is a state of the machine the team can act on.
    """
    ref = "E-" + secrets.token_hex(3)
    error = context.error
    if isinstance(error, StoreError):
        log.error("update refused, the store cannot be written (ref %s): %s", ref, error)
    else:
        log.error("update failed (ref %s)", ref, exc_info=error)
    if not isinstance(update, Update) or update_role(update, context) is Role.STRANGER:
        return  # a job, the poller, or a chat we do not talk to: the log is the place
    ctx = bot_context(context)
    tr = ctx.tr
    if isinstance(error, StoreError):
        problem = ctx.services.store.write_problem or str(error)
        short = tr("error.store_short", problem=problem)
        full = tr("error.store", problem=problem, ref=ref)
    else:
        short, full = tr("error.internal_short", ref=ref), tr("error.internal", ref=ref)
    if update.callback_query is not None:
        await answer(update.callback_query, ctx.redact(short)[:200], alert=True)
    if update.effective_chat is None:
        return
    message = update.effective_message
    thread = (message.message_thread_id
              if isinstance(message, Message) and message.is_topic_message else None)
    try:
        await context.bot.send_message(update.effective_chat.id, ctx.redact(full),
                                       message_thread_id=thread)
    except TelegramError:
        log.warning("could not post the error note (ref %s)", ref, exc_info=True)
