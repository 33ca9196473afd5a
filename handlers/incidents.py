"""/incident, /incidents and the incident buttons: parse, check who asks, call the engine, render."""

from __future__ import annotations

import asyncio
import logging
import re
from html import escape

from telegram import Bot, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.actions.registry import run_action
from bot.actors import display_name
from bot.incidents.engine import Pressed, Refused
from bot.incidents.record import valid_topic
from bot.runbooks import SEVERITIES
from handlers import callbacks as cb
from handlers.access import Role, actor_of, require, update_role
from handlers.context import BotContext, bot_context
from handlers.escalation import arm, fire_stage
from handlers.deliveries import deliver
from handlers.incident_live import ask, post_live, refresh_live
from handlers.incident_render import incidents_list_text, scenario_keyboard
from handlers.messages import answer, edit_html, quoted
from handlers.postmortem import resolved, resume_writeup

log = logging.getLogger(__name__)
SHOW_RUNNING_AFTER_S = 0.8
REF_RE = re.compile(r"^INC-\d{8}-\d{3,}$", re.IGNORECASE)


async def incident_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/incident [<scenario> [topic] | <id> | <id> severity P1]."""
    ctx = bot_context(context)
    args = context.args or []
    message = update.effective_message
    if not args:
        if not await require(update, context, Role.OPERATOR, "/incident"):
            return
        await message.reply_text(ctx.tr("incident.pick"), parse_mode=ParseMode.HTML,
                                 reply_markup=scenario_keyboard(ctx, ctx.engine.shelf.library))
        return
    if REF_RE.match(args[0]):
        await _about_one(update, context, args[0], args[1:])
        return
    if not await require(update, context, Role.OPERATOR, "/incident"):
        return
    if len(args) > 2 or (len(args) == 2 and not valid_topic(args[1])):
        await message.reply_text(ctx.tr("incident.usage", given=escape(quoted(" ".join(args)))),
                                 parse_mode=ParseMode.HTML)
        return
    await open_incident(update, context, args[0], args[1] if len(args) == 2 else None)


async def open_incident(update: Update, context: ContextTypes.DEFAULT_TYPE, scenario: str,
                        topic: str | None) -> None:
    """Open (or link to the open one) and put the live message at the bottom of the group."""
    ctx = bot_context(context)
    actor = actor_of(update.effective_user)
    try:
        opened = await asyncio.to_thread(ctx.engine.open, scenario, topic=topic, actor=actor)
    except Refused as refused:
        known = ", ".join(rb.aliases[0] if rb.aliases else rb.id
                          for rb in ctx.engine.shelf.library.runbooks.values())
        await _tell(update, ctx.tr(refused.key, given=escape(quoted(scenario)), known=escape(known)))
        return
    incident = opened.incident
    try:
        incident = await post_live(context.bot, ctx, incident)
    except TelegramError:
        # not posted: the clock still runs, and its unfired 0-minute alert posts it when it can
        arm(context.application, await asyncio.to_thread(ctx.engine.get, incident["id"]))
        raise
    if opened.created:  # the live message that just went out is the playbook's 0-minute alert
        incident = await asyncio.to_thread(ctx.engine.mark_fired, incident["id"], "alert") or incident
        refresh_live(context.bot, ctx, incident["id"])
    arm(context.application, incident)
    if opened.created:
        runbook = ctx.engine.shelf.library.find(incident["scenario"])
        if runbook is not None and runbook.needs_topic and not incident["topic"]:
            await ask_topic(context.bot, ctx, incident, actor)
    else:
        await _tell(update, ctx.tr("incident.linked", ref=incident["ref"]))
    if update.effective_chat and update.effective_chat.id != ctx.settings.ops_chat_id:
        await _tell(update, ctx.tr("incident.opened_in_group", ref=incident["ref"]))


async def ask_topic(bot: Bot, ctx: BotContext, incident: dict, actor: str) -> None:
    await ask(bot, ctx, incident, "topic", ctx.tr("incident.ask_topic", ref=incident["ref"]), actor)


async def _about_one(update: Update, context: ContextTypes.DEFAULT_TYPE, ref: str,
                     rest: list[str]) -> None:
    """`/incident <id>` re-posts its live message; `/incident <id> severity P1` (admins)."""
    ctx = bot_context(context)
    incident = await asyncio.to_thread(ctx.engine.by_ref, ref)
    if incident is None:
        await _tell(update, ctx.tr("incident.not_found", given=escape(quoted(ref))))
        return
    if not await require(update, context, Role.OPERATOR, "/incident <id>"):
        return
    if not rest:
        await post_live(context.bot, ctx, incident)
        await resume_writeup(context.bot, ctx, incident)
        deliver(context.bot, ctx, incident["id"])  # anything it still owes the group, now
        return
    if len(rest) != 2 or rest[0].lower() != "severity":
        await _tell(update, ctx.tr("incident.usage", given=escape(quoted(" ".join([ref, *rest])))))
        return
    if rest[1].upper() not in SEVERITIES:
        await _tell(update, ctx.tr("incident.bad_severity", given=escape(quoted(rest[1]))))
        return
    if not await require(update, context, Role.ADMIN, "/incident … severity"):
        return
    try:
        incident = await asyncio.to_thread(ctx.engine.set_severity, incident["id"], rest[1].upper(),
                                           actor=actor_of(update.effective_user))
    except Refused as refused:
        await _tell(update, ctx.tr(refused.key, **refused.params))
        return
    arm(context.application, incident)  # replaces the jobs of every unfired stage
    refresh_live(context.bot, ctx, incident["id"])
    await _tell(update, ctx.tr("incident.severity_set", ref=incident["ref"], severity=incident["severity"]))


async def incidents_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/incidents: the unresolved ones, oldest first."""
    ctx = bot_context(context)
    incidents = await asyncio.to_thread(ctx.engine.unresolved)
    await update.effective_message.reply_text(
        incidents_list_text(ctx, incidents, ctx.services.clock()), parse_mode=ParseMode.HTML)


