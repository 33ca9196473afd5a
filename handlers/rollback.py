"""/rollback: one file of the pipeline's repository back to how a recent commit had it — the
commits, a commit's files, what a restore would change, an admin's restore and its undo, in one
message edited in place.

The rules (the last ten commits, listed files only, inside the repository, no uncommitted
changes, admin, a confirmation that expires) are the rollback domain's
(`bot.actions.recovery.code_rollback`); this file draws them and passes presses on.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.actions.recovery.code_rollback import CONFIRM_WITHIN, COMMITS, CodeRollback, RollbackRefused
from bot.rollback_view import commit_line, diff_lines, file_label
from handlers import callbacks as cb
from handlers.access import Role, actor_of, require, update_role
from handlers.context import BotContext, bot_context
from handlers.messages import answer, edit_html, html, message_of, query_of

_RB_ID = re.compile(r"RB-\d{8}-\d{4,6}")
DIFF_CHARS = 2800  # of escaped diff in one message: the rest of it is counted, not shown
Screen = tuple[str, InlineKeyboardMarkup | None]


def _plain(ctx: BotContext, *lines: str) -> str:
    return escape(ctx.redact("\n".join(lines)))  # redacted first, escaped last


def _domain(ctx: BotContext) -> CodeRollback:
    if ctx.services.rollback is None:
        raise RollbackRefused("rollback.git", problem="no repository configured")
    return ctx.services.rollback


def _shown_now(ctx: BotContext) -> int:
    return int(ctx.services.clock().timestamp())


async def _commits(ctx: BotContext) -> Screen:
    commits = await _domain(ctx).commits()
    if not commits:
        return escape(ctx.tr("rollback.none")), None
    tz = ctx.settings.timezone
    text = _plain(ctx, ctx.tr("rollback.title", count=len(commits)),
                  *(commit_line(ctx.tr, c, tz) for c in commits))
    rows = [[InlineKeyboardButton(f"{c.sha[:7]} · {c.subject}"[:60], callback_data=cb.rollback_commit(c.sha))]
            for c in commits[:COMMITS]]
    return text, InlineKeyboardMarkup(rows)


async def _files(ctx: BotContext, sha: str) -> Screen:
    rollback = _domain(ctx)
    commit = await rollback.commit(sha)
    files = await rollback.files(commit)
    text = _plain(ctx, commit_line(ctx.tr, commit, ctx.settings.timezone), ctx.tr("rollback.files_title"))
    rows = [[InlineKeyboardButton(file_label(ctx.tr, f)[:60], callback_data=cb.rollback_file(commit.sha, i))]
            for i, f in enumerate(files)]
    rows.append([InlineKeyboardButton(ctx.tr("button.rollback_commits"), callback_data=cb.ROLLBACK_LIST)])
    return text, InlineKeyboardMarkup(rows)


async def _preview(ctx: BotContext, sha: str, index: int) -> Screen:
    tr = ctx.tr
    preview = await _domain(ctx).preview(sha, index)
    head = _plain(ctx, tr("rollback.preview_title", path=preview.file.path, short=preview.commit.sha[:7]),
                  commit_line(tr, preview.commit, ctx.settings.timezone))
    back = [InlineKeyboardButton(tr("button.rollback_commits"), callback_data=cb.rollback_commit(preview.commit.sha))]
    if not preview.restorable:
        why = tr(preview.why_not or "rollback.same", path=preview.file.path)
        return f"{head}\n\n{_plain(ctx, tr('rollback.cannot', why=why))}", InlineKeyboardMarkup([back])
    lines, more = diff_lines(preview.diff, ctx.redact)
    body = ""  # diff_lines redacted the diff whole, before cutting it; escaped last, and cut
    for number, line in enumerate(lines):  # again so the message stays under Telegram's 4096
        if len(body) + len(escape(line)) + 1 > DIFF_CHARS:
            more += len(lines) - number
            break
        body += escape(line) + "\n"
    tail = f"\n{escape(tr('rollback.diff_more', count=more))}" if more else ""
    text = (f"{head}\n\n{escape(tr('rollback.diff_intro'))}\n<pre>{body.rstrip()}</pre>{tail}\n\n"
            f"{escape(tr('rollback.confirm_hint', minutes=int(CONFIRM_WITHIN.total_seconds() // 60)))}")
    restore = InlineKeyboardButton(tr("button.rollback_restore"),
                                   callback_data=cb.rollback_restore(preview.commit.sha, index, _shown_now(ctx)))
    return text, InlineKeyboardMarkup([[restore], back])


async def rollback_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/rollback, /rollback undo <RB id>."""
    ctx = bot_context(context)
    message = message_of(update)
    args = context.args or []
    try:
        if not args:
            text, keyboard = await _commits(ctx)
        elif len(args) == 2 and args[0] == "undo" and _RB_ID.fullmatch(args[1]):
            if not await require(update, context, Role.ADMIN, "/rollback undo"):
                return
            path = _domain(ctx).kept(args[1])
            text = _plain(ctx, ctx.tr("rollback.undo_ask", id=args[1], path=path))
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(
                ctx.tr("button.rollback_undo"), callback_data=cb.rollback_undo(args[1], _shown_now(ctx)))]])
        else:
            await message.reply_text(html(ctx.tr, "rollback.undo_usage"), parse_mode=ParseMode.HTML)
            return
    except RollbackRefused as refused:
        await message.reply_text(_refusal(ctx, refused), parse_mode=ParseMode.HTML)
        return
    await message.reply_text(text, parse_mode=ParseMode.HTML, reply_markup=keyboard)


