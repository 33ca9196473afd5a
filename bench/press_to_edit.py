"""Press-to-edit latency: a walkthrough button on the SunFlow Ops bot vs a bare PTB echo bot.

Target: walkthrough press -> edit p50 / bare echo bot press -> edit p50 <= 2.0, both measured in
this one run, interleaved press by press (random order within each pair) so both see the same
machine load.

What is timed: from the moment the fake Telegram queues the callback query (a person pressing a
button) until the fake has applied the bot's `editMessageText` to the pressed message (its
"edited" event, stamped in the fake's thread). Presses are sequential: press, wait for its edit
(and, for our bot, for the update to be fully handled), next press; after each pair of presses
an untimed pause of `--gap-ms` (60 ms: still far faster than anyone presses).

- Our bot: the real Application (`BotRunner`, real settings, the journal store on disk in a
  temporary directory) in the ops group. One incident per scenario is opened with
  `/incident <n> autumn-cafe` and acknowledged (untimed warm-up). Then
  (b) walkthrough steps: "done" (`ok`) where the step offers it, else `skip`, round-robin over
      the six incidents until every walk has finished (every step is a sample, ~90); then
  (a) the recovery-checklist tick (`k1`/`k0`, tick or untick), pressed `--presses` times on
      the finished incidents' live messages.
  The ratio uses the p50 of (a) and (b) together.
- Baseline: a bare python-telegram-bot Application (no rate limiter, one CallbackQueryHandler that
  answers the query and edits the message text to echo the data, keeping its keyboard) polling
  its own FakeTelegram, pressing a button on a message it posted at start.

Back-to-back presses (`--gap-ms 0`) outrun Telegram's ~30 Bot API calls/s (each of our presses
is an answer and an edit), and then our bot's send pacer holds its edits: that measures the
limiter, not the press. The wait is measured and printed apart either way (with a ratio without
it, for information). `--breakdown` times the calls inside our bot's press (store write and fsync,
render, the two Bot API round trips), per phase.

Everything runs in one process (one event loop, as a deployed bot has) against loopback fakes;
nothing touches the internet.

    .venv/bin/python bench/press_to_edit.py [--presses 60] [--warmup 8] [--seed 1] [--breakdown]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update  # noqa: E402
from telegram.ext import (  # noqa: E402
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
)

from bot.config import Settings  # noqa: E402
from bot.sandbox import ADMIN, BOT_TOKEN, OPS_CHAT, Sandbox  # noqa: E402
from bot.sandbox.runner import BotRunner  # noqa: E402
from bot.sandbox.telegram import FakeTelegram, SentMessage  # noqa: E402

TARGET = 2.0
SCENARIOS = 6  # /incident 1 ... /incident 6: different scenarios, so none links to another
TOPIC = "autumn-cafe"
STEP_VERBS = ("ok", "skip")  # "done" when the step offers it (guidance), else skip
TICK_VERBS = ("k1", "k0")  # tick / untick one recovery-checklist item
TIMEOUT_S = 20.0


class EditClock:
    """Press a button on a fake Telegram and time it until the pressed message is edited."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self._loop = asyncio.get_running_loop()
        self._waiting: tuple[tuple[int, int], asyncio.Future[float]] | None = None
        fake.subscribe(self._on_event)

    def close(self) -> None:
        self.fake.unsubscribe(self._on_event)

    def _on_event(self, kind: str, obj: object) -> None:
        # Runs in the fake's server thread: stamp the time here, not when the loop gets to it.
        waiting = self._waiting
        if kind != "edited" or waiting is None or not isinstance(obj, SentMessage):
            return
        if (obj.chat_id, obj.message_id) == waiting[0]:
            at = time.perf_counter()
            self._loop.call_soon_threadsafe(_settle, waiting[1], at)

    async def press(self, message_id: int, data: str) -> tuple[float, str]:
        """(ms from the press until the message was edited, the callback query id)."""
        future: asyncio.Future[float] = self._loop.create_future()
        self._waiting = ((OPS_CHAT.id, message_id), future)
        started = time.perf_counter()
        query_id = self.fake.press_button(OPS_CHAT, ADMIN, message_id, data)
        try:
            edited_at = await asyncio.wait_for(future, TIMEOUT_S)
        except (asyncio.TimeoutError, TimeoutError):
            answer = self.fake.callback_answers.get(query_id)
            raise RuntimeError(f"pressing {data!r} did not edit message {message_id} within "
                               f"{TIMEOUT_S:g} s (answer: {answer})") from None
        finally:
            self._waiting = None
        return (edited_at - started) * 1000, query_id


def _settle(future: asyncio.Future[float], at: float) -> None:
    if not future.done():
        future.set_result(at)


def percentile(samples: list[float], pct: int) -> float:
    """The pct-th percentile (inclusive method: never outside the samples)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[pct - 1]


def line(name: str, samples: list[float]) -> str:
    """One figure line: how many presses, p50 and p90."""
    return (f"  {name:<44} n={len(samples):>3}  p50 {percentile(samples, 50):6.1f} ms  "
            f"p90 {percentile(samples, 90):6.1f} ms")


# ---- our bot -----------------------------------------------------------------------------------
class SunflowBot:
    """The real bot polling the sandbox: open incidents, press their live messages' buttons."""

    def __init__(self, sandbox: Sandbox, runner: BotRunner, limiter: LimiterMeter) -> None:
        self.tg = sandbox.telegram
        self.runner = runner
        self.limiter = limiter
        self.clock = EditClock(self.tg)
        self.live: dict[int, int] = {}  # incident store id -> live message id

    async def send(self, text: str) -> list[SentMessage]:
        before = len(self.tg.bot_messages(OPS_CHAT.id))
        message = self.tg.send_message(OPS_CHAT, ADMIN, text)
        handled = message.update_id is not None and await self.runner.wait_handled(
            message.update_id, TIMEOUT_S)
        if not handled:
            raise RuntimeError(f"{text!r} was not handled within {TIMEOUT_S:g} s")
        return self.tg.bot_messages(OPS_CHAT.id)[before:]

    async def open(self, text: str) -> int:
        """Open an incident; its store id (its live message is remembered)."""
        for message in await self.send(text):
            for _, data in message.buttons():
                if data.startswith("v1:i:"):
                    doc_id = int(data.split(":")[2])
                    self.live[doc_id] = message.message_id
                    return doc_id
        raise RuntimeError(f"no live incident message after {text!r}")

    def buttons(self, doc_id: int, verb: str) -> list[str]:
        """The callback data of the live message's buttons for `verb`."""
        offered = self.tg.message(OPS_CHAT.id, self.live[doc_id]).buttons()
        return [data for _, data in offered if data.split(":")[-1] == verb]

    def button(self, doc_id: int, verbs: tuple[str, ...]) -> str | None:
        """The callback data for the first of `verbs` the live message offers."""
        return next((found[0] for verb in verbs if (found := self.buttons(doc_id, verb))), None)

    async def press(self, doc_id: int, data: str) -> tuple[float, float]:
        """Press, wait for the edit (timed) and the end of the handling (not timed); (press ->
        edit ms, of which ms the edit waited in the bot's rate limiter)."""
        held_before = self.limiter.held_ms
        ms, query_id = await self.clock.press(self.live[doc_id], data)
        held = self.limiter.held_ms - held_before
        if not await self.runner.wait_handled(self.tg.last_update_id, TIMEOUT_S):
            raise RuntimeError(f"press {data!r} not handled within {TIMEOUT_S:g} s")
        answer = self.tg.callback_answers.get(query_id) or {}
        if answer.get("show_alert"):  # a refusal edits nothing; it must not pass as a sample
            raise RuntimeError(f"press {data!r} was refused: {answer.get('text')}")
        return ms, held


