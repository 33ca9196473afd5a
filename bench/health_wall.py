"""/health wall time against the sandbox: concurrent probes, a hung vendor, and the real chat.

Targets (DESIGN.md: probes run concurrently, each under its own timeout):
    (a) every vendor fake slowed by 1000 ms: /health wall time / slowest single probe <= 1.2
    (b) one vendor hung, HEALTH_TIMEOUT_S=5: /health wall time <= HEALTH_TIMEOUT_S + 0.5 s
    (c) the same through the chat: `/health` sent as Telegram delivers it, timed until the
        report is in the chat (one message when it is ready within a second, else a placeholder
        edited into it), with HEALTH_SHARE_S=0 so every request really checks (informational)

Everything runs in one process against loopback fakes; nothing touches the internet.

    .venv/bin/python bench/health_wall.py [--runs 5] [--slow-ms 1000] [--timeout 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings  # noqa: E402
from bot.i18n import Translator  # noqa: E402
from bot.sandbox import ADMIN, OPS_CHAT, Sandbox  # noqa: E402
from bot.sandbox.runner import BotRunner  # noqa: E402
from bot.health import COMPONENTS  # noqa: E402
from bot.services import Services, build_services  # noqa: E402
from bot.store import Store  # noqa: E402

VENDORS = ("instagram", "cloudinary", "fal", "telegram")


async def timed(coro) -> tuple[float, object]:
    started = time.perf_counter()
    result = await coro
    return (time.perf_counter() - started) * 1000, result


async def median_ms(make, runs: int) -> tuple[float, object]:
    samples, last = [], None
    for _ in range(runs):
        ms, last = await timed(make())
        samples.append(ms)
    return statistics.median(samples), last


def settings_for(sandbox: Sandbox, **overrides: str) -> Settings:
    return Settings.from_env(sandbox.env(lang="en", **overrides), dotenv_path=None)


async def concurrency(sandbox: Sandbox, services: Services, runs: int, slow_ms: int) -> bool:
    for name in VENDORS:
        sandbox.fakes[name].set_fault("slow", ms=slow_ms)
    try:
        singles: dict[str, float] = {}
        for component in COMPONENTS:  # each probe alone, through the same runner
            singles[component], _ = await median_ms(lambda c=component: services.health(only=[c]),
                                                    runs)
        wall, report = await median_ms(services.health, runs)
    finally:
        sandbox.clear_faults()
    slowest = max(singles, key=singles.get)
    ratio = wall / singles[slowest]
    print(f"  each probe alone (median of {runs}, vendors slowed by {slow_ms} ms): "
          + ", ".join(f"{c} {ms:.0f}" for c, ms in singles.items()) + " ms")
    print("  report states: " + ", ".join(f"{r.component}={r.state.value}" for r in report.results))
    print(f"health wall / slowest probe: {ratio:.2f} ({wall:.0f} ms / {singles[slowest]:.0f} ms "
          f"[{slowest}], target <= 1.2)")
    return ratio <= 1.2


async def hung(sandbox: Sandbox, timeout_s: float) -> bool:
    ok = True
    target = timeout_s + 0.5
    for name in VENDORS:
        settings = settings_for(sandbox, HEALTH_TIMEOUT_S=f"{timeout_s:g}")
        services = build_services(settings, Store.in_memory())
        await services.health()  # warm connections, as a running bot has them
        sandbox.fakes[name].set_fault("hang")
        try:
            ms, report = await timed(services.health())
        finally:
            sandbox.clear_faults()
            await services.aclose()
        line = report.get(name)
        others_ok = all(r.state.value == "ok" for r in report.results
                        if r.component not in (name, "token" if name == "instagram" else name))
        ok = ok and ms / 1000 <= target and others_ok
        print(f"health with a hung probe: {ms / 1000:.2f} s (target <= {target:g} s)  "
              f"[{name}: {line.state.value}, \"{line.reason}\"; others ok: {others_ok}]")
        if name == "instagram":
            token = report.get("token")
            print(f"  token line meanwhile: {token.state.value}, \"{token.reason}\"")
    return ok


async def through_chat(sandbox: Sandbox, runs: int, slow_ms: int) -> None:
    tg = sandbox.telegram
    placeholder = Translator("en")("health.checking")
    settings = settings_for(sandbox, HEALTH_SHARE_S="0")

    async def one() -> float:
        before = len(tg.bot_messages(OPS_CHAT.id))
        started = time.perf_counter()
        sent = tg.send_message(OPS_CHAT, ADMIN, "/health")
        assert sent.update_id is not None

        def reported() -> bool:
            mine = [m for m in tg.bot_messages(OPS_CHAT.id)[before:]
                    if m.reply_to_message_id == sent.message_id]
            return any(m.text and m.text != placeholder for m in mine)

        if not await tg.await_for(reported, timeout=30):
            raise RuntimeError("the bot posted no report within 30 s")
        return (time.perf_counter() - started) * 1000

    # Telegram itself is not slowed here: that would delay the bot's own getUpdates,
    # sendMessage and editMessageText and measure the transport, not the report.
    slowed_vendors = [v for v in VENDORS if v != "telegram"]
    async with BotRunner(settings) as runner:
        await one()  # warm-up: first update, first connections
        plain = statistics.median([await one() for _ in range(runs)])
        plain_wall, _ = await median_ms(runner.services.health, runs)
        for name in slowed_vendors:
            sandbox.fakes[name].set_fault("slow", ms=slow_ms)
        try:
            slowed = statistics.median([await one() for _ in range(runs)])
            slowed_wall, _ = await median_ms(runner.services.health, runs)
        finally:
            sandbox.clear_faults()
    print(f"/health through the chat (sent -> the report in the chat, median of "
          f"{runs}): {plain:.0f} ms (services.health() alone {plain_wall:.0f} ms)")
    print(f"/health through the chat, {'/'.join(slowed_vendors)} slowed by {slow_ms} ms: "
          f"{slowed:.0f} ms (services.health() alone {slowed_wall:.0f} ms, chat overhead "
          f"{slowed - slowed_wall:.0f} ms)")


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--slow-ms", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=5.0, help="HEALTH_TIMEOUT_S for (b)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox.start(Path(tmp))
        try:
            services = build_services(settings_for(sandbox), Store.in_memory())
            try:
                await services.health()  # warm-up
                ok_a = await concurrency(sandbox, services, args.runs, args.slow_ms)
            finally:
                await services.aclose()
            ok_b = await hung(sandbox, args.timeout)
            await through_chat(sandbox, args.runs, args.slow_ms)
        finally:
            sandbox.stop()
    return 0 if ok_a and ok_b else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
