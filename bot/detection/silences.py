"""Silences: an alert's component muted for a while (1 h, 4 h or 24 h from its buttons; never
longer than 7 days). A silenced signal is still stored (and `/health` still shows the
component as it is); it only opens or updates no incident until the silence ends, which it does
by itself. Operators set one, an admin lifts one early; both are audited."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from collections.abc import Callable

from bot.errors import Refusal
from bot.detection.signals import COMPONENT_SCENARIOS
from bot.store import Store

SILENCES_KEY = "detection.silences"
MAX_SILENCE = timedelta(days=7)
BUTTON_HOURS = (1, 4, 24)


class SilenceRefused(Refusal):
    """A silence not set or lifted; the message key says why."""


@dataclass(frozen=True)
class Silence:
    component: str
    until: datetime
    by: str
    at: datetime


class Silences:
    def __init__(self, store: Store, *, clock: Callable[[], datetime]) -> None:
        self.store, self.clock = store, clock
        self._lock = threading.Lock()  # one read-change-write at a time: two presses keep both

    def _all(self) -> dict[str, dict]:
        stored = self.store.get_setting(SILENCES_KEY, {})
        return stored if isinstance(stored, dict) else {}

    def active(self) -> list[Silence]:
        now = self.clock()
        out = []
        for component, entry in self._all().items():
            try:
                silence = Silence(component, datetime.fromisoformat(entry["until"]), str(entry["by"]),
                                  datetime.fromisoformat(entry["at"]))
            except (KeyError, TypeError, ValueError):
                continue
            if silence.until > now:
                out.append(silence)
        return sorted(out, key=lambda s: s.until)

    def silenced(self, component: str) -> Silence | None:
        return next((s for s in self.active() if s.component == component), None)

    def add(self, component: str, hours: int, *, actor: str, operator: bool) -> Silence:
        if not operator:
            raise SilenceRefused("silence.needs_operator")
        if component not in COMPONENT_SCENARIOS:
            raise SilenceRefused("silence.unknown_component", component=component)
        length = timedelta(hours=hours)
        if not timedelta(0) < length <= MAX_SILENCE:
            raise SilenceRefused("silence.too_long", days=MAX_SILENCE.days)
        now = self.clock()
        silence = Silence(component, now + length, actor, now)
        with self._lock:
            kept = {c: e for c, e in self._all().items() if c in {s.component for s in self.active()}}
            kept[component] = {"until": silence.until.isoformat(), "by": actor, "at": now.isoformat()}
            self.store.set_setting(SILENCES_KEY, kept)
        self.store.audit("silence.set", actor=actor, detail={"component": component,
                                                            "until": silence.until.isoformat()})
        return silence

    def lift(self, component: str, *, actor: str, admin: bool) -> Silence:
        if not admin:
            raise SilenceRefused("silence.needs_admin")
        with self._lock:
            silence = self.silenced(component)
            if silence is None:
                raise SilenceRefused("silence.none", component=component)
            self.store.set_setting(SILENCES_KEY, {c: e for c, e in self._all().items() if c != component})
        self.store.audit("silence.lifted", actor=actor, detail={"component": component})
        return silence
