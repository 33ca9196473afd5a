"""The incident flows' Notifier on Telegram: the ops group's live message and replies under it,
direct messages for pages. A Notice's values are escaped here, once, as the message is built."""

from __future__ import annotations

import logging

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.incidents.model import Incident
from bot.incidents.ports import NotDelivered, Notice
from handlers.context import BotContext
from handlers.deliveries import deliver
from handlers.incident_live import post_live, refresh_live, reply_to_live
from handlers.messages import html

log = logging.getLogger(__name__)


def notice_html(ctx: BotContext, notice: Notice) -> str:
    """The notice in the bot's language as Telegram HTML, escaped once (`handlers.messages.html`)."""
    return html(ctx.tr, notice.key, **notice.params)


class TelegramNotifier:
    def __init__(self, bot: Bot, ctx: BotContext) -> None:
        self.bot, self.ctx = bot, ctx

    async def post(self, incident: Incident) -> Incident:
        try:
            return await post_live(self.bot, self.ctx, incident)
        except TelegramError as exc:
            raise NotDelivered(str(exc)) from exc

    def show(self, doc_id: int, *, known: Incident | None = None) -> None:
        refresh_live(self.bot, self.ctx, doc_id, known=known)

    async def say(self, incident: Incident, notice: Notice) -> None:
        await self._say(incident, notice_html(self.ctx, notice))

    async def _say(self, incident: Incident, text: str) -> None:
        try:
            await reply_to_live(self.bot, self.ctx, incident, text)
        except TelegramError as exc:
            raise NotDelivered(str(exc)) from exc

    async def question(self, incident: Incident, notice: Notice, *, to: str) -> int:
        try:
            asked = await reply_to_live(self.bot, self.ctx, incident, notice_html(self.ctx, notice), ask=to)
        except TelegramError as exc:
            raise NotDelivered(str(exc)) from exc
        return asked.message_id

    def deliver(self, doc_id: int) -> None:
        deliver(self.bot, self.ctx, doc_id)

    async def page(self, incident: Incident, people: frozenset[int], notice: Notice, *,
                   stage: str) -> bool:
        """A direct message to each person, and one mention of them all under the live message."""
        tr, text = self.ctx.tr, notice_html(self.ctx, notice)
        unreachable = []
        for user_id in sorted(people):
            try:
                await self.bot.send_message(user_id, self.ctx.redact(text), parse_mode=ParseMode.HTML)
            except TelegramError as exc:  # never pressed Start in a private chat, or blocked the bot
                log.warning("could not message %s about %s: %s", user_id, incident.ref, exc)
                unreachable.append(str(user_id))
        direct = len(unreachable) < len(people)
        label = html(tr, f"escalation.person.{stage}")
        numbered = len(people) > 1
        mentions = ", ".join(f'<a href="tg://user?id={uid}">{label}{f" {n}" if numbered else ""}</a>'
                             for n, uid in enumerate(sorted(people), 1))
        group = text + ("\n→ " + mentions if mentions else "")
        if not people:
            group += "\n" + html(tr, f"escalation.nobody.{stage}")
        if unreachable:
            group += "\n" + html(tr, "escalation.dm_failed", ids=", ".join(unreachable))
        try:
            await self._say(incident, group)
        except NotDelivered:
            log.warning("escalation message for %s could not be sent", incident.ref, exc_info=True)
            return direct
        return True