# ---- the baseline ------------------------------------------------------------------------------
async def _echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the press and echo its data into the message, keeping the keyboard."""
    query = update.callback_query
    await query.answer()
    await query.edit_message_text(f"echo: {query.data}", reply_markup=query.message.reply_markup)


class EchoBot:
    """A bare python-telegram-bot Application on its own fake: one button, echoed when pressed."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        self.app: Application = (ApplicationBuilder().token(BOT_TOKEN).base_url(fake.base_url)
                                 .build())
        self.app.add_handler(CallbackQueryHandler(_echo))
        self.message_id = 0
        self.presses = 0
        self.clock: EditClock | None = None

    async def __aenter__(self) -> EchoBot:
        await self.app.initialize()
        await self.app.start()
        await self.app.updater.start_polling(poll_interval=0.0, timeout=10,
                                             allowed_updates=[Update.CALLBACK_QUERY])
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("press", callback_data="echo:0")]])
        sent = await self.app.bot.send_message(OPS_CHAT.id, "echo", reply_markup=keyboard)
        self.message_id = sent.message_id
        self.clock = EditClock(self.fake)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.clock is not None:
            self.clock.close()
        if self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def press(self) -> float:
        self.presses += 1  # new data each time: an edit to the same text would be "not modified"
        assert self.clock is not None
        ms, _ = await self.clock.press(self.message_id, f"echo:{self.presses}")
        return ms


