"""The TinyDB store: every record the bot keeps, durable across ``kill -9``.

This package is the only place that imports TinyDB. It hands out frozen dataclasses and plain ``dict``
copies, never TinyDB ``Document`` objects, and takes only JSON-able values (checked on the way in,
so the file store and ``Store.in_memory()`` behave the same).

Files in ``data_dir``::

    store.json          snapshot  {"schema": 1, "last_ids": {table: n}, "tables": {table: {id: doc}}}
    store.journal       one line per acknowledged write since the snapshot:  <crc32 hex> <json>\\n
                        <json> = [[table, id, doc], ...], the whole new value of every document the
                        write touched (doc null: deleted)
    store.ids           {"ids": {table: n}, "counters": {name: n}}: high-water marks, replaced
                        whole (tmp, fsync, rename) before an id or a counter value is used
    store.lock          flock()ed while a process has the store open; holds that process's pid
    store.json.tmp      a snapshot being written by a compaction; never authoritative
    <name>.damaged-<UTC timestamp>   a damaged snapshot, journal or ids file, moved aside byte for byte
    <table>-<id>.quarantined-<UTC>.json   a document a record check refused at open, set aside
    documents/<folder>/<file>   files kept for the group (log bundles, post-mortems): written
                        durably before a record names them, so a restart can send them again

Why writes cost the same at 100 records and at 100,000:

* TinyDB's JSONStorage rewrites the whole file per write. Here the data lives in memory and a write
  appends one journal line (the touched documents only) and ``fdatasync``s it before the Store
  method returns: that return is the acknowledgement.
* TinyDB's ``Table._update_table`` also converts the whole table's keys str->int->str on every
  write (about 3 ms at 10,000 records, forty times the fsync). ``bot.store.flat_table`` hands TinyDB's
  updater a key-converting view of the stored dict instead.
* The storage cannot tell what TinyDB changed (it is handed the whole database), so the Store
  names the touched (table, id) pairs; one Store call is one journal line, so a call that writes
  two records (``set_token_expiry``: setting + audit) is atomic.
* When the journal outgrows max(``compact_bytes``, snapshot size) the full state is written to
  ``store.json.tmp``, fsynced, renamed over ``store.json``, the directory fsynced, and the journal
  truncated. Each compaction costs O(state) but happens only after O(state) bytes of journal, so
  the cost per write stays constant on average. Replaying a line sets a document's whole value or
  deletes it, so replaying lines the snapshot already holds is harmless: a crash between the
  rename and the truncate loses nothing.
* Ids are allocated by the Store above the per-table high-water mark, so an id is never reused,
  even after deletes and restarts: a stale button press naming incident 7 can never hit a newer
  incident 7. The mark lives in ``store.ids``, apart from the records, so it also survives the
  loss of the records that used it (a damaged journal line, a cut snapshot). It is reserved 32
  ids at a time: one small file write per 32 inserts; after a restart ids continue above the
  block. ``next_sequence`` gives named counters (incident refs per day) the same guarantee.

What happens on each failure:

* kill -9 / power loss mid-append: the journal ends in a partial line (or a whole last line with a
  bad checksum). It was never acknowledged; it is truncated at start with a WARNING.
* kill -9 mid-compaction: a leftover ``store.json.tmp`` is deleted; the old or the new snapshot plus
  the journal still hold everything.
* A bad line with more lines after it: damage. The valid lines before it are kept (written into a
  fresh snapshot first, so a crash here just repeats the recovery), then the journal is renamed to
  ``store.journal.damaged-<UTC>`` and reported. Lines after the bad one stay in that file only.
* An unparseable snapshot: renamed aside and reported; the store starts from the journal alone
  (the writes since the last compaction) and writes a new snapshot.
* Every damage is logged at ERROR and listed in ``Store.recovered`` for the operators; original
  bytes are never rewritten.
* A snapshot from a newer schema: ``SchemaError``, nothing on disk touched. An older one is
  migrated through ``Store.MIGRATIONS`` (from-version -> function mutating the tables in place);
  the old journal is folded into an old-format snapshot first, so an old-format line is never
  replayed over migrated data.
* A failed journal append or fsync (a full disk, a read-only file): the call raises StoreError
  and is undone in memory, the partial line is cut off, and writes are refused. At most every
  HEAL_EVERY_S (on the next write, or when /health asks) the whole state is rewritten from
  memory: ids file, snapshot, an empty journal; once that works, writes go on. Not the old
  journal file: after a failed fsync Linux may report the next one clean although data was
  dropped. Reads keep working throughout.
* A document that is JSON but fails its table's record check at open is written to a
  ``quarantined`` file, removed from the table, and listed in ``Store.recovered``.
* A failed compaction (disk full): logged at ERROR; the write already was durable in the journal;
  the next attempt waits until the journal has doubled.

Concurrency: one ``threading.RLock`` around every method (TinyDB is not thread-safe; callers are
the asyncio loop and worker threads), and an exclusive ``flock`` on ``store.lock`` for as long as
the store is open, so a second process (or a second ``Store.open`` in this one) gets
``StoreLocked`` naming the holder's pid.
"""

from __future__ import annotations

import fcntl
import heapq
import json
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tinydb.storages import Storage
from tinydb.table import Document

from bot.clock import parse_time
from bot.durable_files import fsync_dir, replace_durably, write_all
from bot.store.archive import archive_path, encode_records, read_records
from bot.store.flat_table import FlatTinyDB

from bot.ports import ExpiryRegistration

log = logging.getLogger("bot.store")  # one name for the whole package's log

Tables = dict[str, dict[str, dict[str, Any]]]
Migration = Callable[[Tables], None]

SNAPSHOT_NAME = "store.json"
JOURNAL_NAME = "store.journal"
LOCK_NAME = "store.lock"
IDS_NAME = "store.ids"
DOCUMENTS_DIR = "documents"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
DEFAULT_COMPACT_BYTES = 1 << 20
ID_BLOCK = 32  # ids reserved in store.ids at a time
ARCHIVE_BATCH = 500  # records moved to the archive per write
HEAL_EVERY_S = 2.0  # after a failed write, how often rewriting the store is tried


class StoreError(Exception):
    """The store cannot do what was asked; the message says why in an operator's terms."""


