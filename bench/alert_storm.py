"""An alert storm against the real bot on loopback: failing signals at many times the issue's
200 a minute, over every watched component, through the detector (what the scheduled check,
the files and the intake endpoint all feed), with the group at Telegram's real limit (the fake
refuses a group's 21st message in any 60 s; TELEGRAM_GROUP_MAX_RATE=20).

Printed: signals sent and signals stored (none may be lost), incidents opened, the group's
messages (sends and edits) in its busiest 60 s (target <= 20) and the fake's 429 refusals,
how long after the storm the live messages showed the final counts; and, with CHECK_EVERY=10s,
the time from a fault to its first alert in the group (target <= one interval + 2 s).

    .venv/bin/python bench/alert_storm.py [--rate 200] [--minutes 10] [--speed 10]

`--speed 10` plays the 10 minutes in one: 2,000 signals in 60 s (ten times the issue's rate
against the same real 20-a-minute group limit).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings  # noqa: E402
from bot.detection.signals import COMPONENT_SCENARIOS, make_signal  # noqa: E402
from bot.sandbox import OPS_CHAT, Sandbox  # noqa: E402
from bot.sandbox.runner import BotRunner  # noqa: E402
from bot.sandbox.telegram import SentMessage  # noqa: E402


class GroupWatch:
    def __init__(self, sandbox: Sandbox) -> None:
        self.lock = threading.Lock()
        self.sends: list[float] = []
        sandbox.telegram.subscribe(self._on_event)

    def _on_event(self, kind: str, obj: object) -> None:
        if isinstance(obj, SentMessage) and obj.chat_id == OPS_CHAT.id and kind in ("sent", "edited", "document"):
            with self.lock:
                self.sends.append(time.monotonic())

    def busiest(self) -> int:
        with self.lock:
            sends = list(self.sends)
        return max((sum(1 for u in sends if s <= u < s + 60) for s in sends), default=0)


async def storm(args: argparse.Namespace) -> None:
    total = args.rate * args.minutes
    seconds = args.minutes * 60 / args.speed
    components = list(COMPONENT_SCENARIOS)
    with tempfile.TemporaryDirectory(prefix="sunflow-alert-storm-") as tmp:
        sandbox = Sandbox.start(Path(tmp))
        sandbox.telegram.set_group_limit(20)
        settings = Settings.from_env(sandbox.env(lang="en", TELEGRAM_GROUP_MAX_RATE="20",
                                                 CHECK_EVERY="0"), dotenv_path=None)
        watch = GroupWatch(sandbox)
        try:
            async with BotRunner(settings) as runner:
                detector = runner.application.bot_data["sunflow"].detector
                began = time.monotonic()
                for n in range(total):
                    due = began + seconds * n / total
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    component = components[n % len(components)]
                    await detector.receive(make_signal("intake", component, f"storm signal {n}",
                                                       at=runner.services.clock()))
                sent_s = time.monotonic() - began
                stored = runner.store.count("signals")
                engine = runner.application.bot_data["sunflow"].engine
                incidents = engine.unresolved()
                counted = sum(i.alerts.count for i in incidents if i.alerts)
                settle_began = time.monotonic()

                def shown() -> bool:
                    texts = [m.text or "" for m in sandbox.telegram.bot_messages(OPS_CHAT.id)]
                    return all(any(f"{i.alerts.count} times" in t and i.ref in t for t in texts)
                               for i in incidents if i.alerts)

                settled = await sandbox.telegram.await_for(shown, timeout=180)
                settle_s = time.monotonic() - settle_began
        finally:
            sandbox.stop()
    print(f"storm: {total} failing signals over {sent_s:.0f} s ({total / sent_s * 60:.0f}/min) across "
          f"{len(components)} components, group limit 20/min enforced by the fake")
    print(f"  signals stored {stored} of {total} (lost {total - stored}); counted on incidents {counted}; "
          f"incidents {len(incidents)}")
    print(f"  group: busiest 60 s {watch.busiest()} messages (sends and edits; target <= 20); "
          f"fake's 429 refusals {sandbox.telegram.flood_refusals}")
    print(f"  live messages showed the final counts {settle_s:.0f} s after the storm"
          f"{'' if settled else ' (NOT within 180 s)'}")


async def latency(rounds: int) -> None:
    """Fault -> first alert with CHECK_EVERY=10s: a fault set at a random point of the interval."""
    results = []
    for n in range(rounds):
        with tempfile.TemporaryDirectory(prefix="sunflow-alert-latency-") as tmp:
            sandbox = Sandbox.start(Path(tmp))
            settings = Settings.from_env(sandbox.env(lang="en", CHECK_EVERY="10s", HEALTH_TIMEOUT_S="2"),
                                         dotenv_path=None)
            try:
                async with BotRunner(settings) as runner:
                    await asyncio.sleep(2.5 * n)  # the fault at another point of the interval each time
                    sandbox.cloudinary.set_fault("auth")
                    began = time.monotonic()
                    ok = await sandbox.telegram.await_for(lambda: any(
                        "Detected" in (m.text or "") for m in sandbox.telegram.bot_messages(OPS_CHAT.id)),
                        timeout=30)
                    results.append(time.monotonic() - began if ok else float("inf"))
                    del runner
            finally:
                sandbox.stop()
    print(f"fault -> first alert, CHECK_EVERY=10s: {', '.join(f'{r:.1f} s' for r in results)} "
          f"(target <= 12 s: one interval + 2 s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--latency-rounds", type=int, default=4)
    args = parser.parse_args()
    asyncio.run(storm(args))
    asyncio.run(latency(args.latency_rounds))


if __name__ == "__main__":
    main()
