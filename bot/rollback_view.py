"""What code rollback shows, for any transport (plain text: redact, then clip, then escape)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

from bot.clock import local_time
from bot.i18n import Translate
from bot.ports import ChangedFile, Commit

DIFF_LINES = 40  # a chat message holds this many lines of a diff; the rest is counted
DIFF_LINE_CHARS = 160
# git's lines about the files rather than their content
_HEAD = ("diff --git", "index ", "--- ", "+++ ", "new file mode", "deleted file mode", "old mode",
         "new mode", "similarity index", "rename from", "rename to")


def commit_line(tr: Translate, commit: Commit, tz: tzinfo) -> str:
    return tr("rollback.commit_line", short=commit.sha[:7], date=local_time(commit.at, tz),
              author=commit.author, subject=commit.subject)


def file_label(tr: Translate, file: ChangedFile) -> str:
    return f"{tr(f'rollback.status.{file.status}') if file.status in 'AMDT' else file.status} · {file.path}"


def diff_lines(diff: str, redact: Callable[[str], str]) -> tuple[list[str], int]:
    """The diff's body (its `diff --git`/index/---/+++ head dropped), redacted whole first, then
    cut to `DIFF_LINES` lines of at most `DIFF_LINE_CHARS`; and how many lines were left out."""
    lines = redact(diff).splitlines()
    first_hunk = next((n for n, line in enumerate(lines) if line.startswith("@@")), None)
    # git's head (which file, its mode) ends at the first hunk; a removed "-- x" line is content
    body = lines[first_hunk:] if first_hunk is not None else [
        line for line in lines if not line.startswith(_HEAD)]  # "Binary files … differ"
    kept = [line if len(line) <= DIFF_LINE_CHARS else line[:DIFF_LINE_CHARS - 1] + "…"
            for line in body[:DIFF_LINES]]
    return kept, max(0, len(body) - DIFF_LINES)
