"""Who may talk to the bot, and what they may do.

Only the ops group (OPS_CHAT_ID) and private chats of listed users get answers. In the group
every member may look (viewer); OPERATOR_USER_IDS may operate; ADMIN_USER_IDS may change things.
Everything else gets one polite refusal per chat per day and an audit record per attempt.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from enum import IntEnum

from telegram import CallbackQuery, Chat, Message, Update, User
from telegram.constants import ParseMode
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.config import Settings
from handlers import callbacks as cb
from handlers.context import bot_context
from handlers.messages import answer, html

log = logging.getLogger(__name__)
REFUSAL_EVERY = timedelta(hours=24)


class Role(IntEnum):
    STRANGER = 0
    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3


def role_of(settings: Settings, chat: Chat | None, user: User | None) -> Role:
    if chat is None or user is None:
        return Role.STRANGER
    if chat.id == settings.ops_chat_id and user.is_bot:
        # an anonymous group admin or a post "as the group": someone in the group, not who
        return Role.VIEWER
    if user.is_bot:
        return Role.STRANGER
    listed = Role.ADMIN if user.id in settings.admin_user_ids else (
        Role.OPERATOR if user.id in settings.operator_user_ids else Role.STRANGER)
    if chat.id == settings.ops_chat_id:
        return max(listed, Role.VIEWER)
    if chat.type == Chat.PRIVATE and chat.id == user.id:
        return listed
    return Role.STRANGER


def actor_of(user: User | None) -> str:
    """How a person appears in audit records and timelines: id first, then the @username, or
    the first name for someone without one (one line: a name's line breaks become spaces)."""
    if user is None:
        return "unknown"
    name = f"@{user.username}" if user.username else " ".join((user.first_name or "").split())[:64]
    return f"tg:{user.id}" + (f" {name}" if name else "")


def user_id_of(actor: str | None) -> int | None:
    """The Telegram user id in an actor string from `actor_of`, or None (the bot, unknown)."""
    head = (actor or "").split(" ", 1)[0]
    return int(head[3:]) if head.startswith("tg:") and head[3:].isdigit() else None


def update_role(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Role:
    return role_of(bot_context(context).settings, update.effective_chat, update.effective_user)


def _what(update: Update) -> str | None:
    """What a stranger tried, or None for chatter that was not addressed to the bot."""
    if update.callback_query is not None:
        return "button"
    message = update.effective_message
    if message is None or update.effective_chat is None:
        return None  # membership changes and the like: nothing was asked
    if message.text and message.text.startswith("/"):
        return message.text.split()[0][:32]
    return "text" if update.effective_chat.type == Chat.PRIVATE else None


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every handler (group -1): strangers stop here, politely and on record.

    It fails closed: whatever goes wrong while refusing (Telegram down, the store read-only),
    the update stops here, because python-telegram-bot would otherwise run the next group.
    """
    if update_role(update, context) is not Role.STRANGER:
        query = update.callback_query
        if query is not None and not pressed_on_its_own_message(query):
            # a forged press: another area's data (a health re-check) sent on this message
            log.info("press of %r refused: not a button of that message", (query.data or "")[:64])
            await answer(query, bot_context(context).tr("button.no_longer_valid"), alert=True)
            raise ApplicationHandlerStop
        return
    try:
        await _refuse(update, context)
    except Exception:
        log.exception("refusing a stranger failed; the update was stopped anyway")
    raise ApplicationHandlerStop


def pressed_on_its_own_message(query: CallbackQuery) -> bool:
    """A press acts only on a message of its own kind: its data's kind (an incident, a health
    report...) must be among the buttons the message carries. Telegram shows a press the
    message as it is now, so a stale button of the same kind still passes (the incident engine
    says what moved on); a message older than 48 hours comes without its buttons, and then
    only an incident's press goes on, to be checked against the incident's live message."""
    kind = cb.kind_of(query.data)
    message = query.message
    if not isinstance(message, Message):
        return kind is not None and kind.startswith("i:")
    markup = message.reply_markup
    kinds = {cb.kind_of(button.callback_data) for row in (markup.inline_keyboard if markup else ())
             for button in row if isinstance(button.callback_data, str) and button.callback_data}
    return kind in kinds


async def _refuse(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    what = _what(update)
    if what is None:
        return  # group chatter the bot happens to see: not an attempt
    ctx = bot_context(context)
    chat, user = update.effective_chat, update.effective_user
    chat_id = chat.id if chat else None
    store = ctx.services.store
    await asyncio.to_thread(store.audit, "access.refused", actor=actor_of(user), chat_id=chat_id,
                            detail={"what": what, "chat_type": chat.type if chat else None})
    log.info("refused %s in chat %s", actor_of(user), chat_id)
    if update.callback_query is not None:
        await answer(update.callback_query, ctx.tr("access.refused_short"), alert=True)
    elif update.effective_message is not None and await asyncio.to_thread(
            store.claim, f"access.refusal_sent.{chat_id}", now=ctx.services.clock(),
            every=REFUSAL_EVERY):
        # one claim, checked and written at once: forty messages in a burst get one refusal
        await update.effective_message.reply_text(html(ctx.tr, "access.refused"), parse_mode=ParseMode.HTML)


async def require(update: Update, context: ContextTypes.DEFAULT_TYPE, needed: Role,
                  verb: str) -> Role | None:
    """The sender's role when it holds `needed` (never STRANGER, so it reads as true);
    otherwise None, with the refusal answered and audited."""
    role = update_role(update, context)
    if role >= needed:
        return role
    ctx = bot_context(context)
    chat = update.effective_chat
    await asyncio.to_thread(ctx.services.store.audit, "access.denied",
                            actor=actor_of(update.effective_user), chat_id=chat.id if chat else None,
                            detail={"verb": verb, "needs": needed.name})
    text = ctx.tr("access.needs_admin" if needed is Role.ADMIN else "access.needs_operator", verb=verb)
    if update.callback_query is not None:
        await answer(update.callback_query, text, alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(text)
    return None
