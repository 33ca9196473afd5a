"""/help and /start, and the answer for a button the bot no longer knows."""

from __future__ import annotations

import logging

from telegram import BotCommand, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.i18n import Translator
from handlers.access import Role, update_role
from handlers.context import bot_context
from handlers import callbacks as cb
from handlers.messages import answer, html, message_of, query_of
from handlers.token_rotation import rotate_command

log = logging.getLogger(__name__)

# One list feeds /help and setMyCommands.
COMMANDS = ("health", "token", "incident", "incidents", "stats", "runbooks", "backups", "rollback", "silences", "help",
            "start")


def bot_commands(tr: Translator) -> list[BotCommand]:
    return [BotCommand(name, tr(f"command.{name}")) for name in COMMANDS]


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/help: the commands, with what an admin can do marked."""
    ctx = bot_context(context)
    lines = [f"<b>{html(ctx.tr, 'help.title')}</b>"]
    lines += [html(ctx.tr, f"help.{name}") for name in COMMANDS]
    if update_role(update, context) >= Role.ADMIN:
        lines.append(html(ctx.tr, "help.you_are_admin"))
    await message_of(update).reply_text("\n".join(lines), parse_mode=ParseMode.HTML)


async def start_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start: what this bot is and who may use it."""
    ctx = bot_context(context)
    if context.args == [cb.START_ROTATE]:  # the token report's link to a private chat
        await rotate_command(update, context)
        return
    await message_of(update).reply_text(html(ctx.tr, "start.text"), parse_mode=ParseMode.HTML)


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any callback data no handler claimed: forged, or from an older version of the bot."""
    ctx = bot_context(context)
    query = query_of(update)
    log.info("unknown callback data %r from %s", (query.data or "")[:64], query.from_user.id)
    await answer(query, ctx.tr("button.no_longer_valid"), alert=True)
