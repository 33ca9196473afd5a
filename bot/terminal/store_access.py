"""The terminal's way into the store: open it (writable with the start-up record checks, or
read-only), or say in one line why not and give the exit code."""

from __future__ import annotations

from bot.config import Settings
from bot.exit_codes import EX_IOERR, EX_TEMPFAIL
from bot.incidents.record import RECORD_CHECKS
from bot.store import Store, StoreError, StoreLocked


def open_store(settings: Settings, *, writing: bool, busy_hint: str) -> Store | int:
    """The store, or the exit code after saying why it cannot be had (`busy_hint`: what to do
    while the bot holds it)."""
    try:
        if writing:
            return Store.open(settings.data_dir, checks=RECORD_CHECKS)
        return Store.open_readonly(settings.data_dir)
    except StoreLocked as exc:
        print(f"sunflow-ops: {exc}\n  ({busy_hint})")
        return EX_TEMPFAIL
    except StoreError as exc:
        print(f"sunflow-ops: {exc}")
        return EX_IOERR
