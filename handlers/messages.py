"""Sending and editing with the conventions every handler shares."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardMarkup, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest


async def edit_html(target: Message | CallbackQuery, text: str,
                    keyboard: InlineKeyboardMarkup | None = None) -> None:
    """Edit a message (or the one a button sits on) in place; a no-change edit is not an error."""
    try:
        if isinstance(target, CallbackQuery):
            await target.edit_message_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
        else:
            await target.edit_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise
