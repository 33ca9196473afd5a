"""Backups of the pipeline's configuration: a snapshot, what a restore would change (secrets
masked), a restore that writes exactly the backup, its undo, and retention."""

from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.backups.managed_files import ManagedFileError, ManagedFiles
from bot.backups.service import Backups, BackupRefused
from bot.clock import utc_now
from bot.sandbox.home import seed_home
from bot.store import Store

ADMIN = "tg:1001 @mina_admin"


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return seed_home(tmp_path / "home")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def backups(home: Path, clock: Clock) -> Backups:
    return Backups(Store.in_memory(), ManagedFiles(home), clock=clock, tz=timezone.utc, keep=5,
                   keep_days=30)


def snapshot(home: Path) -> dict[str, bytes]:
    return {p.relative_to(home).as_posix(): p.read_bytes()
            for p in [home / ".env", *sorted((home / "config").glob("*.json"))] if p.exists()}


def test_a_backup_holds_the_env_and_the_config_json_files(home, backups) -> None:
    backup = backups.take(actor=ADMIN, reason="before set-expiry")
    assert backup.backup_id.startswith("BK-") and len(backup.backup_id) == len("BK-20261205-0001")
    assert backup.names == (".env", "config/publishing.json")  # not config/data/*
    assert backups.files_of(backup.backup_id) == snapshot(home)
    assert backup.actor == ADMIN and len(backup.hash) == 64
    # the store's records name the files; their contents (the .env's secrets) are kept apart
    assert "sample-instagram-token" not in repr(backups.store.backups())


def test_what_a_restore_would_change_masks_every_secret(home, backups) -> None:
    backup = backups.take(actor=ADMIN, reason="before rotation")
    env = home / ".env"
    env.write_text(env.read_text().replace("sample-instagram-token-not-real", "EAAGnewtoken123")
                   + "NEW_FLAG=1\n")
    schedule = json.loads((home / "config/publishing.json").read_text())
    (home / "config/publishing.json").write_text(json.dumps({**schedule, "posts_per_day": 1}))
    (home / "config/extra.json").write_text("{}")
    changes = {c.name: c for c in backups.preview(backup.backup_id)}
    assert changes["config/extra.json"].status == "removed"  # a restore takes it away
    env_keys = {k.key: k for k in changes[".env"].keys}
    assert env_keys["INSTAGRAM_ACCESS_TOKEN"].before == "•••" == env_keys["INSTAGRAM_ACCESS_TOKEN"].after
    assert env_keys["NEW_FLAG"].before == "1" and env_keys["NEW_FLAG"].after is None
    said = repr(changes)
    assert "EAAGnewtoken123" not in said and "sample-instagram-token" not in said
    env.write_text("CLOUDINARY_URL=cloudinary://1234:s3cr3t@cloud\nRETRY_URL=https://u:pw@host/x\n")
    said = repr(backups.preview(backup.backup_id))
    assert "s3cr3t" not in said and "pw@" not in said  # a URL carrying credentials is a secret
    [per_day] = changes["config/publishing.json"].keys
    assert (per_day.key, per_day.before, per_day.after) == ("posts_per_day", "1", "2")


def test_a_restore_writes_exactly_the_backup_and_undo_brings_the_change_back(home, backups, clock) -> None:
    backup = backups.take(actor=ADMIN, reason="before change")
    original = snapshot(home)
    os.chmod(home / ".env", 0o600)
    (home / ".env").write_text("INSTAGRAM_ACCESS_TOKEN=changed\n")
    (home / "config/extra.json").write_text('{"a": 1}')
    changed = snapshot(home)
    restored = backups.restore(backup.backup_id, actor=ADMIN, admin=True, asked_at=clock.now)
    assert snapshot(home) == original
    assert set(restored.changed) == {".env", "config/extra.json"}
    assert stat.S_IMODE((home / ".env").stat().st_mode) == 0o600  # permissions kept
    assert backups.files_of(restored.undo.backup_id) == changed
    backups.restore(restored.undo.backup_id, actor=ADMIN, admin=True, asked_at=clock.now)
    assert snapshot(home) == changed
    assert [r.event for r in backups.store.audit_records()] == ["backup.restored"] * 2