def _refusal(ctx: BotContext, refused: RollbackRefused) -> str:
    """One sentence, masked, then cut, then escaped (git's words may quote anything)."""
    return escape(ctx.redact(ctx.tr(refused.key, **refused.params))[:400])


async def rollback_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Commits, files, preview, restore, undo. The press is answered at once (git may take a
    moment); what it leads to, a refusal too, is shown on the message."""
    ctx = bot_context(context)
    query = query_of(update)
    parts = cb.rollback_parts(query.data or "")
    if parts is None:
        await answer(query, ctx.tr("button.no_longer_valid"), alert=True)
        return
    verb, value, index, shown = parts
    if verb in ("y", "u") and not await require(update, context, Role.ADMIN, ctx.tr("button.rollback_restore")):
        return
    await answer(query, ctx.tr("rollback.working") if verb in ("y", "u") else None)
    try:
        if verb == "l":
            screen = await _commits(ctx)
        elif verb == "c":
            screen = await _files(ctx, value or "")
        elif verb == "f":
            screen = await _preview(ctx, value or "", index or 0)
        else:
            screen = await _act(update, context, verb, value or "", index or 0, shown or 0)
    except RollbackRefused as refused:
        screen = _refusal(ctx, refused), InlineKeyboardMarkup([[InlineKeyboardButton(
            ctx.tr("button.rollback_commits"), callback_data=cb.ROLLBACK_LIST)]])
    await edit_html(query, *screen)


async def _act(update: Update, context: ContextTypes.DEFAULT_TYPE, verb: str, value: str,
               index: int, shown: int) -> Screen:
    ctx = bot_context(context)
    tr = ctx.tr
    actor = actor_of(update.effective_user)
    admin = update_role(update, context) >= Role.ADMIN
    asked_at = datetime.fromtimestamp(shown, tz=timezone.utc)
    rollback = _domain(ctx)
    if verb == "y":
        done = await rollback.restore(value, index, actor=actor, admin=admin, asked_at=asked_at)
        text = tr("rollback.restored", path=done.path, short=done.commit.sha[:7], actor=actor,
                  id=done.rollback_id)
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton(
            tr("button.rollback_undo"), callback_data=cb.rollback_undo(done.rollback_id, _shown_now(ctx)))]])
    else:
        undone = await rollback.undo(value, actor=actor, admin=admin, asked_at=asked_at)
        text, keyboard = tr("rollback.undone", path=undone.path, id=undone.rollback_id, actor=actor), None
    return _plain(ctx, text), keyboard
