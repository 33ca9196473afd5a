"""What leaves memory and what stays: settled incidents after a week, traces and audit records
after 30 days, into the store's archive files; nothing lost, and a crash halfway repeats
the move instead of losing or doubling a record."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.clock import utc_now
from bot.config import DEFAULT_ESCALATION_OFFSETS, DEFAULT_RUNBOOKS_DIR
from bot.incidents.engine import INDEX, TABLE, IncidentEngine, Refused
from bot.incidents.model import Verb
from bot.incidents.model import Incident
from bot.incidents.stats import incident_stats
from bot.retention import archive_old
from bot.runbooks import RunbookShelf
from bot.store import Store
from bot.store.archive import archive_path, encode_records
from bot.store.store import _append_durably

ADMIN = "tg:1001 @mina_admin"


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


def _engine(store: Store, clock: Clock) -> IncidentEngine:
    return IncidentEngine(store, RunbookShelf(DEFAULT_RUNBOOKS_DIR), offsets=DEFAULT_ESCALATION_OFFSETS,
                          tz=timezone(timedelta(hours=9)), clock=clock)


def _settled(engine: IncidentEngine, scenario: str = "stats") -> Incident:
    """An incident walked, resolved and written up."""
    doc_id = engine.open(scenario, topic="autumn-cafe", actor=ADMIN).incident.id
    while (found := engine.get(doc_id).current_step()) is not None:
        engine.press(doc_id, found[0], Verb.SKIP, actor=ADMIN, admin=True)
    engine.resolve(doc_id, actor=ADMIN, admin=True, reason="fixed by hand")
    for kind in ("root_cause", "prevention"):
        engine.ask(doc_id, kind, ADMIN)
        engine.asked(doc_id, kind, 9)
        engine.answer(doc_id, 9, f"the {kind}", actor=ADMIN, admin=True)
    engine.save_postmortem(doc_id, markdown="# write-up", filename="pm.md")
    engine.delivered(doc_id, engine.get(doc_id).owed[0].file)
    settled = engine.get(doc_id)
    assert settled is not None
    return settled


@pytest.fixture(params=["memory", "file"])
def store(request, tmp_path: Path):
    opened = Store.in_memory() if request.param == "memory" else Store.open(tmp_path / "data")
    yield opened
    opened.close()


def test_a_settled_incident_leaves_memory_after_a_week_and_stays_findable(store: Store) -> None:
    clock = Clock()
    engine = _engine(store, clock)
    settled = _settled(engine)
    still_open = engine.open("token", topic=None, actor=ADMIN).incident
    unwritten = engine.open("images", topic=None, actor=ADMIN).incident
    engine.resolve(unwritten.id, actor=ADMIN, admin=True, reason="by hand")  # no write-up yet
    clock.now += timedelta(days=6)
    assert archive_old(engine, clock)["incidents"] == 0  # not a week yet
    clock.now += timedelta(days=2)
    assert archive_old(engine, clock)["incidents"] == 1
    assert archive_old(engine, clock)["incidents"] == 0  # once
    assert {d["ref"] for d in store.find(TABLE)} == {still_open.ref, unwritten.ref}
    assert store.find("postmortems") == []  # its write-up went with it

    found = engine.by_ref(settled.ref.lower())
    assert found is not None and found.archived and found.timeline == settled.timeline
    # /stats still counts it, from its index row
    recent = engine.recent(30)
    assert settled.ref in {d.ref for d in recent}
    stats = {s.severity: s for s in incident_stats(recent, now=clock(), days=30)}
    assert stats[settled.severity].resolved == 1
    with pytest.raises(Refused) as refused:  # nothing changes an archived incident
        engine.press(settled.id, 0, Verb.RESOLVE, actor=ADMIN, admin=True)
    assert refused.value.key == "button.no_longer_valid"  # gone from the store, not "resolved"
    month = f"{settled.resolved_at:%Y-%m}"
    assert [r["ref"] for r in store.archived("postmortems", month)] == [settled.ref]


def test_the_archive_survives_a_restart_and_a_crash_halfway(tmp_path: Path) -> None:
    data = tmp_path / "data"
    clock = Clock()
    with Store.open(data) as store:
        engine = _engine(store, clock)
        settled = _settled(engine)
        clock.now += timedelta(days=8)
        # a crash after the archive line was written, before the record left the table
        record = {**store.get(TABLE, settled.id)}
        _append_durably(archive_path(data, TABLE, f"{settled.resolved_at:%Y-%m}"), encode_records([record]))
    with Store.open(data) as store:
        engine = _engine(store, clock)
        assert store.count(TABLE) == 1  # still in the table: the move is done again
        assert archive_old(engine, clock)["incidents"] == 1
    with Store.open(data) as store:  # the snapshot no longer holds it
        engine = _engine(store, clock)
        assert store.count(TABLE) == 0 and store.count(INDEX) == 1
        assert len(store.archived(TABLE, f"{settled.resolved_at:%Y-%m}")) == 1  # not doubled
        assert engine.by_ref(settled.ref).ref == settled.ref
        on_disk = (data / "store.json").read_text() + (data / "store.journal").read_text()
        assert "the root_cause" not in on_disk  # only the index row is read at start
    lines = archive_path(data, TABLE, f"{settled.resolved_at:%Y-%m}").read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[-1])["ref"] == settled.ref


def test_a_torn_archive_line_is_skipped_not_fatal(tmp_path: Path, caplog) -> None:
    path = archive_path(tmp_path, TABLE, "2026-11")
    _append_durably(path, encode_records([{"id": 1, "ref": "INC-20261101-001"}]))
    with path.open("ab") as f:
        f.write(b'{"id": 2, "ref": "INC-2026')  # a crash mid-append
    with Store.open(tmp_path) as store:
        assert [r["ref"] for r in store.archived(TABLE, "2026-11")] == ["INC-20261101-001"]
    assert "a write cut short" in caplog.text
    # the move is done again: its lines start after the cut one, not glued to it
    _append_durably(path, encode_records([{"id": 2, "ref": "INC-20261101-002"},
                                          {"id": 3, "ref": "INC-20261101-003"}]))
    with Store.open(tmp_path) as store:
        assert sorted(r["id"] for r in store.archived(TABLE, "2026-11")) == [1, 2, 3]


def test_traces_and_audit_older_than_30_days_are_archived(store: Store) -> None:
    clock = Clock()
    engine = _engine(store, clock)
    old, new = clock() - timedelta(days=45), clock() - timedelta(days=2)
    store.add_trace("SF-20261001-0001", at=old, stage="publish", status="failed", topic="t")
    store.add_trace("SF-20261201-0001", at=new, stage="publish", status="ok", topic="t")
    store.audit("access.refused", actor="tg:9", chat_id=-5)
    moved = archive_old(engine, clock)
    assert (moved["traces"], moved["audit"]) == (1, 0)
    assert [t.trace_id for t in store.traces()] == ["SF-20261201-0001"]
    store.add_trace("SF-20261001-0001", at=new, stage="publish", status="ok")  # a new record
    assert len(store.traces()) == 2
    assert [r["trace_id"] for r in store.archived("traces", old.astimezone(timezone.utc).strftime("%Y-%m"))] \
        == ["SF-20261001-0001"]
    clock.now += timedelta(days=31)
    assert archive_old(engine, clock)["audit"] == 1
    assert store.audit_records() == []


async def test_a_bot_start_archives_and_an_archived_incident_reads_as_it_ended(sandbox, make_settings) -> None:
    from bot.sandbox import OPS_CHAT
    from bot.sandbox.runner import BotRunner
    from tests.conftest import Chat

    clock = Clock()
    clock.now -= timedelta(days=10)  # written up ten days ago
    with Store.open(sandbox.data_dir) as store:
        settled = _settled(_engine(store, clock))
    async with BotRunner(make_settings()) as runner:
        assert await sandbox.telegram.await_for(lambda: runner.store.count(INDEX) == 1, timeout=10)
        assert runner.store.count(TABLE) == 0
        chat = Chat(sandbox, runner)
        shown = await chat.send(f"/incident {settled.ref}")
        assert len(shown) == 1 and "archived" in shown[0].text and settled.ref in shown[0].text
        assert shown[0].buttons() == []  # nothing to press
        stats = await chat.send("/stats")  # counted from its index row
        p2 = next(line.split() for line in stats[0].text.splitlines() if line.startswith("P2"))
        assert p2[1:3] == ["1", "0"], stats[0].text  # one incident, none open
    # it was shown, not reposted: no live message with buttons went to the group
    assert not [m for m in sandbox.telegram.bot_messages(OPS_CHAT.id) if m.buttons()]


def test_a_record_changed_while_its_batch_is_written_stays_as_changed(store: Store) -> None:
    """The copy went to the archive, the newer version stays in memory: nothing is lost."""
    old = utc_now() - timedelta(days=45)
    store.add_trace("SF-20261001-0001", at=old, stage="publish", status="failed")
    store.add_trace("SF-20261001-0002", at=old, stage="publish", status="failed")

    def month_changing_one(doc: dict) -> str:  # runs between the copy and the removal
        if doc["trace_id"] == "SF-20261001-0001":
            store.add_trace("SF-20261001-0001", at=old, stage="publish", status="ok")
        return doc["at"][:7]

    moved = store.archive("traces", lambda d: True, month_of=month_changing_one)
    assert len(moved) == 1
    assert [(t.trace_id, t.status) for t in store.traces()] == [("SF-20261001-0001", "ok")]
    store.add_trace("SF-20261001-0001", at=old, stage="publish", status="ok again")  # still keyed
    assert len(store.traces()) == 1
