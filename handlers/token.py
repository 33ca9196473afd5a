"""/token: the Instagram token's state, its renewal guide, registering its expiry, and the way to
a new token (`rotate`, `refresh`: handlers.token_rotation)."""

from __future__ import annotations

import asyncio

from telegram import Bot, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.health.token import MAX_EXPIRY_DAYS, MIN_EXPIRY_DAYS, parse_expiry_days
from handlers.access import Role, actor_of, require
from handlers.context import BotContext, bot_context
from handlers.messages import (
    answer,
    edit_html,
    html,
    message_of,
    query_of,
    quoted,
    reply_under,
)
from handlers.render import token_guide_text, token_keyboard, token_text
from handlers.token_rotation import refresh_command, rotate_command

SET_EXPIRY_BUTTON_DAYS = 60  # the playbook: "set-expiry 60" for a 60-day long-lived token


async def _report(ctx: BotContext, bot: Bot) -> tuple[str, InlineKeyboardMarkup]:
    """The token report and its buttons, from a check made now."""
    status = await ctx.services.token_status()
    return token_text(status, ctx), token_keyboard(ctx, status, bot.username)


async def token_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/token, /token guide, /token set-expiry <days>."""
    ctx = bot_context(context)
    args = context.args or []
    verb = args[0].lower() if args else "status"
    message = message_of(update)
    if verb == "status" and len(args) <= 1:
        placeholder = await message.reply_text(ctx.tr("token.checking"))
        await edit_html(placeholder, *await _report(ctx, context.bot))
    elif verb == "guide" and len(args) == 1:
        await message.reply_text(token_guide_text(ctx), parse_mode=ParseMode.HTML)
    elif verb == "set-expiry":
        await _set_expiry(update, context, args[1:])
    elif verb == "rotate" and len(args) == 1:
        await rotate_command(update, context)
    elif verb == "refresh" and len(args) == 1:
        await refresh_command(update, context)
    else:
        await message.reply_text(html(ctx.tr, "token.usage"), parse_mode=ParseMode.HTML)


async def _set_expiry(update: Update, context: ContextTypes.DEFAULT_TYPE, rest: list[str]) -> None:
    ctx = bot_context(context)
    if not await require(update, context, Role.ADMIN, "/token set-expiry"):
        return
    message = message_of(update)
    try:
        if len(rest) != 1:
            raise ValueError("one argument expected")
        days = parse_expiry_days(rest[0])
    except ValueError:
        given = quoted(" ".join(rest)) or "—"
        await message.reply_text(
            html(ctx.tr, "token.bad_days", given=given, low=MIN_EXPIRY_DAYS, high=MAX_EXPIRY_DAYS),
            parse_mode=ParseMode.HTML,
        )
        return
    expires_at = await asyncio.to_thread(ctx.services.set_token_expiry, days,
                                         actor=actor_of(update.effective_user))
    await message.reply_text(
        html(ctx.tr, "token.expiry_set", days=days, date=ctx.local_date(expires_at)),
        parse_mode=ParseMode.HTML,
    )


async def token_guide_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The guide button: the renewal steps as a reply, the status message stays."""
    ctx = bot_context(context)
    query = query_of(update)
    await answer(query)
    await reply_under(query, token_guide_text(ctx))


async def token_set_60_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admins only: register a 60-day expiry and refresh the status message."""
    ctx = bot_context(context)
    query = query_of(update)
    if not await require(update, context, Role.ADMIN, ctx.tr("button.token_set_60")):
        return
    expires_at = await asyncio.to_thread(ctx.services.set_token_expiry, SET_EXPIRY_BUTTON_DAYS,
                                         actor=actor_of(update.effective_user))
    await answer(query, ctx.tr("token.expiry_set_short", date=ctx.local_date(expires_at)))
    await edit_html(query, *await _report(ctx, context.bot))


async def token_recheck_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Re-check the token and edit the same message."""
    ctx = bot_context(context)
    query = query_of(update)
    await answer(query, ctx.tr("token.checking"))
    await edit_html(query, *await _report(ctx, context.bot))