def test_a_restore_needs_an_admin_and_a_fresh_confirmation(home, backups, clock) -> None:
    backup = backups.take(actor=ADMIN, reason="x")
    (home / ".env").write_text("X=1\n")
    before = snapshot(home)
    with pytest.raises(BackupRefused) as refused:
        backups.restore(backup.backup_id, actor="tg:1002", admin=False, asked_at=clock.now)
    assert refused.value.key == "backup.needs_admin"
    with pytest.raises(BackupRefused) as refused:
        backups.restore(backup.backup_id, actor=ADMIN, admin=True,
                        asked_at=clock.now - timedelta(minutes=6))
    assert refused.value.key == "backup.confirm_expired"
    with pytest.raises(BackupRefused) as refused:
        backups.restore("BK-19990101-0001", actor=ADMIN, admin=True, asked_at=clock.now)
    assert refused.value.key == "backup.unknown"
    assert snapshot(home) == before and len(backups.store.backups()) == 1  # nothing happened


def test_retention_keeps_the_newest_by_count_and_age(home, backups, clock) -> None:
    taken = []
    for n in range(8):
        clock.now += timedelta(days=1)
        taken.append(backups.take(actor=ADMIN, reason=f"change {n}").backup_id)
    assert [b.backup_id for b in backups.store.backups()] == taken[::-1][:5]
    with pytest.raises(BackupRefused):  # a dropped backup's files went with it
        backups.files_of(taken[0])
    clock.now += timedelta(days=400)
    backups.take(actor=ADMIN, reason="much later")
    assert len(backups.store.backups()) == 1  # the old ones aged out; the newest always stays
    page, pages = backups.page(0)
    assert pages == 1 and page[0].reason == "much later"


def test_a_managed_file_leading_out_of_the_home_is_refused(home, backups, tmp_path) -> None:
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    (home / "config/link.json").symlink_to(outside)
    with pytest.raises(ManagedFileError, match="leads outside"):
        backups.take(actor=ADMIN, reason="x")


async def test_the_mistakes_record_is_made_with_a_heading_backed_up_and_never_doubled(home, backups) -> None:
    from bot.backups.mistakes import MistakesFile

    record = MistakesFile(backups)
    entry = "## 2026-12-05 · INC-20261205-001 · Token expired (P0)\n- Cause: x\n- Prevention: y\n"
    first = await record.append("INC-20261205-001", entry, actor=ADMIN)
    text = (home / "CLAUDE.md").read_text()
    assert first is not None and text.startswith("# CLAUDE.md") and text.endswith(entry)
    assert "CLAUDE.md" not in backups.get(first).names  # backed up as it was: not there yet
    assert await record.append("INC-20261205-001", entry, actor=ADMIN) is None
    assert (home / "CLAUDE.md").read_text() == text  # the same incident is not added twice
    second = await record.append("INC-20261205-002", entry.replace("001", "002"), actor=ADMIN)
    assert second is not None and "CLAUDE.md" in backups.get(second).names
    assert (home / "CLAUDE.md").read_text().count("## 2026-12-05") == 2


def test_a_secret_in_a_json_list_or_a_long_value_is_never_shown(home, backups) -> None:
    from bot.backups.view import change_lines
    from bot.secrets import Redactor

    backup = backups.take(actor=ADMIN, reason="x")
    long_secret = "s3cr3t" * 20
    (home / "config/accounts.json").write_text(json.dumps(
        {"accounts": [{"token": "EAAGlisted1234567890"}], "note": "x" * 50 + long_secret}))
    redact = Redactor([long_secret])
    tr = lambda key, **params: f"{key} {params}"  # noqa: E731
    text = "\n".join(change_lines(tr, backups.preview(backup.backup_id), redact))
    assert "EAAGlisted" not in text and "accounts[0].token" in text
    assert "s3cr3t" not in text  # redacted whole before the value was clipped
