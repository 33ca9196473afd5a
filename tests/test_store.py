"""The store: its API on both backends, and what survives kill -9, damage and a second process."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot import durable_files
from bot.store import store as store_module
from bot.clock import utc_now
from bot.store import (
    AuditRecord,
    Conflict,
    NotFound,
    SchemaError,
    Store,
    StoreError,
    StoreLocked,
    TraceRecord,
)

ROOT = Path(__file__).parents[1]
KST = timezone(timedelta(hours=9))
T0 = datetime(2026, 11, 27, 6, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["file", "memory"])
def store(request, tmp_path):
    s = Store.open(tmp_path / "data") if request.param == "file" else Store.in_memory()
    yield s
    s.close()


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def error_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.store" and r.levelno >= logging.ERROR]


# --- settings and the token expiry -------------------------------------------------------------


def test_setting_defaults_then_round_trips_and_overwrites(store):
    assert store.get_setting("missing") is None
    assert store.get_setting("missing", 42) == 42
    store.set_setting("limits", {"daily": 3, "tags": ("a", "b")})
    assert store.get_setting("limits") == {"daily": 3, "tags": ["a", "b"]}  # JSON, both backends
    store.set_setting("limits", {"daily": 5})
    assert store.get_setting("limits") == {"daily": 5}
    assert store.count("settings") == 1


def test_setting_value_is_a_copy(store):
    store.set_setting("k", {"a": [1]})
    store.get_setting("k")["a"].append(2)
    assert store.get_setting("k") == {"a": [1]}


def test_setting_with_actor_is_audited_without_actor_is_not(store):
    store.set_setting("quiet", True)
    assert store.audit_records() == []
    store.set_setting("quiet", False, actor="alice")
    [record] = store.audit_records()
    assert (record.event, record.actor, record.detail) == ("setting.set", "alice", {"key": "quiet"})


def test_setting_must_be_json(store):
    with pytest.raises(ValueError, match="JSON"):
        store.set_setting("k", {1, 2})
    with pytest.raises(ValueError, match="JSON"):
        store.set_setting("k", float("nan"))
    assert store.get_setting("k") is None


def test_token_expiry_round_trips_as_aware_utc_and_is_audited(store):
    assert store.token_expiry() is None
    store.set_token_expiry(datetime(2026, 12, 1, 9, 0, tzinfo=KST), actor="bob")
    expiry = store.token_expiry()
    assert expiry == datetime(2026, 12, 1, 0, 0, tzinfo=timezone.utc)
    assert expiry.tzinfo == timezone.utc
    [record] = store.audit_records(event="token.set_expiry")
    assert record.actor == "bob"
    assert record.detail == {"expires_at": "2026-12-01T00:00:00+00:00"}


def test_naive_datetimes_are_refused_and_nothing_is_written(store):
    with pytest.raises(ValueError, match="timezone-aware"):
        store.set_token_expiry(datetime(2026, 12, 1), actor="bob")
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add_trace("SF-1", at=datetime(2026, 12, 1), stage="s", status="ok")
    assert store.token_expiry() is None
    assert store.audit_records() == [] and store.traces() == []


# --- audit ----------------------------------------------------------------------------------


def test_audit_returns_the_stored_record(store):
    before = utc_now()
    record = store.audit("incident.ack", actor="alice", chat_id=-100, detail={"incident": 7})
    assert isinstance(record, AuditRecord)
    assert (record.event, record.actor, record.chat_id, record.detail) == (
        "incident.ack", "alice", -100, {"incident": 7})
    assert record.at.tzinfo == timezone.utc and before <= record.at <= utc_now()
    assert store.audit_records() == [record]


def test_audit_records_newest_first_filtered_and_limited(store):
    for i in range(6):
        store.audit("a" if i % 2 else "b", chat_id=i % 3, detail={"i": i})
    assert [r.detail["i"] for r in store.audit_records()] == [5, 4, 3, 2, 1, 0]
    assert [r.detail["i"] for r in store.audit_records(event="a")] == [5, 3, 1]
    assert [r.detail["i"] for r in store.audit_records(chat_id=0)] == [3, 0]
    assert [r.detail["i"] for r in store.audit_records(event="a", chat_id=2)] == [5]
    assert [r.detail["i"] for r in store.audit_records(limit=2)] == [5, 4]
    assert store.audit_records(limit=0) == []


# --- traces ---------------------------------------------------------------------


def test_add_trace_upserts_by_trace_id(store):
    first = store.add_trace("SF-1", at=T0, stage="generate", status="ok", topic="sunset")
    assert isinstance(first, TraceRecord) and first.detail == {}
    second = store.add_trace("SF-1", at=T0 + timedelta(minutes=1), stage="publish",
                             status="failed", detail={"code": 190})
    assert second.id == first.id
    assert store.count("traces") == 1
    assert store.traces() == [second]
    assert (second.stage, second.status, second.topic, second.detail) == (
        "publish", "failed", None, {"code": 190})


def test_traces_newest_at_first_and_limited(store):
    for i, minutes in enumerate([5, 1, 9, 3]):
        store.add_trace(f"SF-{i}", at=T0 + timedelta(minutes=minutes), stage="s", status="ok")
    # One trace given in another timezone sorts by the instant, not the local clock.
    store.add_trace("SF-kst", at=(T0 + timedelta(minutes=7)).astimezone(KST), stage="s", status="ok")
    assert [t.trace_id for t in store.traces()] == ["SF-2", "SF-kst", "SF-0", "SF-3", "SF-1"]
    assert [t.trace_id for t in store.traces(limit=2)] == ["SF-2", "SF-kst"]
    assert all(t.at.tzinfo == timezone.utc for t in store.traces())


# --- generic documents ----------------------------------------------------------------------


def test_insert_get_stamp_version_and_copy(store):
    doc = {"status": "open", "steps": {"1": "todo"}}
    doc_id = store.insert("incidents", doc)
    doc["steps"]["1"] = "mutated by the caller"
    got = store.get("incidents", doc_id)
    assert got == {"status": "open", "steps": {"1": "todo"}, "_v": 1, "id": doc_id}
    got["steps"]["1"] = "mutated again"
    assert store.get("incidents", doc_id)["steps"] == {"1": "todo"}
    assert store.get("incidents", doc_id + 100) is None


def test_insert_ignores_reserved_keys(store):
    doc_id = store.insert("incidents", {"id": 99, "_v": 7, "x": 1})
    assert store.get("incidents", doc_id) == {"x": 1, "_v": 1, "id": doc_id}


def test_update_merges_and_bumps_version(store):
    doc_id = store.insert("incidents", {"status": "open", "lead": None})
    updated = store.update("incidents", doc_id, {"status": "acknowledged", "lead": "alice"})
    assert updated == {"status": "acknowledged", "lead": "alice", "_v": 2, "id": doc_id}
    assert store.get("incidents", doc_id) == updated
    # Round-tripping what get() returned is allowed: the store owns "id" and "_v".
    again = store.update("incidents", doc_id, {**updated, "status": "mitigating"}, expect_version=2)
    assert again["_v"] == 3 and again["status"] == "mitigating"


def test_update_with_stale_version_conflicts_and_changes_nothing(store):
    doc_id = store.insert("incidents", {"status": "open"})
    store.update("incidents", doc_id, {"status": "acknowledged"}, expect_version=1)
    with pytest.raises(Conflict) as caught:
        store.update("incidents", doc_id, {"status": "resolved"}, expect_version=1)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    assert isinstance(caught.value, StoreError)
    assert store.get("incidents", doc_id) == {"status": "acknowledged", "_v": 2, "id": doc_id}


def test_update_missing_document(store):
    with pytest.raises(NotFound):
        store.update("incidents", 5, {"x": 1})


def test_find_filters_orders_and_limits(store):
    ids = [store.insert("incidents", {"n": n, "open": n % 2 == 0}) for n in range(5)]
    assert [d["n"] for d in store.find("incidents")] == [4, 3, 2, 1, 0]
    assert [d["n"] for d in store.find("incidents", newest_first=False)] == [0, 1, 2, 3, 4]
    assert [d["n"] for d in store.find("incidents", lambda d: d["open"])] == [4, 2, 0]
    assert [d["id"] for d in store.find("incidents", lambda d: d["open"], limit=2)] == [ids[4], ids[2]]
    assert [d["n"] for d in store.find("incidents", lambda d: d["id"] == ids[1])] == [1]
    store.find("incidents")[0]["n"] = "mutated"
    assert store.get("incidents", ids[4])["n"] == 4
    assert store.find("escalations") == []


def test_remove_and_count(store):
    a = store.insert("incidents", {"n": 1})
    b = store.insert("incidents", {"n": 2})
    assert store.count("incidents") == 2
    store.remove("incidents", a)
    store.remove("incidents", a)  # already gone: nothing happens
    assert store.get("incidents", a) is None
    assert store.count("incidents") == 1
    assert [d["id"] for d in store.find("incidents")] == [b]


def test_ids_are_never_reused(store):
    store.insert("incidents", {"n": 1})
    last = store.insert("incidents", {"n": 2})
    store.remove("incidents", last)
    assert store.insert("incidents", {"n": 3}) == last + 1


def test_unknown_tables_are_refused(store):
    calls = [
        lambda: store.insert("nope", {}), lambda: store.get("nope", 1),
        lambda: store.update("nope", 1, {}), lambda: store.find("nope"),
        lambda: store.remove("nope", 1), lambda: store.count("nope"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="unknown table 'nope'"):
            call()


def test_typed_tables_are_readable_but_not_generically_writable(store):
    record = store.audit("x")
    assert store.get("audit", record.id)["event"] == "x"
    assert store.count("audit") == 1
    for table in ("audit", "settings", "traces", "backups"):
        with pytest.raises(ValueError, match="its own Store methods"):
            store.insert(table, {"x": 1})
    with pytest.raises(ValueError):
        store.update("audit", record.id, {"event": "forged"})
    with pytest.raises(ValueError):
        store.remove("audit", record.id)
    assert store.audit_records() == [record]


def test_documents_must_be_json_mappings(store):
    with pytest.raises(TypeError):
        store.insert("incidents", [1, 2])
    with pytest.raises(ValueError, match="JSON"):
        store.insert("incidents", {"when": utc_now()})
    assert store.count("incidents") == 0


def test_close_is_idempotent_and_final(store):
    with store as same:
        assert same is store
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.insert("incidents", {})
    with pytest.raises(StoreError, match="closed"):
        store.get_setting("k")


@pytest.fixture
def eager_thread_switching():
    # Switch threads every microsecond so an unlocked check-then-write would interleave.
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def test_concurrent_same_version_updates_exactly_one_wins(store, eager_thread_switching):
    doc_id = store.insert("incidents", {"status": "open"})
    threads, rounds = 8, 25
    barrier = threading.Barrier(threads)
    wins: list[int] = []
    conflicts: list[int] = []
    errors: list[BaseException] = []

    def press(name: str) -> None:
        try:
            for _ in range(rounds):
                barrier.wait()
                version = store.get("incidents", doc_id)["_v"]
                barrier.wait()  # every thread has read the same version
                try:
                    store.update("incidents", doc_id, {"by": name}, expect_version=version)
                    wins.append(version)
                except Conflict:
                    conflicts.append(version)
        except BaseException as e:  # surfaced below
            errors.append(e)
            barrier.abort()

    workers = [threading.Thread(target=press, args=(f"op{i}",)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert errors == []
    assert sorted(wins) == list(range(1, rounds + 1))  # exactly one winner per version
    assert len(conflicts) == rounds * (threads - 1)
    assert store.get("incidents", doc_id)["_v"] == rounds + 1


def test_concurrent_writers_lose_nothing(store, eager_thread_switching):
    def write(t: int) -> None:
        for i in range(100):
            store.audit("w", detail={"t": t, "i": i})
            store.insert("incidents", {"t": t, "i": i})

    workers = [threading.Thread(target=write, args=(t,)) for t in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert store.count("audit") == store.count("incidents") == 600
    assert len({r.id for r in store.audit_records(limit=1000)}) == 600


# --- the file store across restarts ---------------------------------------------------------


def test_everything_written_is_read_back_after_reopen(tmp_path):
    with Store.open(tmp_path) as s:
        s.set_setting("k", {"v": [1, 2]}, actor="alice")
        s.set_token_expiry(datetime(2027, 1, 1, tzinfo=timezone.utc), actor="alice")
        s.add_trace("SF-1", at=T0, stage="generate", status="ok", topic="t", detail={"d": 1})
        keep = s.insert("incidents", {"status": "open", "name": "인스타그램 토큰 만료"})
        gone = s.insert("incidents", {"status": "open"})
        s.update("incidents", keep, {"status": "resolved"})
        s.remove("incidents", gone)
        s.insert("postmortems", {"incident": keep})
        expected = (s.audit_records(), s.traces(), s.find("incidents"),
                    s.find("postmortems"), s.get_setting("k"), s.token_expiry())
    with Store.open(tmp_path) as s:
        assert s.recovered == []
        got = (s.audit_records(), s.traces(), s.find("incidents"),
               s.find("postmortems"), s.get_setting("k"), s.token_expiry())
        assert got == expected
        assert s.get("incidents", keep)["name"] == "인스타그램 토큰 만료"
        # ids are not reused across restarts either (they continue above the reserved block)
        assert s.insert("incidents", {}) > gone
        # The upsert keys were rebuilt: same trace id still updates the same record.
        assert s.add_trace("SF-1", at=T0, stage="x", status="ok").id == expected[1][0].id


def test_open_creates_the_directory_and_files(tmp_path):
    data_dir = tmp_path / "a" / "b"
    with Store.open(data_dir) as s:
        assert s.data_dir == data_dir
        s.insert("incidents", {})
        assert json.loads((data_dir / "store.json").read_text())["schema"] == Store.SCHEMA_VERSION
        assert (data_dir / "store.journal").stat().st_size > 0
        assert (data_dir / "store.lock").read_text().strip() == str(os.getpid())


def test_compaction_shrinks_journal_and_keeps_data(tmp_path):
    journal, snapshot = tmp_path / "store.journal", tmp_path / "store.json"
    with Store.open(tmp_path, compact_bytes=4096) as s:
        sizes, ids = [], []
        for n in range(300):
            ids.append(s.insert("incidents", {"n": n, "pad": "x" * 100}))
            if n % 3 == 0:
                s.remove("incidents", ids[-1])
            size = journal.stat().st_size
            # Never much past max(threshold, snapshot): the write that crosses it compacts.
            assert size <= max(4096, snapshot.stat().st_size) + 300
            sizes.append(size)
        shrinks = sum(1 for a, b in zip(sizes, sizes[1:]) if b < a)
        assert shrinks >= 3
        assert snapshot.stat().st_size > 4096
        expected = s.find("incidents")
    with Store.open(tmp_path) as s:
        assert s.find("incidents") == expected
        assert [d["n"] for d in expected] == [n for n in reversed(range(300)) if n % 3]


class Clock:
    """time.monotonic for the store's retry interval, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failed_journal_write_is_undone_refused_for_a_while_then_healed(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(store_module.time, "monotonic", clock)
    s = Store.open(tmp_path)
    keep = s.insert("incidents", {"n": 1})
    good = (tmp_path / "store.journal").read_bytes()

    def no_room(fd: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as disk_full:
        disk_full.setattr(durable_files, "write_all", no_room)
        disk_full.setattr(store_module, "write_all", no_room)
        with pytest.raises(StoreError, match="No space left on device"):
            s.update("incidents", keep, {"n": 2})
        assert s.write_problem == "store.journal: No space left on device"
        clock.now += store_module.HEAL_EVERY_S + 1
        with pytest.raises(StoreError, match="cannot be written"):  # still full: still refused
            s.insert("incidents", {"n": 3})
    assert s.get("incidents", keep)["n"] == 1  # the caller was told it failed: it did
    assert (tmp_path / "store.journal").read_bytes() == good
    with pytest.raises(StoreError, match="No space left"):  # room again, but not yet retried
        s.insert("incidents", {"n": 3})
    assert s.get("incidents", keep)["n"] == 1 and s.write_problem  # reads still work
    clock.now += store_module.HEAL_EVERY_S + 1
    third = s.insert("incidents", {"n": 3})  # retried: the state is rewritten, writes go on
    assert s.write_problem is None
    s.update("incidents", keep, {"n": 4})
    s.close()
    with Store.open(tmp_path) as s:
        assert s.recovered == []
        assert s.find("incidents") == [{"n": 3, "_v": 1, "id": third}, {"n": 4, "_v": 2, "id": keep}]


def test_heal_is_what_health_calls_while_the_disk_is_full(tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(store_module.time, "monotonic", clock)
    with Store.open(tmp_path) as s:
        first = s.insert("incidents", {"n": 0})
        with monkeypatch.context() as disk_full:
            full = lambda fd, data: (_ for _ in ()).throw(OSError(28, "No space left on device"))  # noqa: E731
            disk_full.setattr(durable_files, "write_all", full)
            disk_full.setattr(store_module, "write_all", full)
            with pytest.raises(StoreError):
                s.insert("incidents", {"n": 1})
        assert s.heal() is False  # within the retry interval
        clock.now += store_module.HEAL_EVERY_S + 1
        assert s.heal() is True and s.write_problem is None
        assert s.insert("incidents", {"n": 2}) > first


def test_ids_and_sequences_survive_the_loss_of_the_records_that_used_them(tmp_path):
    with Store.open(tmp_path) as s:
        first = s.insert("incidents", {"n": 1})
        second = s.insert("incidents", {"n": 2})
        assert [s.next_sequence("ref:20261204") for _ in range(3)] == [1, 2, 3]
    # the record that held id `second` is lost: a damaged journal line, a cut snapshot
    journal = tmp_path / "store.journal"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(lines[0] + b"garbage\n" + b"".join(lines[1:]))
    (tmp_path / "store.json").write_bytes(b'{"schema": 1, "tab')
    with Store.open(tmp_path) as s:
        assert s.get("incidents", second) is None and len(s.recovered) == 2
        again = s.insert("incidents", {"n": 3})
        assert again > second, "an id is never handed out twice"
        assert s.next_sequence("ref:20261204") == 4
        assert s.next_sequence("ref:20261205", floor=7) == 8  # records seen on disk count too
        assert first < second < again


def test_a_damaged_high_water_file_is_moved_aside_and_ids_go_on_above_the_records(tmp_path):
    with Store.open(tmp_path) as s:
        last = s.insert("incidents", {"n": 1})
    (tmp_path / "store.ids").write_bytes(b"{not json")
    with Store.open(tmp_path) as s:
        [damage] = s.recovered
        assert damage.path.name == "store.ids" and "high-water" in damage.reason
        assert s.insert("incidents", {"n": 2}) > last


# --- kill -9 ----------------------------------------------------------------------------------

WRITER = r"""
import os, sys, time
from pathlib import Path
from bot.store import Store

data_dir, compact_bytes, stall = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if stall != "none":
    real_replace, calls = os.replace, [0]
    def replace(src, dst):
        calls[0] += str(dst).endswith("store.json")  # store.ids is replaced too: not counted
        # Call 1 is the new store's first snapshot; stall in a later compaction.
        if calls[0] == 4 and stall == "before-rename":
            print("stalled", flush=True); time.sleep(120)
        real_replace(src, dst)
        if calls[0] == 4 and stall == "after-rename":
            print("stalled", flush=True); time.sleep(120)
    os.replace = replace
store = Store.open(data_dir, compact_bytes=compact_bytes)
n = 0
while True:
    doc_id = store.insert("incidents", {"n": n, "pad": "x" * 200})
    print(doc_id, n, flush=True)
    n += 1
"""


def kill_writer(data_dir: Path, *, acks: int, compact_bytes: int, stall: str) -> dict[int, int]:
    """Run WRITER, SIGKILL it after `acks` acknowledgements (or once stalled); the acks seen."""
    acked: dict[int, int] = {}
    stalled = False

    def take(line: str) -> None:
        nonlocal stalled
        if line.endswith("\n"):
            if line == "stalled\n":
                stalled = True
            else:
                doc_id, n = map(int, line.split())
                acked[doc_id] = n

    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(data_dir), str(compact_bytes), stall],
        cwd=ROOT, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as proc:
        watchdog = threading.Timer(120, proc.kill)
        watchdog.start()
        try:
            for line in proc.stdout:
                take(line)
                if stalled or (stall == "none" and len(acked) >= acks):
                    break
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            for line in proc.stdout.read().splitlines(keepends=True):  # acks already in the pipe
                take(line)
            stderr = proc.stderr.read()
            proc.wait()
            watchdog.cancel()
    assert proc.returncode == -signal.SIGKILL, stderr
    assert len(acked) >= acks, stderr
    if stall != "none":
        assert stalled, stderr
    return acked


@pytest.mark.parametrize(
    "acks, compact_bytes, stall",
    [
        (50, 1 << 20, "none"),
        (300, 4096, "none"),
        (1000, 4096, "none"),
        (20, 4096, "before-rename"),
        (20, 4096, "after-rename"),
    ],
    ids=["50-acks", "300-acks-compacting", "1000-acks-compacting", "in-compaction-before-rename",
         "in-compaction-after-rename"],
)
def test_kill_9_loses_no_acknowledged_write(tmp_path, caplog, acks, compact_bytes, stall):
    acked = kill_writer(tmp_path, acks=acks, compact_bytes=compact_bytes, stall=stall)
    if stall == "before-rename":
        assert (tmp_path / "store.json.tmp").exists()  # the kill did land mid-compaction
    with caplog.at_level(logging.WARNING, logger="bot.store"):
        s = Store.open(tmp_path)
    with s:
        assert s.recovered == []
        assert error_records(caplog) == []
        assert not (tmp_path / "store.json.tmp").exists()
        for doc_id, n in acked.items():
            doc = s.get("incidents", doc_id)
            assert doc is not None, f"acknowledged id {doc_id} lost"
            assert doc["n"] == n
        # At most the one write in flight at the kill may be there unacknowledged.
        assert s.count("incidents") - len(acked) in (0, 1)
        assert s.insert("incidents", {"after": True}) > max(acked)


# --- damage -----------------------------------------------------------------------------------


def write_three(tmp_path: Path) -> list[int]:
    with Store.open(tmp_path) as s:
        return [s.insert("incidents", {"n": n}) for n in range(3)]


@pytest.mark.parametrize("tail", ["unfinished", "bad-checksum"])
def test_torn_last_line_is_cut_off_without_a_damage_report(tmp_path, caplog, tail):
    ids = write_three(tmp_path)
    journal = tmp_path / "store.journal"
    good = journal.read_bytes()
    last = good.splitlines(keepends=True)[-1]
    if tail == "unfinished":
        journal.write_bytes(good + last[: len(last) // 2])
    else:
        journal.write_bytes(good + last.replace(b'"n":2', b'"n":3'))
    with caplog.at_level(logging.WARNING, logger="bot.store"):
        s = Store.open(tmp_path)
    with s:
        assert s.recovered == []
        assert error_records(caplog) == []
        assert any(r.levelno == logging.WARNING and "unfinished write" in r.getMessage()
                   for r in caplog.records)
        assert journal.read_bytes() == good
        assert [s.get("incidents", i)["n"] for i in ids] == [0, 1, 2]
        assert list(tmp_path.glob("*.damaged-*")) == []


def test_bad_line_in_the_middle_is_damage_and_keeps_the_valid_prefix(tmp_path, caplog):
    ids = write_three(tmp_path)
    journal = tmp_path / "store.journal"
    damaged = journal.read_bytes().replace(b'"n":1', b'"n":7')  # second line's checksum fails
    journal.write_bytes(damaged)
    with caplog.at_level(logging.WARNING, logger="bot.store"):
        s = Store.open(tmp_path)
    with s:
        [damage] = s.recovered
        assert damage.path == journal
        assert damage.moved_to.name.startswith("store.journal.damaged-")
        assert damage.moved_to.read_bytes() == damaged  # the original bytes, untouched
        assert "line 2" in damage.reason and "\n" not in damage.reason
        assert [r.getMessage() for r in error_records(caplog)] and str(damage.moved_to) in (
            error_records(caplog)[0].getMessage())
        assert s.get("incidents", ids[0])["n"] == 0
        assert s.get("incidents", ids[1]) is None and s.get("incidents", ids[2]) is None
        new = s.insert("incidents", {"n": "new"})
    with Store.open(tmp_path) as s:
        assert s.recovered == []
        assert [d["n"] for d in s.find("incidents")] == ["new", 0]
        assert s.get("incidents", new)["n"] == "new"


@pytest.mark.parametrize(
    "garbage",
    [lambda b: b[: len(b) // 2], lambda b: b"[1, 2]", lambda b: b"\xff\xfe" + b,
     lambda b: b'{"schema": 1, "tables": {"incidents": {"x": 1}}}'],
    ids=["truncated", "wrong-shape", "not-utf8", "bad-table"],
)
def test_unparseable_snapshot_is_moved_aside_and_the_journal_still_applies(tmp_path, caplog, garbage):
    with Store.open(tmp_path) as s:
        in_snapshot = s.insert("incidents", {"n": "snap"})
        touched_later = s.insert("incidents", {"n": "snap"})
        s.compact()
        in_journal = s.insert("incidents", {"n": "journal"})
        s.update("incidents", touched_later, {"n": "updated"})  # the journal has its whole value
    snapshot = tmp_path / "store.json"
    bad = garbage(snapshot.read_bytes())
    snapshot.write_bytes(bad)
    with caplog.at_level(logging.WARNING, logger="bot.store"):
        s = Store.open(tmp_path)
    with s:
        [damage] = s.recovered
        assert damage.path == snapshot
        assert damage.moved_to.name.startswith("store.json.damaged-")
        assert damage.moved_to.read_bytes() == bad
        assert "snapshot" in damage.reason
        assert len(error_records(caplog)) == 1
        # Decided: only what the journal held survives in the live store; the rest is in the
        # moved-aside file for an operator.
        assert s.get("incidents", in_snapshot) is None
        assert [d["n"] for d in s.find("incidents")] == ["journal", "updated"]  # still by id
        assert s.get("incidents", in_journal)["n"] == "journal"
        s.insert("incidents", {"n": "after"})
    with Store.open(tmp_path) as s:
        assert s.recovered == []
        assert [d["n"] for d in s.find("incidents")] == ["after", "journal", "updated"]


def test_newer_schema_is_refused_and_left_untouched(tmp_path):
    write_three(tmp_path)
    snapshot = tmp_path / "store.json"
    doc = json.loads(snapshot.read_text())
    doc["schema"] = Store.SCHEMA_VERSION + 1
    snapshot.write_text(json.dumps(doc))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    for _ in range(2):  # the second attempt proves the lock was released
        with pytest.raises(SchemaError, match="newer") as caught:
            Store.open(tmp_path)
        assert isinstance(caught.value, StoreError)
        assert f"schema {Store.SCHEMA_VERSION + 1}" in str(caught.value)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name != "store.lock"} == {
        k: v for k, v in before.items() if k != "store.lock"}


def test_older_schema_goes_through_the_migration_hook(tmp_path, monkeypatch):
    with Store.open(tmp_path) as s:
        a = s.insert("incidents", {"title": "in snapshot"})
        s.compact()
        b = s.insert("incidents", {"title": "in journal"})

    def add_severity(tables):
        for doc in tables.get("incidents", {}).values():
            doc.setdefault("severity", "P2")

    monkeypatch.setattr(Store, "SCHEMA_VERSION", 2)
    monkeypatch.setattr(Store, "MIGRATIONS", {1: add_severity})
    with Store.open(tmp_path) as s:
        assert s.get("incidents", a)["severity"] == s.get("incidents", b)["severity"] == "P2"
    assert json.loads((tmp_path / "store.json").read_text())["schema"] == 2
    assert (tmp_path / "store.journal").read_bytes() == b""


def test_older_schema_without_a_migration_is_refused(tmp_path, monkeypatch):
    write_three(tmp_path)
    before = (tmp_path / "store.json").read_bytes(), (tmp_path / "store.journal").read_bytes()
    monkeypatch.setattr(Store, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(Store, "MIGRATIONS", {1: lambda tables: None})
    with pytest.raises(SchemaError, match="no migration from version 2"):
        Store.open(tmp_path)
    assert ((tmp_path / "store.json").read_bytes(), (tmp_path / "store.journal").read_bytes()) == before


# --- one writer -------------------------------------------------------------------------------

HOLDER = r"""
import sys, time
from pathlib import Path
from bot.store import Store
store = Store.open(Path(sys.argv[1]))
print("ready", flush=True)
time.sleep(120)
"""


def test_second_process_gets_store_locked_naming_the_holder(tmp_path):
    with subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], cwd=ROOT,
                          env=child_env(), stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout.readline() == "ready\n"
            with pytest.raises(StoreLocked) as caught:
                Store.open(tmp_path)
            assert caught.value.pid == proc.pid
            assert f"pid {proc.pid}" in str(caught.value)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    with Store.open(tmp_path) as s:  # the kernel dropped the dead holder's lock
        assert s.recovered == []


def test_second_open_in_the_same_process_is_refused(tmp_path):
    with Store.open(tmp_path):
        with pytest.raises(StoreLocked, match="this process") as caught:
            Store.open(tmp_path)
        assert caught.value.pid == os.getpid()
    Store.open(tmp_path).close()


def test_read_only_view_beside_a_running_owner(tmp_path: Path) -> None:
    """The CLI reads what the bot wrote without taking its lock, and cannot write."""
    owner = Store.open(tmp_path)
    try:
        owner.set_token_expiry(datetime(2027, 1, 1, tzinfo=timezone.utc), actor="tg:1")
        view = Store.open_readonly(tmp_path)
        assert view.token_expiry() == datetime(2027, 1, 1, tzinfo=timezone.utc)
        assert view.audit_records(event="token.set_expiry")[0].actor == "tg:1"
        with pytest.raises(StoreError):
            view.audit("x")
        view.close()
        owner.audit("still-writable")  # the owner's lock and journal are untouched
    finally:
        owner.close()


def test_read_only_view_of_an_empty_dir(tmp_path: Path) -> None:
    view = Store.open_readonly(tmp_path / "nothing-yet")
    assert view.token_expiry() is None and view.recovered == []


def test_read_only_view_rereads_when_the_owner_compacts_meanwhile(tmp_path: Path, monkeypatch) -> None:
    from bot.store import store as store_module

    owner = Store.open(tmp_path)
    try:
        ids = [owner.insert("incidents", {"n": n}) for n in range(5)]  # in the journal only
        original = store_module._ReadOnlyStorage._read_snapshot
        calls = []

        def snapshot_then_owner_compacts(self):
            result = original(self)
            if not calls:
                owner.compact()  # new snapshot, emptied journal, between our two reads
            calls.append(1)
            return result

        monkeypatch.setattr(store_module._ReadOnlyStorage, "_read_snapshot", snapshot_then_owner_compacts)
        view = Store.open_readonly(tmp_path)
        assert len(calls) == 2, "the changed snapshot was noticed and the read repeated"
        assert [d["n"] for d in view.find("incidents", newest_first=False)] == list(range(5))
        assert view.get("incidents", ids[-1]) is not None
        view.close()
    finally:
        owner.close()


def test_a_claim_is_granted_once_per_period_even_to_threads_racing_for_it(store, eager_thread_switching):
    now = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)
    start = threading.Barrier(8)
    granted: list[bool] = []

    def claim() -> None:
        start.wait()
        granted.append(store.claim("refusal.-100", now=now, every=timedelta(hours=24)))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(granted) == [False] * 7 + [True]
    assert not store.claim("refusal.-100", now=now + timedelta(hours=23), every=timedelta(hours=24))
    assert store.claim("refusal.-100", now=now + timedelta(hours=24), every=timedelta(hours=24))
    assert store.claim("refusal.-200", now=now, every=timedelta(hours=24))  # per key


def test_documents_are_kept_by_plain_names_only(store):
    ref = store.put_document("INC-20261204-001", "INC-20261204-001-postmortem.md", b"# PM")
    assert store.document(ref) == b"# PM"
    for folder, name in (("..", "x"), ("a/b", "x"), ("INC-1", "../../etc/passwd"), ("INC-1", ".")):
        with pytest.raises(ValueError):
            store.put_document(folder, name, b"")
    for ref in ("../store.json", "INC-1/../../x", "INC-1/missing.md", "nofile"):
        with pytest.raises(NotFound):
            store.document(ref)


def test_tinydb_private_update_table_is_what_flat_table_overrides():
    """`bot.store.flat_table` overrides TinyDB's private `Table._update_table`. If TinyDB renames
    it, changes its signature or stops writing through it, this fails, not the journal silently."""
    import inspect

    from tinydb import TinyDB
    from tinydb.storages import MemoryStorage
    from tinydb.table import Table

    from bot.store.flat_table import FlatTable, FlatTinyDB

    assert "_update_table" in vars(Table), "TinyDB no longer has Table._update_table"
    assert list(inspect.signature(Table._update_table).parameters) == ["self", "updater"]
    assert FlatTinyDB.table_class is FlatTable
    # every write TinyDB makes goes through it: insert, update, upsert, remove, truncate
    calls: list[str] = []
    original = FlatTable._update_table

    def counted(self, updater):
        calls.append(self.name)
        return original(self, updater)

    db = FlatTinyDB(storage=MemoryStorage)
    db.storage.write({})  # FlatTable keeps tables in the dict the storage holds
    try:
        FlatTable._update_table = counted
        table = db.table("t")
        doc_id = table.insert({"a": 1})
        table.update({"a": 2}, doc_ids=[doc_id])
        table.upsert({"a": 3, "b": 1}, cond=lambda d: d.get("a") == 2)
        table.remove(doc_ids=[doc_id])
        table.insert({"a": 4})
        table.truncate()
    finally:
        FlatTable._update_table = original
    assert len(calls) == 6, f"TinyDB wrote {6 - len(calls)} time(s) around _update_table: {calls}"
    assert not db.table("t").all()
    assert TinyDB.table_class is Table  # the override is ours alone, not patched into TinyDB


def test_a_trace_added_again_unchanged_is_not_written_again(tmp_path):
    with Store.open(tmp_path) as s:
        s.add_trace("SF-1", at=T0, stage="publish", status="error", topic="t", detail={"a": 1})
        journal = (tmp_path / "store.journal").stat().st_size
        again = s.add_trace("SF-1", at=T0, stage="publish", status="error", topic="t", detail={"a": 1})
        assert (tmp_path / "store.journal").stat().st_size == journal  # no second fsynced line
        assert again == s.traces()[0]
        s.add_trace("SF-1", at=T0, stage="publish", status="ok", topic="t", detail={"a": 1})
        assert (tmp_path / "store.journal").stat().st_size > journal and s.traces()[0].status == "ok"
