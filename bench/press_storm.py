"""Button presses under Telegram's real group limit: answered at once, and the live message current.

The scenario the hardening issue measured against the real `sunflow-ops` code on loopback fakes:
the ops group at Telegram's limit (the fake refuses a group's 21st message in any 60 s with a
429, as Telegram does; the bot runs at the default TELEGRAM_GROUP_MAX_RATE=20), one incident
open, 40 `/health` sent at once by group members, and 20 operators pressing the live message's
buttons for 60 s at a person's pace (each waits 3-14 s, uniformly, between presses; any button
the message shows except Escalate and Resolve). Before the storm the incident is walked to its
verify phase (untimed), so the message offers step buttons and the checklist's ticks.

Printed:
- press -> answer: from the moment the fake queues the press until the bot's answerCallbackQuery
  reaches it (stamped in the fake's thread), p50 / p99 / max, and presses never answered;
- live message lag: for every state of the incident (each store version, polled every 20 ms),
  how long until the live message showed that state or a newer one (the bot's own renderer
  decides which state an edit shows), p50 / p99 / max;
- the group: messages (sends and edits) in the busiest 60 s, the fake's 429 refusals;
- /health: requests handled, reports posted for the 40 requests, and the vendor calls made.

Targets (the issue's): every press answered, p99 <= 1 s; the live message's latest state within
a few seconds. `--repo PATH` runs another checkout of the bot with this script (e.g. the commit
before the fix: `git worktree add /tmp/before <commit>`); a checkout whose fake has no flood
limit runs without it.

    .venv/bin/python bench/press_storm.py [--seconds 60] [--operators 20] [--health 40] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

_here = Path(__file__).resolve().parents[1]
if "--repo" in sys.argv:
    _here = Path(sys.argv[sys.argv.index("--repo") + 1]).resolve()
sys.path.insert(0, str(_here))

from bot.config import Settings  # noqa: E402
from bot.sandbox import ADMIN, OPS_CHAT, Sandbox  # noqa: E402
from bot.sandbox.runner import BotRunner  # noqa: E402
from bot.sandbox.telegram import SentMessage, TgUser  # noqa: E402

SKIPPED_VERBS = ("esc", "res")  # a storm of pages, or the end of the incident: not this test


def percentile(samples: list[float], pct: int) -> float:
    if not samples:
        return float("nan")
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


class Watch:
    """Stamps the fake's events in its own thread: presses answered, live message edits, group sends."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.tg = sandbox.telegram
        self.lock = threading.Lock()
        self.answered: dict[str, float] = {}
        self.shown: list[tuple[float, str]] = []  # (when, html) of the live message
        self.group_sends: list[float] = []
        self.live_id: int | None = None
        self.tg.subscribe(self._on_event)

    def _on_event(self, kind: str, obj: object) -> None:
        now = time.monotonic()
        with self.lock:
            if kind == "answered" and isinstance(obj, dict):
                self.answered.setdefault(obj["id"], now)
            elif isinstance(obj, SentMessage) and obj.chat_id == OPS_CHAT.id and kind in (
                    "sent", "edited", "document"):
                self.group_sends.append(now)
                if kind == "edited" and obj.message_id == self.live_id:
                    self.shown.append((now, obj.html or obj.text or ""))


