"""What the store keeps in memory: the records the bot works with. The rest is archived
(`Store.archive`): settled incidents after a week (an index row each stays for /stats and
`/incident <id>`), traces and audit records after 30 days. It runs at start and once a day,
so a year of a busy pipeline costs the bot what its last month does."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

from bot.actions.traces import TRACES_KEPT
from bot.clock import Clock
from bot.incidents.engine import IncidentEngine
from bot.incidents.stored import iso

KEPT = {"traces": TRACES_KEPT, "audit": timedelta(days=30),
        "signals": timedelta(days=14)}  # every failing signal, kept in memory two weeks, then archived


def archive_old(engine: IncidentEngine, clock: Clock) -> dict[str, int]:
    """Archive what nobody works on any more, then rewrite the snapshot once, so the next start
    does not read them; how many of each."""
    store = engine.store
    moved = {"incidents": engine.archive_settled()}
    for table, kept in KEPT.items():
        cutoff = iso(clock() - kept)
        moved[table] = len(store.archive(table, partial(_older, cutoff), month_of=_month))
    if any(moved.values()) and store.data_dir is not None:
        store.compact()
    return moved


def _older(cutoff: str, doc: dict) -> bool:
    return str(doc["at"]) < cutoff  # stored as UTC ISO text by one formatter: text order is time order


def _month(doc: dict) -> str:
    return str(doc["at"])[:7]
