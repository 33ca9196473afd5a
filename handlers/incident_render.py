"""How an incident looks in chat: its one live message, its buttons, the lists around it."""

from __future__ import annotations

from datetime import datetime
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.incidents.model import Incident, Status, StepStatus, Verb
from bot.incidents.offers import Row, offers
from bot.incidents.view import (
    RESULT_LINES,
    SEVERITY_ICONS,
    incident_lines,
    incidents_lines,
)
from bot.rich_text import to_html, to_plain
from bot.runbooks import Library
from bot.wiring import viewer
from handlers import callbacks as cb
from handlers.silences import silence_row
from handlers.context import BotContext


# Telegram's limit is 4096 characters of the text as shown; the HTML we measure is longer than
# that (tags, entities), so this leaves room to spare.
TEXT_LIMIT = 4000


def incident_text(ctx: BotContext, incident: Incident, now: datetime) -> str:
    """The live message as Telegram HTML, always within Telegram's 4096 characters: the result's
    detail lines go first, then the trace list; what is dropped is still in the record and in
    the post-mortem."""
    v = viewer(ctx.services)
    for detail_lines, traces in ((RESULT_LINES, 6), (2, 3), (0, 0)):
        lines = incident_lines(v, incident, now, detail_lines=detail_lines, trace_count=traces)
        text = ctx.redact(to_html(lines))
        if len(text) <= TEXT_LIMIT:
            return text
    plain = ctx.redact(to_plain(lines))  # runbook texts alone this long: plain text, cut where
    return escape(plain[: TEXT_LIMIT - 1] + "…")  # no tag can be left open


_LABELS = {Verb.CONFIRM: "button.confirm", Verb.CANCEL: "button.cancel", Verb.DONE: "button.done",
           Verb.SKIP: "button.skip", Verb.ACKNOWLEDGE: "button.acknowledge",
           Verb.ESCALATE: "button.escalate", Verb.RESOLVE: "button.resolve", Verb.LATER: "button.later"}


def incident_keyboard(ctx: BotContext, incident: Incident) -> InlineKeyboardMarkup:
    """What the incident offers now (`bot.incidents.offers`, which the engine checks presses
    against): the current step's buttons, the incident's own, the hand-ticked recovery items."""
    tr, doc_id = ctx.tr, incident.id
    rows: dict[Row, list[InlineKeyboardButton]] = {row: [] for row in Row}
    items = incident.checklists["recovery"]
    for offer in offers(incident):
        if offer.verb in (Verb.TICK, Verb.UNTICK):
            item = items[offer.arg]
            mark = "☐" if offer.verb == Verb.TICK else "☑"
            label = f"{mark} {item.text.get(tr.lang)}"
        elif incident.step_state[offer.arg].status == StepStatus.WAITING and offer.row == Row.STEP \
                and offer.verb in (Verb.RUN, Verb.CANCEL):
            label = tr("button.retry_now" if offer.verb == Verb.RUN else "button.cancel_retry")
        elif offer.verb == Verb.RUN:
            runs = incident.step_state[offer.arg].runs
            label = tr("button.run_again" if runs else "button.run")
        else:
            label = tr(_LABELS[offer.verb])
        rows[offer.row].append(InlineKeyboardButton(
            label, callback_data=cb.incident(doc_id, offer.arg, offer.verb)))
    ticks = rows[Row.TICKS]
    drawn = [row for row in (rows[Row.STEP], rows[Row.INCIDENT]) if row]
    if incident.alerts is not None and incident.status != Status.RESOLVED:  # detected: it can be muted
        drawn.append(silence_row(ctx, incident.alerts.component))
    return InlineKeyboardMarkup(drawn + [ticks[i:i + 2] for i in range(0, len(ticks), 2)])


def moved_text(ctx: BotContext, incident: Incident) -> str:
    """What an old live message says once the incident's message moved to the bottom."""
    return escape(ctx.tr("incident.moved", ref=incident.ref))


def incidents_list_text(ctx: BotContext, incidents: list[Incident], now: datetime) -> str:
    lines = incidents_lines(viewer(ctx.services), incidents, now)
    return to_html([*lines, [ctx.tr("incidents.hint")]] if incidents else lines)


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