class StoreLocked(StoreError):
    """Another process (or another Store in this process) has the data directory open."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        self.data_dir = data_dir
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "another process (pid unknown)"
        if pid == os.getpid():
            holder += " (this process)"
        super().__init__(f"the store in {data_dir} is already open by {holder}")


class SchemaError(StoreError):
    """The store file has a schema version this code cannot use."""


class Conflict(StoreError):
    """optimistic-concurrency check failed"""

    def __init__(self, table: str, doc_id: int, expected: int, actual: int) -> None:
        self.table, self.doc_id, self.expected, self.actual = table, doc_id, expected, actual
        super().__init__(
            f"{table} #{doc_id} is at version {actual}, not {expected}: someone changed it first"
        )


class NotFound(StoreError, LookupError):
    """No document with that id."""


@dataclass(frozen=True)
class Damage:
    path: Path
    moved_to: Path
    reason: str
    kind: str = "file"  # "file": a damaged file moved aside; "record": one record set aside


RecordCheck = Callable[[dict], "str | None"]  # why a stored document is not a valid record


@dataclass(frozen=True)
class AuditRecord:
    id: int
    at: datetime
    event: str
    actor: str | None
    chat_id: int | None
    detail: dict


@dataclass(frozen=True)
class TraceRecord:
    id: int
    trace_id: str
    at: datetime
    stage: str
    status: str
    topic: str | None
    detail: dict


@dataclass(frozen=True)
class BackupRecord:
    id: int
    backup_id: str
    at: datetime
    kind: str
    detail: dict


class _MemoryStorage(Storage):
    """The database as one dict that TinyDB's tables mutate in place; nothing persists."""

    def __init__(self) -> None:
        self.data: Tables = {}
        self.last_ids: dict[str, int] = {}
        self.recovered: list[Damage] = []
        # the high-water marks: ids that may have been handed out, and named counters
        self.reserved: dict[str, int] = {}
        self.counters: dict[str, int] = {}
        self.failure: str | None = None  # why writes are refused right now

    def read(self) -> Tables:
        return self.data

    def reserve_id(self, table: str, doc_id: int) -> None:
        """Make sure `doc_id` of `table` is never handed out again, whatever happens to records."""
        self.reserved[table] = max(self.reserved.get(table, 0), doc_id)

    def next_counter(self, name: str, floor: int) -> int:
        """The next value of a counter that never goes back (at least `floor` + 1)."""
        value = max(self.counters.get(name, 0), floor) + 1
        self.counters[name] = value
        return value

    def heal(self) -> bool:
        """Try to make writes possible again; True when they are."""
        return self.failure is None

    def write(self, data: Tables) -> None:
        self.data = data

    def commit(self, keys: list[tuple[str, int]]) -> None:
        """Make the current value of these documents durable before returning."""

    def maybe_compact(self) -> None:
        pass

    def compact(self) -> None:
        pass

    def close(self) -> None:
        pass


