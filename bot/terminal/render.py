"""What the terminal prints: the same views the chat shows, as plain text."""

from __future__ import annotations

from datetime import datetime

from bot.health import HealthReport
from bot.health.token import TokenStatus
from bot.i18n import Translator
from bot.incidents.model import Incident
from bot.incidents.view import Viewer, incident_lines, incidents_lines
from bot.rich_text import to_plain
from bot.secrets import Redactor
from bot.token_view import guide_lines, token_lines


def health_table(report: HealthReport, tr: Translator, redact: Redactor) -> str:
    """A fixed-width table: component, state, latency, reason; the overall state last."""
    rows = [("COMPONENT", "STATE", "LATENCY", "REASON")]
    for r in report.results:
        latency = "-" if r.latency_ms is None else f"{r.latency_ms:.0f} ms"
        rows.append((r.component, r.state.value, latency, r.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row))
             for row in rows]
    lines.append(f"overall: {report.overall.value} ({tr(f'health.overall.{report.overall.value}')})")
    return redact("\n".join(lines))


def token_text(status: TokenStatus, viewer: Viewer) -> str:
    return viewer.redact(to_plain(token_lines(status, viewer.tr, viewer.tz, viewer.redact)))


def guide_text(viewer: Viewer) -> str:
    return viewer.redact(to_plain(guide_lines(viewer.tr)))


def incident_text(incident: Incident, viewer: Viewer, now: datetime) -> str:
    return viewer.redact(to_plain(incident_lines(viewer, incident, now)))


def incidents_text(incidents: list[Incident], viewer: Viewer, now: datetime) -> str:
    return viewer.redact(to_plain(incidents_lines(viewer, incidents, now)))
