"""Documents the group is owed (log bundles, long logs, post-mortems), sent until Telegram takes them.

The engine keeps each file on disk and lists it on the incident (`owed`) in the same write as
the result or the write-up; here it is sent as a reply to the live message and struck off once
Telegram has it. A send that fails (a 502, Telegram down) is tried again after 5 s, 15 s, 30 s,
1, 2 and then every 5 minutes; after a restart every owed document is sent at start, and
`/incident <id>` sends that incident's at once.
"""

from __future__ import annotations

import asyncio
import logging

from telegram import Bot
from telegram.error import TelegramError

from bot.actions.registry import Document
from bot.store import NotFound
from handlers.context import BotContext
from handlers.incident_live import send_document

log = logging.getLogger(__name__)
RETRY_AFTER_S = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0)


def deliver(bot: Bot, ctx: BotContext, doc_id: int) -> None:
    """Send what incident `doc_id` owes the group; returns at once (one sender per incident)."""
    if ctx.stopping:
        return
    if ("documents", doc_id) in ctx.tasks:
        ctx.deliver_again.add(doc_id)  # owed while sending: the sender looks once more
        return
    ctx.cancel_later(("documents", doc_id))  # sooner than the retry (a new document, /incident)
    ctx.run(("documents", doc_id), _deliver(bot, ctx, doc_id))


async def _deliver(bot: Bot, ctx: BotContext, doc_id: int) -> None:
    try:
        again = True
        while again:
            ctx.deliver_again.discard(doc_id)
            incident = await asyncio.to_thread(ctx.engine.get, doc_id)
            if incident is None:  # an incident that is gone owes nothing
                ctx.delivery_failures.pop(doc_id, None)
                break
            for entry in incident.owed:
                try:
                    content = await asyncio.to_thread(ctx.services.store.document, entry.file)
                except NotFound:
                    log.error("%s: %s is gone from DATA_DIR; it cannot be sent", incident.ref,
                              entry.file)
                else:
                    await send_document(bot, ctx, incident, Document(entry.filename, content,
                                                                     entry.caption))
                    log.info("%s: %s delivered", incident.ref, entry.filename)
                await asyncio.to_thread(ctx.engine.delivered, doc_id, entry.file)
            ctx.delivery_failures.pop(doc_id, None)
            again = doc_id in ctx.deliver_again
    except TelegramError as exc:
        failures = ctx.delivery_failures[doc_id] = ctx.delivery_failures.get(doc_id, 0) + 1
        delay = RETRY_AFTER_S[min(failures, len(RETRY_AFTER_S)) - 1]
        log.warning("a document of incident #%s was not delivered (%s); trying again in %.0f s",
                    doc_id, exc, delay)
        ctx.later(("documents", doc_id), delay, lambda: deliver(bot, ctx, doc_id))
