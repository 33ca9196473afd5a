"""The incident flows' notifier with fallback: the Telegram notifier first; what it cannot carry
(a live message, a notice, a page nobody got) goes through `Fallback`; the first message it
carries again after an outage is followed by one summary to the group of what it missed."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo

from bot.i18n import Translator
from bot.incidents.model import Incident
from bot.incidents.ports import NotDelivered, Notice, Notifier
from bot.incidents.view import Viewer, incident_lines
from bot.notify.fallback import Fallback
from bot.ports import Alert
from bot.rich_text import to_plain

log = logging.getLogger(__name__)


class FallbackNotifier:
    def __init__(self, inner: Notifier, fallback: Fallback, *, tr: Translator, lang: str, tz: tzinfo,
                 redact: Callable[[str], str], clock: Callable[[], datetime],
                 announce: Callable[[str], Awaitable[None]]) -> None:
        self.inner, self.fallback, self.tr, self.clock = inner, fallback, tr, clock
        self.viewer = Viewer(tr, lang, tz, redact)
        self.redact, self.announce, self.tz = redact, announce, tz

    def _alert(self, incident: Incident, key: str, text: str | None = None) -> Alert:
        now = self.clock()
        title = self.redact(f"{incident.ref} · {incident.title.get(self.viewer.lang)} ({incident.severity})")
        body = text if text is not None else to_plain(incident_lines(self.viewer, incident, now))
        return Alert(title=title, text=self.redact(body), at=now, incident=incident.ref,
                     severity=str(incident.severity), key=f"{incident.ref}:{key}")

    async def telegram_works(self) -> None:
        """Telegram answered (a check from outside the flows): an outage it ends is summarised."""
        await self._back()

    async def _back(self) -> None:
        outage = await self.fallback.delivered()
        if outage is None:
            return
        alerts = outage.get("alerts") or []
        since = datetime.fromisoformat(outage["since"]).astimezone(self.tz).strftime("%H:%M")
        lines = [self.tr("notify.missed", since=since, count=len(alerts))]
        lines += [f"• {a.get('title', '?')} — {', '.join(a.get('via') or []) or '—'}" for a in alerts[-10:]]
        try:
            await self.announce(self.redact("\n".join(lines)))
        except Exception:  # the summary is owed no more than once; the outbox keeps everything
            log.warning("the summary of what the group missed could not be sent", exc_info=True)

    async def post(self, incident: Incident) -> Incident:
        try:
            posted = await self.inner.post(incident)
        except NotDelivered:
            await self.fallback.failed(self._alert(incident, "post"))
            raise
        await self._back()
        return posted

    def show(self, doc_id: int, *, known: Incident | None = None) -> None:
        self.inner.show(doc_id, known=known)

    async def say(self, incident: Incident, notice: Notice) -> None:
        try:
            await self.inner.say(incident, notice)
        except NotDelivered:
            await self.fallback.failed(self._alert(incident, notice.key, self.tr(notice.key, **notice.params)))
            raise
        await self._back()

    async def page(self, incident: Incident, people: frozenset[int], notice: Notice, *,
                   stage: str) -> bool:
        reached = await self.inner.page(incident, people, notice, stage=stage)
        if not reached:
            await self.fallback.failed(self._alert(incident, f"page:{stage}",
                                                   self.tr(notice.key, **notice.params)))
        else:
            await self._back()
        return reached

    async def question(self, incident: Incident, notice: Notice, *, to: str) -> int:
        return await self.inner.question(incident, notice, to=to)

    def deliver(self, doc_id: int) -> None:
        self.inner.deliver(doc_id)
