"""A git history for a seeded home (code rollback): four commits over the last twelve days, the
last of which made the home's files what they are.

    Import the SunFlow pipeline        12 days ago  core/caption.py v1, 3 posts a day
    Add the daily-mood hashtag          6 days ago  core/caption.py v2
    Post twice a day (rate limits)      2 days ago  config/publishing.json as it is now
    Shorter captions                    1 day ago   core/caption.py as it is now (the bad one)

`.env`, `config/logs/` and `config/data/` are ignored, as a pipeline keeps them out of git.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

from bot.clock import utc_now

CAPTION = "core/caption.py"
SCHEDULE = "config/publishing.json"
IGNORED = ".env\n*.tmp\nconfig/logs/\nconfig/data/\n"
_CAPTION_V1 = '''"""Builds a post's Instagram caption."""

HASHTAGS = ["#sunflower"]
MAX_CAPTION = 2200  # Instagram's own limit


def build_caption(text: str) -> str:
    caption = f"{text}\\n\\n{' '.join(HASHTAGS)}"
    return caption[:MAX_CAPTION]
'''
_CAPTION_V2 = _CAPTION_V1.replace('["#sunflower"]', '["#sunflower", "#dailymood"]')


def git_available() -> bool:
    return shutil.which("git") is not None


def make_history(home: Path, *, now: datetime | None = None) -> list[str]:
    """Make `home` a git repository with the history above; the commit ids, oldest first."""
    now = now or utc_now()
    current = {name: (home / name).read_bytes() for name in (CAPTION, SCHEDULE)}
    schedule = json.loads(current[SCHEDULE])
    older_schedule = {**schedule, "posts_per_day": 3, "post_times": ["09:00", "13:00", "18:00"]}
    (home / ".gitignore").write_text(IGNORED, encoding="utf-8")
    _git(home, None, "init", "-q", "-b", "main")
    steps: list[tuple[str, float, dict[str, bytes]]] = [
        ("Import the SunFlow pipeline", 12, {
            CAPTION: _CAPTION_V1.encode(),
            SCHEDULE: (json.dumps(older_schedule, indent=2) + "\n").encode()}),
        ("Add the daily-mood hashtag", 6, {CAPTION: _CAPTION_V2.encode()}),
        ("Post twice a day (rate limits)", 2, {SCHEDULE: current[SCHEDULE]}),
        ("Shorter captions", 1, {CAPTION: current[CAPTION]}),
    ]
    shas = []
    for subject, days_ago, files in steps:
        for name, content in files.items():
            (home / name).write_bytes(content)
        _git(home, None, "add", "-A")
        _git(home, now - timedelta(days=days_ago), "commit", "-q", "-m", subject)
        shas.append(_git(home, None, "rev-parse", "HEAD").strip())
    return shas


def _git(home: Path, at: datetime | None, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Kim Bujang", "GIT_AUTHOR_EMAIL": "kim@sunflow.example",
           "GIT_COMMITTER_NAME": "Kim Bujang", "GIT_COMMITTER_EMAIL": "kim@sunflow.example",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    if at is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = at.isoformat()
    # no timeout: a local git that quick needs none, and subprocess's timed wait polls with
    # sleeps that a faked clock (the tests' faketime runs) can turn invalid
    done = subprocess.run(["git", "-C", str(home), *args], env=env, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"git {args[0]} failed: {done.stderr.strip()}")
    return done.stdout
