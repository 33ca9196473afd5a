"""Sending, editing and answering with the conventions every handler shares."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from html import escape

from telegram import CallbackQuery, Chat, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

log = logging.getLogger(__name__)
ECHO_LIMIT = 64  # characters of a user's own input we quote back


def html(tr: Callable[..., str], key: str, **params: object) -> str:
    """A catalog message (plain text) as Telegram HTML: the whole text, values and all, escaped
    once here. Values go in raw."""
    return escape(tr(key, **params))


# What python-telegram-bot types as optional but always gives the handler registered for it:
# a command or message handler gets its message and chat, a button's handler its query, a
# pattern's handler its match. Missing, the handler was wired to the wrong kind of update.
def message_of(update: Update) -> Message:
    """The message of an update a command or message handler was called with."""
    if update.effective_message is None:
        raise LookupError(f"update {update.update_id} carries no message")
    return update.effective_message


def chat_of(update: Update) -> Chat:
    """The chat of an update a command or message handler was called with."""
    if update.effective_chat is None:
        raise LookupError(f"update {update.update_id} carries no chat")
    return update.effective_chat


def query_of(update: Update) -> CallbackQuery:
    """The button press of an update a CallbackQueryHandler was called with."""
    if update.callback_query is None:
        raise LookupError(f"update {update.update_id} carries no button press")
    return update.callback_query


def match_of(context: ContextTypes.DEFAULT_TYPE) -> re.Match[str]:
    """The pattern's match, for a handler registered with a regex pattern."""
    if context.match is None:
        raise LookupError("the handler was called without a pattern match")
    return context.match


def quoted(text: str) -> str:
    """A user's input, cut to a length that cannot push a reply past Telegram's limit."""
    return text if len(text) <= ECHO_LIMIT else text[: ECHO_LIMIT - 1] + "…"


def not_modified(exc: BadRequest) -> bool:
    """Telegram refused an edit that would change nothing: not an error."""
    return "not modified" in str(exc).lower()


def message_gone(exc: BadRequest) -> bool:
    """The message to edit was deleted, or is too old to edit."""
    reason = str(exc).lower()
    return "not found" in reason or "can't be edited" in reason


async def answer(query: CallbackQuery, text: str | None = None, *, alert: bool = False) -> None:
    """Answer a button press; a press too old to answer (queued while the bot was down) is
    still handled, only its little notice is lost."""
    try:
        await query.answer(text, show_alert=alert)
    except BadRequest as exc:
        log.info("callback query could not be answered: %s", exc)


async def edit_html(target: Message | CallbackQuery, text: str,
                    keyboard: InlineKeyboardMarkup | None = None) -> None:
    """Edit a message (or the one a button sits on) in place; a no-change edit is not an error.

    A button on a message the bot can no longer edit (deleted, or too old) gets a fresh
    message in that chat instead, so the press still shows its result.
    """
    try:
        if isinstance(target, CallbackQuery):
            message = target.message
            if message is None or not isinstance(message, Message):
                raise BadRequest("message to edit not found")
            await message.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        else:
            await target.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    except BadRequest as exc:
        if not_modified(exc):
            return
        if not (isinstance(target, CallbackQuery) and message_gone(exc)):
            raise
        chat_id = target.message.chat.id if target.message is not None else target.from_user.id
        try:
            await target.get_bot().send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                                reply_markup=keyboard)
        except TelegramError:
            log.warning("could not post the result of a button press", exc_info=True)


async def reply_under(query: CallbackQuery, text: str) -> None:
    """Post a new HTML message where the pressed button is (its chat, and its forum topic)."""
    message = query.message
    chat_id = message.chat.id if message is not None else query.from_user.id
    thread = message.message_thread_id if isinstance(message, Message) and message.is_topic_message else None
    await query.get_bot().send_message(chat_id, text, parse_mode=ParseMode.HTML,
                                       message_thread_id=thread)
