"""/runbooks: what the bot walks people through; `/runbooks reload` applies edited files (admins)."""

from __future__ import annotations

import asyncio
import logging
from html import escape

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.runbooks import RunbookError
from handlers.access import Role, actor_of, require
from handlers.context import bot_context
from handlers.incident_render import runbooks_text
from handlers.messages import chat_of, html, message_of

log = logging.getLogger(__name__)
SHOWN_PROBLEMS = 15


async def runbooks_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/runbooks, /runbooks reload."""
    ctx = bot_context(context)
    args = context.args or []
    message = message_of(update)
    if not args:
        await message.reply_text(runbooks_text(ctx, ctx.engine.shelf.library, ctx.runbooks_loaded_at),
                                 parse_mode=ParseMode.HTML)
        return
    if args != ["reload"]:
        await message.reply_text(html(ctx.tr, "runbooks.usage"), parse_mode=ParseMode.HTML)
        return
    if not await require(update, context, Role.ADMIN, "/runbooks reload"):
        return
    shelf = ctx.engine.shelf
    before = shelf.library.digest
    actor = actor_of(update.effective_user)
    try:
        library = await asyncio.to_thread(shelf.reload)
    except RunbookError as exc:
        log.warning("runbook reload by %s rejected: %s", actor, "; ".join(exc.problems))
        await asyncio.to_thread(ctx.services.store.audit, "runbooks.reload_rejected", actor=actor,
                                chat_id=chat_of(update).id,
                                detail={"problems": exc.problems[:SHOWN_PROBLEMS]})
        shown = "\n".join(f"• {escape(p)}" for p in exc.problems[:SHOWN_PROBLEMS])
        more = len(exc.problems) - SHOWN_PROBLEMS
        if more > 0:
            shown += "\n" + html(ctx.tr, "runbooks.more_problems", count=more)
        await message.reply_text(html(ctx.tr, "runbooks.rejected", count=len(exc.problems), version=before)
                                 + "\n" + shown, parse_mode=ParseMode.HTML)
        return
    ctx.runbooks_loaded_at = ctx.services.clock()
    await asyncio.to_thread(ctx.services.store.audit, "runbooks.reloaded", actor=actor,
                            chat_id=chat_of(update).id,
                            detail={"from": before, "to": library.digest})
    key = "runbooks.reloaded" if library.digest != before else "runbooks.unchanged"
    await message.reply_text(html(ctx.tr, key, before=before, after=library.digest,
                                  count=len(library.runbooks)), parse_mode=ParseMode.HTML)
