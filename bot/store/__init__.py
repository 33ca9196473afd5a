"""Everything the bot keeps, in one TinyDB store durable across ``kill -9`` (see ``store.py``).

``flat_table.py`` is the one override of TinyDB's internals; nothing outside this package
imports TinyDB.
"""

from bot.store.store import (
    AuditRecord,
    BackupRecord,
    Conflict,
    Damage,
    NotFound,
    SchemaError,
    Store,
    StoreError,
    StoreLocked,
    TraceRecord,
    shape_problem,
)

__all__ = [
    "AuditRecord", "BackupRecord", "Conflict", "Damage", "NotFound", "SchemaError", "Store",
    "StoreError", "StoreLocked", "TraceRecord", "shape_problem",
]