class _JournalStorage(_MemoryStorage):
    """Snapshot + append-only journal in ``data_dir``; see the module docstring."""

    def __init__(
        self, data_dir: Path, *, schema: int, migrations: Mapping[int, Migration], compact_bytes: int
    ) -> None:
        super().__init__()
        self.dir = data_dir
        self.snapshot_path = data_dir / SNAPSHOT_NAME
        self.journal_path = data_dir / JOURNAL_NAME
        self._tmp_path = data_dir / (SNAPSHOT_NAME + ".tmp")
        self._ids_path = data_dir / IDS_NAME
        self._schema = schema
        self._compact_bytes = compact_bytes
        self._retry_at = 0.0
        self._journal_fd = -1
        self._journal_size = 0
        self._snapshot_size = 0
        self._lock_fd = _acquire_lock(data_dir)
        try:
            self._load(migrations)
        except BaseException:
            self.close()
            raise

    # -- startup

    def _load(self, migrations: Mapping[int, Migration]) -> None:
        self._read_ids()
        schema = self._read_snapshot()
        if schema is not None and schema < self._schema:
            missing = [v for v in range(schema, self._schema) if v not in migrations]
            if missing:
                raise SchemaError(
                    f"{self.snapshot_path} has schema {schema}; no migration from version "
                    f"{missing[0]} (this code uses schema {self._schema})"
                )
        if self._tmp_path.exists():
            log.warning("removing %s left by an interrupted compaction", self._tmp_path)
            self._tmp_path.unlink()

        raw = self.journal_path.read_bytes() if self.journal_path.exists() else b""
        end, damage = self._replay(raw)
        for name, docs in self.data.items():
            # Replay may re-add ids out of order; reads walk tables newest-id-last.
            self.data[name] = dict(sorted(docs.items(), key=lambda kv: int(kv[0])))

        if damage is not None:
            self._write_snapshot(schema if schema is not None else self._schema)
            self._move_aside(self.journal_path, damage)
            end = 0
        elif end < len(raw):
            log.warning(
                "store journal %s ended in an unfinished write (%d bytes after the last whole "
                "record); it was never acknowledged and has been cut off",
                self.journal_path, len(raw) - end,
            )
            with open(self.journal_path, "r+b") as f:
                f.truncate(end)
                os.fsync(f.fileno())

        existed = self.journal_path.exists()
        self._journal_fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if not existed:
            fsync_dir(self.dir)
        self._journal_size = end

        if schema is None:
            if raw and not self.recovered:
                log.warning("%s is missing; rebuilt the store from %s alone",
                            self.snapshot_path, self.journal_path)
            self._compact(self._schema)  # new or moved-aside snapshot: the schema goes on disk now
        elif schema < self._schema:
            if self._journal_size:
                self._compact(schema)
            for version in range(schema, self._schema):
                migrations[version](self.data)
            self._compact(self._schema)
            log.warning("store migrated from schema %d to %d", schema, self._schema)
        self.maybe_compact()

    def _read_ids(self) -> None:
        """store.ids: the high-water marks. Kept apart from the snapshot and the journal so that
        losing either (a damaged line, a cut snapshot) cannot hand an id or a ref out twice."""
        try:
            raw = self._ids_path.read_bytes()
        except FileNotFoundError:
            return
        try:
            doc = json.loads(raw)
            reserved, counters = doc["ids"], doc["counters"]
            if not all(isinstance(k, str) and type(v) is int for part in (reserved, counters)
                       for k, v in part.items()):
                raise ValueError("not {name: integer}")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            self._move_aside(self._ids_path, f"id high-water marks unreadable ({_one_line(e)}); "
                                             "ids continue above the records on disk")
            return
        self.reserved, self.counters = dict(reserved), dict(counters)

    def _write_ids(self) -> None:
        body = json.dumps({"ids": self.reserved, "counters": self.counters},
                          separators=(",", ":")).encode()
        replace_durably(self._ids_path, body, self.dir, new_mode=0o600)

    def reserve_id(self, table: str, doc_id: int) -> None:
        if doc_id <= self.reserved.get(table, 0):
            return
        self._writable()
        before = self.reserved.get(table, 0)
        # a block at a time: one small file write per ID_BLOCK inserts (ids after a restart
        # continue above the block, so some numbers are skipped, none is repeated)
        self.reserved[table] = doc_id + ID_BLOCK - 1
        try:
            self._write_ids()
        except OSError as e:
            self.reserved[table] = before
            raise self._failing(e, self._ids_path) from e

    def next_counter(self, name: str, floor: int) -> int:
        self._writable()
        before = self.counters.get(name)
        value = super().next_counter(name, floor)
        try:
            self._write_ids()
        except OSError as e:
            if before is None:
                self.counters.pop(name, None)
            else:
                self.counters[name] = before
            raise self._failing(e, self._ids_path) from e
        return value

    def _read_snapshot(self) -> int | None:
        """Load store.json; its schema version, or None when there is none (or it was damaged)."""
        try:
            raw = self.snapshot_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            doc = json.loads(raw)
            schema = doc.get("schema") if isinstance(doc, dict) else None
            if type(schema) is not int:
                raise ValueError("no schema version")
            if schema > self._schema:
                raise SchemaError(
                    f"{self.snapshot_path} has schema {schema}, newer than this code's "
                    f"{self._schema}: upgrade sunflow-ops (the file was left untouched)"
                )
            tables = _checked_tables(doc.get("tables"))
            last_ids = doc.get("last_ids", {})
            if not isinstance(last_ids, dict) or not all(
                isinstance(k, str) and type(v) is int for k, v in last_ids.items()
            ):
                raise ValueError("bad last_ids")
        except ValueError as e:  # includes JSONDecodeError and UnicodeDecodeError
            self._move_aside(
                self.snapshot_path,
                f"snapshot unreadable ({_one_line(e)}); restarted from the journal alone",
            )
            return None
        self.data, self.last_ids, self._snapshot_size = tables, last_ids, len(raw)
        return schema

    def _replay(self, raw: bytes) -> tuple[int, str | None]:
        """Apply whole journal lines; (end of the last good line, damage reason or None)."""
        pos = lineno = 0
        while pos < len(raw):
            nl = raw.find(b"\n", pos)
            lineno += 1
            if nl == -1:
                return pos, None  # unfinished last line
            ops, why = _decode_line(raw[pos:nl])
            if ops is None:
                if nl == len(raw) - 1:
                    return pos, None  # a bad *last* line is an unacknowledged write too
                return pos, (
                    f"journal line {lineno} (byte {pos}) is damaged ({why}); "
                    f"kept the {lineno - 1} records before it"
                )
            for table, doc_id, doc in ops:
                docs = self.data.setdefault(table, {})
                if doc is None:
                    docs.pop(str(doc_id), None)
                else:
                    docs[str(doc_id)] = doc
            self._note_ids((t, i) for t, i, _ in ops)
            pos = nl + 1
        return pos, None

    def _move_aside(self, path: Path, reason: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target, n = path.with_name(f"{path.name}.damaged-{stamp}"), 1
        while target.exists():
            target, n = path.with_name(f"{path.name}.damaged-{stamp}-{n}"), n + 1
        os.rename(path, target)
        fsync_dir(self.dir)
        log.error("store damage: %s moved to %s: %s", path, target, reason)
        self.recovered.append(Damage(path=path, moved_to=target, reason=reason))

    # -- writing

    def commit(self, keys: list[tuple[str, int]]) -> None:
        self._writable()
        ops = [[t, i, self.data.get(t, {}).get(str(i))] for t, i in keys]
        payload = json.dumps(ops, separators=(",", ":")).encode()
        line = b"%08x %s\n" % (zlib.crc32(payload), payload)
        try:
            write_all(self._journal_fd, line)
            os.fdatasync(self._journal_fd)
        except BaseException as e:
            try:
                os.ftruncate(self._journal_fd, self._journal_size)
            except OSError:
                pass
            if isinstance(e, OSError):
                raise self._failing(e, self.journal_path) from e
            self.failure = _one_line(e) or type(e).__name__
            raise
        self._journal_size += len(line)
        self._note_ids(keys)

    def _failing(self, e: OSError, path: Path) -> StoreError:
        """Refuse writes until `heal` succeeds; the error to raise."""
        self.failure = f"{path.name}: {e.strerror or _one_line(e) or type(e).__name__}"
        self._retry_at = time.monotonic() + HEAL_EVERY_S
        log.error("store write failed (%s); writes are refused until the store can be rewritten",
                  self.failure)
        return StoreError(f"the store cannot be written ({self.failure})")

    def _writable(self) -> None:
        if self.failure is not None and not self.heal():
            raise StoreError(f"the store cannot be written ({self.failure})")

    def heal(self) -> bool:
        """After a failed write: rewrite the whole state from memory (which holds every
        acknowledged write and nothing else) as a fresh snapshot and an empty journal, then
        go on. Not the old journal file: after a failed fsync Linux may report the next one
        clean although pages were dropped. Tried at most every HEAL_EVERY_S."""
        if self.failure is None:
            return True
        if time.monotonic() < self._retry_at:
            return False
        try:
            self._write_ids()
            self._write_snapshot(self._schema)
            fresh = self.journal_path.with_name(JOURNAL_NAME + ".new")
            replace_durably(fresh, b"", self.dir, new_mode=0o600)
            os.replace(fresh, self.journal_path)
            fsync_dir(self.dir)
            fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND)
        except OSError as e:
            self.failure = f"{e.strerror or _one_line(e) or type(e).__name__}"
            self._retry_at = time.monotonic() + HEAL_EVERY_S
            return False
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
        self._journal_fd, self._journal_size = fd, 0
        log.warning("store writable again (was: %s); state rewritten to %s", self.failure,
                    self.snapshot_path)
        self.failure = None
        return True

    def maybe_compact(self) -> None:
        if self.failure or self._journal_size <= max(self._compact_bytes, self._snapshot_size):
            return
        try:
            self._compact(self._schema)
        except OSError as e:
            self._compact_bytes = 2 * self._journal_size
            log.error("store compaction failed, the journal still holds every write: %s", e)

    def compact(self) -> None:
        self._writable()
        self._compact(self._schema)

    def _compact(self, schema: int) -> None:
        self._write_snapshot(schema)
        os.ftruncate(self._journal_fd, 0)
        os.fsync(self._journal_fd)
        self._journal_size = 0

    def _write_snapshot(self, schema: int) -> None:
        body = json.dumps(
            {"schema": schema, "last_ids": self.last_ids, "tables": self.data}, separators=(",", ":")
        ).encode()
        replace_durably(self.snapshot_path, body, self.dir, new_mode=0o600)  # via store.json.tmp
        self._snapshot_size = len(body)

    def _note_ids(self, keys: Any) -> None:
        for table, doc_id in keys:
            if doc_id > self.last_ids.get(table, 0):
                self.last_ids[table] = doc_id

    def close(self) -> None:
        if self._journal_fd >= 0:
            os.close(self._journal_fd)
            self._journal_fd = -1
        if self._lock_fd >= 0:
            try:
                os.ftruncate(self._lock_fd, 0)
            except OSError:
                pass
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1



