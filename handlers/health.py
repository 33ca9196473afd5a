"""/health: every component at once in one message, re-checked in place.

Any group member may ask, and a group gets about 20 messages a minute, so /health is frugal:
- requests share rounds of vendor calls (`Services.health(fresh=False)`, HEALTH_SHARE_S);
- one message per report: a "checking…" placeholder only when the report takes longer than
  PLACEHOLDER_AFTER_S (a slow vendor), then edited into the report;
- a /health that arrives while a report for the same chat and components is still on its way
  (waiting for the group's turn, or for a slow vendor) is answered by that report: 40 requests
  in a burst cost one or two messages, not eighty.
The 🔄 button asks for a fresh check, at most once per RECHECK_EVERY_S per person; sooner, it
shows the shared one.
"""

from __future__ import annotations

import asyncio
import time

from telegram import Message, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.health import COMPONENTS
from handlers.context import BotContext, bot_context
from handlers.messages import answer, edit_html, html, message_of, query_of, quoted
from handlers.render import health_keyboard, health_text

PLACEHOLDER_AFTER_S = 1.0
RECHECK_EVERY_S = 30.0


async def health_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/health [component ...]: the report, one message; joins a report already on its way."""
    ctx = bot_context(context)
    message = message_of(update)
    wanted = [arg.lower() for arg in context.args or []]
    unknown = [name for name in wanted if name not in COMPONENTS]
    if unknown:
        await message.reply_text(
            html(ctx.tr, "health.unknown_component", names=quoted(", ".join(unknown)),
                 known=", ".join(COMPONENTS)),
            parse_mode=ParseMode.HTML,
        )
        return
    key = (message.chat_id, message.message_thread_id if message.is_topic_message else None,
           tuple(sorted(wanted)))
    if key in ctx.health_replies:
        return  # the report being sent to this chat answers this request too
    ctx.health_replies.add(key)
    try:
        await _reply_with_report(ctx, message, wanted)
    finally:
        ctx.health_replies.discard(key)


async def _reply_with_report(ctx: BotContext, message: Message, wanted: list[str]) -> None:
    checking = asyncio.ensure_future(ctx.services.health(only=wanted or None, fresh=False))
    keyboard = health_keyboard(ctx) if not wanted else None
    done, _ = await asyncio.wait({checking}, timeout=PLACEHOLDER_AFTER_S)
    if done:
        await message.reply_text(health_text(checking.result(), ctx), parse_mode=ParseMode.HTML,
                                 reply_markup=keyboard)
        return
    placeholder = await message.reply_text(ctx.tr("health.checking"))
    await edit_html(placeholder, health_text(await checking, ctx), keyboard)


async def health_recheck(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The re-check button: the same message, edited with a fresh report (or the shared one,
    when this person re-checked moments ago)."""
    ctx = bot_context(context)
    query = query_of(update)
    now = time.monotonic()
    last = ctx.rechecks.get(query.from_user.id)
    fresh = last is None or now - last >= RECHECK_EVERY_S
    if fresh:
        ctx.rechecks[query.from_user.id] = now
    await answer(query, ctx.tr("health.rechecking" if fresh else "health.recheck_shared"))
    report = await ctx.services.health(fresh=fresh)
    await edit_html(query, health_text(report, ctx), health_keyboard(ctx))
