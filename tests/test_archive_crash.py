"""kill -9 while records move to the archive: nothing is lost, nothing is left half-moved.

A child process archives 6,000 old traces (twelve batches, a compaction at the end: about
0.1 s of work) and is killed
at a random moment, again and again; after each kill every trace is in the store or in the
archive, and a last run without a kill leaves them all archived exactly once.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from bot.clock import utc_now
from bot.store import Store
from bot.store.archive import ARCHIVE_DIR, read_records

ROOT = Path(__file__).parents[1]
TRACES = 6000
CHILD = """
import sys
from datetime import timedelta
from bot.clock import utc_now
from bot.store import Store
with Store.open(sys.argv[1]) as store:
    print("open", flush=True)
    cutoff = (utc_now() - timedelta(days=30)).isoformat()
    store.archive("traces", lambda d: d["at"] < cutoff, month_of=lambda d: d["at"][:7])
print("done", flush=True)
"""


def _everywhere(data: Path) -> tuple[list[str], list[str]]:
    """(trace ids in the store, trace ids in the archive files)."""
    with Store.open(data) as store:
        kept = [d["trace_id"] for d in store.find("traces")]
    archived = [r["trace_id"] for path in sorted((data / ARCHIVE_DIR).rglob("*.jsonl"))
                for r in read_records(path)]
    return kept, archived


def test_kill_9_mid_archive_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = utc_now() - timedelta(days=90)
    with Store.open(data) as store:
        for n in range(TRACES):
            store.add_trace(f"SF-20260901-{n:04d}", at=old + timedelta(minutes=n), stage="publish",
                            status="ok")
    everyone = {f"SF-20260901-{n:04d}" for n in range(TRACES)}
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed, halfway = 0, 0
    for _ in range(15):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(data)], env=env,
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None and child.stdout.readline().strip() == "open"
        time.sleep(rng.uniform(0.0, 0.1))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            killed += 1
        child.wait(timeout=30)
        kept, archived = _everywhere(data)
        assert len(kept) == len(set(kept)), "a trace twice in the store"
        assert set(kept) | set(archived) == everyone, "a trace was lost"
        assert len(archived) == len(set(archived)), "the reader kept a trace twice"
        halfway += bool(kept) and bool(archived)  # killed with some moved, some not
        if not kept:
            break
    assert killed >= 1 and halfway >= 1, (
        f"no kill landed mid-move ({killed} kills, {halfway} halfway): make the work longer")
    finished = subprocess.run([sys.executable, "-c", CHILD, str(data)], env=env,
                              capture_output=True, text=True, timeout=60)
    assert finished.returncode == 0 and "done" in finished.stdout, finished.stderr
    kept, archived = _everywhere(data)
    assert kept == [] and sorted(archived) == sorted(everyone)
