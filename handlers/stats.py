"""/stats: time to acknowledge and to resolve, per severity, over the last 30 days."""

from __future__ import annotations

import asyncio
from html import escape

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.incidents.stats import incident_stats, render_stats_text
from handlers.context import bot_context
from handlers.messages import message_of

STATS_DAYS = 30


async def stats_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/stats: MTTA and MTTR per severity."""
    ctx = bot_context(context)
    incidents = await asyncio.to_thread(ctx.engine.recent, STATS_DAYS)
    stats = incident_stats(incidents, now=ctx.services.clock(), days=STATS_DAYS)
    text = render_stats_text(stats, ctx.tr, days=STATS_DAYS)
    await message_of(update).reply_text(f"<pre>{escape(text)}</pre>", parse_mode=ParseMode.HTML)
