"""Idle memory: the SunFlow Ops bot vs a bare python-telegram-bot echo bot (target ratio <= 1.5).

Both run as child processes (`bench/_idle_child.py`) polling their own loopback Bot API fake,
which runs here in the parent, so each child's RSS is the bot's alone. After the child says it
is polling, it idles `--idle` seconds; then VmRSS is read from /proc/<pid>/status a few times
and the largest sample kept.

    .venv/bin/python bench/idle_rss.py [--idle 5] [--samples 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.sandbox import BOT_TOKEN, Sandbox  # noqa: E402
from bot.sandbox.telegram import FakeTelegram  # noqa: E402

CHILD = Path(__file__).with_name("_idle_child.py")


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def measure(args: list[str], idle_s: float, samples: int) -> float:
    """The child's largest RSS sample (MiB) after the idle period."""
    child = subprocess.Popen([sys.executable, str(CHILD), *args], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        if line.strip() != "ready":
            child.kill()
            raise RuntimeError(f"child did not start: {line!r} {child.stderr.read()[-2000:]}")
        time.sleep(idle_s)
        peak = 0
        for _ in range(samples):
            peak = max(peak, vm_rss_kib(child.pid))
            time.sleep(0.2)
        return peak / 1024
    finally:
        if child.poll() is None:
            child.terminate()  # the child shuts down cleanly on SIGTERM
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox.start(Path(tmp) / "bot")
        echo_fake = FakeTelegram(BOT_TOKEN).start()
        try:
            env = sandbox.env(lang="en")
            bot_mib = measure(["bot", json.dumps(env)], args.idle, args.samples)
            bot_calls = len(sandbox.telegram.calls)
            echo_mib = measure(["echo", BOT_TOKEN, echo_fake.base_url], args.idle, args.samples)
            echo_calls = len(echo_fake.calls)
        finally:
            sandbox.stop()
            echo_fake.stop()
    ratio = bot_mib / echo_mib
    print(f"idle RSS after {args.idle:g} s: SunFlow Ops bot {bot_mib:.1f} MiB "
          f"({bot_calls} Bot API calls), bare PTB echo bot {echo_mib:.1f} MiB ({echo_calls} calls)")
    print(f"idle RSS bot / echo bot: {ratio:.2f} (target <= 1.5)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
