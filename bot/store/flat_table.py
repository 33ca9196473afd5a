"""The one override of TinyDB's internals: a write costs O(documents touched), not O(table).

TinyDB 4.x's private ``Table._update_table`` reads the whole table, converts every key
str -> int, hands the dict to an updater, converts every key back and writes the table: about
3 ms at 10,000 records on every write, forty times the fsync the journal pays. ``FlatTable``
gives the updater ``IdKeyed``, a key-converting view of the stored dict, instead.

This leans on a private method, so tinydb is pinned below 4.10 in pyproject.toml and
``tests/test_store.py::test_tinydb_private_update_table_is_what_flat_table_overrides`` fails
loudly when TinyDB changes the method's signature or stops calling it from its writes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping

from tinydb import TinyDB
from tinydb.table import Table


class IdKeyed(MutableMapping):
    """One stored table (str ids) seen the way TinyDB's updaters expect it (int ids), uncopied."""

    __slots__ = ("_docs",)

    def __init__(self, docs: dict[str, dict]) -> None:
        self._docs = docs

    def __getitem__(self, doc_id: int) -> dict:
        return self._docs[str(doc_id)]

    def __setitem__(self, doc_id: int, doc: dict) -> None:
        self._docs[str(doc_id)] = doc

    def __delitem__(self, doc_id: int) -> None:
        del self._docs[str(doc_id)]

    def __contains__(self, doc_id: object) -> bool:
        return str(doc_id) in self._docs

    def __iter__(self) -> Iterator[int]:
        return (int(k) for k in self._docs)

    def __len__(self) -> int:
        return len(self._docs)


class FlatTable(Table):
    # TinyDB 4.x rebuilds the table dict twice per write; updaters only get/set/delete/iterate,
    # which the view supports, so a write costs O(documents touched).
    def _update_table(self, updater: Callable[[dict], None]) -> None:
        tables = self._storage.read()
        if tables is None:  # nothing stored yet (a new file, the in-memory storage): no tables
            tables = {}
        updater(IdKeyed(tables.setdefault(self.name, {})))  # type: ignore[arg-type]
        self._storage.write(tables)
        self.clear_cache()


class FlatTinyDB(TinyDB):
    table_class = FlatTable
