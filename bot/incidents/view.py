"""What an incident says, for any transport: lines of plain text and `Span`s (`bot.rich_text`).

Text from people and services is redacted whole, then clipped, on the way in; escaping is the
renderer's (HTML for Telegram, none for the terminal), so a secret is never cut in half or
escaped out of the redactor's sight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, tzinfo

from bot.actions.recovery.retry_policy import parse_policy
from bot.actors import display_name
from bot.clock import local_time
from bot.incidents.escalation_plan import response_deadline
from bot.incidents.model import Incident, Status, StepSpec, StepState, StepStatus
from bot.incidents.record import ticked, verify_done
from bot.incidents.stats import Translate, format_duration
from bot.rich_text import Line, Piece, bold, code

SEVERITY_ICONS = {"P0": "🔴", "P1": "🟠", "P2": "🟡", "P3": "🔵"}
STATUS_ICONS = {"open": "🚨", "acknowledged": "👀", "mitigating": "🛠", "resolved": "✅"}
STEP_ICONS = {"pending": "▫️", "running": "⏳", "confirming": "⚠️", "done": "✅",
              "failed": "❌", "skipped": "⏭", "waiting": "🔁"}
OUTCOME_ICONS = {"ok": "✅", "warn": "🟡", "fail": "🔴", "unavailable": "🛠", "error": "⚠️"}
RESULT_LINES = 5
LINE_CHARS = 300  # one detail line of a result, at most
who = display_name


@dataclass(frozen=True)
class Viewer:
    """How the team reads things: language, time zone, the redactor, who can be paged."""

    tr: Translate
    lang: str
    tz: tzinfo
    redact: Callable[[str], str]
    no_pd: bool = False  # no PD_USER_IDS: the PD stage pages nobody
    no_admins: bool = False

    def local(self, moment: datetime) -> str:
        return local_time(moment, self.tz)

    def safe(self, text: str | None, limit: int | None = None) -> str:
        """Text from people or services: redacted whole, then clipped (never the other way)."""
        text = self.redact(text or "")
        return clip(text, limit) if limit else text


def clip(text: str, limit: int = LINE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def clip_words(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word's end where there is one."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space >= limit // 2 else cut).rstrip(" ,.:;") + "…"


def last_result(incident: Incident) -> tuple[StepSpec, StepState] | None:
    """The step that produced the newest result, and its state; None once a later step was
    done, skipped or pressed by hand (an old result under a newer step reads as its result)."""
    newest: tuple[StepSpec, StepState, datetime] | None = None
    for step, state in zip(incident.steps, incident.step_state):
        if state.at is not None and (newest is None or state.at >= newest[2]):
            newest = (step, state, state.at)
    if newest is None or newest[1].outcome is None:
        return None
    return newest[0], newest[1]


def incident_lines(v: Viewer, incident: Incident, now: datetime, *, detail_lines: int = RESULT_LINES,
                   trace_count: int = 6) -> list[Line]:
    """The live message: who, how bad, how late, where we are, what we found."""
    tr, lang = v.tr, v.lang
    sev = incident.severity
    opened = incident.opened_at
    lines: list[Line] = [[f"{SEVERITY_ICONS.get(sev, '')} ",
                          bold(f"{incident.ref} · {incident.title.get(lang)}")]]
    deadline = response_deadline(sev, opened)
    late = ""
    if (incident.acknowledged_at is None and deadline is not None and deadline > opened
            and now > deadline):
        late = " · " + tr("incident.overdue")
    when = tr("incident.immediately") if deadline is None or deadline <= opened else v.local(deadline)
    lines.append([f"{tr('incident.label.severity')}: ", bold(sev),
                  f" ({tr(f'severity.{sev}')}) · {tr('incident.label.deadline')}: {when}{late}"])
    status = incident.status
    lines.append([f"{tr('incident.label.status')}: {STATUS_ICONS[status]} "
                  f"{tr(f'incident.status.{status}')} · {tr('incident.label.lead')}: "
                  f"{who(incident.lead)}"])
    if status != Status.RESOLVED:
        lines.append([_escalation_line(v, incident)])
    opened_line: list[Piece] = [f"{tr('incident.label.opened')}: {v.local(opened)} · "
                                f"{who(incident.opened_by)}"]
    if incident.topic:
        opened_line += [f" · {tr('incident.label.topic')}: ", code(incident.topic)]
    lines.append(opened_line)
    if incident.linked:
        lines.append([tr("incident.linked_reports", count=len(incident.linked))])
    alerts = incident.alerts
    if alerts is not None:
        lines.append([tr("incident.alert_seen", component=tr(f"component.{alerts.component}"),
                         count=alerts.count, last=v.local(alerts.last_at),
                         summary=v.safe(alerts.summary, 120))])
        if alerts.recovered_at is not None and status != Status.RESOLVED:
            lines.append([tr("incident.alert_recovered", component=tr(f"component.{alerts.component}"),
                             at=v.local(alerts.recovered_at))])
    lines.append([])
    if status == Status.RESOLVED:
        lines += _resolved_lines(v, incident, opened)
    else:
        lines += _step_lines(v, incident)
    last = last_result(incident)
    if last is not None:
        step, state = last
        lines.append([])
        lines.append([f"{tr('incident.label.last_result')} ({clip_words(step.text.get(lang), 48)}, "
                      f"{v.safe(who(state.by))}): {OUTCOME_ICONS.get(state.outcome or '', '')} "
                      f"{v.safe(state.summary, LINE_CHARS)}"])
        details = state.lines
        lines += [[f"  · {v.safe(line, LINE_CHARS)}"] for line in details[:detail_lines]]
        hidden = len(details) - min(detail_lines, len(details)) + state.more
        if hidden:
            lines.append([f"  {tr('incident.more_lines', count=hidden)}"])
    if incident.trace_ids and trace_count:
        traces: list[Piece] = [f"{tr('incident.label.traces')}: "]
        for n, trace in enumerate(incident.trace_ids[:trace_count]):
            traces += ([", "] if n else []) + [code(trace)]
        lines.append(traces)
    lines.append([])
    lines.append(checklist_line(v, incident, "during"))
    lines.append(checklist_line(v, incident, "recovery"))
    return lines


def _resolved_lines(v: Viewer, incident: Incident, opened: datetime) -> list[Line]:
    tr = v.tr
    resolved = incident.resolved_at
    assert resolved is not None  # (resolved)
    ack = incident.acknowledged_at
    lines: list[Line] = [
        [bold(tr("incident.resolved_line", by=who(incident.resolved_by), at=v.local(resolved)))],
        [tr("incident.times", tta=format_duration(ack - opened if ack else None, tr),
            ttr=format_duration(resolved - opened, tr))],
    ]
    if incident.resolve_override:
        lines.append([v.safe(tr("incident.override_line", reason=incident.resolve_override))])
    pm = incident.postmortem
    lines.append([tr("incident.postmortem_written", filename=pm.filename)
                  if pm.written_at else tr("incident.postmortem_pending")])
    return lines


def _step_lines(v: Viewer, incident: Incident) -> list[Line]:
    tr = v.tr
    found = incident.current_step()
    if found is None:
        return [[bold(tr("incident.walk_finished"))],
                [tr("incident.resolve_ready" if verify_done(incident)
                    else "incident.resolve_needs_override")]]
    index, step, state = found
    phase = tr(f"phase.{step.phase}")
    lines: list[Line] = [
        [bold(f"{phase} · {tr('incident.step_of', n=index + 1, total=len(incident.steps))}")],
        [f"{STEP_ICONS[state.status]} {step.text.get(v.lang)}"],
    ]
    if step.command:
        lines.append([code(step.command)])
    if step.planned:
        lines.append([f"🛠 {tr('incident.not_automated')}"])
    if step.admin:
        lines.append([f"🔐 {tr('incident.admin_step')}"])
    if state.status == StepStatus.RUNNING:
        lines.append([f"⏳ {tr('incident.running_by', by=who(state.by))}"
                      + (f" {state.progress}" if state.progress else "")])
    elif state.status == StepStatus.WAITING and state.retry_at is not None:
        at = v.local(state.retry_at)
        if state.failures:  # its policy's retry
            total = parse_policy(step.retry).retries + 1 if step.retry else state.failures + 1
            lines.append([f"🔁 {tr('incident.waiting_line', at=at, attempt=state.failures + 1, total=total)}"])
        else:  # "retry in 1 hour", pressed
            lines.append([f"⏰ {tr('incident.waiting_later', at=at, by=who(state.by))}"])
    elif state.status == StepStatus.CONFIRMING:
        key = "incident.confirm_line_admin" if step.admin else "incident.confirm_line"
        lines.append([f"⚠️ {tr(key, by=who(state.by))}"])
    return lines


def _escalation_line(v: Viewer, incident: Incident) -> str:
    tr = v.tr
    nobody = {"pd": v.no_pd, "manual": v.no_admins}
    fired = [tr(f"escalation.stage.{e.stage}")
             + (tr("incident.escalation_nobody") if nobody.get(e.stage) else "")
             for e in incident.escalation if e.fired_at]
    pending = [e for e in incident.escalation if not e.fired_at]
    parts = []
    if fired:
        parts.append(tr("incident.escalation_fired", stages=", ".join(fired)))
    if pending:
        parts.append(tr("incident.escalation_next", stage=tr(f"escalation.stage.{pending[0].stage}"),
                        at=v.local(pending[0].due_at)))
    return f"{tr('incident.label.escalation')}: {' · '.join(parts) or '—'}"


def checklist_line(v: Viewer, incident: Incident, which: str) -> Line:
    items = incident.checklists[which]
    marks = ticked(incident, which)
    body = " · ".join(f"{'☑' if mark else '☐'} {item.text.get(v.lang)}"
                      for item, mark in zip(items, marks))
    return [bold(f"{v.tr(f'incident.checklist.{which}')} {sum(marks)}/{len(items)}"), f": {body}"]


def incidents_lines(v: Viewer, incidents: list[Incident], now: datetime) -> list[Line]:
    """The unresolved incidents, one line each, oldest first."""
    tr = v.tr
    if not incidents:
        return [[tr("incidents.none")]]
    lines: list[Line] = [[bold(tr("incidents.title", count=len(incidents)))]]
    for inc in incidents:
        age = format_duration(now - inc.opened_at, tr)
        found = inc.current_step()
        where = (tr("incident.step_of", n=found[0] + 1, total=len(inc.steps))
                 if found else tr("incident.walk_finished"))
        lines.append([f"{SEVERITY_ICONS.get(inc.severity, '')} ", code(inc.ref),
                      f" {inc.severity} · {inc.title.get(v.lang)} · "
                      f"{tr('incident.status.' + inc.status)} · {where} · "
                      f"{tr('incidents.age', age=age)}"])
    return lines
