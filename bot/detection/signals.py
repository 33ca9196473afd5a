"""A signal: something failed (or is fine again), said the same way by every source.

Each watched component maps to its playbook scenario and severity; the fingerprint (component
and scenario) is what makes repeats one incident. Everything a signal carries is checked here,
so a bad one from the terminal or the intake endpoint is refused with a sentence, not stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# component -> (the scenario it opens, as /incident names it; its severity in the playbook)
COMPONENT_SCENARIOS: dict[str, tuple[str, str]] = {
    "token": ("token", "P0"),
    "cloudinary": ("cloudinary", "P0"),
    "fal": ("image", "P1"),
    "instagram": ("429", "P1"),
    "stats": ("stats", "P2"),
    "telegram": ("telegram", "P2"),
}
SOURCES = frozenset({"check", "terminal", "intake", "file"})
MAX_DETAILS = 500
TRACE_ID = re.compile(r"SF-\d{8}-\d{4,6}")


class SignalError(ValueError):
    """A signal that cannot be taken; the message says why in one sentence."""


@dataclass(frozen=True)
class Signal:
    source: str  # check, terminal, intake, file
    component: str
    scenario: str
    severity: str
    fingerprint: str
    at: datetime
    details: str  # one line, as given (redacted where it is stored or shown)
    trace_ids: tuple[str, ...] = ()
    failing: bool = True  # False: the component is fine again


def make_signal(source: str, component: str, details: str, *, at: datetime,
                trace_ids: tuple[str, ...] = (), failing: bool = True) -> Signal:
    """A checked signal, or SignalError saying what is wrong with it."""
    if source not in SOURCES:
        raise SignalError(f"unknown source {source!r}; known: {', '.join(sorted(SOURCES))}")
    if component not in COMPONENT_SCENARIOS:
        raise SignalError(f"unknown component {component!r}; known: {', '.join(COMPONENT_SCENARIOS)}")
    line = " ".join(str(details).split())
    if failing and not line:
        raise SignalError("a failing signal needs a message saying what failed")
    if len(line) > MAX_DETAILS:
        raise SignalError(f"the message is longer than {MAX_DETAILS} characters")
    bad = [t for t in trace_ids if not TRACE_ID.fullmatch(t)]
    if bad:
        raise SignalError(f"not trace ids (like SF-20261205-0001): {', '.join(bad[:3])}")
    scenario, severity = COMPONENT_SCENARIOS[component]
    return Signal(source, component, scenario, severity, f"{component}:{scenario}", at, line,
                  tuple(dict.fromkeys(trace_ids)), failing)
