"""How an incident looks in chat: its one live message, its buttons, the lists around it."""

from __future__ import annotations

import re
from datetime import datetime
from html import escape, unescape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.actors import display_name
from bot.clock import parse_time
from bot.incidents.escalation_plan import response_deadline
from bot.incidents.model import Verb
from bot.incidents.offers import Row, offers, planned
from bot.incidents.record import (
    CONFIRMING,
    RESOLVED,
    RUNNING,
    current_step,
    checklist,
    ticked,
    verify_done,
)
from bot.incidents.stats import format_duration
from bot.runbooks import Library
from handlers import callbacks as cb
from handlers.context import BotContext

SEVERITY_ICONS = {"P0": "🔴", "P1": "🟠", "P2": "🟡", "P3": "🔵"}
STATUS_ICONS = {"open": "🚨", "acknowledged": "👀", "mitigating": "🛠", "resolved": "✅"}
STEP_ICONS = {"pending": "▫️", "running": "⏳", "confirming": "⚠️", "done": "✅",
              "failed": "❌", "skipped": "⏭"}
OUTCOME_ICONS = {"ok": "✅", "warn": "🟡", "fail": "🔴", "unavailable": "🛠", "error": "⚠️"}
RESULT_LINES = 5
LINE_CHARS = 300  # one detail line of a result, at most
# Telegram's limit is 4096 characters of the text as shown; the HTML we measure is longer than
# that (tags, entities), so this leaves room to spare.
TEXT_LIMIT = 4000


