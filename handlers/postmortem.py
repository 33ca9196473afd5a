"""Replies to the bot's questions under a live message: the topic, an admin's reason to resolve
unverified, the root cause and the prevention decided. The flow decides what follows."""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.incidents.engine import Refused
from handlers.access import Role, actor_of, require
from handlers.context import bot_context
from handlers.messages import html, message_of

ASKING_WAIT_S = 10.0  # how long a reply waits for the question it answers to be on the record


async def on_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A reply in the group: an answer when it replies to one of the bot's open questions."""
    ctx = bot_context(context)
    message = message_of(update)
    target = message.reply_to_message
    if target is None or not message.text:
        return
    incident = await asyncio.to_thread(ctx.engine.awaiting_reply, message.chat_id, target.message_id)
    if incident is None and target.from_user is not None and target.from_user.id == context.bot.id:
        # a reply faster than the bot's own bookkeeping: a question just sent is not yet on
        # the record under its message id; wait for that, then look again
        await ctx.flows.waiting_for_question(
            await asyncio.to_thread(ctx.engine.asking, message.chat_id), ASKING_WAIT_S)
        incident = await asyncio.to_thread(ctx.engine.awaiting_reply, message.chat_id, target.message_id)
    if incident is None:
        return  # a reply to something else: ordinary conversation
    role = await require(update, context, Role.OPERATOR, ctx.tr("postmortem.verb.answer"))
    if role is None:
        return
    admin = role >= Role.ADMIN
    try:
        answered = await ctx.flows.answer(incident, target.message_id, message.text,
                                          actor=actor_of(update.effective_user), admin=admin)
    except Refused as refused:
        await message.reply_text(html(ctx.tr, refused.key, **refused.params), parse_mode=ParseMode.HTML)
        return
    if answered is not None and answered.kind == "topic":
        await message.reply_text(html(ctx.tr, "incident.topic_set", ref=answered.incident.ref,
                                      topic=answered.incident.topic),
                                 parse_mode=ParseMode.HTML)