async def storm(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    operators = [TgUser(2001 + n, f"Op{n}", f"op_{n}", language_code="en") for n in range(args.operators)]
    members = [TgUser(3001 + n, f"Member{n}", f"member_{n}", language_code="en") for n in range(args.health)]
    with tempfile.TemporaryDirectory(prefix="sunflow-storm-") as tmp:
        sandbox = Sandbox.start(Path(tmp))
        tg = sandbox.telegram
        tg.add_chat(OPS_CHAT, *operators, *members)
        limited = hasattr(tg, "set_group_limit")
        if limited:
            tg.set_group_limit(20)
        env = sandbox.env(lang="en", TELEGRAM_GROUP_MAX_RATE="20",
                          OPERATOR_USER_IDS=",".join(str(u.id) for u in operators))
        settings = Settings.from_env(env, dotenv_path=None)
        watch = Watch(sandbox)
        try:
            async with BotRunner(settings) as runner:
                await _run(args, rng, sandbox, runner, watch, operators, members, limited)
        finally:
            sandbox.stop()


async def _run(args, rng, sandbox, runner, watch, operators, members, limited) -> None:
    tg = sandbox.telegram
    app = runner.application
    ctx = app.bot_data["sunflow"]
    from handlers.incident_render import incident_text

    opened = tg.send_message(OPS_CHAT, ADMIN, "/incident stats")
    await app.wait_handled(opened.update_id, 30)
    doc_id = ctx.engine.store.find("incidents")[0]["id"]
    incident = ctx.engine.get(doc_id)
    for _ in range(200):  # the live message is posted (its id is on the record)
        incident = ctx.engine.get(doc_id)
        if incident.message:
            break
        await asyncio.sleep(0.05)
    live_id = incident.message.message_id
    watch.live_id = live_id
    # to the verify phase by hand (untimed), so the message offers step buttons and the
    # recovery checklist's ticks: most presses change something
    while incident.steps[incident.current].phase not in ("verify", "prevent"):
        data = f"v1:i:{doc_id}:{incident.current}:skip"
        tg.press_button(OPS_CHAT, ADMIN, live_id, data)
        await app.wait_handled(tg.last_update_id, 30)
        incident = ctx.engine.get(doc_id)
    await asyncio.sleep(args.seconds / 2)  # the group's budget recovers from the walk

    versions: list[tuple[float, int, str]] = []  # (first seen, _v, the bot's rendering of it)
    stop = asyncio.Event()

    async def poll_versions() -> None:
        last = None
        while not stop.is_set():
            record = ctx.engine.get(doc_id)
            if record.version != last:
                last = record.version
                versions.append((time.monotonic(), last, incident_text(ctx, record, ctx.services.clock())))
            await asyncio.sleep(0.02)

    vendor_before = {n: len(f.calls) for n, f in sandbox.fakes.items() if n != "telegram"}
    sends_before = len(watch.group_sends)
    started = time.monotonic()
    health = [tg.send_message(OPS_CHAT, member, "/health") for member in members]
    presses: list[tuple[float, str]] = []  # (when, query id)

    async def operator(user: TgUser) -> None:
        await asyncio.sleep(rng.uniform(0, 3))
        while time.monotonic() - started < args.seconds:
            buttons = [data for _, data in tg.message(OPS_CHAT.id, live_id).buttons()
                       if data.split(":")[-1] not in SKIPPED_VERBS]
            if buttons:
                query = tg.press_button(OPS_CHAT, user, live_id, rng.choice(buttons))
                presses.append((time.monotonic(), query))
            await asyncio.sleep(rng.uniform(3, 14))

    poller = asyncio.create_task(poll_versions())
    await asyncio.gather(*(operator(u) for u in operators))
    grace_until = time.monotonic() + 15
    while time.monotonic() < grace_until and any(q not in watch.answered for _, q in presses):
        await asyncio.sleep(0.1)
    await asyncio.sleep(max(0.0, 8 - (time.monotonic() - grace_until + 15)))  # let the last edit land
    stop.set()
    await poller
    health_handled = sum(m.update_id in app.handled_ids for m in health)

    with watch.lock:
        answered = dict(watch.answered)
        shown = list(watch.shown)
        sends = [t for t in watch.group_sends[sends_before:]]
    latencies = [(answered[q] - t) * 1000 for t, q in presses if q in answered]
    never = sum(q not in answered for _, q in presses)
    # which state each edit showed: the newest version whose rendering it is
    by_text = {}
    for seen_at, version, text in versions:
        by_text[text] = max(by_text.get(text, -1), version)
    edits = [(t, by_text.get(html, -1)) for t, html in shown]
    lags = []
    for seen_at, version, _ in versions:
        caught_up = next((t for t, shown_v in edits if t >= seen_at and shown_v >= version), None)
        if caught_up is not None:
            lags.append((caught_up - seen_at) * 1000)
    unshown = sum(1 for seen_at, version, _ in versions
                  if not any(t >= seen_at and v >= version for t, v in edits))
    busiest = max((sum(1 for u in sends if s <= u < s + 60) for s in sends), default=0)
    reports = [m for m in tg.bot_messages(OPS_CHAT.id) if "Instagram ·" in (m.text or "")]
    vendor = {n: len(f.calls) - vendor_before[n] for n, f in sandbox.fakes.items() if n != "telegram"}

    print(f"{args.operators} operators pressing for {args.seconds} s, {args.health} /health at once, "
          f"group limit {'20/min enforced by the fake' if limited else 'not enforced (old fake)'}, "
          f"TELEGRAM_GROUP_MAX_RATE=20")
    print(f"  presses: {len(presses)}, answered {len(latencies)}, never answered {never}")
    print(f"  press -> answer: p50 {percentile(latencies, 50):.0f} ms, p99 {percentile(latencies, 99):.0f} ms, "
          f"max {max(latencies, default=float('nan')):.0f} ms   (target p99 <= 1000 ms)")
    print(f"  live message lag over {len(versions)} states: p50 {percentile(lags, 50) / 1000:.1f} s, "
          f"p99 {percentile(lags, 99) / 1000:.1f} s, max {max(lags, default=float('nan')) / 1000:.1f} s; "
          f"never shown {unshown}; {len(shown)} edits")
    print(f"  group: {len(sends)} messages, busiest 60 s {busiest}; fake's 429 refusals "
          f"{getattr(tg, 'flood_refusals', 'n/a')}")
    print(f"  /health: {health_handled}/{len(health)} handled, {len(reports)} report message(s), "
          f"vendor calls {vendor}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--operators", type=int, default=20)
    parser.add_argument("--health", type=int, default=40)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repo", help="run another checkout of the bot (its path)")
    args = parser.parse_args()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    asyncio.run(storm(args))


if __name__ == "__main__":
    main()