# ---- our bot's rate limiter --------------------------------------------------------------------
class LimiterMeter:
    """Time our bot's sends spent waiting in its send pacer (handlers.send_pacer): a group's
    turn, and the ~30 calls/s overall limit (aiolimiter). The bare echo bot has neither.

    Back-to-back presses can exceed what the pacer lets through; then it holds the edit. That
    wait is reported apart from the press's own cost, so the figure says which of the two the
    time went to.
    """

    def __init__(self) -> None:
        from aiolimiter import AsyncLimiter

        from handlers.send_pacer import SendPacer

        self.held_ms = 0.0
        self._patched = [(AsyncLimiter, "acquire", AsyncLimiter.acquire),
                         (SendPacer, "turn", SendPacer.turn)]
        meter = self

        def timed(original):
            async def wait(self, *args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return await original(self, *args, **kwargs)
                finally:
                    meter.held_ms += (time.perf_counter() - t0) * 1000
            return wait

        for owner, name, original in self._patched:
            setattr(owner, name, timed(original))

    def uninstall(self) -> None:
        for owner, name, original in self._patched:
            setattr(owner, name, original)


# ---- where the time goes (--breakdown) ---------------------------------------------------------
class Breakdown:
    """Wall time spent in the calls a press makes, patched in this process only (no file edits)."""

    def __init__(self) -> None:
        self.phase = ""
        self.presses: dict[str, int] = {}
        self.spent: dict[tuple[str, str], list[float]] = {}
        self.labels: list[str] = []
        self._undo: list[tuple[object, str, object]] = []

    def start(self, phase: str, our_bot: object) -> None:
        self.phase = phase
        self.install(our_bot)

    def stop(self, presses: int) -> None:
        self.uninstall()
        self.presses[self.phase] = presses

    def wrap(self, owner: object, name: str, label: str,
             keep: Callable[[object], bool] | None = None) -> None:
        """Time `owner.name`; `keep(first argument)` picks the calls that count."""
        original = getattr(owner, name)
        self.labels.append(label)

        def note(first: object, t0: float) -> None:
            if keep is None or keep(first):
                ms = (time.perf_counter() - t0) * 1000
                self.spent.setdefault((self.phase, label), []).append(ms)

        if asyncio.iscoroutinefunction(original):
            async def timed_async(*args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return await original(*args, **kwargs)
                finally:
                    note(args[0], t0)
            replacement = timed_async
        else:
            def timed(*args, **kwargs):
                t0 = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    note(args[0], t0)
            replacement = timed
        self._undo.append((owner, name, original))
        setattr(owner, name, replacement)

    def install(self, our_bot) -> None:
        import handlers.incident_live as live
        from telegram import CallbackQuery
        from telegram.ext import ExtBot
        from telegram.request import HTTPXRequest

        from bot.incidents.engine import IncidentEngine
        from bot.store.store import Store, _JournalStorage

        def ours(obj: object) -> bool:  # the echo bot makes the same Bot API calls
            return (obj.get_bot() if isinstance(obj, CallbackQuery) else obj) is our_bot

        self.wrap(IncidentEngine, "press", "engine.press (worker thread)")
        self.wrap(Store, "update", "  Store.update")
        self.wrap(_JournalStorage, "commit", "    journal append + fsync")
        self.wrap(IncidentEngine, "get", "engine.get (re-read to render)")
        self.wrap(live, "incident_text", "incident_text (render)")
        self.wrap(live, "incident_keyboard", "incident_keyboard (render)")
        self.wrap(CallbackQuery, "answer", "answerCallbackQuery", ours)
        self.wrap(ExtBot, "edit_message_text", "editMessageText", ours)
        self.wrap(HTTPXRequest, "do_request", "  HTTP round trip (either call)",
                  lambda request: request is our_bot.request)

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def report(self) -> None:
        phases = list(self.presses)
        print("where our bot's press goes (--breakdown): ms per press, mean (p50 per call); "
              "indented lines are part of the line above")
        print(f"  {'':<34}" + "".join(f"{p + f' ({self.presses[p]} presses)':>28}" for p in phases))
        for label in dict.fromkeys(self.labels):
            cells = []
            for phase in phases:
                samples = self.spent.get((phase, label), [])
                per_press = sum(samples) / self.presses[phase]
                cells.append(f"{per_press:8.2f} ({statistics.median(samples):5.2f})"
                             if samples else "—")
            print(f"  {label:<34}" + "".join(f"{c:>28}" for c in cells))


# ---- the run -----------------------------------------------------------------------------------
@dataclass
class Phase:
    """One timed phase: our presses, the echo presses interleaved with them, and the pace."""

    ours: list[float] = field(default_factory=list)  # press -> edit, ms
    held: list[float] = field(default_factory=list)  # of which in our bot's rate limiter, ms
    echo: list[float] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def net(self) -> list[float]:
        return [ms - held for ms, held in zip(self.ours, self.held)]


async def pair(phase: Phase, ours: SunflowBot, doc_id: int, data: str, echo: EchoBot,
               rng: random.Random, gap_s: float = 0.0) -> None:
    """One press on each bot, in random order, so neither always follows the other; then a
    pause of `gap_s` (untimed) before the next pair."""
    async def press_ours() -> None:
        ms, held = await ours.press(doc_id, data)
        phase.ours.append(ms)
        phase.held.append(held)

    async def press_echo() -> None:
        phase.echo.append(await echo.press())

    presses = [press_ours, press_echo]
    rng.shuffle(presses)
    for press in presses:
        await press()
    if gap_s:
        await asyncio.sleep(gap_s)


async def run(args: argparse.Namespace, root: Path) -> tuple[Phase, Phase, Breakdown | None]:
    rng = random.Random(args.seed)
    steps, ticks = Phase(), Phase()
    breakdown = Breakdown() if args.breakdown else None
    sandbox = Sandbox.start(root / "sandbox")
    echo_fake = FakeTelegram(BOT_TOKEN)
    limiter = LimiterMeter()
    try:
        echo_fake.start().add_chat(OPS_CHAT)
        settings = Settings.from_env(sandbox.env(lang="en"), dotenv_path=None)
        async with BotRunner(settings) as runner, EchoBot(echo_fake) as echo:
            ours = SunflowBot(sandbox, runner, limiter)
            try:
                incidents = [await ours.open(f"/incident {n} {TOPIC}")
                             for n in range(1, SCENARIOS + 1)]
                # warm-up (not timed): acknowledge each incident, press the echo button
                for doc_id in incidents:
                    await ours.press(doc_id, ours.button(doc_id, ("ack",)))
                for _ in range(args.warmup):
                    await echo.press()

                # (b) every step of every walk, round-robin over the incidents until all are done
                if breakdown is not None:
                    breakdown.start("steps", runner.application.bot)
                started = time.perf_counter()
                walking = list(incidents)
                while walking:
                    for doc_id in list(walking):
                        data = ours.button(doc_id, STEP_VERBS)
                        if data is None:
                            walking.remove(doc_id)
                        else:
                            await pair(steps, ours, doc_id, data, echo, rng, args.gap_ms / 1000)
                steps.wall_s = time.perf_counter() - started
                if breakdown is not None:
                    breakdown.stop(len(steps.ours))

                # (a) the recovery-checklist ticks of the incidents whose walk is done: a press
                # ticks (k1) or unticks (k0) one item, so each press reads the button anew
                targets = [(d, data.split(":")[3]) for d in incidents
                           for verb in TICK_VERBS for data in ours.buttons(d, verb)]
                if not targets:
                    raise RuntimeError("no finished walk offers a recovery-checklist tick")

                def tick(i: int) -> tuple[int, str]:
                    doc_id, item = targets[i % len(targets)]
                    data = next(data for verb in TICK_VERBS for data in ours.buttons(doc_id, verb)
                                if data.split(":")[3] == item)
                    return doc_id, data

                for i in range(args.warmup):  # warm-up for the tick path (not timed)
                    await ours.press(*tick(i))
                if breakdown is not None:
                    breakdown.start("ticks", runner.application.bot)
                started = time.perf_counter()
                for i in range(args.presses):
                    await pair(ticks, ours, *tick(i), echo, rng, args.gap_ms / 1000)
                ticks.wall_s = time.perf_counter() - started
                if breakdown is not None:
                    breakdown.stop(len(ticks.ours))
            finally:
                if breakdown is not None:
                    breakdown.uninstall()
                ours.clock.close()
    finally:
        limiter.uninstall()
        sandbox.stop()
        echo_fake.stop()
    return steps, ticks, breakdown


def filesystem_of(path: Path) -> str:
    """The mount's filesystem type: fsync costs nothing on tmpfs and milliseconds on a disk."""
    best, kind = "", "?"
    for entry in Path("/proc/mounts").read_text().splitlines():
        parts = entry.split()
        if len(parts) > 2 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=60,
                        help="timed checklist ticks (the step presses are every step of the six "
                             "walks, about 90)")
    parser.add_argument("--warmup", type=int, default=8, help="untimed presses before timing")
    parser.add_argument("--gap-ms", type=float, default=60.0,
                        help="untimed pause after each pair of presses: each of our presses is two "
                             "Bot API calls, and Telegram allows ~30 a second, so back to back "
                             "(0) our own rate limiter holds edits — a pace no person presses at")
    parser.add_argument("--seed", type=int, default=1, help="order within each interleaved pair")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the calls inside a press (adds a little overhead)")
    parser.add_argument("--dir", type=Path, default=None,
                        help="where the temporary store goes (default: the system temp dir)")
    args = parser.parse_args()
    if args.presses < 1 or args.warmup < 0:
        parser.error("--presses must be at least 1 and --warmup at least 0")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        root = Path(tmp)
        steps, ticks, breakdown = await run(args, root)
        fs = filesystem_of(root.resolve())
    walkthrough, baseline = steps.ours + ticks.ours, steps.echo + ticks.echo
    print(f"press -> edit, interleaved press by press ({os.cpu_count()} cores, store on {fs}, "
          f"{time.perf_counter() - started:.0f} s run):")
    print(line(f"walkthrough step (ok / skip), {SCENARIOS} incidents", steps.ours))
    print(line("recovery-checklist tick (k1/k0)", ticks.ours))
    print(line("walkthrough combined", walkthrough))
    print(line("bare PTB echo bot, during the steps", steps.echo))
    print(line("bare PTB echo bot, during the ticks", ticks.echo))
    print(line("bare PTB echo bot combined", baseline))
    held = steps.held + ticks.held
    waited = [ms for ms in held if ms >= 1.0]  # an acquire with room to spare takes microseconds
    pace = f"{len(steps.ours) / steps.wall_s:.0f}/s (steps), {len(ticks.ours) / ticks.wall_s:.0f}/s"
    print(f"our bot's send pacer (a group's turn, ~30 calls/s overall) held {len(waited)} of "
          f"{len(held)} edits, {sum(held) / len(held):.1f} ms per press on average; our presses "
          f"came {pace} (ticks)")
    net = steps.net + ticks.net
    print(line("walkthrough combined, less those waits", net))
    if breakdown is not None:
        breakdown.report()
    ratio = statistics.median(walkthrough) / statistics.median(baseline)
    net_ratio = statistics.median(net) / statistics.median(baseline)
    verdict = "PASS" if ratio <= TARGET else "MISS"
    print(f"walkthrough press->edit p50 / echo bot p50: {ratio:.2f} (target <= {TARGET:g})  "
          f"{verdict}  [less the rate limiter's waits: {net_ratio:.2f}]")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
