"""Questions the bot asks under a live message, answered by replying: the topic, an admin's reason
to resolve unverified, and after resolving the root cause and the prevention decided — which
end in the written post-mortem, sent as a document and stored."""

from __future__ import annotations

import asyncio
import logging
from html import escape

from telegram import Bot, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.actions.registry import Document
from bot.engine import Refused
from bot.incident_record import iso, valid_topic
from bot.postmortem import postmortem_filename, render_postmortem
from handlers.access import Role, actor_of, require, update_role
from handlers.context import BotContext, bot_context
from handlers.escalation import disarm
from handlers.incident_live import refresh_live, reply_to_live, send_document

log = logging.getLogger(__name__)
ANSWER_LIMIT = 2000  # characters of a free-text answer kept on the record


async def resolved(context: ContextTypes.DEFAULT_TYPE, incident: dict, actor: str) -> None:
    """The clock stops, the group sees it, and the write-up starts with the root cause."""
    ctx = bot_context(context)
    disarm(context.application, incident["id"])
    await refresh_live(context.bot, ctx, incident["id"])
    await ask_root_cause(context.bot, ctx, incident, actor)


async def ask_root_cause(bot: Bot, ctx: BotContext, incident: dict, actor: str) -> None:
    question = await reply_to_live(bot, ctx, incident, ctx.tr("postmortem.ask_root_cause", ref=incident["ref"]),
                                   force_reply=True)
    await asyncio.to_thread(ctx.engine.ask, incident["id"], "root_cause", question.message_id, actor)


async def on_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reply in the group: an answer when it replies to one of the bot's open questions."""
    ctx = bot_context(context)
    message = update.effective_message
    target = message.reply_to_message
    if target is None or not message.text:
        return
    incident = await asyncio.to_thread(ctx.engine.awaiting_reply, message.chat_id, target.message_id)
    if incident is None:
        return  # a reply to something else: ordinary conversation
    if not await require(update, context, Role.OPERATOR, ctx.tr("postmortem.verb.answer")):
        return
    text = message.text.strip()[:ANSWER_LIMIT]
    kind = incident["pending_reply"]["kind"]
    if kind == "topic" and not valid_topic(text):
        await message.reply_text(ctx.tr("incident.bad_topic"), parse_mode=ParseMode.HTML)
        return
    actor = actor_of(update.effective_user)
    admin = update_role(update, context) >= Role.ADMIN
    try:
        kind, incident = await asyncio.to_thread(ctx.engine.answer, incident["id"], target.message_id,
                                                 text, actor=actor, admin=admin)
    except Refused as refused:
        await message.reply_text(ctx.tr(refused.key, **refused.params), parse_mode=ParseMode.HTML)
        return
    bot = context.bot
    if kind == "override":
        await resolved(context, incident, actor)
    elif kind == "root_cause":
        question = await reply_to_live(bot, ctx, incident, ctx.tr("postmortem.ask_prevention", ref=incident["ref"]),
                                       force_reply=True)
        await asyncio.to_thread(ctx.engine.ask, incident["id"], "prevention", question.message_id, actor)
    elif kind == "prevention":
        await write_postmortem(bot, ctx, incident)
    else:
        await message.reply_text(ctx.tr("incident.topic_set", ref=incident["ref"],
                                        topic=escape(incident["topic"])), parse_mode=ParseMode.HTML)
        await refresh_live(bot, ctx, incident["id"])


async def write_postmortem(bot: Bot, ctx: BotContext, incident: dict) -> dict:
    """Render, store and send the post-mortem; the live message shows it is written."""
    now = ctx.services.clock()
    # written as of now, so its own checklist shows the write-up ticked
    final = {**incident, "postmortem": {**incident["postmortem"], "written_at": iso(now)}}
    markdown = ctx.redact(render_postmortem(final, lang=ctx.tr.lang, tz=ctx.settings.timezone, now=now))
    filename = postmortem_filename(incident)
    saved = await asyncio.to_thread(ctx.engine.save_postmortem, incident["id"], markdown=markdown,
                                    filename=filename)
    await send_document(bot, ctx, saved, Document(filename, markdown.encode("utf-8"),
                                                  ctx.tr("postmortem.caption", ref=incident["ref"])))
    await refresh_live(bot, ctx, incident["id"])
    return saved