def clip(text: str, limit: int = LINE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def safe(ctx: BotContext, text: str, limit: int | None = None) -> str:
    """Text from people or services as HTML: redacted whole, then clipped, then escaped.

    In that order only: a secret cut in half, or with its `_` and `&` escaped, is no longer
    recognised by the redactor.
    """
    text = ctx.redact(text or "")
    return escape(clip(text, limit) if limit else text)


who = display_name


def title_of(incident: dict, lang: str) -> str:
    return incident["title"].get(lang) or incident["title"]["en"]


def _text(step: dict, lang: str) -> str:
    return step["text"].get(lang) or step["text"]["en"]


def _last_result(incident: dict) -> tuple[dict, dict] | None:
    """The step that produced the newest result, and its state; None once a later step was
    done, skipped or pressed by hand (an old result under a newer step reads as its result)."""
    newest = None
    for step, state in zip(incident["steps"], incident["step_state"]):
        if state["at"] and (newest is None or state["at"] >= newest[1]["at"]):
            newest = (step, state)
    if newest is None or not newest[1]["outcome"]:
        return None
    return newest


def clip_words(text: str, limit: int) -> str:
    """At most `limit` characters, cut at a word's end where there is one."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space >= limit // 2 else cut).rstrip(" ,.:;") + "…"


def _checklist_line(ctx: BotContext, incident: dict, which: str) -> str:
    items = checklist(incident, which)
    marks = ticked(incident, which)
    lang = ctx.tr.lang
    body = " · ".join(f"{'☑' if mark else '☐'} {escape(item['text'].get(lang) or item['text']['en'])}"
                      for item, mark in zip(items, marks))
    return f"<b>{escape(ctx.tr(f'incident.checklist.{which}'))} {sum(marks)}/{len(items)}</b>: {body}"


def _escalation_line(ctx: BotContext, incident: dict) -> str:
    tr = ctx.tr
    nobody = {"pd": not ctx.settings.pd_user_ids, "manual": not ctx.settings.admin_user_ids}
    fired = [tr(f"escalation.stage.{e['stage']}")
             + (tr("incident.escalation_nobody") if nobody.get(e["stage"]) else "")
             for e in incident["escalation"] if e["fired_at"]]
    pending = [e for e in incident["escalation"] if not e["fired_at"]]
    parts = []
    if fired:
        parts.append(tr("incident.escalation_fired", stages=", ".join(fired)))
    if pending:
        parts.append(tr("incident.escalation_next", stage=tr(f"escalation.stage.{pending[0]['stage']}"),
                        at=ctx.local(parse_time(pending[0]["due_at"]))))
    return f"{escape(tr('incident.label.escalation'))}: {escape(' · '.join(parts) or '—')}"


def incident_text(ctx: BotContext, incident: dict, now: datetime) -> str:
    """The live message: who, how bad, how late, where we are, what we found.

    Always within Telegram's 4096 characters: the result's detail lines go first, then the
    trace list; what is dropped is still in the record and in the post-mortem.
    """
    for detail_lines, traces in ((RESULT_LINES, 6), (2, 3), (0, 0)):
        text = _incident_text(ctx, incident, now, detail_lines, traces)
        if len(text) <= TEXT_LIMIT:
            return text
    plain = unescape(re.sub(r"<[^>]+>", "", text))  # runbook texts alone this long: plain text,
    return escape(plain[: TEXT_LIMIT - 1] + "…")  # cut where no tag can be left open


def _incident_text(ctx: BotContext, incident: dict, now: datetime, detail_lines: int,
                   trace_count: int) -> str:
    tr, lang = ctx.tr, ctx.tr.lang
    sev = incident["severity"]
    opened = parse_time(incident["opened_at"])
    lines = [f"{SEVERITY_ICONS.get(sev, '')} <b>{escape(incident['ref'])} · "
             f"{escape(title_of(incident, lang))}</b>"]
    deadline = response_deadline(sev, opened)
    late = ""
    if (incident["acknowledged_at"] is None and deadline is not None and deadline > opened
            and now > deadline):
        late = " · " + tr("incident.overdue")
    when = tr("incident.immediately") if deadline is None or deadline <= opened else ctx.local(deadline)
    lines.append(f"{escape(tr('incident.label.severity'))}: <b>{sev}</b> "
                 f"({escape(tr(f'severity.{sev}'))}) · {escape(tr('incident.label.deadline'))}: "
                 f"{escape(when)}{escape(late)}")
    status = incident["status"]
    status_line = (f"{escape(tr('incident.label.status'))}: {STATUS_ICONS[status]} "
                   f"{escape(tr(f'incident.status.{status}'))} · "
                   f"{escape(tr('incident.label.lead'))}: {escape(who(incident['lead']))}")
    lines.append(status_line)
    if status != RESOLVED:
        lines.append(_escalation_line(ctx, incident))
    lines.append(f"{escape(tr('incident.label.opened'))}: {escape(ctx.local(opened))} · "
                 f"{escape(who(incident['opened_by']))}"
                 + (f" · {escape(tr('incident.label.topic'))}: <code>{escape(incident['topic'])}</code>"
                    if incident["topic"] else ""))
    if incident["linked"]:
        lines.append(escape(tr("incident.linked_reports", count=len(incident["linked"]))))
    lines.append("")
    if status == RESOLVED:
        resolved = parse_time(incident["resolved_at"])
        lines.append(f"<b>{escape(tr('incident.resolved_line', by=who(incident['resolved_by']), at=ctx.local(resolved)))}</b>")
        ack = parse_time(incident["acknowledged_at"])
        lines.append(escape(tr("incident.times", tta=format_duration(ack - opened if ack else None, tr),
                               ttr=format_duration(resolved - opened, tr))))
        if incident["resolve_override"]:
            lines.append(safe(ctx, tr("incident.override_line", reason=incident["resolve_override"])))
        pm = incident["postmortem"]
        lines.append(escape(tr("incident.postmortem_written", filename=pm["filename"])
                            if pm["written_at"] else tr("incident.postmortem_pending")))
    else:
        found = current_step(incident)
        total = len(incident["steps"])
        if found is None:
            lines.append(f"<b>{escape(tr('incident.walk_finished'))}</b>")
            lines.append(escape(tr("incident.resolve_ready" if verify_done(incident)
                                   else "incident.resolve_needs_override")))
        else:
            index, step, state = found
            phase = tr(f"phase.{step['phase']}")
            lines.append(f"<b>{escape(phase)} · {escape(tr('incident.step_of', n=index + 1, total=total))}</b>")
            lines.append(f"{STEP_ICONS[state['status']]} {escape(_text(step, lang))}")
            if step["command"]:
                lines.append(f"<code>{escape(step['command'])}</code>")
            if planned(step):
                lines.append(f"🛠 {escape(tr('incident.not_automated'))}")
            if step["admin"]:
                lines.append(f"🔐 {escape(tr('incident.admin_step'))}")
            if state["status"] == RUNNING:
                lines.append(f"⏳ {escape(tr('incident.running_by', by=who(state['by'])))}")
            elif state["status"] == CONFIRMING:
                key = "incident.confirm_line_admin" if step["admin"] else "incident.confirm_line"
                lines.append(f"⚠️ {escape(tr(key, by=who(state['by'])))}")
    last = _last_result(incident)
    if last is not None:
        step, state = last
        lines.append("")
        lines.append(f"{escape(tr('incident.label.last_result'))} ({escape(clip_words(_text(step, lang), 48))}, "
                     f"{safe(ctx, who(state['by']))}): {OUTCOME_ICONS.get(state['outcome'], '')} "
                     f"{safe(ctx, state['summary'] or '', LINE_CHARS)}")
        details = state["lines"]
        if detail_lines:
            lines += [f"  · {safe(ctx, line, LINE_CHARS)}" for line in details[:detail_lines]]
        hidden = len(details) - min(detail_lines, len(details)) + state.get("more", 0)
        if hidden:
            lines.append(f"  {escape(tr('incident.more_lines', count=hidden))}")
    if incident["trace_ids"] and trace_count:
        shown = incident["trace_ids"][:trace_count]
        lines.append(f"{escape(tr('incident.label.traces'))}: " + ", ".join(
            f"<code>{escape(t)}</code>" for t in shown))
    lines.append("")
    lines.append(_checklist_line(ctx, incident, "during"))
    lines.append(_checklist_line(ctx, incident, "recovery"))
    return ctx.redact("\n".join(lines))


_LABELS = {Verb.CONFIRM: "button.confirm", Verb.CANCEL: "button.cancel", Verb.DONE: "button.done",
           Verb.SKIP: "button.skip", Verb.ACKNOWLEDGE: "button.acknowledge",
           Verb.ESCALATE: "button.escalate", Verb.RESOLVE: "button.resolve"}


def incident_keyboard(ctx: BotContext, incident: dict) -> InlineKeyboardMarkup:
    """What the incident offers now (`bot.incidents.offers`, which the engine checks presses
    against): the current step's buttons, the incident's own, the hand-ticked recovery items."""
    tr, doc_id = ctx.tr, incident["id"]
    rows: dict[Row, list[InlineKeyboardButton]] = {row: [] for row in Row}
    items = checklist(incident, "recovery")
    for offer in offers(incident):
        if offer.verb in (Verb.TICK, Verb.UNTICK):
            item = items[offer.arg]
            mark = "☐" if offer.verb == Verb.TICK else "☑"
            label = f"{mark} {item['text'].get(tr.lang) or item['text']['en']}"
        elif offer.verb == Verb.RUN:
            runs = incident["step_state"][offer.arg]["runs"]
            label = tr("button.run_again" if runs else "button.run")
        else:
            label = tr(_LABELS[offer.verb])
        rows[offer.row].append(InlineKeyboardButton(
            label, callback_data=cb.incident(doc_id, offer.arg, offer.verb)))
    ticks = rows[Row.TICKS]
    drawn = [row for row in (rows[Row.STEP], rows[Row.INCIDENT]) if row]
    return InlineKeyboardMarkup(drawn + [ticks[i:i + 2] for i in range(0, len(ticks), 2)])


def moved_text(ctx: BotContext, incident: dict) -> str:
    """What an old live message says once the incident's message moved to the bottom."""
    return escape(ctx.tr("incident.moved", ref=incident["ref"]))


def incidents_list_text(ctx: BotContext, incidents: list[dict], now: datetime) -> str:
    tr, lang = ctx.tr, ctx.tr.lang
    if not incidents:
        return escape(tr("incidents.none"))
    lines = [f"<b>{escape(tr('incidents.title', count=len(incidents)))}</b>"]
    for inc in incidents:
        age = format_duration(now - parse_time(inc["opened_at"]), tr)
        found = current_step(inc)
        where = (tr("incident.step_of", n=found[0] + 1, total=len(inc["steps"]))
                 if found else tr("incident.walk_finished"))
        lines.append(f"{SEVERITY_ICONS.get(inc['severity'], '')} <code>{escape(inc['ref'])}</code> "
                     f"{inc['severity']} · {escape(title_of(inc, lang))} · "
                     f"{escape(tr('incident.status.' + inc['status']))} · {escape(where)} · "
                     f"{escape(tr('incidents.age', age=age))}")
    lines.append(escape(tr("incidents.hint")))
    return "\n".join(lines)


def scenario_keyboard(ctx: BotContext, library: Library) -> InlineKeyboardMarkup:
    lang = ctx.tr.lang
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(f"{SEVERITY_ICONS.get(rb.severity, '')} {rb.number}. {rb.title.get(lang)}",
                              callback_data=cb.open_scenario(rb.number))]
        for rb in library.runbooks.values()
    ])


def runbooks_text(ctx: BotContext, library: Library, loaded_at: datetime) -> str:
    tr, lang = ctx.tr, ctx.tr.lang
    lines = [f"<b>{escape(tr('runbooks.title', version=library.digest, at=ctx.local(loaded_at)))}</b>"]
    for rb in library.runbooks.values():
        aliases = ", ".join(rb.aliases)
        lines.append(f"{SEVERITY_ICONS.get(rb.severity, '')} {rb.number}. <b>{escape(rb.title.get(lang))}</b> "
                     f"· {rb.severity} · <code>{escape(rb.id)}</code> ({escape(aliases)}) · "
                     f"{escape(tr('runbooks.steps', count=len(rb.steps)))}")
    lines.append(escape(tr("runbooks.hint")))
    return "\n".join(lines)
