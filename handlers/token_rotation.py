"""A new Instagram token from the chat: `/token rotate` in a private chat asks for it, the reply
is deleted at once and handed to the rotation domain; `/token refresh` and its button refresh an
Instagram Login token. The rules (admin, private, Graph's judgement) are the domain's."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from html import escape

from telegram import Bot, Chat, ForceReply, Message, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.actions.recovery.token_rotation import (
    MIN_TOKEN_CHARS,
    Installed,
    TokenRefused,
    looks_like_a_token,
)
from bot.token_view import installed_text, notice_text
from handlers.access import Role, actor_of, update_role
from handlers.context import BotContext, bot_context
from handlers.messages import answer, edit_html, html, message_of, query_of
from handlers.render import token_keyboard, token_text

log = logging.getLogger(__name__)
PROMPT_FOR = timedelta(minutes=10)  # how long the question for a token stays open


def _prompt_key(chat_id: int) -> str:
    return f"token.rotate.prompt.{chat_id}"


def _refusal(ctx: BotContext, refused: TokenRefused) -> str:
    params = {k: ctx.local(v) if isinstance(v, datetime) else v for k, v in refused.params.items()}
    return escape(ctx.redact(ctx.tr(refused.key, **params)))  # Graph's words masked, then escaped


def _private(update: Update) -> bool:
    chat, user = update.effective_chat, update.effective_user
    return chat is not None and user is not None and chat.type == Chat.PRIVATE and chat.id == user.id


def _done_text(ctx: BotContext, done: Installed) -> str:
    return escape(ctx.redact(installed_text(ctx.tr, done, ctx.settings.timezone)))


async def tell_group_of_token_change(bot: Bot, ctx: BotContext) -> None:
    """The group hears of every change of the token, masked (a fingerprint, never the token):
    now, or, when the change came from the terminal or Telegram failed, at the next chance."""
    tokens = ctx.services.tokens
    notice = None if tokens is None else await asyncio.to_thread(tokens.owed_notice)
    if tokens is None or notice is None or ctx.settings.ops_chat_id is None:
        return
    text = escape(ctx.redact(notice_text(ctx.tr, notice, ctx.settings.timezone)))
    try:
        await bot.send_message(ctx.settings.ops_chat_id, text, parse_mode=ParseMode.HTML,
                               message_thread_id=ctx.settings.ops_thread_id)
    except TelegramError as exc:  # the change is made and audited; the notice stays owed
        log.warning("the group was not told of the token change: %s", ctx.redact(str(exc)))
        return
    await asyncio.to_thread(tokens.told, notice)


async def rotate_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/token rotate (and /start rotate): ask an admin, in private, for the new token."""
    ctx = bot_context(context)
    message = message_of(update)
    tokens = ctx.services.tokens
    if tokens is None:
        await message.reply_text(html(ctx.tr, "rec.needs.publisher"), parse_mode=ParseMode.HTML)
        return
    try:
        tokens.may_rotate(admin=update_role(update, context) >= Role.ADMIN, private=_private(update))
    except TokenRefused as refused:
        await message.reply_text(_refusal(ctx, refused), parse_mode=ParseMode.HTML)
        return
    asked = await message.reply_text(
        html(ctx.tr, "token.rotate.ask", minutes=int(PROMPT_FOR.total_seconds() // 60)),
        parse_mode=ParseMode.HTML, reply_markup=ForceReply(selective=True))
    await asyncio.to_thread(ctx.services.store.set_setting, _prompt_key(message.chat_id), {
        "message_id": asked.message_id, "asked_at": ctx.services.clock().isoformat()})


def _open_prompt(ctx: BotContext, chat_id: int, message_id: int) -> bool:
    prompt = ctx.services.store.get_setting(_prompt_key(chat_id))
    if not isinstance(prompt, dict) or prompt.get("message_id") != message_id:
        return False
    try:
        asked_at = datetime.fromisoformat(str(prompt.get("asked_at")))
    except ValueError:
        return False
    return timedelta(0) <= ctx.services.clock() - asked_at <= PROMPT_FOR


async def _delete(ctx: BotContext, message: Message) -> None:
    try:
        await message.delete()
    except TelegramError as exc:
        log.warning("a message holding a token could not be deleted: %s", ctx.redact(str(exc)))
        await message.reply_text(html(ctx.tr, "token.rotate.not_deleted"), parse_mode=ParseMode.HTML)


async def on_private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A message in a private chat that is not a command: a token pasted without replying to
    the question is deleted all the same, and the way to give one is said."""
    ctx = bot_context(context)
    message = message_of(update)
    text = message.text or ""
    if not looks_like_a_token(text):
        return
    ctx.redact.learn(text.strip())
    await _delete(ctx, message)
    await message.reply_text(html(ctx.tr, "rotate.prompt_gone"), parse_mode=ParseMode.HTML)


async def on_private_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reply in a private chat: the new token when it answers the open question."""
    ctx = bot_context(context)
    message = message_of(update)
    target, text = message.reply_to_message, message.text or ""
    if target is None or target.from_user is None or target.from_user.id != context.bot.id:
        return
    token_like = looks_like_a_token(text)
    if token_like:  # gone from the chat before anything else can fail
        ctx.redact.learn(text.strip())
        await _delete(ctx, message)
    tokens = ctx.services.tokens
    if tokens is None or not await asyncio.to_thread(_open_prompt, ctx, message.chat_id, target.message_id):
        if token_like:
            await message.reply_text(html(ctx.tr, "rotate.prompt_gone"), parse_mode=ParseMode.HTML)
        return
    if not token_like:  # an answer that is no token (a question, "cancel"): said, and kept
        await message.reply_text(html(ctx.tr, "rotate.bad_shape", low=MIN_TOKEN_CHARS),
                                 parse_mode=ParseMode.HTML)
        return
    status = await message.reply_text(html(ctx.tr, "token.rotate.checking"), parse_mode=ParseMode.HTML)
    actor = actor_of(update.effective_user)
    try:
        done = await tokens.rotate(text, actor=actor, admin=update_role(update, context) >= Role.ADMIN,
                                   private=_private(update))
    except TokenRefused as refused:
        await edit_html(status, _refusal(ctx, refused))
        return
    await asyncio.to_thread(ctx.services.store.set_setting, _prompt_key(message.chat_id), None)
    await edit_html(status, _done_text(ctx, done))
    await tell_group_of_token_change(context.bot, ctx)


async def _refresh(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Installed | str:
    """Refresh the token in use: what was done, or the refusal as chat HTML."""
    ctx = bot_context(context)
    tokens = ctx.services.tokens
    if tokens is None:
        return html(ctx.tr, "rec.needs.publisher")
    try:
        status = await ctx.services.token_status()
        return await tokens.refresh(status, actor=actor_of(update.effective_user),
                                    admin=update_role(update, context) >= Role.ADMIN)
    except TokenRefused as refused:
        return _refusal(ctx, refused)


async def refresh_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/token refresh: a one-step refresh of an Instagram Login token."""
    ctx = bot_context(context)
    message = message_of(update)
    outcome = await _refresh(update, context)
    if isinstance(outcome, str):
        await message.reply_text(outcome, parse_mode=ParseMode.HTML)
        return
    await message.reply_text(_done_text(ctx, outcome), parse_mode=ParseMode.HTML)
    await tell_group_of_token_change(context.bot, ctx)


async def token_refresh_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The refresh button: answered at once, then the token report shows the result."""
    ctx = bot_context(context)
    query = query_of(update)
    await answer(query, ctx.tr("token.refresh.working"))
    outcome = await _refresh(update, context)
    if isinstance(outcome, str):
        await query.get_bot().send_message(query.message.chat.id if query.message else query.from_user.id,
                                           outcome, parse_mode=ParseMode.HTML)
        return
    status = await ctx.services.token_status()
    await edit_html(query, token_text(status, ctx), token_keyboard(ctx, status, context.bot.username))
    await tell_group_of_token_change(context.bot, ctx)
