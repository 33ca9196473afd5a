"""/backups: the configuration backups, paged, each with what a restore would change, and an
admin's confirmed restore with its undo — one message, edited in place as people go.

The rules (admin, a confirmation that expires, one restore at a time) are the backups domain's
(`bot.backups.service`); this file draws them and passes presses on.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.backups.managed_files import ManagedFileError
from bot.backups.service import BackupRefused
from bot.backups.view import backup_line, change_lines
from handlers import callbacks as cb
from handlers.access import Role, actor_of, require, update_role
from handlers.context import BotContext, bot_context
from handlers.messages import answer, edit_html, match_of, message_of, query_of
from handlers.token_rotation import tell_group_of_token_change


def _text(ctx: BotContext, lines: list[str]) -> str:
    return escape(ctx.redact("\n".join(lines)))  # redacted first, escaped last


async def _page(ctx: BotContext, number: int) -> tuple[str, InlineKeyboardMarkup | None]:
    backups, tr = ctx.services.backups, ctx.tr
    page, pages = await asyncio.to_thread(backups.page, number)
    if not page:
        return escape(tr("backup.none")), None
    number = min(max(number, 0), pages - 1)
    tz = ctx.services.settings.timezone
    text = _text(ctx, [tr("backup.title", page=number + 1, pages=pages),
                       *(backup_line(tr, b, tz) for b in page)])
    rows = [[InlineKeyboardButton(b.backup_id, callback_data=cb.backup_show(b.backup_id))] for b in page]
    paging = []
    if number + 1 < pages:
        paging.append(InlineKeyboardButton(tr("button.backup_older"), callback_data=cb.backup_page(number + 1)))
    if number > 0:
        paging.append(InlineKeyboardButton(tr("button.backup_newer"), callback_data=cb.backup_page(number - 1)))
    return text, InlineKeyboardMarkup(rows + ([paging] if paging else []))


async def backups_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/backups [page]."""
    ctx = bot_context(context)
    args = context.args or []
    number = int(args[0]) - 1 if len(args) == 1 and args[0].isdigit() and 0 < int(args[0]) < 10_000 else 0
    text, keyboard = await _page(ctx, number)
    await message_of(update).reply_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)


async def backup_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Paging, showing, asking to restore, confirming."""
    ctx = bot_context(context)
    query = query_of(update)
    verb, value, issued = match_of(context).group(1, 2, 3)
    tr = ctx.tr
    if verb in ("r", "y") and not await require(update, context, Role.ADMIN, tr("button.backup_restore")):
        return
    try:
        if verb == "p":
            await answer(query)
            await edit_html(query, *await _page(ctx, int(value) if value.isdigit() else 0))
        elif verb == "s":
            await answer(query)
            await edit_html(query, *await _show(ctx, value))
        elif verb == "r":
            await asyncio.to_thread(ctx.services.backups.get, value)  # an unknown id is refused
            await answer(query)
            asked = int(ctx.services.clock().timestamp())
            await edit_html(query, escape(tr("backup.confirm", id=value)), InlineKeyboardMarkup([[
                InlineKeyboardButton(tr("button.backup_confirm"), callback_data=cb.backup_confirm(value, asked)),
                InlineKeyboardButton(tr("button.cancel"), callback_data=cb.backup_show(value))]]))
        else:
            await _restore(update, context, value, int(issued or 0))
    except BackupRefused as refused:
        await answer(query, tr(refused.key, **refused.params), alert=True)
    except ManagedFileError as exc:
        await answer(query, ctx.redact(tr("backup.unreadable", problem=str(exc))), alert=True)


async def _show(ctx: BotContext, backup_id: str) -> tuple[str, InlineKeyboardMarkup]:
    backups, tr = ctx.services.backups, ctx.tr
    backup = await asyncio.to_thread(backups.get, backup_id)
    changes = await asyncio.to_thread(backups.preview, backup_id)
    text = _text(ctx, [backup_line(tr, backup, ctx.services.settings.timezone),
                       tr("backup.show_title", id=backup_id), *change_lines(tr, changes, ctx.redact)])
    buttons = [InlineKeyboardButton(tr("button.backup_restore"), callback_data=cb.backup_restore(backup_id))]
    buttons.append(InlineKeyboardButton(tr("button.backup_newer"), callback_data=cb.backup_page(0)))
    return text, InlineKeyboardMarkup([buttons])


async def _restore(update: Update, context: ContextTypes.DEFAULT_TYPE, backup_id: str, issued: int) -> None:
    ctx = bot_context(context)
    query, tr = query_of(update), ctx.tr
    actor = actor_of(update.effective_user)
    restored = await asyncio.to_thread(
        ctx.services.backups.restore, backup_id, actor=actor,
        admin=update_role(update, context) >= Role.ADMIN,
        asked_at=datetime.fromtimestamp(issued, tz=timezone.utc))
    files = ", ".join(restored.changed) or tr("backup.restored_nothing")
    await answer(query, tr("backup.restored", id=backup_id, by=actor, files=files,
                           undo=restored.undo.backup_id)[:190])
    await edit_html(query, _text(ctx, [tr("backup.restored", id=backup_id, by=actor, files=files,
                                          undo=restored.undo.backup_id)]),
                    InlineKeyboardMarkup([[InlineKeyboardButton(
                        tr("button.backup_undo"), callback_data=cb.backup_restore(restored.undo.backup_id))]]))
    await tell_group_of_token_change(query.get_bot(), ctx)  # when .env's token came back too
