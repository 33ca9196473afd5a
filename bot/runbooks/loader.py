"""Reading and checking runbook files: TOML in, a `Library` or every problem at once out.

`read_library` parses each file in a runbook directory, checks its keys, ids, phases, actions and
arguments, splices the common procedure into every scenario, follows the `next` jumps, and checks
the scenarios against each other. Problems are collected as "file.toml: key.path: message" and
raised together as one `RunbookError`, in the order the files and keys are read. Callers use
`bot.runbooks.load_library`, which picks the registered actions when none are given.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from bot.actions.recovery.retry_policy import policy_problem
from bot.i18n import LANGUAGES
from bot.runbooks.model import (
    CHECKLISTS,
    CHECKLISTS_FILE,
    COMMON_FILE,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_SCENARIO_NUMBER,
    MAX_TEXT_CHARS,
    PHASES,
    Phase,
    PLACEMENTS,
    SEVERITIES,
    TICK_RULES,
    ChecklistItem,
    Library,
    Runbook,
    RunbookError,
    Step,
    Text,
    plain_copy,
)

if TYPE_CHECKING:
    from bot.actions.registry import ActionSpec

_ID = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
_SCENARIO_KEYS = {"id": True, "number": True, "severity": True, "title": True, "symptoms": True,
                  "steps": True, "aliases": False, "needs_topic": False, "skip_common": False}
_COMMON_KEYS = {"kind": True, "steps": True}
_CHECKLISTS_KEYS = {"kind": True, "during": True, "recovery": True}
_STEP_KEYS = {"id": True, "phase": True, "text": True, "action": False, "args": False, "admin": False,
              "confirm": False, "next": False, "command": False, "retry": False}
_COMMON_STEP_KEYS = {**{k: v for k, v in _STEP_KEYS.items() if k != "next"}, "placement": True}
_ITEM_KEYS = {"id": True, "text": True, "ticked_by": True}


def read_library(directory: Path, actions: Mapping[str, ActionSpec]) -> Library:
    """Read and check every runbook file in `directory`; raises RunbookError listing all problems."""
    if not directory.is_dir():
        raise RunbookError([f"{directory.name}/: no such directory: {directory}"])
    problems = _Problems()
    paths = sorted(directory.glob("*.toml"))
    blobs: dict[str, bytes] = {}
    for path in paths:
        try:
            if not path.is_file():  # a FIFO would block every later reload; a folder, a device
                problems.add(path.name, "", "is not a regular file")
                continue
            if path.stat().st_size > MAX_FILE_BYTES:
                problems.add(path.name, "", f"is larger than {MAX_FILE_BYTES // 1024} KB; a "
                             "runbook is a few KB of text")
                continue
            blobs[path.name] = path.read_bytes()
        except OSError as exc:
            problems.add(path.name, "", f"cannot be read: {exc.strerror or exc}")
    docs = {name: doc for name, blob in blobs.items()
            if (doc := _parse_toml(name, blob, problems)) is not None}

    present = {path.name for path in paths}
    common = _load_common(docs, present, problems, actions)
    during, recovery = _load_checklists(docs, present, problems, actions)

    scenario_paths = [p for p in paths if p.name not in (COMMON_FILE, CHECKLISTS_FILE)]
    if not scenario_paths:
        problems.add(f"{directory.name}/", "",
                     f"no scenario files (one <scenario>.toml per playbook scenario besides "
                     f"{COMMON_FILE} and {CHECKLISTS_FILE})")
    drafts = [_ScenarioDraft.read(path, docs[path.name], problems, actions)
              for path in scenario_paths if path.name in docs]
    _check_across(drafts, problems)
    runbooks = [rb for d in drafts if (rb := d.build(common, problems, actions)) is not None]

    if problems:
        raise RunbookError(problems)
    digest = hashlib.sha256()
    for name in sorted(blobs):
        digest.update(name.encode() + b"\0" + blobs[name] + b"\0")
    ordered = sorted(runbooks, key=lambda rb: rb.number)
    return Library(runbooks=MappingProxyType({rb.id: rb for rb in ordered}), during=during,
                   recovery=recovery, digest=digest.hexdigest()[:12], directory=directory)


# --- reading -------------------------------------------------------------------------------------

class _Problems(list):
    """Problems collected as "file: key: message", so every one is reported at once."""

    def add(self, file: str, key: str, message: str) -> None:
        self.append(f"{file}: {key}: {message}" if key else f"{file}: {message}")


def _depth(value: Any) -> int:
    """How deeply tables and arrays nest (counted without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            break
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def _parse_toml(name: str, blob: bytes, problems: _Problems) -> dict | None:
    try:
        doc = tomllib.loads(blob.decode("utf-8"))
    except RecursionError:
        problems.add(name, "", f"nested too deeply to read (a runbook nests {MAX_DEPTH} levels at most)")
        return None
    except UnicodeDecodeError as exc:
        problems.add(name, "", f"not UTF-8 text (byte {exc.start}); save the file as UTF-8")
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts the position at the end: "Invalid value (at line 5, column 9)"
        message = str(exc)
        where = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
        if where:
            problems.add(name, f"line {where[1]}, column {where[2]}",
                         f"TOML syntax error: {message[:where.start()]}")
        else:
            problems.add(name, "", f"TOML syntax error: {message}")
        return None
    if _depth(doc) > MAX_DEPTH:
        problems.add(name, "", f"nested more than {MAX_DEPTH} levels deep; a runbook needs a few")
        return None
    return doc


def _check_keys(doc: Mapping, spec: Mapping[str, bool], file: str, prefix: str,
                problems: _Problems) -> None:
    """Missing required keys and unknown keys of one table."""
    for key, required in spec.items():
        if required and key not in doc:
            problems.add(file, _join(prefix, key), "missing")
    for key in doc:
        if key not in spec:
            problems.add(file, _join(prefix, key),
                         f"unknown key (known: {', '.join(spec)})")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key



def _text(value: Any, file: str, key: str, problems: _Problems) -> Text | None:
    if value is None:
        return None  # reported as a missing key already
    if not isinstance(value, Mapping):
        problems.add(file, key, f"must be a table with {' and '.join(LANGUAGES)} text, got {value!r}")
        return None
    ok = True
    for lang in LANGUAGES:
        text = value.get(lang)
        if text is None:
            problems.add(file, f"{key}.{lang}", "missing translation")
            ok = False
        elif not isinstance(text, str):
            problems.add(file, f"{key}.{lang}", f"must be a string, got {text!r}")
            ok = False
        elif not text.strip():
            problems.add(file, f"{key}.{lang}", "missing translation (empty text)")
            ok = False
        elif len(text) > MAX_TEXT_CHARS:
            problems.add(file, f"{key}.{lang}", f"too long for a chat message ({len(text)} "
                         f"characters; at most {MAX_TEXT_CHARS})")
            ok = False
    for lang in value:
        if lang not in LANGUAGES:
            problems.add(file, f"{key}.{lang}", f"unknown language (known: {', '.join(LANGUAGES)})")
            ok = False
    return Text(ko=value["ko"].strip(), en=value["en"].strip()) if ok else None


def _table_list(value: Any, file: str, key: str, problems: _Problems) -> list[Mapping]:
    """An array of tables (`[[key]]`); anything else is a problem and yields nothing."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        problems.add(file, key, f"must be an array of tables ([[{key}]] blocks)")
        return []
    return value


def _string_list(value: Any, file: str, key: str, problems: _Problems) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.add(file, key, f"must be a list of non-empty strings, got {value!r}")
        return []
    return [v.strip() for v in value]


def _bool(value: Any, file: str, key: str, problems: _Problems) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        problems.add(file, key, f"must be true or false, got {value!r}")
        return False
    return value


def _unique_id(value: Any, kind: str, file: str, key: str, seen: dict[str, str],
               problems: _Problems, *, hint: str = "") -> str | None:
    """A well-formed id not used before in this list (`seen`: id -> key), or None (reported)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _ID.match(value):
        problems.add(file, f"{key}.id", f"bad {kind} id {value!r}: use lowercase letters, digits "
                     f"and '-'{hint}")
        return None
    if value in seen:
        problems.add(file, f"{key}.id", f"duplicate {kind} id {value!r} (also {seen[value]})")
        return None
    seen[value] = key
    return value


def _unknown(kind: str, value: str, known: Iterable[str]) -> str:
    known = list(known)
    near = difflib.get_close_matches(value, known, n=1)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return f"unknown {kind} {value!r}{hint} (known: {', '.join(known)})"


@dataclass
class _StepDraft:
    """One step as read from its file, before splicing and walking."""

    index: int  # position in its file's `steps`
    source: str
    id: str | None
    phase: str | None
    text: Text | None
    action: str | None
    args: dict
    admin: bool
    confirm: bool
    command: str | None
    next: str | None = None
    placement: str | None = None  # common steps only
    planned: bool = False
    retry: Any = None  # a retry policy's name, or its table (checked)

    @property
    def key(self) -> str:
        return f"steps[{self.index}]"

    def freeze(self) -> Step:
        assert self.id is not None and self.phase is not None and self.text is not None
        return Step(id=self.id, phase=self.phase, text=self.text, action=self.action,
                    args=MappingProxyType(plain_copy(self.args)), admin=self.admin,
                    confirm=self.confirm, command=self.command, source=self.source,
                    planned=self.planned, retry=plain_copy(self.retry))


def _read_steps(raw: Any, file: str, problems: _Problems, actions: Mapping[str, ActionSpec], *,
                common: bool) -> list[_StepDraft]:
    """Every step of one file, checked on its own: keys, id, phase order, action and its args."""
    tables = _table_list(raw, file, "steps", problems)
    if raw is not None and isinstance(raw, list) and not raw:
        problems.add(file, "steps", "no steps")
    drafts: list[_StepDraft] = []
    seen: dict[str, str] = {}
    latest_phase: tuple[int, int] | None = None  # (phase rank, step index) of the furthest phase so far
    for index, table in enumerate(tables):
        key = f"steps[{index}]"
        _check_keys(table, _COMMON_STEP_KEYS if common else _STEP_KEYS, file, key, problems)

        step_id = _unique_id(table.get("id"), "step", file, key, seen, problems,
                             hint=" (e.g. \"check-token\")")

        phase = table.get("phase")
        if phase is not None and phase not in PHASES:
            problems.add(file, f"{key}.phase", _unknown("phase", str(phase), PHASES))
            phase = None
        elif phase is not None:
            rank = PHASES.index(phase)
            if latest_phase is not None and rank < latest_phase[0]:
                problems.add(file, f"{key}.phase",
                             f"phase {phase!r} comes after a {PHASES[latest_phase[0]]!r} step "
                             f"(steps[{latest_phase[1]}]); keep steps in the order "
                             f"{' -> '.join(PHASES)}")
            elif latest_phase is None or rank > latest_phase[0]:
                latest_phase = (rank, index)

        action = table.get("action")
        args = table.get("args", {})
        if action is not None and not isinstance(action, str):
            problems.add(file, f"{key}.action", f"must be an action name, got {action!r}")
            action = None
        elif action is not None and action not in actions:
            problems.add(file, f"{key}.action", _unknown("action", action, sorted(actions)))
            action = None
        if not isinstance(args, Mapping):
            problems.add(file, f"{key}.args", f"must be a table like {{ lines = 50 }}, got {args!r}")
            args = {}
        elif args and "action" not in table:
            problems.add(file, f"{key}.args", "arguments without an action: add `action` or remove `args`")
        elif action is not None:
            for why in actions[action].arg_problems(args):
                problems.add(file, f"{key}.args", f"{why} (action {action})")
        if action is not None and actions[action].guarded and not (
                table.get("admin") is True and table.get("confirm") is True):
            problems.add(file, f"{key}.action", f"{action} overwrites the team's configuration: "
                                                "the step needs admin = true and confirm = true")

        command = table.get("command")
        if command is not None and (not isinstance(command, str) or not command.strip()):
            problems.add(file, f"{key}.command", f"must be a non-empty string, got {command!r}")
            command = None

        retry = table.get("retry")
        if retry is not None and action is None:
            problems.add(file, f"{key}.retry", "a retry policy without an action: add `action` "
                                               "or remove `retry`")
            retry = None
        elif retry is not None and (retry_problem := policy_problem(retry)) is not None:
            problems.add(file, f"{key}.retry", retry_problem)
            retry = None

        jump = table.get("next")
        if jump is not None and not isinstance(jump, str):
            problems.add(file, f"{key}.next", f"must be a step id, got {jump!r}")
            jump = None

        placement = table.get("placement")
        if common and placement is not None and placement not in PLACEMENTS:
            problems.add(file, f"{key}.placement", _unknown("placement", str(placement), PLACEMENTS))
            placement = None

        drafts.append(_StepDraft(
            index=index, source=file, id=step_id, phase=phase,
            text=_text(table.get("text"), file, f"{key}.text", problems),
            action=action, args=dict(args) if isinstance(args, Mapping) else {},
            admin=_bool(table.get("admin"), file, f"{key}.admin", problems),
            confirm=_bool(table.get("confirm"), file, f"{key}.confirm", problems),
            command=command.strip() if command else None, next=jump, placement=placement,
            planned=action is not None and actions[action].planned, retry=retry))
    return drafts


def _load_common(docs: Mapping[str, dict], present: set[str], problems: _Problems,
                 actions: Mapping[str, ActionSpec]) -> list[_StepDraft] | None:
    """The common procedure's steps, or None when the file is missing or broken."""
    file = COMMON_FILE
    if file not in present:
        problems.add(file, "", "file missing: the common procedure (detect, collect logs, verify, "
                     "post-incident) must be in runbooks/common.toml")
        return None
    doc = docs.get(file)
    if doc is None:
        return None  # syntax error, reported
    before = len(problems)
    _check_keys(doc, _COMMON_KEYS, file, "", problems)
    if "kind" in doc and doc["kind"] != "common":
        problems.add(file, "kind", f'must be "common", got {doc["kind"]!r}')
    steps = _read_steps(doc.get("steps"), file, problems, actions, common=True)
    return steps if len(problems) == before else None


def _load_checklists(docs: Mapping[str, dict], present: set[str], problems: _Problems,
                     actions: Mapping[str, ActionSpec]
                     ) -> tuple[tuple[ChecklistItem, ...], tuple[ChecklistItem, ...]]:
    """The two checklists (during the incident, on recovery), each item with its tick rules."""
    file = CHECKLISTS_FILE
    if file not in present:
        problems.add(file, "", "file missing: the playbook's checklists must be in "
                     "runbooks/checklists.toml")
        return (), ()
    doc = docs.get(file)
    if doc is None:
        return (), ()
    _check_keys(doc, _CHECKLISTS_KEYS, file, "", problems)
    if "kind" in doc and doc["kind"] != "checklists":
        problems.add(file, "kind", f'must be "checklists", got {doc["kind"]!r}')
    seen: dict[str, str] = {}
    lists: dict[str, list[ChecklistItem]] = {}
    for which in CHECKLISTS:
        lists[which] = []
        tables = _table_list(doc.get(which), file, which, problems)
        if which in doc and not tables:
            problems.add(file, which, "no items")
        for index, table in enumerate(tables):
            key = f"{which}[{index}]"
            _check_keys(table, _ITEM_KEYS, file, key, problems)
            item_id = _unique_id(table.get("id"), "item", file, key, seen, problems)
            text = _text(table.get("text"), file, f"{key}.text", problems)
            rules = _string_list(table.get("ticked_by"), file, f"{key}.ticked_by", problems)
            if "ticked_by" in table and isinstance(table["ticked_by"], list) and not table["ticked_by"]:
                problems.add(file, f"{key}.ticked_by", 'no rules: add at least "manual"')
            for r, rule in enumerate(rules):
                if (why := _rule_problem(rule, actions)) is not None:
                    problems.add(file, f"{key}.ticked_by[{r}]", why)
                elif rule == "manual" and which != "recovery":
                    # the incident message offers tick buttons for the recovery list only
                    problems.add(file, f"{key}.ticked_by[{r}]", '"manual" works on [[recovery]] '
                                 "items only: the bot shows tick buttons for the recovery checklist")
            if item_id is not None and text is not None:
                lists[which].append(ChecklistItem(id=item_id, text=text, ticked_by=tuple(rules)))
    return tuple(lists["during"]), tuple(lists["recovery"])


def _rule_problem(rule: str, actions: Mapping[str, ActionSpec]) -> str | None:
    """Why `rule` is not a tick rule, or None."""
    kind, _, name = rule.partition(":")
    if kind == "action" and name:
        return None if name in actions else _unknown("action", name, sorted(actions))
    if kind == "phase" and name:
        return None if name in PHASES else _unknown("phase", name, PHASES)
    if rule in TICK_RULES:
        return None
    return (f"unknown rule {rule!r} (known: action:<action name>, phase:<phase>, "
            f"{', '.join(TICK_RULES)})")


# --- scenarios -----------------------------------------------------------------------------------

@dataclass
class _ScenarioDraft:
    """One scenario file as read, before the checks that need the other files."""

    path: Path
    number: int | None
    severity: str | None
    title: Text | None
    aliases: list[str]
    symptoms: list[Text]
    needs_topic: bool
    skip_common: list[str]
    steps: list[_StepDraft]
    sound: bool  # no problem found in this file so far

    @property
    def file(self) -> str:
        return self.path.name

    @classmethod
    def read(cls, path: Path, doc: dict, problems: _Problems,
             actions: Mapping[str, ActionSpec]) -> _ScenarioDraft:
        """Check one scenario file on its own."""
        file, before = path.name, len(problems)
        _check_keys(doc, _SCENARIO_KEYS, file, "", problems)

        sid = doc.get("id")
        if sid is not None and sid != path.stem:
            problems.add(file, "id", f"{sid!r} must equal the file name without .toml ({path.stem!r})")
        if not _ID.match(path.stem):
            problems.add(file, "id", f"bad scenario id {path.stem!r}: name the file with lowercase "
                         "letters, digits and '-' (e.g. token-expired.toml)")

        number = doc.get("number")
        if number is not None and (isinstance(number, bool) or not isinstance(number, int)
                                   or not 1 <= number <= MAX_SCENARIO_NUMBER):
            problems.add(file, "number", f"must be a whole number from 1 to {MAX_SCENARIO_NUMBER} "
                         f"(the playbook's scenario number), got {number!r}")
            number = None

        severity = doc.get("severity")
        if severity is not None and severity not in SEVERITIES:
            problems.add(file, "severity", _unknown("severity", str(severity), SEVERITIES))
            severity = None

        title = _text(doc.get("title"), file, "title", problems)
        symptoms = [t for i, table in enumerate(_table_list(doc.get("symptoms"), file, "symptoms",
                                                            problems))
                    if (t := _text(table, file, f"symptoms[{i}]", problems)) is not None]
        if isinstance(doc.get("symptoms"), list) and not doc["symptoms"]:
            problems.add(file, "symptoms", "no symptoms")

        aliases = _string_list(doc.get("aliases"), file, "aliases", problems)
        for i, alias in enumerate(aliases):
            if re.search(r"\s", alias):
                problems.add(file, f"aliases[{i}]", f"{alias!r} has a space: /incident takes one word")
        skip = _string_list(doc.get("skip_common"), file, "skip_common", problems)
        needs_topic = _bool(doc.get("needs_topic"), file, "needs_topic", problems)

        steps = _read_steps(doc.get("steps"), file, problems, actions, common=False)
        if isinstance(doc.get("steps"), list) and not any(s.phase == Phase.VERIFY for s in steps):
            problems.add(file, "steps", 'no verify step: add a step with phase = "verify" that shows '
                         "the recovery worked (the common verify steps do not count)")
        return cls(path=path, number=number, severity=severity, title=title,
                   aliases=aliases, symptoms=symptoms, needs_topic=needs_topic, skip_common=skip,
                   steps=steps, sound=len(problems) == before)

    def build(self, common: list[_StepDraft] | None, problems: _Problems,
              actions: Mapping[str, ActionSpec]) -> Runbook | None:
        """Splice the common steps in, walk the steps, and make the Runbook (None on problems)."""
        if common is None:
            return None  # common.toml is broken: reported there; splicing would only add noise
        file, before = self.file, len(problems)
        # common steps come only from a sound common.toml, where every step has its id
        common_ids = {s.id: s for s in common if s.id is not None}
        for i, name in enumerate(self.skip_common):
            if name not in common_ids:
                problems.add(file, f"skip_common[{i}]", _unknown("common step", name, common_ids))
        for step in self.steps:
            if step.id is not None and step.id in common_ids:
                problems.add(file, f"{step.key}.id", f"step id {step.id!r} is already a common step "
                             f"({COMMON_FILE} {common_ids[step.id].key}); choose another id")
        kept = [s for s in common if s.id not in self.skip_common]
        sequence: list[_StepDraft] = []
        for phase in PHASES:
            sequence += [s for s in kept if s.phase == phase and s.placement == "before"]
            sequence += [s for s in self.steps if s.phase == phase]
            sequence += [s for s in kept if s.phase == phase and s.placement == "after"]
        walked = self._walk(sequence, problems)
        if not self.sound or len(problems) != before or walked is None:
            return None
        steps = tuple(s.freeze() for s in walked)
        needs_topic = self.needs_topic or any(
            s.action is not None and actions[s.action].needs_topic for s in steps)
        assert self.number is not None and self.severity is not None and self.title is not None
        return Runbook(id=self.path.stem, number=self.number, severity=self.severity,
                       title=self.title, aliases=tuple(self.aliases), symptoms=tuple(self.symptoms),
                       needs_topic=needs_topic, steps=steps, path=self.path)

    def _walk(self, sequence: list[_StepDraft], problems: _Problems) -> list[_StepDraft] | None:
        """Follow the steps from the first: the next one in order, or the one `next` names."""
        file = self.file
        # (id, step) of every step that has an id: one without is reported, and not walked
        steps = [(s.id, s) for s in sequence if s.id is not None]
        if not steps:
            return None
        by_id = dict(steps)
        position = {step_id: i for i, (step_id, _) in enumerate(steps)}
        for _, s in steps:
            if s.next is not None and s.next not in by_id:
                problems.add(file, f"{s.key}.next", _unknown("step", s.next, by_id))
        order: list[tuple[str, _StepDraft]] = []
        seen: set[str] = set()
        current: tuple[str, _StepDraft] | None = steps[0]
        while current is not None:
            order.append(current)
            current_id, step = current
            seen.add(current_id)
            following: tuple[str, _StepDraft] | None
            if step.next is not None and step.next in by_id:
                following = (step.next, by_id[step.next])
            else:
                at = position[current_id] + 1
                following = steps[at] if at < len(steps) else None
            if following is not None and following[0] in seen:
                path = " -> ".join([step_id for step_id, _ in order] + [following[0]])
                problems.add(file, self._where(step),
                             f"the walk comes back to {following[0]!r}: `next` jumps form a cycle "
                             f"({path})")
                return None
            current = following
        walk = " -> ".join(step_id for step_id, _ in order)
        for step_id, s in steps:
            if step_id not in seen:
                if s.source == file:
                    problems.add(file, s.key, f"step {s.id!r} is unreachable: a `next` jump skips it "
                                 f"and nothing leads to it (walk: {walk})")
                else:
                    problems.add(file, "steps", f"common step {s.id!r} is unreachable: a `next` jump "
                                 f"skips it (walk: {walk}); list it in skip_common to leave it out")
        return [s for _, s in order]

    def _where(self, step: _StepDraft) -> str:
        key = f"{step.key}.next" if step.next is not None else step.key
        return key if step.source == self.file else f"steps (common step {step.id!r})"


def _check_across(drafts: list[_ScenarioDraft], problems: _Problems) -> None:
    """Numbers unique; every name /incident accepts (id, number, alias) means one scenario only."""
    owners: dict[str, tuple[str, str]] = {}  # lowercased name -> (file, "id"/"number"/"alias")
    for d in drafts:
        owners[d.path.stem.lower()] = (d.file, "id")
    for d in drafts:
        if d.number is None:
            continue
        other = owners.get(str(d.number))
        if other is not None:
            problems.add(d.file, "number", f"duplicate number {d.number} (also {other[0]})")
            d.sound = False
        else:
            owners[str(d.number)] = (d.file, "number")
    # Aliases last, so a clash is reported in the file whose alias takes a name already in use.
    for d in drafts:
        mine: set[str] = set()
        for i, alias in enumerate(d.aliases):
            name = alias.lower()
            owner = owners.get(name)
            if name in mine:
                problems.add(d.file, f"aliases[{i}]", f"duplicate alias {alias!r}")
                d.sound = False
            elif owner is not None and owner[0] != d.file:
                problems.add(d.file, f"aliases[{i}]", f"alias {alias!r} clashes with the {owner[1]} "
                             f"of {owner[0]}: /incident {alias} must mean one scenario")
                d.sound = False
            else:
                owners.setdefault(name, (d.file, "alias"))
            mine.add(name)
