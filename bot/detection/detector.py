"""From signals to incidents: every signal is stored; a failing one opens its scenario's
incident or is counted on the open one (one fingerprint, one open incident; a scenario opened
by hand is joined); a recovery is said on the live message and resolves nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bot.detection.signals import Signal
from bot.detection.silences import Silences
from bot.incidents.engine import Opened
from bot.incidents.stored import iso
from bot.incidents.model import Incident
from bot.store import Store

SIGNALS_TABLE = "signals"
log = logging.getLogger(__name__)


class IncidentSink(Protocol):
    """What detection needs of the incident flows (`IncidentFlows.alert` / `recovered`)."""

    async def alert(self, scenario: str, *, fingerprint: str, component: str, summary: str,
                    trace_ids: tuple[str, ...] = (), source: str = "check") -> Opened: ...

    async def recovered(self, fingerprint: str, *, source: str = "check") -> Incident | None: ...


@dataclass(frozen=True)
class Received:
    kind: str  # "opened", "counted", "recovered", "fine", "silenced", "warning", "warned"
    ref: str | None  # the incident it went to


WARNED_KEY = "detection.warned"  # the components whose usage warning was given


class Detector:
    def __init__(self, store: Store, incidents: IncidentSink, *, redact: Callable[[str], str],
                 silences: Silences | None = None,
                 announce: Callable[[str, str], Awaitable[None]] | None = None) -> None:
        self.store, self.incidents, self.redact = store, incidents, redact
        self.silences, self.announce = silences, announce

    async def warn(self, component: str, warning: str | None) -> Received:
        """A usage threshold crossed before anything failed: said to the group once per
        crossing (a lower severity than an incident: a message, no walkthrough); None: the
        component is below its thresholds again, and a later crossing is said again."""
        warned = await asyncio.to_thread(self.store.get_setting, WARNED_KEY, {})
        warned = warned if isinstance(warned, dict) else {}
        if warning is None:
            if component in warned:
                await asyncio.to_thread(self.store.set_setting, WARNED_KEY,
                                        {c: at for c, at in warned.items() if c != component})
            return Received("fine", None)
        if component in warned or self.announce is None:
            return Received("warned", None)
        silence = await asyncio.to_thread(self.silences.silenced, component) \
            if self.silences is not None else None
        if silence is None:
            try:
                await self.announce(component, self.redact(warning))
            except Exception:  # not said now: said at the next round (nothing was remembered)
                log.warning("the %s usage warning could not be said", component, exc_info=True)
                return Received("warning", None)
        await asyncio.to_thread(self.store.set_setting, WARNED_KEY, {**warned, component: True})
        return Received("warning", None)

    async def receive(self, signal: Signal) -> Received:
        """Every failing signal is stored first, then opens or joins its incident; a "fine"
        signal is stored only when it changed something (a recovery said on an incident)."""
        details = self.redact(signal.details)
        if not signal.failing:
            incident = await self.incidents.recovered(signal.fingerprint, source=signal.source)
            if incident is None:
                return Received("fine", None)
            await self._keep(signal, details)
            return Received("recovered", incident.ref)
        silence = await asyncio.to_thread(self.silences.silenced, signal.component) \
            if self.silences is not None else None
        await self._keep(signal, details, silenced=silence is not None)
        if silence is not None:
            return Received("silenced", None)
        opened = await self.incidents.alert(signal.scenario, fingerprint=signal.fingerprint,
                                            component=signal.component, summary=details,
                                            trace_ids=signal.trace_ids, source=signal.source)
        return Received("opened" if opened.created else "counted", opened.incident.ref)

    async def _keep(self, signal: Signal, details: str, *, silenced: bool = False) -> None:
        await asyncio.to_thread(self.store.insert, SIGNALS_TABLE, {
            "at": iso(signal.at), "source": signal.source, "component": signal.component,
            "scenario": signal.scenario, "severity": signal.severity,
            "fingerprint": signal.fingerprint, "failing": signal.failing, "details": details,
            "trace_ids": list(signal.trace_ids), "silenced": silenced})
