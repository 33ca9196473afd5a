"""`sunflow-ops backup list|show|restore` as a shell user runs it, on the sandbox's home."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.backups.managed_files import ManagedFiles
from bot.backups.service import Backups
from bot.clock import utc_now
from bot.config import Settings
from bot.sandbox import ADMIN, OPERATOR
from bot.store import Store

ROOT = Path(__file__).resolve().parents[1]


def _cli(sandbox, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **sandbox.env(lang="en"), "PYTHONPATH": str(ROOT)}
    env.pop("SUNFLOW_OPERATOR", None)
    return subprocess.run([sys.executable, "-m", "bot.cli", "backup", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)


def _take(sandbox) -> str:
    settings = Settings.from_env(sandbox.env(lang="en"), dotenv_path=None)
    with Store.open(settings.data_dir) as store:
        backups = Backups(store, ManagedFiles(settings.sunflow_home), clock=utc_now,
                          tz=settings.timezone)
        return backups.take(actor="tg:1001", reason="before a test change").backup_id


def test_list_show_and_a_confirmed_restore_with_its_undo(sandbox, tmp_path) -> None:
    assert "No backups yet" in _cli(sandbox, tmp_path, "list").stdout
    env_file = sandbox.home / ".env"
    original = env_file.read_bytes()
    backup_id = _take(sandbox)
    env_file.write_text("INSTAGRAM_ACCESS_TOKEN=EAAGchangedbyhand\n")
    listed = _cli(sandbox, tmp_path, "list")
    assert listed.returncode == 0 and backup_id in listed.stdout and "before a test change" in listed.stdout
    shown = _cli(sandbox, tmp_path, "show", backup_id)
    assert shown.returncode == 0 and ".env: a restore changes it" in shown.stdout
    assert "INSTAGRAM_ACCESS_TOKEN: ••• → •••" in shown.stdout and "EAAG" not in shown.stdout
    unconfirmed = _cli(sandbox, tmp_path, "restore", backup_id)
    assert unconfirmed.returncode == 0 and "add --yes" in unconfirmed.stdout
    assert env_file.read_text() == "INSTAGRAM_ACCESS_TOKEN=EAAGchangedbyhand\n"  # nothing changed
    not_admin = _cli(sandbox, tmp_path, "restore", backup_id, "--yes", "--as", str(OPERATOR.id))
    assert not_admin.returncode == 1 and "Only an admin" in not_admin.stdout
    done = _cli(sandbox, tmp_path, "restore", backup_id, "--yes", "--as", str(ADMIN.id))
    assert done.returncode == 0 and "Undo restores BK-" in done.stdout, done.stdout + done.stderr
    assert env_file.read_bytes() == original
    undo_id = done.stdout.rsplit("Undo restores ", 1)[1].split(".")[0]
    undone = _cli(sandbox, tmp_path, "restore", undo_id, "--yes", "--as", str(ADMIN.id))
    assert undone.returncode == 0 and env_file.read_text() == "INSTAGRAM_ACCESS_TOKEN=EAAGchangedbyhand\n"


def test_bad_ids_are_refused_in_one_sentence(sandbox, tmp_path) -> None:
    bad = _cli(sandbox, tmp_path, "show", "../etc/passwd")
    assert bad.returncode == 64 and "is not a backup id" in bad.stdout
    missing = _cli(sandbox, tmp_path, "show", "BK-19990101-0001")
    assert missing.returncode == 1 and "There is no backup BK-19990101-0001." in missing.stdout
