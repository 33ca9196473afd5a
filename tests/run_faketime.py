"""The test suite on other days: runs pytest under libfaketime at far-apart dates.

    .venv/bin/python tests/run_faketime.py                 # the three default dates
    .venv/bin/python tests/run_faketime.py "2031-07-15 09:30" -- -x tests/test_e2e_scenarios.py
    .venv/bin/python tests/run_faketime.py --if-available "2031-07-15 09:30"   # CI's way

Each date is a wall-clock time in Seoul (the team's zone, and the process's TZ, so the machine's
local day and the team's day are the same one, as on the team's server). The clock starts there
and runs on; child processes share it (the `faketime` wrapper keeps one clock in shared memory).
The monotonic clock stays real (timeouts and sleeps measure real time; see
tests/faketime_shim/sitecustomize.py for the one call that needs help).

Needs Debian's `faketime` package; when it is missing and this runs as root, it is installed
with apt-get. Exit status: 0 when every date passed, else the first failing pytest status.
`--if-available`: when faketime cannot be had (no root, no package registry), say so and exit 0
(CI runs it this way: the suite itself has already run on today's date).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
SHIM = Path(__file__).resolve().parent / "faketime_shim"
ZONE = "Asia/Seoul"
# the end of February on a non-leap year just before midnight, New Year's Eve of a leap year,
# and a date five years on
DEFAULT_DATES = ("2027-02-28 23:59", "2028-12-31 23:30", "2031-07-15 09:30")


def _faketime() -> str | None:
    found = shutil.which("faketime")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "faketime"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        found = shutil.which("faketime")
    return found


def main(argv: list[str]) -> int:
    optional = "--if-available" in argv
    argv = [a for a in argv if a != "--if-available"]
    dates, extra = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    dates = dates or list(DEFAULT_DATES)
    faketime = _faketime()
    if faketime is None:
        print("run_faketime: Debian's faketime package is needed (apt-get install faketime)"
              + ("; skipped" if optional else ""), file=sys.stderr)
        return 0 if optional else 1
    worst = 0
    for text in dates:
        seoul = datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(ZONE))
        env = dict(os.environ, TZ=ZONE, FAKETIME_DONT_FAKE_MONOTONIC="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(SHIM), os.environ.get("PYTHONPATH")])))
        # -m: the thread-safe libfaketimeMT (the sandbox's servers and the bot's workers are
        # threads; the plain library hung a server's poll loop about once a run)
        command = [faketime, "-m", "-f", "@" + seoul.strftime("%Y-%m-%d %H:%M:%S"), sys.executable, "-m",
                   "pytest", "-q", "-p", "no:cacheprovider", *extra]
        print(f"== {text} {seoul.tzname()} ({seoul.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M} UTC)",
              flush=True)
        started = time.monotonic()
        result = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        lines = result.stdout.rstrip().splitlines()
        if result.returncode:
            print("\n".join(lines[-60:]))
        else:
            print(lines[-1] if lines else "(no output)")
        print(f"   exit {result.returncode} in {time.monotonic() - started:.0f} s", flush=True)
        worst = worst or result.returncode
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
