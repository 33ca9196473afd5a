"""Questions the bot asks under a live message, answered by replying: the topic, an admin's reason
to resolve unverified, and after resolving the root cause and the prevention decided — which
end in the written post-mortem, sent as a document and stored."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from html import escape

from telegram import Bot, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from bot.incidents.engine import Refused
from bot.incidents.record import BOT_ACTOR, RESOLVED, iso, valid_topic
from bot.incidents.postmortem import postmortem_filename, render_postmortem
from handlers.access import Role, actor_of, require, update_role
from handlers.context import KEY, BotContext, bot_context
from handlers.escalation import disarm
from handlers.deliveries import deliver
from handlers.incident_live import ask, refresh_live

log = logging.getLogger(__name__)
ANSWER_LIMIT = 2000  # characters of a free-text answer the record takes
ASKING_WAIT_S = 10.0  # how long a reply waits for the question it answers to be on the record
RESUME_WITHIN_DAYS = 7  # older unfinished write-ups are left for /incident <id>


async def resolved(context: ContextTypes.DEFAULT_TYPE, incident: dict, actor: str) -> None:
    """The clock stops, the write-up starts with the root cause, and the group sees it."""
    ctx = bot_context(context)
    disarm(context.application, incident["id"])
    try:
        await _ask(context.bot, ctx, incident, "root_cause", actor)
    except TelegramError:  # the question is asked again at the next start, or on /incident <id>
        log.warning("could not ask for the root cause of %s", incident["ref"], exc_info=True)
    refresh_live(context.bot, ctx, incident["id"])


async def _ask(bot: Bot, ctx: BotContext, incident: dict, kind: str, actor: str) -> None:
    await ask(bot, ctx, incident, kind, ctx.tr(f"postmortem.ask_{kind}", ref=incident["ref"]), actor)


async def resume_writeup(bot: Bot, ctx: BotContext, incident: dict) -> bool:
    """A resolved incident whose write-up stopped (a Telegram error, a restart): ask the next
    question again, or write the post-mortem when both answers are in. True when it did."""
    postmortem = incident["postmortem"]
    if (incident["status"] != RESOLVED or postmortem["written_at"]
            or (incident.get("pending_reply") or {}).get("message_id")):
        return False  # (a question recorded but never sent is asked again)
    actor = incident["resolved_by"] or BOT_ACTOR
    if postmortem["root_cause"] is None:
        await _ask(bot, ctx, incident, "root_cause", actor)
    elif postmortem["prevention"] is None:
        await _ask(bot, ctx, incident, "prevention", actor)
    else:
        await write_postmortem(bot, ctx, incident)
    return True


async def resume_writeups(application: Application) -> int:
    """At start: every recently resolved incident still waiting for its write-up continues."""
    ctx: BotContext = application.bot_data[KEY]
    resumed = 0
    for incident in await asyncio.to_thread(ctx.engine.unwritten, RESUME_WITHIN_DAYS):
        try:
            resumed += await resume_writeup(application.bot, ctx, incident)
        except TelegramError:
            log.warning("write-up of %s not resumed", incident["ref"], exc_info=True)
    return resumed


async def on_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reply in the group: an answer when it replies to one of the bot's open questions."""
    ctx = bot_context(context)
    message = update.effective_message
    target = message.reply_to_message
    if target is None or not message.text:
        return
    incident = await asyncio.to_thread(ctx.engine.awaiting_reply, message.chat_id, target.message_id)
    if incident is None and target.from_user is not None and target.from_user.id == context.bot.id:
        # a reply faster than the bot's own bookkeeping: a question just sent is not yet on
        # the record under its message id; wait for that, then look again
        for doc_id in await asyncio.to_thread(ctx.engine.asking, message.chat_id):
            if (putting := ctx.asking.get(doc_id)) is not None:
                with contextlib.suppress(TimeoutError, asyncio.TimeoutError):
                    await asyncio.wait_for(putting.wait(), ASKING_WAIT_S)
        incident = await asyncio.to_thread(ctx.engine.awaiting_reply, message.chat_id, target.message_id)
    if incident is None:
        return  # a reply to something else: ordinary conversation
    if not await require(update, context, Role.OPERATOR, ctx.tr("postmortem.verb.answer")):
        return
    text = message.text.strip()
    kind = incident["pending_reply"]["kind"]
    actor = actor_of(update.effective_user)
    if len(text) > ANSWER_LIMIT or (kind == "topic" and not valid_topic(text)):
        # asked again as a question of its own, so replying to it is the answer
        why = (ctx.tr("incident.bad_topic") if kind == "topic"
               else ctx.tr("postmortem.answer_too_long", limit=ANSWER_LIMIT))
        await ask(context.bot, ctx, incident, kind, why, actor)
        return
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
        await _ask(bot, ctx, incident, "prevention", actor)
    elif kind == "prevention":
        await write_postmortem(bot, ctx, incident)
    else:
        await message.reply_text(ctx.tr("incident.topic_set", ref=incident["ref"],
                                        topic=escape(incident["topic"])), parse_mode=ParseMode.HTML)
        refresh_live(bot, ctx, incident["id"])


async def write_postmortem(bot: Bot, ctx: BotContext, incident: dict) -> dict:
    """Render, store and send the post-mortem; the live message shows it is written."""
    now = ctx.services.clock()
    # written as of now, so its own checklist shows the write-up ticked
    final = {**incident, "postmortem": {**incident["postmortem"], "written_at": iso(now)}}
    markdown = render_postmortem(final, lang=ctx.tr.lang, tz=ctx.settings.timezone, now=now,
                                 redact=ctx.redact)
    filename = postmortem_filename(incident)
    saved = await asyncio.to_thread(ctx.engine.save_postmortem, incident["id"], markdown=markdown,
                                    filename=filename,
                                    caption=ctx.tr("postmortem.caption", ref=incident["ref"]))
    deliver(bot, ctx, incident["id"])  # kept and owed on the record: sent until delivered
    refresh_live(bot, ctx, incident["id"])
    return saved