class _ReadOnlyStorage(_JournalStorage):
    """A look at the files without locking or changing them: the CLI beside a running bot.

    The owner may compact while we read (new snapshot, emptied journal): reading the old
    snapshot and the new, empty journal would lose every write since the last compaction, so
    the read is repeated until the snapshot was the same file before and after. A write landing
    meanwhile may be missed (a torn last line is skipped, as at start-up). Damage is reported
    without moving anything: the bot that owns the store does that.
    """

    ATTEMPTS = 5

    def __init__(self, data_dir: Path, *, schema: int) -> None:
        self.dir = data_dir
        self.snapshot_path = data_dir / SNAPSHOT_NAME
        self.journal_path = data_dir / JOURNAL_NAME
        self._ids_path = data_dir / IDS_NAME
        self._schema = schema
        self._journal_fd = self._lock_fd = -1
        for _ in range(self.ATTEMPTS):
            before = _identity(self.snapshot_path)
            self._read_once()
            if _identity(self.snapshot_path) == before:
                break

    def _read_once(self) -> None:
        _MemoryStorage.__init__(self)
        self._snapshot_size = 0
        self._read_ids()
        self._read_snapshot()
        raw = self.journal_path.read_bytes() if self.journal_path.exists() else b""
        _, damage = self._replay(raw)
        if damage is not None:
            self.recovered.append(Damage(path=self.journal_path, moved_to=self.journal_path, reason=damage))

    def _move_aside(self, path: Path, reason: str) -> None:
        self.recovered.append(Damage(path=path, moved_to=path, reason=reason))

    def _writable(self) -> None:
        raise StoreError(f"the store in {self.dir} was opened read-only")

    def commit(self, keys: list[tuple[str, int]]) -> None:
        self._writable()

    def maybe_compact(self) -> None:
        pass

    def compact(self) -> None:
        self._writable()


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns


def _acquire_lock(data_dir: Path) -> int:
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        os.close(fd)
        raise StoreLocked(data_dir, int(holder) if holder.isdigit() else None) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _decode_line(line: bytes) -> tuple[list | None, str]:
    if len(line) < 10 or line[8:9] != b" ":
        return None, "not '<crc32> <json>'"
    try:
        crc = int(line[:8], 16)
    except ValueError:
        return None, "bad checksum field"
    payload = line[9:]
    if zlib.crc32(payload) != crc:
        return None, "checksum mismatch"
    try:
        ops = json.loads(payload)
    except ValueError:
        return None, "bad JSON"
    if not isinstance(ops, list) or not all(
        isinstance(op, list) and len(op) == 3 and isinstance(op[0], str)
        and type(op[1]) is int and op[1] > 0 and (op[2] is None or isinstance(op[2], dict))
        for op in ops
    ):
        return None, "unexpected record shape"
    return ops, ""


def _checked_tables(tables: object) -> Tables:
    if not isinstance(tables, dict):
        raise ValueError("no tables")
    for name, docs in tables.items():
        if not isinstance(docs, dict):
            raise ValueError(f"table {name!r} is not an object")
        for key, doc in docs.items():
            if not (key.isascii() and key.isdigit()) or not isinstance(doc, dict):
                raise ValueError(f"table {name!r} has a bad document {key!r}")
    return tables


def _append_durably(path: Path, body: bytes) -> None:
    """Append `body` to `path` (made if need be), durable when this returns; after a torn last
    line (a crash mid-append) it starts on a new line, so the cut line stays the only bad one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            body = b"\n" + body
        write_all(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    if new:  # the file's name is durable too
        fsync_dir(path.parent)


def _one_line(e: BaseException | str) -> str:
    return " ".join(str(e).split())


# --- values ------------------------------------------------------------------------------------


def _plain(value: Any, what: str) -> Any:
    """A JSON round-trip copy: what the file store would give back, so both stores agree."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be JSON-able: {e}") from None


