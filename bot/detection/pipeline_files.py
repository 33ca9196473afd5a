"""The pipeline's own logs and traces as a source of signals.

Which component a line is about comes from what it says first (a 429 is Instagram's rate limit
wherever it is logged; Graph's 190 is the token), then from the script that wrote it. Only
WARNING-or-worse lines and tracebacks count, and of a warning only those naming a failure the
playbook knows (a usage warning is not an outage). A failed trace names its stage. One round's
findings are one signal per component (with how many lines and the first one), not one per
line: a burst of ten thousand lines is one stored signal and one counter step, not ten thousand.
Lines that are not log lines (a traceback's body) belong to the line above and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.detection.signals import TRACE_ID, Signal, make_signal

_LEVEL = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:[,.]\d{1,6})?\s+(?P<level>[A-Z]+)\b")
# what a line says, before which script said it: (pattern, component)
_SAYS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b429\b|Too Many Requests|code=(?:4|17|32|341|613|80002)\b"), "instagram"),
    (re.compile(r"code=190\b|Error validating access token|Session has expired"), "token"),
    (re.compile(r"Invalid Signature|(?<![./])cloudinary(?!\.com)", re.IGNORECASE), "cloudinary"),
    (re.compile(r"fal[-_.]ai|fal_client|flux", re.IGNORECASE), "fal"),
)
# the script whose stderr log it is
_SCRIPTS: dict[str, str] = {
    "generate_images": "fal", "upload_cloudinary": "cloudinary", "publish_content": "instagram",
    "instagram_stats_collector": "stats", "stats_collector_daemon": "stats", "telegram_bot": "telegram",
}
_FAILURE_WORDS = re.compile(r"fail|error|exception|denied|unauthori[sz]ed|invalid|expired|timed? ?out|"
                            r"\b4\d\d\b|\b5\d\d\b", re.IGNORECASE)
# a failed trace's stage -> the component
_STAGES: dict[str, str] = {"generate": "fal", "upload": "cloudinary", "publish": "instagram",
                           "stats": "stats", "collect": "stats", "notify": "telegram"}


@dataclass
class Findings:
    """One round's failures per component: how many lines, the first, the trace ids."""

    lines: dict[str, list[str]] = field(default_factory=dict)
    traces: dict[str, list[str]] = field(default_factory=dict)
    skipped: int = 0  # lines and traces that could not be read as what they claim to be

    def add(self, component: str, line: str, trace_ids: Iterable[str]) -> None:
        self.lines.setdefault(component, []).append(line)
        ids = self.traces.setdefault(component, [])
        ids.extend(t for t in trace_ids if t not in ids)

    def signals(self, *, at: datetime) -> list[Signal]:
        out = []
        for component, lines in self.lines.items():
            first = " ".join(lines[0].split())[:300]
            details = first if len(lines) == 1 else f"{len(lines)} lines, the first: {first}"
            out.append(make_signal("file", component, details[:500], at=at,
                                   trace_ids=tuple(self.traces.get(component, ())[:20])))
        return out


def script_of(file_name: str) -> str:
    return file_name.removesuffix(".log").removesuffix("_stderr")


def component_of_line(file_name: str, line: str) -> str | None:
    """The component a failing log line is about, or None when it is no failure."""
    match = _LEVEL.match(line)
    if match is None:
        return None  # a traceback's body or a continuation: its first line counted already
    level = match["level"]
    if level not in ("WARNING", "ERROR", "CRITICAL", "FATAL"):
        return None
    if level == "WARNING" and not _FAILURE_WORDS.search(line):
        return None  # "credits 81% used" and the like: not an outage
    for pattern, component in _SAYS:
        if pattern.search(line):
            return component
    return _SCRIPTS.get(script_of(file_name))


def component_of_trace(body: dict[str, Any]) -> str | None:
    """The component a failed trace points at, or None when it did not fail."""
    if str(body.get("status", "")).lower() not in ("error", "failed", "failure"):
        return None
    error = body.get("error")
    message = str(error.get("message", "")) if isinstance(error, dict) else str(error or "")
    for pattern, component in _SAYS:
        if pattern.search(message):
            return component
    return _STAGES.get(str(body.get("stage", "")))


def findings(lines: Iterable[tuple[str, str]], traces: Iterable[tuple[str, dict[str, Any]]],
             *, skipped: int = 0) -> Findings:
    found = Findings(skipped=skipped)
    for file_name, line in lines:
        if "\x00" in line:
            found.skipped += 1
            continue
        component = component_of_line(file_name, line)
        if component is not None:
            found.add(component, line, TRACE_ID.findall(line))
    for name, body in traces:
        component = component_of_trace(body)
        trace_id = str(body.get("trace_id") or name.removesuffix(".json"))
        if component is None:
            continue
        if not TRACE_ID.fullmatch(trace_id):
            found.skipped += 1
            continue
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error
        found.add(component, f"trace {trace_id} failed at {body.get('stage', '?')}: {message or '?'}",
                  (trace_id,))
    return found
