"""Every message the code can ask for exists in both catalogs: the keys written out in the source,
and the keys built at run time from a vocabulary (a verb, a status, a stage, a component …).

`test_i18n` checks that the two catalogs hold the same keys; here every key the code builds must
be one of them, in each language, so no message is missing in either at 3 a.m.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bot.actions.catalog import all_actions
from bot.actions.registry import Outcome
from bot.errors import ErrorKind
from bot.health import COMPONENTS, State
from bot.i18n import CATALOGS
from bot.incidents.escalation_plan import STAGES
from bot.incidents.engine import REPLY_KINDS
from bot.incidents.flows import WRITEUP_ORDER
from bot.incidents.model import Status, StepStatus, Verb
from bot.runbooks import PHASES, SEVERITIES
from bot.health.token import GUIDE_STEPS
from handlers.basic import COMMANDS

ROOT = Path(__file__).parents[1]
NAMESPACES = {key.split(".")[0] for key in CATALOGS["en"]}
PAGED = ("pd", "manual")
KEY_RE = re.compile(r"^[a-z_]+(\.[a-z0-9_]+)+$")
# the tags Telegram's HTML knows, and entities ("<days>" in a usage line is plain text)
TELEGRAM_MARKUP = re.compile(r"</?(b|strong|i|em|u|ins|s|strike|del|a|code|pre|tg-spoiler|"
                             r"tg-emoji|blockquote|span)\b[^>]*>|&(lt|gt|amp|quot|#\d+);")  # the stages that page people


def built_at_run_time() -> set[str]:
    """The keys the code puts together from a vocabulary, one per value it can take."""
    keys = {f"incident.verb.{verb.value}" for verb in Verb}
    keys |= {f"incident.status.{status.value}" for status in Status}
    keys |= {f"report.status.{status.value}" for status in Status}
    keys |= {f"report.step.{state.value}" for state in StepStatus}
    keys |= {f"report.outcome.{outcome.value}" for outcome in Outcome}
    keys |= {f"phase.{phase}" for phase in PHASES}
    keys |= {f"severity.{severity}" for severity in SEVERITIES}
    keys |= {f"report.severity.{severity}" for severity in SEVERITIES}
    keys |= {f"escalation.stage.{stage}" for stage in STAGES}
    keys |= {f"report.stage.{stage}" for stage in STAGES}
    keys |= {f"escalation.{stage}{pressed}" for stage in PAGED for pressed in ("", "_pressed")}
    keys |= {f"escalation.{part}.{stage}" for stage in PAGED for part in ("person", "nobody")}
    keys |= {f"postmortem.ask_{kind}" for kind in WRITEUP_ORDER}
    keys |= {f"report.question.{kind}" for kind in REPLY_KINDS}
    keys |= {f"incident.checklist.{which}" for which in ("during", "recovery")}
    keys |= {f"report.pm.checklist.{which}" for which in ("during", "recovery")}
    keys |= {f"component.{component}" for component in COMPONENTS}
    keys |= {f"health.overall.{state.value}" for state in State}
    keys |= {f"act.state.{state.value}" for state in State}
    keys |= {f"error.{kind.value}" for kind in ErrorKind}
    keys |= {f"probe.stats.{problem}" for problem in ("missing", "unreadable", "no_last_updated",
                                                            "bad_timestamp", "stale", "fresh")}
    keys |= {f"guide.step{n}" for n in range(1, GUIDE_STEPS + 1)}
    keys |= {f"act.needs.{need}" for spec in all_actions().values() for need in spec.needs}
    keys |= {f"command.{name}" for name in COMMANDS} | {f"help.{name}" for name in COMMANDS}
    return keys


ASKING = {"tr", "Refused", "Notice", "say"}  # what takes a message key as its first argument


def _constants(node: ast.expr) -> list[str]:
    """The string constants an expression can be: "a", or "a" if … else "b"."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _constants(node.body) + _constants(node.orelse)
    return []


def written_in_the_source() -> set[str]:
    """Every key written out in bot/ and handlers/: the first argument of tr(), Refused(),
    Notice() and say(), and what a `key = …` assignment holds."""
    found = set()
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py")]:
        if "sandbox" in path.parts or "i18n" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args:
                name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if name in ASKING:  # (the demo's own say() prints text, not keys)
                    found.update(k for k in _constants(node.args[0]) if KEY_RE.match(k))
            elif isinstance(node, ast.Assign) and any(isinstance(target, ast.Name) and target.id == "key"
                                                      for target in node.targets):
                found.update(k for k in _constants(node.value) if k.split(".")[0] in NAMESPACES)
    return found


def test_the_source_scan_sees_keys() -> None:
    """The scan works: it finds keys from the engine, the flows and the handlers."""
    found = written_in_the_source()
    assert {"incident.not_now", "incident.ask_override", "button.no_longer_valid",
            "escalation.retries_unacked", "report.event.checklist.unticked"} <= found
    assert len(found) > 100


@pytest.mark.parametrize("lang", sorted(CATALOGS))
def test_every_key_the_code_can_ask_for_exists(lang: str) -> None:
    wanted = built_at_run_time() | written_in_the_source()
    missing = sorted(key for key in wanted if key not in CATALOGS[lang])
    assert not missing, f"{lang} has no message for: {missing}"


@pytest.mark.parametrize("lang", sorted(CATALOGS))
def test_catalogs_hold_plain_text(lang: str) -> None:
    """No markup and no HTML entities in a message: the chat's renderer escapes the whole text
    once (`handlers.messages.html`), the terminal prints it as it is."""
    marked = sorted(key for key, text in CATALOGS[lang].items()
                    if TELEGRAM_MARKUP.search(text))
    assert not marked, f"{lang} messages with markup: {marked}"
