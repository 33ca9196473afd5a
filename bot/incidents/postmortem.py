"""The written post-mortem: one incident record rendered as a GitHub-flavoured Markdown document.

Everything that came from people or services (titles, summaries, the root cause the team wrote)
is escaped on the way in, so a '#' at the start of a line or a '|' in a table cell shows up as
text instead of reshaping the document. Fields are picked one by one: an event's detail is never
dumped wholesale, so whatever else lands in it does not leak into a file that gets shared.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

from bot.actors import display_name
from bot.i18n import Translator
from bot.incidents.escalation_plan import response_deadline
from bot.incidents.model import Event, Incident, StepStatus
from bot.incidents.record import ticked
from bot.incidents.stats import Translate, elapsed, format_duration
from bot.incidents.stored import redacted
from bot.secrets import Redactor

# Characters that mean something to Markdown wherever they stand (emphasis, code, links, HTML,
# tables, strikethrough, GitHub's $math$); in a heading also '#', whose trailing run would be
# eaten as the heading's closing sequence.
_INLINE_SPECIAL = re.compile(r"([\\`*_\[\]<>|~$])")
_HEADING_SPECIAL = re.compile(r"([\\`*_\[\]<>|~$#])")
# An '&' that would be read as an HTML entity (&amp; &#35; &#x23;).
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# What turns a line into a block of its own: heading, quote, list, rule, setext underline.
# (Fences, tables and HTML start with characters escaped everywhere anyway.)
_BLOCK_START = re.compile(r"^([#>+\-=])")
_ORDERED_LIST = re.compile(r"^(\d{1,9})([.)])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
_ACTION_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_DETAIL_TEXT_LIMIT = 300  # a summary in a timeline cell, not a log dump


def _escape_line(line: str, *, heading: bool = False, line_start: bool = True) -> str:
    line = _CONTROL.sub("", line.replace("\t", " ")).strip()
    line = (_HEADING_SPECIAL if heading else _INLINE_SPECIAL).sub(r"\\\1", line)
    line = _ENTITY.sub(r"\\&", line)
    if not line_start:  # after a label or inside a table cell no block can start
        return line
    return _ORDERED_LIST.sub(r"\1\\\2", _BLOCK_START.sub(r"\\\1", line))


def md_inline(text: object, *, heading: bool = False, line_start: bool = True) -> str:
    """One line of Markdown showing `text` literally (line breaks become spaces).

    `line_start=False` when the text follows other text on its line, where '#', '-' or '1.'
    cannot start a block and need no backslash.
    """
    return _escape_line(" ".join(str(text).split()), heading=heading, line_start=line_start)


def md_cell(text: object) -> str:
    """A GFM table cell showing `text` literally; its line breaks kept as <br>."""
    lines = [_escape_line(line, line_start=False) for line in str(text).splitlines()]
    return "<br>".join(line for line in lines if line) or " "


def md_block(text: str) -> str:
    """Paragraphs showing `text` literally: its blank lines separate paragraphs, its line breaks are kept."""
    paragraphs: list[list[str]] = [[]]
    for raw in text.splitlines():
        line = _escape_line(raw)
        if line:
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    # Two trailing spaces: a hard line break that leaves no visible mark in the raw file.
    return "\n\n".join("  \n".join(p) for p in paragraphs if p)


class _Markdown(str):
    """Text that is Markdown already (built here from escaped parts), not to be escaped again."""


def _action_name(action: object) -> _Markdown | None:
    """An action name as code (`token.status`); None when it is not a plain dotted name."""
    if isinstance(action, str) and _ACTION_NAME.match(action):
        return _Markdown(f"`{action}`")
    return None


class _Renderer:
    """Holds the record and the language while the document is built section by section."""

    def __init__(self, incident: Incident, lang: str, tz: tzinfo, now: datetime) -> None:
        self.incident = incident
        self.lang = lang
        self.tr: Translate = Translator(lang)
        self.tz = tz
        self.now = now
        self.none = self.tr("report.duration.none")

    # -- small pieces -------------------------------------------------------------------------

    def local(self, moment: datetime | None, *, seconds: bool = False) -> str:
        if moment is None:
            return self.none
        shown = moment.astimezone(self.tz)
        return shown.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z").strip()

    def actor(self, actor: object) -> str:
        if actor is None or actor == "":
            return self.none
        if actor == "bot":
            return self.tr("report.actor.bot")
        return display_name(str(actor))  # "@mina_admin", as the chat shows people

    def translated(self, prefix: str, value: object) -> str:
        """A catalog word for a known value; the raw value (escaped later) for anything else."""
        if value is None:
            return self.none
        try:
            return self.tr(f"{prefix}.{value}")
        except KeyError:
            return str(value)

    def step_text(self, ref: object) -> str:
        """A step named by index or id, as its text in the document's language."""
        steps = self.incident.steps
        index = None
        if isinstance(ref, int) and not isinstance(ref, bool) and 0 <= ref < len(steps):
            index = ref
        elif isinstance(ref, str):
            index = next((i for i, s in enumerate(steps) if s.id == ref), None)
        if index is None:
            return self.none if ref is None else str(ref)
        return steps[index].text.get(self.lang) or steps[index].id

    def checklist_item(self, list_name: object, item_id: object) -> str:
        for item in self.incident.checklists.get(str(list_name)) or ():
            if item.id == item_id:
                return item.text.get(self.lang) or item.id
        return str(item_id)

    def field(self, label_key: str, value: str) -> str:
        return f"- **{self.tr(label_key)}:** {md_inline(value, line_start=False)}"

    def table(self, header: list[str], rows: list[list[str]]) -> list[str]:
        """GFM table; cells arrive as plain text and are escaped here, except `_Markdown` ones."""
        def cell(value: str) -> str:
            return value if isinstance(value, _Markdown) else md_cell(value)

        lines = ["| " + " | ".join(cell(h) for h in header) + " |",
                 "|" + "|".join("---" for _ in header) + "|"]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
        return lines

    # -- sections -----------------------------------------------------------------------------

    def title(self) -> list[str]:
        inc = self.incident
        title = self.tr("report.pm.title", ref=inc.ref or self.none,
                        title=inc.title.get(self.lang) or inc.scenario or self.none,
                        severity=inc.severity.value)
        return [f"# {md_inline(title, heading=True)}"]

    def summary(self) -> list[str]:
        inc, tr = self.incident, self.tr
        scenario = inc.title.get(self.lang)
        if inc.scenario_number is not None:
            scenario = f"{inc.scenario_number}. {scenario}"
        if inc.scenario:
            scenario = f"{scenario} ({inc.scenario})"
        severity = inc.severity.value
        meaning = self.translated("report.severity", severity)
        lines = [
            self.field("report.pm.label.scenario", scenario),
            self.field("report.pm.label.topic", inc.topic or self.none),
            self.field("report.pm.label.severity",
                       f"{severity} — {meaning}" if meaning and meaning != severity else severity),
            self.field("report.pm.label.status", self.translated("report.status", inc.status.value)),
            self.field("report.pm.label.opened_by", self.actor(inc.opened_by)),
            self.field("report.pm.label.lead", self.actor(inc.lead)),
        ]
        if inc.resolved_by:
            lines.append(self.field("report.pm.label.resolved_by", self.actor(inc.resolved_by)))
        linked = [self.actor(who) for who in inc.linked]
        if linked:
            lines.append(self.field("report.pm.label.linked", ", ".join(linked)))
        if inc.resolve_override:
            lines.append(self.field("report.pm.label.override", inc.resolve_override))
        return [f"## {md_inline(tr('report.pm.section.summary'), heading=True)}", "", *lines]

    def impact(self) -> list[str]:
        tr, inc = self.tr, self.incident
        opened, resolved = inc.opened_at, inc.resolved_at
        if resolved is not None:
            resolved_text = self.local(resolved)
            duration = format_duration(elapsed(opened, resolved), tr)
        else:
            resolved_text = tr("report.pm.not_resolved", time=self.local(self.now))
            so_far = max(self.now - opened, timedelta(0))
            duration = tr("report.pm.so_far", duration=format_duration(so_far, tr))
        return [f"## {md_inline(tr('report.pm.section.impact'), heading=True)}", "",
                self.field("report.pm.label.opened", self.local(opened)),
                self.field("report.pm.label.resolved", resolved_text),
                self.field("report.pm.label.duration", duration)]

    def response(self) -> list[str]:
        tr, inc = self.tr, self.incident
        opened = inc.opened_at
        tta = elapsed(opened, inc.acknowledged_at)
        lines = [f"## {md_inline(tr('report.pm.section.response'), heading=True)}", "",
                 self.field("report.pm.label.tta", format_duration(tta, tr)),
                 self.field("report.pm.label.ttr", format_duration(elapsed(opened, inc.resolved_at), tr))]
        deadline = response_deadline(inc.severity, opened)
        if deadline is not None:
            allowed = deadline - opened
            if allowed <= timedelta(0):
                # P0's "immediately" has no margin to meet or miss; state it, judge nothing.
                target = tr("report.pm.target.immediately")
            else:
                target = tr("report.pm.target.within", duration=format_duration(allowed, tr))
                if tta is not None:
                    verdict = "report.pm.target.met" if tta <= allowed else "report.pm.target.missed"
                    target = tr(verdict, target=target)
            lines.append(self.field("report.pm.label.target", target))
        return lines

    def timeline(self) -> list[str]:
        tr = self.tr
        rows = [[self.local(e.at, seconds=True), self.actor(e.actor), self.event(e)]
                for e in self.incident.timeline]
        header = [tr("report.pm.col.time"), tr("report.pm.col.who"), tr("report.pm.col.what")]
        return [f"## {md_inline(tr('report.pm.section.timeline'), heading=True)}", "", *self.table(header, rows)]

    def event(self, entry: Event) -> str:
        """One timeline entry in words; only the fields each event is known to carry are shown."""
        tr = self.tr
        event, detail = entry.name, entry.detail

        def short(value: object) -> str:
            text = self.none if value in (None, "") else str(value)
            return text if len(text) <= _DETAIL_TEXT_LIMIT else text[:_DETAIL_TEXT_LIMIT - 1] + "…"

        if event == "linked":  # a later report folded into this incident
            if detail.get("ref"):
                return tr("report.event.linked", ref=short(detail["ref"]))
            if detail.get("topic"):
                return tr("report.event.linked_topic", topic=short(detail["topic"]))
            return tr("report.event.linked_plain")
        if event == "topic":
            return tr("report.event.topic", topic=short(detail.get("topic")))
        if event == "severity":
            return tr("report.event.severity", old=short(detail.get("from")), new=short(detail.get("to")))
        if event in ("step.run", "step.done", "step.skipped", "step.cancelled", "step.confirm_asked"):
            return tr(f"report.event.{event}", step=short(self.step_text(detail.get("step"))))
        if event == "step.result":
            step = short(self.step_text(detail.get("step")))
            outcome = self.translated("report.outcome", detail.get("outcome"))
            if detail.get("summary"):
                return tr("report.event.step.result", step=step, outcome=outcome,
                          summary=short(detail["summary"]))
            return tr("report.event.step.result_plain", step=step, outcome=outcome)
        if event in ("checklist", "checklist.ticked", "checklist.unticked"):
            list_name = detail.get("list")
            key = "report.event.checklist.unticked" if event == "checklist.unticked" else "report.event.checklist"
            return tr(key, list=self.translated("report.pm.checklist", list_name),
                      item=short(self.checklist_item(list_name, detail.get("item"))))
        if event == "question.asked":
            question = self.translated("report.question", detail.get("kind"))
            return tr("report.event.question.asked", question=question,
                      to=short(self.actor(detail.get("to"))))
        if event in ("escalation", "escalate.pressed"):
            return tr(f"report.event.{event}", stage=self.translated("report.stage", detail.get("stage")))
        if event == "resolved" and detail.get("override"):
            return tr("report.event.resolved_override", reason=short(detail["override"]))
        if event in ("opened", "acknowledged", "reminder", "resolved", "resolve.override_asked",
                     "step.interrupted", "postmortem.root_cause", "postmortem.prevention",
                     "postmortem.written"):
            return tr(f"report.event.{event}")
        return tr("report.event.other", event=short(event))

    def actions(self) -> list[str]:
        tr = self.tr
        ran: list[list[str]] = []
        skipped: list[str] = []
        not_reached = 0
        for index, (step, state) in enumerate(zip(self.incident.steps, self.incident.step_state)):
            if state.status == StepStatus.SKIPPED:
                skipped.append(self.step_text(index))
                continue
            if state.status == StepStatus.PENDING and not state.runs and state.outcome is None:
                not_reached += 1
                continue
            outcome = (self.translated("report.outcome", state.outcome.value) if state.outcome
                       else self.translated("report.step", state.status.value))
            if state.runs > 1:
                outcome = tr("report.pm.runs", outcome=outcome, runs=state.runs)
            ran.append([
                self.step_text(index),
                (_action_name(step.action) or step.action or tr("report.pm.guidance")),
                outcome,
                state.summary or self.none,
                self.actor(state.by),
                self.local(state.at),
            ])
        lines = [f"## {md_inline(tr('report.pm.section.actions'), heading=True)}", ""]
        if ran:
            header = [tr(f"report.pm.col.{c}") for c in ("step", "action", "outcome", "summary", "by", "at")]
            lines += self.table(header, ran)
        else:
            lines.append(md_inline(tr("report.pm.no_actions")))
        if skipped:
            lines += ["", md_inline(tr("report.pm.skipped")), "", *(f"- {md_inline(s)}" for s in skipped)]
        if not_reached:
            lines += ["", md_inline(tr("report.pm.not_reached", count=not_reached))]
        return lines

    def bullets(self, section_key: str, items: list[str], empty_key: str) -> list[str]:
        lines = [f"## {md_inline(self.tr(section_key), heading=True)}", ""]
        items = [item for item in items if item.strip()]
        if items:
            return lines + [f"- {md_inline(item)}" for item in items]
        return lines + [md_inline(self.tr(empty_key))]

    def written(self, section_key: str, field: str) -> list[str]:
        text = self.incident.postmortem.answer(field)
        body = md_block(text) if text and text.strip() else ""
        return [f"## {md_inline(self.tr(section_key), heading=True)}", "",
                body or f"_{md_inline(self.tr('report.pm.not_written'))}_"]

    def checklist_sections(self) -> list[str]:
        tr = self.tr
        lines = [f"## {md_inline(tr('report.pm.section.checklists'), heading=True)}"]
        for list_name in ("during", "recovery"):
            lines += ["", f"### {md_inline(tr(f'report.pm.checklist.{list_name}'), heading=True)}", ""]
            items = self.incident.checklists.get(list_name) or ()
            if items:
                # Ticked by hand or by what the record shows, exactly as the live message shows it.
                marks = ticked(self.incident, list_name)
                lines += [f"- [{'x' if mark else ' '}] {md_inline(item.text.get(self.lang) or item.id)}"
                          for item, mark in zip(items, marks)]
            else:
                lines.append(md_inline(tr("report.pm.checklist.none_ticked")))
        return lines

    def document(self) -> str:
        inc = self.incident
        traces = list(inc.trace_ids)
        prevention = [item.get(self.lang) for item in inc.prevention_items]
        sections = [
            self.title(), self.summary(), self.impact(), self.response(), self.timeline(), self.actions(),
            self.bullets("report.pm.section.traces", traces, "report.pm.no_traces"),
            self.bullets("report.pm.section.prevention_items", [p for p in prevention if p],
                         "report.pm.no_prevention_items"),
            self.written("report.pm.section.root_cause", "root_cause"),
            self.written("report.pm.section.prevention_decided", "prevention"),
            self.checklist_sections(),
            ["---", "", f"_{md_inline(self.tr('report.pm.footer', time=self.local(self.now)))}_"],
        ]
        return "\n\n".join("\n".join(section) for section in sections) + "\n"


def render_postmortem(incident: Incident, *, lang: str, tz: tzinfo, now: datetime,
                      redact: Redactor | None = None) -> str:
    """The incident as a Markdown post-mortem in `lang` (ko or en), times shown in `tz`.

    Every string of the record is redacted before anything is escaped (Markdown escaping turns
    `_` into `\\_`, and an escaped secret no longer matches), and the document once more after.
    """
    redact = redact or Redactor()
    return redact(_Renderer(redacted(incident, redact.deep), lang, tz, now).document())


def postmortem_filename(incident: Incident) -> str:
    """`INC-20261127-001-postmortem.md`: the ref, reduced to characters safe in any file system."""
    ref = _SAFE_FILENAME.sub("-", incident.ref).strip(".-")
    if not ref:
        ref = f"incident-{incident.id}"
    return f"{ref}-postmortem.md"
