"""Code rollback as a domain, on a real git repository (the sandbox home's history) through the
real git adapter: one file made as it was at a recent commit, backed up first, undone exactly;
refusals change nothing."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.actions.recovery.code_rollback import CodeRollback, RollbackRefused
from bot.adapters.git import GitRepository
from bot.clock import utc_now
from bot.sandbox.git_history import CAPTION, make_history
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
    home = seed_home(tmp_path / "home")
    make_history(home)
    return home


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def rollback(home: Path, clock: Clock) -> CodeRollback:
    return CodeRollback(GitRepository(home), Store.in_memory(), clock=clock, tz=timezone.utc)


def git(home: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(home), *args], capture_output=True, text=True,
                          check=True, env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
                                           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}).stdout


async def sha_of(rollback: CodeRollback, subject: str) -> str:
    return next(c.sha for c in await rollback.commits() if c.subject == subject)


async def test_the_last_commits_and_the_files_each_changed(rollback) -> None:
    commits = await rollback.commits()
    assert [c.subject for c in commits] == ["Shorter captions", "Post twice a day (rate limits)",
                                            "Add the daily-mood hashtag", "Import the SunFlow pipeline"]
    assert commits[0].author == "Kim Bujang" and commits[0].at > commits[1].at
    files = await rollback.files(commits[0])
    assert [(f.path, f.status) for f in files] == [(CAPTION, "M")]
    first = await rollback.files(commits[-1])  # the root commit: everything added
    assert (CAPTION, "A") in [(f.path, f.status) for f in first] and len(first) == 20  # capped


async def test_restore_one_file_to_a_commit_then_undo_it_exactly(home, rollback, clock) -> None:
    caption = home / CAPTION
    os.chmod(caption, 0o640)
    before = caption.read_bytes()
    sha = await sha_of(rollback, "Add the daily-mood hashtag")
    expected = git(home, "show", f"{sha}:{CAPTION}").encode()

    preview = await rollback.preview(sha[:12], 0)
    assert preview.restorable and preview.file.path == CAPTION
    assert "-MAX_CAPTION = 300" in preview.diff and "+MAX_CAPTION = 2200  # Instagram's own limit" in preview.diff

    done = await rollback.restore(sha[:12], 0, actor=ADMIN, admin=True, asked_at=clock.now)
    assert caption.read_bytes() == expected
    assert stat.S_IMODE(caption.stat().st_mode) == 0o640  # its permissions kept
    assert git(home, "status", "--porcelain") == f" M {CAPTION}\n"  # the work tree only, not staged
    assert done.rollback_id.startswith("RB-") and done.path == CAPTION
    [audit] = rollback.store.audit_records(event="code.rolled_back")
    assert audit.actor == ADMIN and audit.detail["commit"] == sha

    undone = await rollback.undo(done.rollback_id, actor=ADMIN, admin=True, asked_at=clock.now)
    assert caption.read_bytes() == before and undone.path == CAPTION
    assert git(home, "status", "--porcelain") == ""
    with pytest.raises(RollbackRefused) as refused:
        await rollback.undo(done.rollback_id, actor=ADMIN, admin=True, asked_at=clock.now)
    assert refused.value.key == "rollback.already_undone"


async def test_who_and_when(home, rollback, clock) -> None:
    sha = await sha_of(rollback, "Add the daily-mood hashtag")
    before = (home / CAPTION).read_bytes()
    for kw, key in (({"admin": False, "asked_at": clock.now}, "rollback.needs_admin"),
                    ({"admin": True, "asked_at": clock.now - timedelta(minutes=6)}, "rollback.confirm_expired")):
        with pytest.raises(RollbackRefused) as refused:
            await rollback.restore(sha, 0, actor=ADMIN, **kw)
        assert refused.value.key == key
    assert (home / CAPTION).read_bytes() == before


async def test_uncommitted_changes_are_never_overwritten(home, rollback, clock) -> None:
    sha = await sha_of(rollback, "Add the daily-mood hashtag")
    (home / CAPTION).write_text("# someone's unsaved work\n")
    preview = await rollback.preview(sha, 0)
    assert not preview.restorable and preview.why_not == "rollback.uncommitted" and preview.diff == ""
    with pytest.raises(RollbackRefused) as refused:
        await rollback.restore(sha, 0, actor=ADMIN, admin=True, asked_at=clock.now)
    assert refused.value.key == "rollback.uncommitted"
    assert (home / CAPTION).read_text() == "# someone's unsaved work\n"


async def test_undo_never_overwrites_a_later_edit(home, rollback, clock) -> None:
    sha = await sha_of(rollback, "Add the daily-mood hashtag")
    done = await rollback.restore(sha, 0, actor=ADMIN, admin=True, asked_at=clock.now)
    (home / CAPTION).write_text("# edited after the restore\n")
    with pytest.raises(RollbackRefused) as refused:
        await rollback.undo(done.rollback_id, actor=ADMIN, admin=True, asked_at=clock.now)
    assert refused.value.key == "rollback.changed_since"
    assert (home / CAPTION).read_text() == "# edited after the restore\n"


async def test_the_same_version_and_a_deleted_file_have_nothing_to_restore(home, rollback, clock) -> None:
    newest = await sha_of(rollback, "Shorter captions")
    assert (await rollback.preview(newest, 0)).why_not == "rollback.same"
    git(home, "rm", "-q", "core/caption.py")
    git(home, "commit", "-q", "-m", "Drop the caption builder")
    dropped = await sha_of(rollback, "Drop the caption builder")
    with pytest.raises(RollbackRefused) as refused:
        await rollback.restore(dropped, 0, actor=ADMIN, admin=True, asked_at=clock.now)
    assert refused.value.key == "rollback.not_in_commit"


async def test_a_path_through_a_link_or_out_of_the_repository_is_never_written(
        home, rollback, clock, tmp_path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("not the pipeline's\n")
    (home / "core" / "notes.txt").write_text("v1\n")
    git(home, "add", "core/notes.txt")
    git(home, "commit", "-q", "-m", "Add notes")
    good = await sha_of(rollback, "Add notes")
    # the folder is swapped for a link to outside, and committed as such
    git(home, "rm", "-q", "core/notes.txt")
    (home / "core" / "notes.txt").symlink_to(outside)
    git(home, "add", "core/notes.txt")
    git(home, "commit", "-q", "-m", "Notes live elsewhere")
    with pytest.raises(RollbackRefused) as refused:
        await rollback.restore(good, 0, actor=ADMIN, admin=True, asked_at=clock.now)
    assert refused.value.key == "rollback.outside"
    assert outside.read_text() == "not the pipeline's\n"
    for path in ("../outside.txt", ".git/config", "/etc/passwd", ""):
        with pytest.raises(RollbackRefused):
            rollback._inside(path, home)


async def test_unknown_commits_and_files_and_a_missing_git(home, rollback, clock, tmp_path) -> None:
    with pytest.raises(RollbackRefused) as refused:
        await rollback.preview("0123456789ab", 0)
    assert refused.value.key == "rollback.unknown_commit"
    newest = await sha_of(rollback, "Shorter captions")
    with pytest.raises(RollbackRefused) as refused:
        await rollback.preview(newest, 5)
    assert refused.value.key == "rollback.unknown_file"
    no_git = CodeRollback(GitRepository(home, git=str(tmp_path / "no-git")), Store.in_memory(),
                          clock=clock, tz=timezone.utc)
    with pytest.raises(RollbackRefused) as refused:
        await no_git.commits()
    assert refused.value.key == "rollback.git" and "could not be started" in refused.value.params["problem"]
    plain = tmp_path / "plain"
    plain.mkdir()
    not_a_repo = CodeRollback(GitRepository(plain), Store.in_memory(), clock=clock, tz=timezone.utc)
    with pytest.raises(RollbackRefused) as refused:
        await not_a_repo.commits()
    assert "not a git repository" in refused.value.params["problem"]


async def test_a_repository_folder_below_the_top_works_from_the_top(tmp_path, clock) -> None:
    top = tmp_path / "repo"
    (top / "pipeline").mkdir(parents=True)
    git_init = ["init", "-q", "-b", "main"]
    git(top, *git_init)
    (top / "pipeline" / "f.txt").write_text("v1\n")
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "v1")
    (top / "pipeline" / "f.txt").write_text("v2\n")
    git(top, "commit", "-qam", "v2")
    rollback = CodeRollback(GitRepository(top / "pipeline"), Store.in_memory(), clock=clock,
                            tz=timezone.utc)
    first = (await rollback.commits())[-1]
    preview = await rollback.preview(first.sha, 0)
    assert preview.file.path == "pipeline/f.txt" and "-v2" in preview.diff and "+v1" in preview.diff
    (top / "pipeline" / "f.txt").write_text("local edit\n")
    assert (await rollback.preview(first.sha, 0)).why_not == "rollback.uncommitted"
    git(top, "checkout", "-q", "--", "pipeline/f.txt")
    await rollback.restore(first.sha, 0, actor=ADMIN, admin=True, asked_at=clock.now)
    assert (top / "pipeline" / "f.txt").read_text() == "v1\n"
    assert not (top / "pipeline" / "pipeline").exists()


async def test_an_ignored_local_file_is_someones_and_is_not_overwritten(home, rollback, clock) -> None:
    (home / "core" / "local.py").write_text("v1\n")
    git(home, "add", "core/local.py")
    git(home, "commit", "-q", "-m", "Add local settings")
    added = await sha_of(rollback, "Add local settings")
    git(home, "rm", "-q", "--cached", "core/local.py")
    (home / ".gitignore").write_text((home / ".gitignore").read_text() + "core/local.py\n")
    git(home, "commit", "-qam", "Keep local settings out of git")
    (home / "core" / "local.py").write_text("this machine's own values\n")
    with pytest.raises(RollbackRefused) as refused:
        await rollback.restore(added, 0, actor=ADMIN, admin=True, asked_at=clock.now)
    assert refused.value.key == "rollback.uncommitted"
    assert (home / "core" / "local.py").read_text() == "this machine's own values\n"


async def test_a_linked_folder_on_the_way_is_never_written_through(home, rollback, clock, tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "caption.py").write_text("not the pipeline's\n")
    sha = await sha_of(rollback, "Add the daily-mood hashtag")
    git(home, "rm", "-rq", "core")
    git(home, "commit", "-q", "-m", "Move core out")
    (home / "core").symlink_to(elsewhere, target_is_directory=True)
    git(home, "add", "core")
    git(home, "commit", "-q", "-m", "core lives elsewhere now")  # a clean work tree
    with pytest.raises(RollbackRefused) as refused:
        await rollback.restore(sha, 0, actor=ADMIN, admin=True, asked_at=clock.now)
    assert refused.value.key == "rollback.outside"
    assert (elsewhere / "caption.py").read_text() == "not the pipeline's\n"
    with pytest.raises(RollbackRefused) as outside:
        rollback._inside("core/caption.py", home)
    assert outside.value.key == "rollback.outside"


async def test_a_script_brought_back_is_executable_again(home, rollback, clock) -> None:
    script = home / "services" / "scripts" / "publish_content.py"
    script.write_text("#!/usr/bin/env python3\nprint('publish')\n")
    script.chmod(0o755)
    git(home, "add", "services/scripts/publish_content.py")
    git(home, "commit", "-q", "-m", "Add the publisher")
    added = await sha_of(rollback, "Add the publisher")
    git(home, "rm", "-q", "services/scripts/publish_content.py")
    git(home, "commit", "-q", "-m", "Drop the publisher")
    await rollback.restore(added, 0, actor=ADMIN, admin=True, asked_at=clock.now)
    assert script.read_text().endswith("print('publish')\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
