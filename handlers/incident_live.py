"""The incident's one live message in the ops group: post it, keep it current, move it down.

Everything else the bot says about an incident (files, questions, escalations) is a reply to that
message, so the group reads as one thread per incident instead of a flood.
"""

from __future__ import annotations

import asyncio
import io
import logging
from html import escape

from telegram import Bot, ForceReply, Message
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.actions.registry import Document
from bot.actors import display_name
from bot.incidents.model import Incident
from handlers.access import user_id_of
from handlers.context import BotContext
from handlers.incident_render import incident_keyboard, incident_text, moved_text
from handlers.messages import message_gone, not_modified
from handlers.send_pacer import PREPAID, URGENT, Priority, Send, SendPacer

log = logging.getLogger(__name__)
LIVE_ATTEMPTS = 4  # edits of a live message tried in a row before the next change takes over


def _ops_chat(ctx: BotContext) -> int:
    """The ops group's chat id: `build_application` does not start the bot without it."""
    if ctx.settings.ops_chat_id is None:
        raise LookupError("OPS_CHAT_ID is not set")
    return ctx.settings.ops_chat_id


def _where(ctx: BotContext, incident: Incident) -> tuple[int, int | None]:
    message = incident.message
    if message:
        return message.chat_id, message.thread_id
    return _ops_chat(ctx), ctx.settings.ops_thread_id


async def post_live(bot: Bot, ctx: BotContext, incident: Incident, *, prepaid: bool = False) -> Incident:
    """Post the live message at the bottom of the ops group; the old one (if any) says where it went."""
    async with ctx.live_lock(incident.id):
        stored = await asyncio.to_thread(ctx.engine.get, incident.id)
        incident = stored or incident
        chat_id, thread_id = _where(ctx, incident)
        sent = await bot.send_message(
            chat_id, incident_text(ctx, incident, ctx.services.clock()),
            parse_mode=ParseMode.HTML, reply_markup=incident_keyboard(ctx, incident),
            message_thread_id=thread_id, **_paced(bot, PREPAID if prepaid else URGENT))
        old = incident.message
        updated = await asyncio.to_thread(ctx.engine.set_message, incident.id, chat_id=chat_id,
                                          message_id=sent.message_id, thread_id=thread_id)
    if old:
        try:
            await bot.edit_message_text(moved_text(ctx, incident), chat_id=old.chat_id,
                                        message_id=old.message_id, parse_mode=ParseMode.HTML,
                                        **_paced(bot, URGENT))
        except TelegramError as exc:
            log.info("old live message of %s not edited: %s", incident.ref, exc)
    return updated


def refresh_live(bot: Bot, ctx: BotContext, doc_id: int, *, known: Incident | None = None) -> None:
    """Have the live message show the stored state soon; returns at once.

    One task per incident does the edits: it waits for the group's turn (Telegram allows about
    20 messages a minute), then renders the record as it is *then*, so a change made while an
    edit was waiting is folded into it instead of queueing an edit of its own. `known`: a record
    just written, used when nothing newer is stored.

    Best effort: the record is the state, so a failed edit (Telegram down) is tried again a few
    times and then left to the next change, which shows everything.
    """
    if doc_id not in ctx.live_dirty or known is not None:
        ctx.live_dirty[doc_id] = known
    if ("live", doc_id) not in ctx.tasks:
        ctx.run(("live", doc_id), _keep_current(bot, ctx, doc_id))


async def _keep_current(bot: Bot, ctx: BotContext, doc_id: int) -> None:
    failures = 0
    while doc_id in ctx.live_dirty:
        known = ctx.live_dirty[doc_id]
        chat_id = known.message.chat_id if known and known.message else _ops_chat(ctx)
        try:
            await _turn(bot, chat_id)
            known = ctx.live_dirty.pop(doc_id, known)
            await _refresh_live(bot, ctx, doc_id, known)
            failures = 0
        except TelegramError:
            failures += 1
            log.warning("live message of incident #%s not updated (attempt %d)", doc_id,
                        failures, exc_info=True)
            if failures >= LIVE_ATTEMPTS:
                return
            ctx.live_dirty.setdefault(doc_id, None)
            await asyncio.sleep(min(2.0 ** failures, 30.0))


async def _turn(bot: Bot, chat_id: int) -> None:
    pacer = getattr(bot, "rate_limiter", None)
    if isinstance(pacer, SendPacer):
        await pacer.turn(chat_id, Priority.URGENT)


def _paced(bot: Bot, send: Send) -> dict:
    """The `rate_limit_args` keyword for a bot that has our pacer (none for a plain Bot)."""
    return {"rate_limit_args": send} if isinstance(getattr(bot, "rate_limiter", None), SendPacer) else {}


async def _refresh_live(bot: Bot, ctx: BotContext, doc_id: int, known: Incident | None) -> Incident | None:
    """One edit, in a turn already waited for."""
    async with ctx.live_lock(doc_id):
        # under the lock, so what is shown is never older than what an earlier edit showed
        incident = ctx.engine.latest(known) if known else await asyncio.to_thread(ctx.engine.get, doc_id)
        if incident is None:
            return None
        message = incident.message
        if message is not None:
            try:
                await bot.edit_message_text(
                    incident_text(ctx, incident, ctx.services.clock()),
                    chat_id=message.chat_id, message_id=message.message_id,
                    parse_mode=ParseMode.HTML, reply_markup=incident_keyboard(ctx, incident),
                    **_paced(bot, PREPAID))
                return incident
            except BadRequest as exc:
                if not_modified(exc):
                    return incident
                if not message_gone(exc):
                    raise
                log.info("live message of %s is gone (%s); posting it again", incident.ref, exc)
    return await post_live(bot, ctx, incident, prepaid=message is None)


async def reply_to_live(bot: Bot, ctx: BotContext, incident: Incident, text: str, *,
                        ask: str | None = None) -> Message:
    """A message under the live message; with `ask` (an actor), a question put to that person:
    they are mentioned, and Telegram opens the reply field for them."""
    chat_id, thread_id = _where(ctx, incident)
    markup = None
    if ask is not None:
        markup = ForceReply(selective=True)
        user_id = user_id_of(ask)
        if user_id is not None:
            text = f'<a href="tg://user?id={user_id}">{escape(display_name(ask))}</a> {text}'
    return await bot.send_message(
        chat_id, ctx.redact(text), parse_mode=ParseMode.HTML, message_thread_id=thread_id,
        reply_to_message_id=incident.message.message_id if incident.message else None,
        allow_sending_without_reply=True, reply_markup=markup, **_paced(bot, URGENT))


async def send_document(bot: Bot, ctx: BotContext, incident: Incident, document: Document) -> None:
    """A file under the live message: long logs, a log bundle, the post-mortem. Raises
    TelegramError: `handlers.deliveries` tries again until it goes through."""
    chat_id, thread_id = _where(ctx, incident)
    await bot.send_document(
        chat_id, io.BytesIO(document.content), filename=document.filename,
        caption=ctx.redact(document.caption)[:1024] or None, message_thread_id=thread_id,
        reply_to_message_id=incident.message.message_id if incident.message else None,
        allow_sending_without_reply=True,
        **_paced(bot, URGENT))
