"""When Telegram cannot carry an alert: the local outbox at once, and once Telegram has been
failing for longer than `after`, the next channels in order (a webhook, e-mail). What an outage
held is remembered in the store, so the group gets one summary of what it missed when Telegram
carries a message again (also after a restart in between).

Alerts from before the threshold went to the outbox only; the first alert after it carries a
digest of them, so nobody learns of an outage one line late per alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bot.ports import Alert, AlertChannel, ChannelError
from bot.store import Store

log = logging.getLogger(__name__)
OUTAGE_KEY = "notify.telegram_outage"
KEPT = 50  # alerts of one outage remembered for the summary


class Fallback:
    def __init__(self, channels: Sequence[AlertChannel], outbox: AlertChannel, store: Store, *,
                 clock: Callable[[], datetime], after: timedelta) -> None:
        self.channels, self.outbox, self.store = list(channels), outbox, store
        self.clock, self.after = clock, after
        self._lock = asyncio.Lock()
        # whether an outage is on record (None: not looked yet): every message Telegram carries
        # asks `delivered`, and nearly always there is none; the store is read once, not each time
        self._outage_on_record: bool | None = None

    async def failed(self, alert: Alert) -> list[str]:
        """Telegram could not carry `alert`: the channels that did (the outbox, always). The same
        alert again in one outage (the flows retry a post every minute) is not sent again, except
        that the first one after the threshold carries the digest to the other channels."""
        async with self._lock:
            now = self.clock()
            outage = await asyncio.to_thread(self._outage) or {"since": now.isoformat(), "alerts": [],
                                                               "escalated": False}
            again = alert.key is not None and any(a.get("key") == alert.key for a in outage["alerts"])
            past = now - datetime.fromisoformat(outage["since"]) >= self.after
            if again and (outage["escalated"] or not past):
                return []
            via = []
            if not again:
                try:
                    await self.outbox.send(alert)
                    via.append(self.outbox.name)
                except ChannelError as exc:
                    log.error("the outbox could not be written: %s", exc)
            if past:
                carried = alert if outage["escalated"] else _digest(
                    alert, [a for a in outage["alerts"] if a.get("key") != alert.key or not again])
                for channel in self.channels:
                    try:
                        await channel.send(carried)
                        via.append(channel.name)
                    except ChannelError as exc:
                        log.warning("alert channel %s failed: %s", channel.name, exc)
                outage["escalated"] = True
            if again:
                for entry in outage["alerts"]:
                    if entry.get("key") == alert.key:
                        entry["via"] = sorted({*entry.get("via", []), *via})
            else:
                outage["alerts"] = [*outage["alerts"], {
                    "at": alert.at.isoformat(), "title": alert.title, "incident": alert.incident,
                    "via": via, "key": alert.key}][-KEPT:]
            await asyncio.to_thread(self.store.set_setting, OUTAGE_KEY, outage)
            self._outage_on_record = True
            return via

    async def delivered(self) -> dict | None:
        """Telegram carried a message: the outage it ends (to summarise), or None if none."""
        if self._outage_on_record is False:
            return None
        async with self._lock:
            outage = await asyncio.to_thread(self._outage)
            if outage is not None:
                await asyncio.to_thread(self.store.set_setting, OUTAGE_KEY, None)
            self._outage_on_record = False
            return None if outage is None else {**outage, "until": self.clock().isoformat()}

    def _outage(self) -> dict | None:
        outage = self.store.get_setting(OUTAGE_KEY)
        return outage if isinstance(outage, dict) and isinstance(outage.get("since"), str) else None


def _digest(alert: Alert, earlier: list[dict]) -> Alert:
    """`alert`, with what went to the outbox only before the other channels were tried."""
    if not earlier:
        return alert
    lines = [f"- {e.get('at', '?')[:16]} {e.get('title', '?')}" for e in earlier[-10:]]
    return Alert(title=alert.title,
                 text=f"{alert.text}\n\nTelegram has been failing since {earlier[0].get('at', '?')[:16]}; "
                      f"before this, {len(earlier)} alert(s) went to the outbox only:\n" + "\n".join(lines),
                 at=alert.at, incident=alert.incident, severity=alert.severity)