def _clone(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _iso(value: datetime, what: str) -> str:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")
    return value.astimezone(timezone.utc).isoformat()


def _parse_dt(text: str) -> datetime:
    """A time the store wrote (`_iso`); anything else is damage, not a missing value."""
    parsed = parse_time(text)
    if parsed is None:
        raise ValueError(f"not a stored time: {text!r}")
    return parsed.astimezone(timezone.utc)


class _Undo:
    """The documents one Store call touches, with their prior values, so a failed journal append
    can be taken back in memory (the caller was told the write failed)."""

    def __init__(self, data: Tables) -> None:
        self._data = data
        self.keys: list[tuple[str, int]] = []
        self._seen: set[tuple[str, int]] = set()  # `keys` as a set: a call may touch thousands
        self._before: list[dict | None] = []

    def changing(self, table: str, doc_id: int) -> None:
        """Call before changing or removing an existing document."""
        if (table, doc_id) not in self._seen:
            self._seen.add((table, doc_id))
            self.keys.append((table, doc_id))
            self._before.append(_clone(self._data[table][str(doc_id)]))

    def removing(self, table: str, doc_id: int, before: dict) -> None:
        """`changing` for a removal whose prior value the caller already holds as a copy."""
        if (table, doc_id) not in self._seen:
            self._seen.add((table, doc_id))
            self.keys.append((table, doc_id))
            self._before.append(before)

    def created(self, table: str, doc_id: int) -> None:
        self._seen.add((table, doc_id))
        self.keys.append((table, doc_id))
        self._before.append(None)

    def undo(self) -> None:
        restored: set[str] = set()
        for (table, doc_id), old in reversed(list(zip(self.keys, self._before))):
            docs = self._data.setdefault(table, {})
            if old is None:
                docs.pop(str(doc_id), None)
            else:
                docs[str(doc_id)] = old
                restored.add(table)
        for table in restored:  # back in id order, once per table (a batch restores hundreds)
            self._data[table] = dict(sorted(self._data[table].items(), key=lambda kv: int(kv[0])))


# --- the store ---------------------------------------------------------------------------------


class Store:
    """The bot's records. Use ``Store.open(data_dir)`` or ``Store.in_memory()``."""

    SCHEMA_VERSION: int = 1
    TABLES: frozenset[str] = frozenset(
        {"incidents", "incident_index", "escalations", "postmortems", "traces", "backups", "audit",
         "settings", "signals"}
    )
    # Written only through their own methods: keeps the key indexes right, audit append-only.
    TYPED_TABLES: frozenset[str] = frozenset({"traces", "backups", "audit", "settings"})
    MIGRATIONS: dict[int, Migration] = {}  # {from_version: fn(tables) upgrading in place by one}
    TOKEN_EXPIRY_KEY = "instagram.token_expires_at"
    _KEYED = {"settings": "key", "traces": "trace_id", "backups": "backup_id"}

    def __init__(self, storage: _MemoryStorage, data_dir: Path | None = None) -> None:
        self._storage = storage
        self._db = FlatTinyDB(storage=lambda: storage)
        self._lock = threading.RLock()
        self._closed = False
        self.data_dir = data_dir
        self._memory_documents: dict[str, bytes] = {}
        self._memory_archive: dict[tuple[str, str], list[dict]] = {}
        self.recovered: list[Damage] = list(storage.recovered)
        self._last_ids = {
            t: max([storage.last_ids.get(t, 0), storage.reserved.get(t, 0),
                    *map(int, storage.data.get(t, {}))])
            for t in self.TABLES
        }
        self._reindex()

    @classmethod
    def open(cls, data_dir: Path, *, compact_bytes: int = DEFAULT_COMPACT_BYTES,
             checks: Mapping[str, RecordCheck] | None = None) -> Store:
        """The file-backed store in ``data_dir`` (created if missing), locked for this process.

        ``compact_bytes``: the journal is compacted once larger than this and the snapshot.
        ``checks``: per table, why a document is not a valid record (the typed tables have
        their own); such a document is set aside in a file of its own and reported in
        ``recovered``, so one bad record cannot keep the bot from starting."""
        data_dir = Path(data_dir)
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            storage = _JournalStorage(
                data_dir, schema=cls.SCHEMA_VERSION, migrations=cls.MIGRATIONS,
                compact_bytes=compact_bytes,
            )
        except OSError as e:
            raise StoreError(f"cannot open the store in {data_dir}: {e}") from e
        store = cls(storage, data_dir)
        try:
            store._quarantine({**_TYPED_CHECKS, **(checks or {})})
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def open_readonly(cls, data_dir: Path) -> Store:
        """The file store as it is on disk now, without taking the lock; writes raise StoreError."""
        data_dir = Path(data_dir)
        try:
            return cls(_ReadOnlyStorage(data_dir, schema=cls.SCHEMA_VERSION), data_dir)
        except OSError as e:
            raise StoreError(f"cannot read the store in {data_dir}: {e}") from e

    @classmethod
    def in_memory(cls) -> Store:
        return cls(_MemoryStorage())

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def compact(self) -> None:
        """Fold the journal into a fresh snapshot now (normally automatic)."""
        with self._reading():
            self._storage.compact()

    @property
    def write_problem(self) -> str | None:
        """Why writes are refused right now (a full disk, a read-only file), or None."""
        return self._storage.failure

    def heal(self) -> bool:
        """After a failed write, try now (at most every few seconds) to make writes possible
        again; True when they are. Writes try this themselves."""
        with self._reading():
            return self._storage.heal()

    def next_sequence(self, name: str, *, floor: int = 0) -> int:
        """The next number of a named sequence, durable before it is returned and never given
        twice, even if the records that used it are lost (at least `floor` + 1)."""
        with self._reading():
            return self._storage.next_counter(name, floor)

    # -- settings

    def get_setting(self, key: str, default: Any = None) -> Any:
        with self._reading():
            doc_id = self._keys["settings"].get(key)
            if doc_id is None:
                return default
            return _clone(self._docs("settings")[str(doc_id)]["value"])

    def set_setting(self, key: str, value: Any, *, actor: str | None = None) -> None:
        """With an actor the change is also audited (event "setting.set")."""
        value = _plain(value, f"setting {key!r}")
        with self._writing() as undo:
            self._put_setting(undo, key, value, actor)
            if actor is not None:
                self._add_audit(undo, "setting.set", actor, None, {"key": key})

    def claim(self, key: str, *, now: datetime, every: timedelta) -> bool:
        """True (and `now` recorded under `key`) when the last claim is `every` old or there is
        none; False otherwise. One check and write under the store's lock: of two callers at the
        same moment exactly one gets True (a polite refusal goes out once, not once per message)."""
        iso = _iso(now, "now")
        with self._writing() as undo:
            doc_id = self._keys["settings"].get(key)
            last = self._docs("settings")[str(doc_id)]["value"] if doc_id is not None else None
            if isinstance(last, str) and now - _parse_dt(last) < every:
                return False
            self._put_setting(undo, key, iso, None)
            return True

    def token_expiry(self) -> datetime | None:
        value = self.get_setting(self.TOKEN_EXPIRY_KEY)
        return _parse_dt(value) if value else None

    def token_expiry_registration(self) -> ExpiryRegistration | None:
        """The registered expiry with who set it and when (one lookup, no audit scan)."""
        with self._reading():
            doc_id = self._keys["settings"].get(self.TOKEN_EXPIRY_KEY)
            if doc_id is None:
                return None
            doc = self._docs("settings")[str(doc_id)]
            if not doc.get("value"):
                return None
            return ExpiryRegistration(expires_at=_parse_dt(doc["value"]), actor=doc.get("actor"),
                                      at=_parse_dt(doc["at"]))

    def set_token_expiry(self, expires_at: datetime, *, actor: str) -> None:
        iso = _iso(expires_at, "expires_at")
        with self._writing() as undo:
            self._put_setting(undo, self.TOKEN_EXPIRY_KEY, iso, actor)
            self._add_audit(undo, "token.set_expiry", actor, None, {"expires_at": iso})

    def forget_token_expiry(self, *, actor: str) -> None:
        with self._writing() as undo:
            self._put_setting(undo, self.TOKEN_EXPIRY_KEY, None, actor)
            self._add_audit(undo, "token.forget_expiry", actor, None, {})

    # -- documents (files the group is owed: log bundles, post-mortems)

    def put_document(self, folder: str, filename: str, content: bytes) -> str:
        """Keep a file under ``documents/<folder>/<filename>`` (durably, before any record names
        it); its reference for ``document()``. The in-memory store keeps it in memory. The file
        is written outside the store's lock: a bundle's fsync holds up no record write."""
        ref = f"{_safe_name(folder)}/{_safe_name(filename)}"
        with self._reading():
            if self.data_dir is None:
                self._memory_documents[ref] = bytes(content)
                return ref
        target = self.data_dir / DOCUMENTS_DIR / ref
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            replace_durably(target, bytes(content), target.parent, new_mode=0o600)
        except OSError as e:
            raise StoreError(f"could not keep {ref}: {e.strerror or e}") from e
        return ref

    def document(self, ref: str) -> bytes:
        """A file kept by ``put_document``; NotFound when it is gone."""
        folder, _, filename = ref.partition("/")
        try:
            ref = f"{_safe_name(folder)}/{_safe_name(filename)}"
        except ValueError:
            raise NotFound(f"no document {ref}") from None
        with self._reading():
            if self.data_dir is None:
                if ref not in self._memory_documents:
                    raise NotFound(f"no document {ref}")
                return self._memory_documents[ref]
        try:
            return (self.data_dir / DOCUMENTS_DIR / ref).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"no document {ref}") from None
        except OSError as e:
            raise StoreError(f"could not read {ref}: {e.strerror or e}") from e

    def remove_document(self, ref: str) -> None:
        """Forget a file kept by ``put_document`` (retention); nothing happens if it is gone."""
        folder, _, filename = ref.partition("/")
        ref = f"{_safe_name(folder)}/{_safe_name(filename)}"
        with self._reading():
            if self.data_dir is None:
                self._memory_documents.pop(ref, None)
                return
        try:
            (self.data_dir / DOCUMENTS_DIR / ref).unlink(missing_ok=True)
        except OSError as e:
            raise StoreError(f"could not remove {ref}: {e.strerror or e}") from e

    # -- the archive (records nobody works on any more, out of memory)

    def archive(self, table: str, where: Callable[[dict], bool], *, month_of: Callable[[dict], str],
                index_table: str | None = None,
                index_of: Callable[[int, dict], dict] | None = None) -> list[int]:
        """Move the documents `where` accepts out of memory, into ``archive/<table>/<month>.jsonl``
        (each with its "id"); the ids moved. A few hundred at a time: each batch is copied, appended
        durably, then removed from the table (with a row each in `index_table`, made by
        `index_of`) in one write, so other callers wait for one batch at most. A document changed
        or removed while its batch was written stays as it is now (archived again later, its
        newer copy supersedes). The snapshot still holds them until `compact()`."""
        self._check_table(table)
        with self._reading():
            ids = [int(k) for k, d in self._docs(table).items() if where({**d, "id": int(k)})]
        moved: list[int] = []
        for start in range(0, len(ids), ARCHIVE_BATCH):
            with self._reading():
                docs = self._docs(table)
                batch = [(i, _clone(docs[str(i)])) for i in ids[start:start + ARCHIVE_BATCH]
                         if str(i) in docs]
            moved += self._archive_batch(table, batch, month_of, index_table, index_of)
        if moved:
            log.info("store: %d %s record(s) archived", len(moved), table)
        return moved

    def _archive_batch(self, table: str, batch: list[tuple[int, dict]],
                       month_of: Callable[[dict], str], index_table: str | None,
                       index_of: Callable[[int, dict], dict] | None) -> list[int]:
        months: dict[str, list[dict]] = {}
        for doc_id, doc in batch:
            months.setdefault(month_of(doc), []).append({**doc, "id": doc_id})
        for month, records in months.items():
            if self.data_dir is None:
                with self._reading():
                    self._memory_archive.setdefault((table, month), []).extend(_clone(records))
                continue
            try:
                _append_durably(archive_path(self.data_dir, table, month), encode_records(records))
            except OSError as e:
                raise StoreError(f"could not archive {table} of {month}: {e.strerror or e}") from e
        moved = []
        key_field = self._KEYED.get(table)
        with self._writing() as undo:
            docs = self._docs(table)
            for doc_id, doc in batch:
                if docs.get(str(doc_id)) != doc:  # changed or gone since it was copied
                    continue
                undo.removing(table, doc_id, doc)
                self._db.table(table).remove(doc_ids=[doc_id])
                key = doc.get(key_field) if key_field is not None else None
                if key is not None and self._keys[table].get(key) == doc_id:
                    del self._keys[table][key]
                if index_table is not None and index_of is not None:
                    self._insert(undo, index_table, _plain(index_of(doc_id, doc), "index row"))
                moved.append(doc_id)
        return moved

    def archived(self, table: str, month: str) -> list[dict]:
        """The records archived from `table` in `month` (YYYY-MM), each with its "id"."""
        self._check_table(table)
        if self.data_dir is None:
            with self._reading():
                found = {r["id"]: r for r in self._memory_archive.get((table, month), [])}
            return _clone(list(found.values()))
        try:
            return read_records(archive_path(self.data_dir, table, month))
        except OSError as e:
            raise StoreError(f"could not read the {table} archive of {month}: {e.strerror or e}") from e

    # -- audit

    def audit(
        self, event: str, *, actor: str | None = None, chat_id: int | None = None,
        detail: dict | None = None,
    ) -> AuditRecord:
        detail = _plain(detail or {}, "audit detail")
        with self._writing() as undo:
            return self._add_audit(undo, event, actor, chat_id, detail)

    def audit_records(
        self, *, event: str | None = None, chat_id: int | None = None, limit: int = 100
    ) -> list[AuditRecord]:
        """Newest first."""
        out: list[AuditRecord] = []
        with self._reading():
            for key, doc in reversed(self._docs("audit").items()):
                if len(out) >= limit:
                    break
                if (event is None or doc["event"] == event) and (
                    chat_id is None or doc["chat_id"] == chat_id
                ):
                    out.append(_audit_record(int(key), doc))
        return out

    # -- traces

    def add_trace(
        self, trace_id: str, *, at: datetime, stage: str, status: str, topic: str | None = None,
        detail: dict | None = None,
    ) -> TraceRecord:
        """Insert, or replace the record with the same trace_id; one that holds this already is
        not written again (an import of the pipeline's trace files re-reads them all)."""
        doc = {
            "trace_id": trace_id, "at": _iso(at, "at"), "stage": stage, "status": status,
            "topic": topic, "detail": _plain(detail or {}, "trace detail"),
        }
        with self._writing() as undo:
            doc_id = self._keys["traces"].get(trace_id)
            stored = self._docs("traces").get(str(doc_id)) if doc_id is not None else None
            if doc_id is None or stored is None or {k: stored.get(k) for k in doc} != doc:
                doc_id = self._upsert(undo, "traces", trace_id, doc)
        return _trace_record(doc_id, doc)

    def traces(self, *, limit: int = 20) -> list[TraceRecord]:
        """Newest ``at`` first."""
        with self._reading():
            return [_trace_record(i, d) for i, d in self._newest_at("traces", limit)]

    # -- backups

    def add_backup(self, backup_id: str, *, at: datetime, kind: str, detail: dict) -> BackupRecord:
        """Insert, or replace the backup with the same backup_id."""
        doc = {"backup_id": backup_id, "at": _iso(at, "at"), "kind": kind,
               "detail": _plain(detail, "backup detail")}
        with self._writing() as undo:
            doc_id = self._upsert(undo, "backups", backup_id, doc)
        return _backup_record(doc_id, doc)

    def backup(self, backup_id: str) -> BackupRecord | None:
        with self._reading():
            doc_id = self._keys["backups"].get(backup_id)
            return None if doc_id is None else _backup_record(doc_id, self._docs("backups")[str(doc_id)])

    def backups(self, *, limit: int = 100) -> list[BackupRecord]:
        """Newest ``at`` first."""
        with self._reading():
            return [_backup_record(i, d) for i, d in self._newest_at("backups", limit)]

    def remove_backups(self, backup_ids: Iterable[str]) -> int:
        """Delete these backups (retention); how many there were."""
        removed = 0
        with self._writing() as undo:
            for backup_id in backup_ids:
                doc_id = self._keys["backups"].pop(backup_id, None)
                if doc_id is not None:
                    undo.changing("backups", doc_id)
                    self._db.table("backups").remove(doc_ids=[doc_id])
                    removed += 1
        return removed

    def insert(self, table: str, doc: dict) -> int:
        """Store a copy of ``doc`` at version ``_v`` 1; its id. Keys "id" and "_v" are ignored."""
        self._check_writable(table)
        body = self._body(doc)
        body["_v"] = 1
        with self._writing() as undo:
            return self._insert(undo, table, body)

    def get(self, table: str, doc_id: int) -> dict | None:
        """A copy, with "id" added."""
        self._check_table(table)
        with self._reading():
            doc = self._docs(table).get(str(doc_id))
            return None if doc is None else {**_clone(doc), "id": doc_id}

    def version(self, table: str, doc_id: int) -> int | None:
        """The document's ``_v`` without copying it (None when it does not exist)."""
        self._check_table(table)
        with self._reading():
            doc = self._docs(table).get(str(doc_id))
            return None if doc is None else doc.get("_v", 0)

    def update(
        self, table: str, doc_id: int, changes: dict, *, expect_version: int | None = None
    ) -> dict:
        """Merge ``changes`` (top-level keys), bump ``_v``; the new document.

        With ``expect_version``, raise Conflict unless the stored ``_v`` is still that version:
        of two operators pressing the same button at once exactly one gets through."""
        self._check_writable(table)
        body = self._body(changes)
        with self._writing() as undo:
            current = self._docs(table).get(str(doc_id))
            if current is None:
                raise NotFound(f"{table} #{doc_id} does not exist")
            version = current.get("_v", 0)
            if expect_version is not None and expect_version != version:
                raise Conflict(table, doc_id, expect_version, version)
            undo.changing(table, doc_id)
            self._db.table(table).update({**body, "_v": version + 1}, doc_ids=[doc_id])
            return {**_clone(self._docs(table)[str(doc_id)]), "id": doc_id}

    def find(
        self, table: str, where: Callable[[dict], bool] | None = None, *,
        limit: int | None = None, newest_first: bool = True,
    ) -> list[dict]:
        """Copies (with "id") of the documents ``where`` accepts, by id; ``where`` must not mutate."""
        self._check_table(table)
        out: list[dict] = []
        with self._reading():
            items = self._docs(table).items()
            for key, doc in reversed(items) if newest_first else items:
                if limit is not None and len(out) >= limit:
                    break
                view = {**doc, "id": int(key)}
                if where is None or where(view):
                    out.append(_clone(view))
        return out

    def remove(self, table: str, doc_id: int) -> None:
        """Delete the document; nothing happens if there is none."""
        self._check_writable(table)
        with self._writing() as undo:
            if str(doc_id) in self._docs(table):
                undo.changing(table, doc_id)
                self._db.table(table).remove(doc_ids=[doc_id])

    def count(self, table: str) -> int:
        self._check_table(table)
        with self._reading():
            return len(self._docs(table))

    # -- internals

    def _quarantine(self, checks: Mapping[str, RecordCheck]) -> None:
        """Set aside every document a check refuses: its JSON goes to
        ``<table>-<id>.quarantined-<UTC>.json`` (durably, first), then it leaves the table."""
        assert self.data_dir is not None
        for table, check in checks.items():
            for key, doc in list(self._docs(table).items()):
                try:
                    problem = check(doc)
                except Exception as e:  # a check that trips over the record has its answer
                    problem = f"{type(e).__name__}: {_one_line(e)}"
                if problem is None:
                    continue
                stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
                target = self.data_dir / f"{table}-{key}.quarantined-{stamp}.json"
                try:
                    replace_durably(target, json.dumps(doc, ensure_ascii=False, indent=1).encode(),
                                    self.data_dir, new_mode=0o600)
                    with self._writing() as undo:
                        undo.changing(table, int(key))
                        self._db.table(table).remove(doc_ids=[int(key)])
                except OSError as e:
                    raise StoreError(f"cannot set aside {table} #{key} in {self.data_dir}: {e}") from e
                self._reindex()
                reason = f"{table} #{key} is not a valid record ({_one_line(problem)})"
                log.error("store: %s; set aside in %s", reason, target)
                self.recovered.append(Damage(path=self.data_dir / SNAPSHOT_NAME, moved_to=target,
                                             reason=reason, kind="record"))

    @contextmanager
    def _reading(self) -> Iterator[None]:
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            yield

    @contextmanager
    def _writing(self) -> Iterator[_Undo]:
        """One Store call = one journal line, durable when the call returns."""
        with self._reading():
            undo = _Undo(self._storage.data)
            try:
                yield undo
                if undo.keys:
                    self._storage.commit(undo.keys)
            except BaseException:
                if undo.keys:
                    undo.undo()
                    self._reindex()
                raise
            self._storage.maybe_compact()

    def _docs(self, table: str) -> dict[str, dict]:
        # Kept in ascending id order (inserts take the highest id; load and undo sort), so
        # reversed() is newest first.
        return self._storage.data.get(table, {})

    def _insert(self, undo: _Undo, table: str, body: dict) -> int:
        doc_id = self._last_ids[table] + 1
        self._storage.reserve_id(table, doc_id)  # durable before the record is
        self._db.table(table).insert(Document(body, doc_id=doc_id))
        self._last_ids[table] = doc_id
        undo.created(table, doc_id)
        return doc_id

    def _upsert(self, undo: _Undo, table: str, key: str, doc: dict) -> int:
        doc_id = self._keys[table].get(key)
        if doc_id is None:
            doc_id = self._insert(undo, table, doc)
            self._keys[table][key] = doc_id
        else:
            undo.changing(table, doc_id)
            self._db.table(table).update(doc, doc_ids=[doc_id])
        return doc_id

    def _put_setting(self, undo: _Undo, key: str, value: Any, actor: str | None) -> None:
        doc = {"key": key, "value": value, "at": _now_iso(), "actor": actor}
        self._upsert(undo, "settings", key, doc)

    def _add_audit(
        self, undo: _Undo, event: str, actor: str | None, chat_id: int | None, detail: dict
    ) -> AuditRecord:
        doc = {"at": _now_iso(), "event": event, "actor": actor, "chat_id": chat_id,
               "detail": detail}
        return _audit_record(self._insert(undo, "audit", doc), doc)

    def _newest_at(self, table: str, limit: int) -> list[tuple[int, dict]]:
        # "at" is always written by _iso (UTC, one format), so string order is time order.
        top = heapq.nlargest(
            max(limit, 0), self._docs(table).items(), key=lambda kv: (kv[1]["at"], int(kv[0]))
        )
        return [(int(k), d) for k, d in top]

    def _reindex(self) -> None:
        self._keys: dict[str, dict[str, int]] = {
            table: {doc[field]: int(k) for k, doc in self._docs(table).items() if field in doc}
            for table, field in self._KEYED.items()
        }

    def _check_table(self, table: str) -> None:
        if table not in self.TABLES:
            raise ValueError(f"unknown table {table!r}; known: {', '.join(sorted(self.TABLES))}")

    def _check_writable(self, table: str) -> None:
        self._check_table(table)
        if table in self.TYPED_TABLES:
            raise ValueError(f"table {table!r} is written only through its own Store methods")

    @staticmethod
    def _body(doc: Mapping) -> dict:
        if not isinstance(doc, Mapping):
            raise TypeError(f"a document must be a mapping, not {type(doc).__name__}")
        body = _plain(dict(doc), "document")
        body.pop("id", None)
        body.pop("_v", None)
        return body


