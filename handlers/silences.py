"""Silences in the chat: the 🔕 buttons under a detected incident's live message, and /silences
(who silenced what until when; an admin lifts one). The rules are the silences domain's."""

from __future__ import annotations

import asyncio
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.actors import display_name
from bot.detection.silences import BUTTON_HOURS, SilenceRefused, Silences
from handlers import callbacks as cb
from handlers.access import Role, actor_of, update_role
from handlers.context import BotContext, bot_context
from handlers.messages import answer, edit_html, message_of, query_of


def silence_row(ctx: BotContext, component: str) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(ctx.tr("button.silence", hours=h), callback_data=cb.silence(component, h))
            for h in BUTTON_HOURS]


def _domain(ctx: BotContext) -> Silences:
    if ctx.services.silences is None:
        raise SilenceRefused("silence.none", component="-")
    return ctx.services.silences


def _listing(ctx: BotContext, admin: bool) -> tuple[str, InlineKeyboardMarkup | None]:
    active = _domain(ctx).active()
    if not active:
        return escape(ctx.tr("silence.list_empty")), None
    lines = [ctx.tr("silence.list_title")]
    lines += [ctx.tr("silence.line", component=ctx.tr(f"component.{s.component}"),
                     until=ctx.local(s.until), by=display_name(s.by)) for s in active]
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(
        ctx.tr("button.silence_lift", component=ctx.tr(f"component.{s.component}")),
        callback_data=cb.silence(s.component, 0))] for s in active]) if admin else None
    return escape(ctx.redact("\n".join(lines))), keyboard


async def silences_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/silences: what is silenced, by whom, until when."""
    ctx = bot_context(context)
    text, keyboard = await asyncio.to_thread(_listing, ctx, update_role(update, context) >= Role.ADMIN)
    await message_of(update).reply_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)


async def silence_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """🔕 1 h / 4 h / 24 h under a live message; Lift (0) under /silences."""
    ctx = bot_context(context)
    query = query_of(update)
    parts = cb.silence_parts(query.data or "")
    if parts is None:
        await answer(query, ctx.tr("button.no_longer_valid"), alert=True)
        return
    component, hours = parts
    role, actor = update_role(update, context), actor_of(update.effective_user)
    try:
        if hours == 0:
            await asyncio.to_thread(_domain(ctx).lift, component, actor=actor, admin=role >= Role.ADMIN)
            await answer(query, ctx.tr("silence.lifted", component=ctx.tr(f"component.{component}")))
            await edit_html(query, *await asyncio.to_thread(_listing, ctx, role >= Role.ADMIN))
            return
        silence = await asyncio.to_thread(_domain(ctx).add, component, hours, actor=actor,
                                          operator=role >= Role.OPERATOR)
    except SilenceRefused as refused:
        await answer(query, ctx.tr(refused.key, **refused.params), alert=True)
        return
    await answer(query, ctx.tr("silence.set", component=ctx.tr(f"component.{component}"),
                               until=ctx.local(silence.until)))
