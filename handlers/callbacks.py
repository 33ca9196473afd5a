"""Callback data: short, versioned, and matched exactly (anything else is "no longer valid").

Format `v1:<area>:<verb>` (at most 64 bytes, Telegram's limit). Buttons that act on a stored
record (incidents) carry its id and are re-checked against the store on every press.
"""

from __future__ import annotations

import re

from bot.incidents.model import Verb
from bot.runbooks.model import MAX_SCENARIO_NUMBER

HEALTH_RECHECK = "v1:h:re"
TOKEN_GUIDE = "v1:t:guide"
TOKEN_SET_60 = "v1:t:exp60"
TOKEN_RECHECK = "v1:t:re"
TOKEN_REFRESH = "v1:t:refresh"
START_ROTATE = "rotate"  # /start rotate: the deep link from the token report to a private chat


def exactly(data: str) -> re.Pattern[str]:
    """A CallbackQueryHandler pattern that matches this data and nothing longer."""
    return re.compile(rf"^{re.escape(data)}$")

# Incident buttons: v1:i:<incident store id>:<step or item index>:<verb>
INCIDENT_RE = re.compile(r"^v1:i:(\d{1,9}):(\d{1,3}):([a-z][a-z0-9]{0,3})$")
# /incident's scenario picker: v1:n:<scenario number> (1..MAX_SCENARIO_NUMBER, checked at load)
OPEN_SCENARIO_RE = re.compile(rf"^v1:n:(\d{{1,{len(str(MAX_SCENARIO_NUMBER))}}})$")


# the verbs' spellings in callback data, which Telegram caps at 64 bytes; nothing past the
# handlers sees them
VERB_CODES: dict[str, Verb] = {
    "run": Verb.RUN, "ok": Verb.DONE, "skip": Verb.SKIP, "cf": Verb.CONFIRM, "no": Verb.CANCEL,
    "ack": Verb.ACKNOWLEDGE, "esc": Verb.ESCALATE, "res": Verb.RESOLVE,
    "k1": Verb.TICK, "k0": Verb.UNTICK, "lt": Verb.LATER,
}
CODE_OF: dict[Verb, str] = {verb: code for code, verb in VERB_CODES.items()}


# Backup buttons: v1:b:p:<page> · v1:b:s:<id> (show) · v1:b:r:<id> (ask to restore) ·
# v1:b:y:<id>:<unix time the confirmation was asked> (confirm; the domain lets it expire)
BACKUP_RE = re.compile(r"^v1:b:([psry]):(\d{1,4}|BK-\d{8}-\d{4,6})(?::(\d{1,12}))?$")


# Rollback buttons: v1:r:l (the commits) · v1:r:c:<sha12> (a commit's files) ·
# v1:r:f:<sha12>:<file index> (what a restore would do) · v1:r:y:<sha12>:<index>:<unix time
# shown> (restore) · v1:r:u:<RB id>:<unix time shown> (undo). The domain re-checks everything.
ROLLBACK_RE = re.compile(r"^v1:r:(?:(l)|(c):([0-9a-f]{12})|(f):([0-9a-f]{12}):(\d{1,2})"
                         r"|(y):([0-9a-f]{12}):(\d{1,2}):(\d{1,12})|(u):(RB-\d{8}-\d{4,6}):(\d{1,12}))$")
ROLLBACK_LIST = "v1:r:l"


def rollback_parts(data: str) -> tuple[str, str | None, int | None, int | None] | None:
    """(verb, commit or RB id, file index, time shown) of rollback callback data, or None."""
    match = ROLLBACK_RE.match(data)
    if match is None:
        return None
    groups = [g for g in match.groups() if g is not None]
    verb, rest = groups[0], groups[1:]
    value = rest[0] if rest else None
    if verb == "u":
        return verb, value, None, int(rest[1])
    index = int(rest[1]) if len(rest) > 1 else None
    shown = int(rest[2]) if len(rest) > 2 else None
    return verb, value, index, shown


def rollback_commit(sha: str) -> str:
    return f"v1:r:c:{sha[:12]}"


def rollback_file(sha: str, index: int) -> str:
    return f"v1:r:f:{sha[:12]}:{index}"


def rollback_restore(sha: str, index: int, shown: int) -> str:
    return f"v1:r:y:{sha[:12]}:{index}:{shown}"


def rollback_undo(rollback_id: str, shown: int) -> str:
    return f"v1:r:u:{rollback_id}:{shown}"


# Silence buttons: v1:s:<component>:<hours> (0: lift)
SILENCE_RE = re.compile(r"^v1:s:([a-z]{3,12}):(\d{1,3})$")


def silence(component: str, hours: int) -> str:
    return f"v1:s:{component}:{hours}"


def silence_parts(data: str) -> tuple[str, int] | None:
    match = SILENCE_RE.match(data)
    return (match[1], int(match[2])) if match else None


def backup_page(number: int) -> str:
    return f"v1:b:p:{number}"


def backup_show(backup_id: str) -> str:
    return f"v1:b:s:{backup_id}"


def backup_restore(backup_id: str) -> str:
    return f"v1:b:r:{backup_id}"


def backup_confirm(backup_id: str, asked: int) -> str:
    return f"v1:b:y:{backup_id}:{asked}"


def incident(doc_id: int, arg: int, verb: Verb) -> str:
    return f"v1:i:{doc_id}:{arg}:{CODE_OF[verb]}"


def open_scenario(number: int) -> str:
    return f"v1:n:{number}"


def kind_of(data: str | None) -> str | None:
    """What a button belongs to: "h" (a health report), "t" (a token report), "n" (the scenario
    picker), "i:<id>" (that incident's live message); None for anything else."""
    parts = (data or "").split(":")
    if len(parts) < 3 or parts[0] != "v1":
        return None
    return f"i:{parts[2]}" if parts[1] == "i" else parts[1]