def shape_problem(doc: Mapping, fields: Mapping[str, type | tuple[type, ...]], *,
                  times: tuple[str, ...] = (), where: str = "the record") -> str | None:
    """Why `doc` lacks a field, holds one of another type (a bool is not an int here), or has
    a time in `times` that does not parse; None when it has what `fields` names."""
    for name, kinds in fields.items():
        if name not in doc:
            return f"{where} has no {name!r}"
        value, allowed = doc[name], kinds if isinstance(kinds, tuple) else (kinds,)
        if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed
                                              and object not in allowed):
            return f"{where}'s {name!r} is {type(value).__name__}"
    for name in times:
        try:
            _parse_dt(doc[name])
        except (TypeError, ValueError):
            return f"{where}'s {name!r} is not a time"
    return None


_OPT_STR = (str, type(None))
_OPT_INT = (int, type(None))
# what the typed tables' readers index; anything else in a document is left alone
_TYPED_CHECKS: dict[str, RecordCheck] = {
    "audit": lambda d: shape_problem(d, {"at": str, "event": str, "actor": _OPT_STR,
                                         "chat_id": _OPT_INT, "detail": dict}, times=("at",)),
    "traces": lambda d: shape_problem(d, {"trace_id": str, "at": str, "stage": str, "status": str,
                                          "topic": _OPT_STR, "detail": dict}, times=("at",)),
    "backups": lambda d: shape_problem(d, {"backup_id": str, "at": str, "kind": str,
                                           "detail": dict}, times=("at",)),
    "settings": lambda d: shape_problem(d, {"key": str, "value": object, "at": str,
                                            "actor": _OPT_STR}, times=("at",)),
}


def _safe_name(part: str) -> str:
    """`part` when it is one plain file name (no separators, not . or ..); ValueError if not."""
    if not _SAFE_NAME.match(part) or part in (".", ".."):
        raise ValueError(f"not a safe file name: {part!r}")
    return part


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def _audit_record(doc_id: int, d: dict) -> AuditRecord:
    return AuditRecord(
        id=doc_id, at=_parse_dt(d["at"]), event=d["event"], actor=d["actor"],
        chat_id=d["chat_id"], detail=_clone(d["detail"]),
    )


def _backup_record(doc_id: int, d: dict) -> BackupRecord:
    return BackupRecord(id=doc_id, backup_id=d["backup_id"], at=_parse_dt(d["at"]), kind=d["kind"],
                        detail=_clone(d["detail"]))


def _trace_record(doc_id: int, d: dict) -> TraceRecord:
    return TraceRecord(
        id=doc_id, trace_id=d["trace_id"], at=_parse_dt(d["at"]), stage=d["stage"],
        status=d["status"], topic=d["topic"], detail=_clone(d["detail"]),
    )
