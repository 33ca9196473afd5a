"""The sample pipeline's statistics daemon, as far as `restart` goes (a stand-in for the real
`stats_collector_daemon.py`): it records when it (re)started and says so."""

import datetime
import pathlib
import sys

if sys.argv[1:] != ["restart"]:
    print("usage: stats_collector_daemon.py restart", file=sys.stderr)
    sys.exit(64)
now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
state = pathlib.Path("config/data/stats_daemon.started")
state.write_text(now + "\n", encoding="utf-8")
print(f"stats collector daemon restarted at {now}")
