"""/incident, /incidents and the incident buttons: parse, check who asks, call a flow, answer."""

from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.actors import display_name
from bot.incidents.engine import Refused
from bot.incidents.ports import NotDelivered
from bot.incidents.record import valid_ref, valid_topic
from bot.runbooks import SEVERITIES
from handlers import callbacks as cb
from handlers.access import Role, actor_of, require
from handlers.context import bot_context
from handlers.incident_render import incident_text, incidents_list_text, scenario_keyboard
from handlers.messages import answer, edit_html, html, match_of, message_of, query_of, quoted

log = logging.getLogger(__name__)


async def incident_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/incident [<scenario> [topic] | <id> | <id> severity P1]."""
    ctx = bot_context(context)
    args = context.args or []
    message = message_of(update)
    if not args:
        if not await require(update, context, Role.OPERATOR, "/incident"):
            return
        await message.reply_text(html(ctx.tr, "incident.pick"), parse_mode=ParseMode.HTML,
                                 reply_markup=scenario_keyboard(ctx, ctx.engine.shelf.library))
        return
    if valid_ref(args[0]):
        await _about_one(update, context, args[0], args[1:])
        return
    if not await require(update, context, Role.OPERATOR, "/incident"):
        return
    if len(args) > 2 or (len(args) == 2 and not valid_topic(args[1])):
        await message.reply_text(html(ctx.tr, "incident.usage", given=quoted(" ".join(args))),
                                 parse_mode=ParseMode.HTML)
        return
    await open_incident(update, context, args[0], args[1] if len(args) == 2 else None)


async def open_incident(update: Update, context: ContextTypes.DEFAULT_TYPE, scenario: str,
                        topic: str | None) -> None:
    """Open (or link to the open one); the flow puts the live message at the bottom of the group."""
    ctx = bot_context(context)
    try:
        opened = await ctx.flows.open(scenario, topic=topic, actor=actor_of(update.effective_user))
    except Refused as refused:
        await _tell(update, html(ctx.tr, refused.key, **{**refused.params, "given": quoted(scenario)}))
        return
    ref = opened.incident.ref
    if not opened.posted:
        await _tell(update, html(ctx.tr, "incident.not_posted", ref=ref))
        return
    if not opened.created:
        await _tell(update, html(ctx.tr, "incident.linked", ref=ref))
    if update.effective_chat and update.effective_chat.id != ctx.settings.ops_chat_id:
        await _tell(update, html(ctx.tr, "incident.opened_in_group", ref=ref))


async def _about_one(update: Update, context: ContextTypes.DEFAULT_TYPE, ref: str,
                     rest: list[str]) -> None:
    """`/incident <id>` re-posts its live message; `/incident <id> severity P1` (admins)."""
    ctx = bot_context(context)
    incident = await asyncio.to_thread(ctx.engine.by_ref, ref)
    if incident is None:
        await _tell(update, html(ctx.tr, "incident.not_found", given=quoted(ref)))
        return
    if not await require(update, context, Role.OPERATOR, "/incident <id>"):
        return
    if incident.archived:  # read from the archive: shown as it ended, no buttons
        await _tell(update, incident_text(ctx, incident, ctx.services.clock()) + "\n\n"
                    + html(ctx.tr, "incident.archived", ref=incident.ref))
        return
    if not rest:
        try:
            await ctx.flows.repost(incident)
        except NotDelivered:  # Telegram refused the post: the record is as it was
            await _tell(update, html(ctx.tr, "incident.not_posted", ref=incident.ref))
        return
    if len(rest) != 2 or rest[0].lower() != "severity":
        await _tell(update, html(ctx.tr, "incident.usage", given=quoted(" ".join([ref, *rest]))))
        return
    if rest[1].upper() not in SEVERITIES:
        await _tell(update, html(ctx.tr, "incident.bad_severity", given=quoted(rest[1])))
        return
    if not await require(update, context, Role.ADMIN, "/incident … severity"):
        return
    try:
        incident = await ctx.flows.set_severity(incident.id, rest[1].upper(),
                                                actor=actor_of(update.effective_user))
    except Refused as refused:
        await _tell(update, html(ctx.tr, refused.key, **refused.params))
        return
    await _tell(update, html(ctx.tr, "incident.severity_set", ref=incident.ref, severity=incident.severity))


async def incidents_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/incidents: the unresolved ones, oldest first."""
    ctx = bot_context(context)
    incidents = await asyncio.to_thread(ctx.engine.unresolved)
    await message_of(update).reply_text(
        incidents_list_text(ctx, incidents, ctx.services.clock()), parse_mode=ParseMode.HTML)


async def scenario_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A scenario picked from /incident's buttons."""
    ctx = bot_context(context)
    query = query_of(update)
    if not await require(update, context, Role.OPERATOR, ctx.tr("incident.verb.open")):
        return
    runbook = ctx.engine.shelf.library.find(match_of(context).group(1))
    if runbook is None:
        await answer(query, ctx.tr("button.no_longer_valid"), alert=True)
        return
    title = runbook.title.get(ctx.tr.lang)
    await answer(query, ctx.tr("incident.opening", title=title))
    # the picker has done its job: its buttons go, so nobody opens the same thing from it twice
    await edit_html(query, html(ctx.tr, "incident.picked", title=title,
                                by=display_name(actor_of(update.effective_user))))
    await open_incident(update, context, runbook.id, None)


async def incident_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any button on a live message: re-checked against the stored incident, always answered."""
    ctx = bot_context(context)
    query = query_of(update)
    match = match_of(context)
    doc_id, arg = int(match.group(1)), int(match.group(2))
    verb = cb.VERB_CODES.get(match.group(3))
    if verb is None:
        await answer(query, ctx.tr("button.no_longer_valid"), alert=True)
        return
    role = await require(update, context, Role.OPERATOR, ctx.tr(f"incident.verb.{verb.value}"))
    if role is None:
        return
    admin = role >= Role.ADMIN
    actor = actor_of(update.effective_user)
    try:
        pressed = await ctx.flows.press(doc_id, arg, verb, actor=actor, admin=admin,
                                        message_id=query.message.message_id if query.message else None)
    except Refused as refused:
        await answer(query, ctx.tr(refused.key, **refused.params), alert=True)
        return
    # the answer and what the press started go out together: neither waits for the other
    await asyncio.gather(answer(query, ctx.tr(pressed.notice)), ctx.flows.follow(pressed, actor))


async def _tell(update: Update, text: str) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, parse_mode=ParseMode.HTML)
