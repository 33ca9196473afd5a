"""The pipeline's git repository (code rollback, `SUNFLOW_REPO`): recent commits, the files a
commit changed, a file as it was at a commit, the diff a restore would make, and whether the
work tree has uncommitted changes to a file. Paths are the repository's own (from its top),
also when `SUNFLOW_REPO` is a folder inside it.

git runs as an argument list (never a shell), in its own process with a timeout, without a
terminal to prompt on, with C-locale messages and paths unquoted (`-z` where it lists paths).
Commits and paths reach it only as arguments after `--` or as `<sha>:<path>` objects, so none
can be read as an option. It never writes the work tree: the rollback domain does that itself,
atomically, with a backup first.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

from bot.ports import ChangedFile, Commit, RepositoryError

GIT_TIMEOUT_S = 15.0
_FIELD, _RECORD = "\x1f", "\x1e"


class GitError(RepositoryError):
    """git could not answer; the message is git's own first line, or why it did not run."""


class GitRepository:
    def __init__(self, root: Path, *, git: str | None = None, timeout_s: float = GIT_TIMEOUT_S) -> None:
        self.root = root
        self._git = git or shutil.which("git")
        self._timeout_s = timeout_s

    async def _run(self, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[int, bytes]:
        if self._git is None:
            raise GitError("git is not installed on this machine")
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_PAGER": "cat",
               "GIT_OPTIONAL_LOCKS": "0"}  # a look never takes the index lock from the team
        try:
            process = await asyncio.create_subprocess_exec(
                self._git, "-C", str(self.root), "-c", "core.quotepath=off",
                "-c", "core.fsmonitor=false", *args,  # no hook of the repository's own runs
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        except OSError as exc:
            raise GitError(f"git could not be started: {exc.strerror or exc}") from None
        try:
            out, err = await asyncio.wait_for(process.communicate(), self._timeout_s)
        except asyncio.TimeoutError:
            process.kill()
            await process.wait()
            raise GitError(f"git {args[0]} took longer than {self._timeout_s:.0f} s") from None
        code = process.returncode if process.returncode is not None else -1
        if code not in ok:
            first = err.decode("utf-8", "replace").strip().splitlines()
            raise GitError(first[0] if first else f"git {args[0]} failed (exit {code})")
        return code, out

    async def top_level(self) -> Path:
        """The repository's root; GitError when `root` is not in a repository."""
        _, out = await self._run("rev-parse", "--show-toplevel")
        return Path(out.decode().strip())

    async def commits(self, limit: int) -> list[Commit]:
        """The newest `limit` commits of HEAD, newest first."""
        _, out = await self._run("log", f"-n{int(limit)}", "--no-color",
                                 f"--format=%H{_FIELD}%an{_FIELD}%aI{_FIELD}%s{_RECORD}", "--")
        commits = []
        for record in out.decode("utf-8", "replace").split(_RECORD):
            parts = record.strip("\n").split(_FIELD)
            if len(parts) == 4:
                commits.append(Commit(sha=parts[0], author=parts[1],
                                      at=datetime.fromisoformat(parts[2]), subject=parts[3]))
        return commits

    async def changed_files(self, sha: str) -> list[ChangedFile]:
        """What `sha` changed (added, modified, deleted), in git's order; renames as a deletion
        and an addition, so every path is one file."""
        _, out = await self._run("diff-tree", "-r", "-z", "--root", "--no-commit-id", "-m",
                                 "--first-parent", "--no-renames", "--name-status", sha, "--")
        fields = out.decode("utf-8", "replace").split("\0")
        return [ChangedFile(path=fields[i + 1], status=fields[i][:1])
                for i in range(0, len(fields) - 1, 2) if fields[i]]

    async def content_at(self, sha: str, path: str) -> bytes | None:
        """The file as it was at `sha`; None when it did not exist there."""
        code, out = await self._run("cat-file", "blob", f"{sha}:{path}", ok=(0, 128))
        return out if code == 0 else None

    async def diff_to(self, sha: str, path: str) -> str:
        """What making `path` as it was at `sha` would change in the work tree (unified diff)."""
        _, out = await self._run("diff", "--no-color", "--no-ext-diff", "--no-textconv", "-R",
                                 sha, "--", _top(path))
        return out.decode("utf-8", "replace")

    async def has_changes(self, path: str) -> bool:
        """Uncommitted changes to `path`: staged or not, untracked, or ignored (a local file
        git does not keep is still someone's)."""
        _, out = await self._run("status", "--porcelain", "-z", "--untracked-files=all",
                                 "--ignored=matching", "--", _top(path))
        return bool(out.strip(b"\0"))

    async def executable_at(self, sha: str, path: str) -> bool:
        """Whether git kept `path` as an executable file at `sha`."""
        _, out = await self._run("ls-tree", "-z", "--full-tree", sha, "--", path)
        return out.startswith(b"100755 ")


def _top(path: str) -> str:
    """A pathspec for `path` as git names it (from the repository's top, taken literally),
    whatever folder of the repository git runs in."""
    return f":(top,literal){path}"
