"""/health: every component at once in one message, re-checked in place."""

from __future__ import annotations

from html import escape

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.services import COMPONENTS
from handlers.context import bot_context
from handlers.messages import answer, edit_html, quoted
from handlers.render import health_keyboard, health_text


async def health_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/health [component ...]: post a placeholder at once, then fill it with the report."""
    ctx = bot_context(context)
    wanted = [arg.lower() for arg in context.args or []]
    unknown = [name for name in wanted if name not in COMPONENTS]
    if unknown:
        await update.effective_message.reply_text(
            ctx.tr("health.unknown_component", names=escape(quoted(", ".join(unknown))),
                   known=", ".join(COMPONENTS)),
            parse_mode=ParseMode.HTML,
        )
        return
    message = await update.effective_message.reply_text(ctx.tr("health.checking"))
    report = await ctx.services.health(only=wanted or None)
    keyboard = health_keyboard(ctx) if not wanted else None
    await edit_html(message, health_text(report, ctx), keyboard)


async def health_recheck(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The re-check button: the same message, edited with a fresh report."""
    ctx = bot_context(context)
    query = update.callback_query
    await answer(query, ctx.tr("health.rechecking"))
    report = await ctx.services.health()
    await edit_html(query, health_text(report, ctx), health_keyboard(ctx))