async def scenario_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A scenario picked from /incident's buttons."""
    ctx = bot_context(context)
    query = update.callback_query
    if not await require(update, context, Role.OPERATOR, ctx.tr("incident.verb.open")):
        return
    runbook = ctx.engine.shelf.library.find(context.match.group(1))
    if runbook is None:
        await answer(query, ctx.tr("button.no_longer_valid"), alert=True)
        return
    title = runbook.title.get(ctx.tr.lang)
    await answer(query, ctx.tr("incident.opening", title=title))
    # the picker has done its job: its buttons go, so nobody opens the same thing from it twice
    await edit_html(query, escape(ctx.tr("incident.picked", title=title,
                                         by=display_name(actor_of(update.effective_user)))))
    await open_incident(update, context, runbook.id, None)


async def incident_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any button on a live message: re-checked against the stored incident, always answered."""
    ctx = bot_context(context)
    query = update.callback_query
    doc_id, arg = int(context.match.group(1)), int(context.match.group(2))
    verb = cb.VERB_CODES.get(context.match.group(3))
    if verb is None:
        await answer(query, ctx.tr("button.no_longer_valid"), alert=True)
        return
    if not await require(update, context, Role.OPERATOR, ctx.tr(f"incident.verb.{verb.value}")):
        return
    admin = update_role(update, context) >= Role.ADMIN
    actor = actor_of(update.effective_user)
    try:
        pressed = await asyncio.to_thread(ctx.engine.press, doc_id, arg, verb, actor=actor, admin=admin,
                                          message_id=query.message.message_id if query.message else None)
    except Refused as refused:
        await answer(query, ctx.tr(refused.key, **refused.params), alert=True)
        return
    # the answer and the edit go out together: neither waits for the other's round trip
    await asyncio.gather(answer(query, ctx.tr(pressed.notice)),
                         after_press(context, pressed, actor))


async def after_press(context: ContextTypes.DEFAULT_TYPE, pressed: Pressed, actor: str) -> None:
    """Show the new state, then do what the press started (run, escalate, ask)."""
    ctx = bot_context(context)
    bot, incident = context.bot, pressed.incident
    if pressed.run is not None:
        await run_step(context, incident, pressed.run, actor)
    else:
        refresh_live(bot, ctx, incident["id"], known=incident)
    if pressed.escalate is not None:
        await fire_stage(context.application, incident["id"], pressed.escalate, by=actor)
    if pressed.ask_override:
        await ask(bot, ctx, incident, "override", ctx.tr("incident.ask_override", ref=incident["ref"]),
                  actor)
    if pressed.resolved:
        await resolved(context, incident, actor)


async def run_step(context: ContextTypes.DEFAULT_TYPE, incident: dict, index: int, actor: str) -> None:
    """Run a claimed step's action, record what it found, show it.

    The message shows "running" only when the action is slow to answer: Telegram allows a group
    about 20 messages (edits included) a minute, so a quick step costs one edit, not two.
    """
    ctx = bot_context(context)
    step = incident["steps"][index]
    action_ctx = ctx.services.action_context(topic=incident["topic"], incident_ref=incident["ref"],
                                             actor=actor)
    task = asyncio.ensure_future(run_action(step["action"], action_ctx, step["args"],
                                            timeout_s=ctx.settings.action_timeout_s))
    done, _ = await asyncio.wait({task}, timeout=SHOW_RUNNING_AFTER_S)
    if not done:
        refresh_live(context.bot, ctx, incident["id"])
    result = await task
    updated = await asyncio.to_thread(ctx.engine.record_result, incident["id"], index, result)
    if result.document is not None:  # kept and owed on the record: sent until delivered
        deliver(context.bot, ctx, incident["id"])
    refresh_live(context.bot, ctx, incident["id"], known=updated)


async def _tell(update: Update, text: str) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, parse_mode=ParseMode.HTML)
