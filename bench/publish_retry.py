"""Wall time of a publish retry ÷ the vendor latencies it waited on (target: <= 1.2).

A topic whose last run failed at publishing is retried (`publish.retry`, the real action on the
real adapters) against the sandbox with every Graph and Cloudinary answer delayed by `--delay-ms`
and the container taking `--processing-s` to reach FINISHED. The vendor latency is what the run
could not avoid waiting for: each call's delay (counted from the fakes' call logs), except the
looks at the container while it processes, which overlap its processing time: those count as
the processing time plus one look (the one that sees FINISHED). Each case runs `--runs` times
on a fresh home; the medians print.

    .venv/bin/python bench/publish_retry.py [--delay-ms 150] [--processing-s 2] [--runs 5]
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

from bot.actions.catalog import run_action  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.sandbox import Sandbox  # noqa: E402
from bot.sandbox.home import seed_home  # noqa: E402
from bot.services import build_services  # noqa: E402
from bot.store import Store  # noqa: E402


async def one_run(sandbox: Sandbox, topic: str, delay_ms: int, processing_s: float) -> tuple[float, float, int]:
    seed_home(sandbox.home)
    sandbox.instagram.published.clear()
    sandbox.instagram.containers.clear()
    sandbox.cloudinary.uploads.clear()
    settings = Settings.from_env(sandbox.env(lang="en", HEALTH_TIMEOUT_S="30"), dotenv_path=None)
    services = build_services(settings, Store.in_memory())
    try:
        sandbox.instagram.set_fault("slow", ms=delay_ms)
        sandbox.cloudinary.set_fault("slow", ms=delay_ms)
        sandbox.instagram.container_processing_s = processing_s
        ig_before, cloud_before = len(sandbox.instagram.calls), len(sandbox.cloudinary.calls)
        ctx = services.action_context(topic=topic, incident_ref="INC-BENCH", actor="bench")
        started = time.perf_counter()
        result = await run_action("publish.retry", ctx, {}, timeout_s=600)
        wall = time.perf_counter() - started
        assert result.outcome.value == "ok", result
        graph = sandbox.instagram.calls[ig_before:]
        calls = len(graph) + len(sandbox.cloudinary.calls) - cloud_before
        looks = sum(1 for c in graph if "status_code" in c.query.get("fields", ""))
        waited = (calls - looks + 1) * delay_ms / 1000 + processing_s
        return wall, waited, calls
    finally:
        sandbox.clear_faults()
        await services.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=int, default=150)
    parser.add_argument("--processing-s", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = Sandbox.start(Path(tmp) / "sandbox")
        try:
            for topic, what in (("seoul-night", "one image"), ("autumn-cafe", "a 3-image carousel")):
                runs = [await one_run(sandbox, topic, args.delay_ms, args.processing_s)
                        for _ in range(args.runs)]
                walls = [w for w, _, _ in runs]
                ratios = [w / v for w, v, _ in runs]
                print(f"{topic} ({what}): {runs[0][2]} vendor calls of {args.delay_ms} ms and "
                      f"{args.processing_s:.1f} s processing: {runs[0][1]:.2f} s waited; "
                      f"wall median {statistics.median(walls):.2f} s; "
                      f"wall / waited median {statistics.median(ratios):.2f} "
                      f"(runs: {', '.join(f'{r:.2f}' for r in ratios)}; target <= 1.2)")
        finally:
            sandbox.stop()


if __name__ == "__main__":
    asyncio.run(main())
