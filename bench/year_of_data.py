"""A year of a busy pipeline in the store: does the bot still start fast, stay small, answer fast?

The store is filled with 18,000 traces, 2,000 resolved incidents with full timelines (every
step run or done, the escalation, the write-up and its post-mortem) and 50,000 audit records,
spread over the last 365 days; then, against an empty store in the same run:

- start: from spawning `python bench/_idle_child.py bot` to the fake Telegram's first
  `getUpdates` (the bot reading the store, building the Application, polling). The first start
  on the year's store also archives what nobody works on any more (`bot.retention`: settled
  incidents after a week, traces and audit after 30 days), as a bot running all year would
  have done day by day; it is printed apart, and the figures after it are the steady state;
- idle RSS of that child after `--idle` seconds;
- `/incidents`, `/stats` and one button press (Skip, round-robin over open incidents): p50 of
  the time from the update being queued to the bot having handled it (its replies sent).

Targets: start <= 2 s; RSS <= 2x the empty bot's; /stats p50 <= 100 ms; press p50 no worse
than on an empty store. The records are made by the real engine once (a walked, resolved,
written-up incident; real traces and audit records) and copied with shifted times and ids
into the store's own snapshot file, so the bot reads exactly what a year would leave.

    .venv/bin/python bench/year_of_data.py [--incidents 2000] [--traces 18000] [--audit 50000]
                                           [--runs 15] [--idle 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.actions.registry import Outcome, StepResult  # noqa: E402
from bot.clock import utc_now  # noqa: E402
from bot.config import DEFAULT_ESCALATION_OFFSETS, DEFAULT_RUNBOOKS_DIR, Settings  # noqa: E402
from bot.incidents.engine import IncidentEngine  # noqa: E402
from bot.incidents.model import Verb  # noqa: E402
from bot.incidents.offers import offered, runnable  # noqa: E402
from bot.incidents.postmortem import postmortem_filename, render_postmortem  # noqa: E402
from bot.runbooks import RunbookShelf  # noqa: E402
from bot.sandbox import ADMIN, OPS_CHAT, Sandbox  # noqa: E402
from bot.sandbox.runner import BotRunner  # noqa: E402
from bot.sandbox.telegram import FakeTelegram  # noqa: E402
from bot.store import Store  # noqa: E402
from bench.idle_rss import measure as idle_rss  # noqa: E402
from handlers import callbacks as cb  # noqa: E402

CHILD = Path(__file__).with_name("_idle_child.py")
KST = timezone(timedelta(hours=9))
SCENARIOS = ("token", "cloudinary", "images", "ratelimit", "stats", "telegram")
LEAD = f"tg:{ADMIN.id} @{ADMIN.username}"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def walked_incidents(now: datetime) -> list[dict]:
    """One fully walked, resolved and written-up incident per scenario, by the real engine."""
    store = Store.in_memory()
    clock = [now]
    engine = IncidentEngine(store, RunbookShelf(DEFAULT_RUNBOOKS_DIR), offsets=DEFAULT_ESCALATION_OFFSETS,
                            tz=KST, clock=lambda: clock[0])
    out = []
    for scenario in SCENARIOS:
        doc_id = engine.open(scenario, topic="autumn-cafe", actor=LEAD).incident.id
        for stage in ("alert", "retries", "pd"):
            engine.mark_fired(doc_id, stage)
        engine.press(doc_id, 0, Verb.ACKNOWLEDGE, actor=LEAD, admin=True)
        while (found := engine.get(doc_id).current_step()) is not None:
            index, step, _ = found
            clock[0] += timedelta(minutes=3)
            if runnable(step):
                engine.press(doc_id, index, Verb.RUN, actor=LEAD, admin=True)
                if engine.get(doc_id).step_state[index].status == "confirming":
                    engine.press(doc_id, index, Verb.CONFIRM, actor=LEAD, admin=True)
                lines = tuple(f"line {n}: checked {step.id} and found it in order" for n in range(6))
                engine.record_result(doc_id, index, StepResult(Outcome.OK, f"{step.id}: ok", lines,
                                                               trace_ids=(f"SF-20261120-{index:04d}",)))
            incident = engine.get(doc_id)
            if incident.current == index:
                verb = Verb.DONE if offered(incident, Verb.DONE, index) else Verb.SKIP
                engine.press(doc_id, index, verb, actor=LEAD, admin=True)
        engine.press(doc_id, 0, Verb.RESOLVE, actor=LEAD, admin=True)
        if engine.get(doc_id).status != "resolved":
            engine.resolve(doc_id, actor=LEAD, admin=True, reason="verified by hand")
        for kind, text in (("root_cause", "the collector's cron job died after a host reboot"),
                           ("prevention", "watch the daemon in the health check; alert on stale stats")):
            engine.ask(doc_id, kind, LEAD)
            engine.asked(doc_id, kind, 7)
            engine.answer(doc_id, 7, text, actor=LEAD, admin=True)
        incident = engine.get(doc_id)
        markdown = render_postmortem(incident, lang="en", tz=KST, now=clock[0])
        engine.save_postmortem(doc_id, markdown=markdown, filename=postmortem_filename(incident))
        engine.delivered(doc_id, engine.get(doc_id).owed[0].file)
        out.append({**engine.store.get("incidents", doc_id), "_markdown": markdown})  # the stored row
    store.close()
    return out


def _shifted(value: object, delta: timedelta) -> object:
    """Every ISO time in a record moved by `delta`."""
    if isinstance(value, dict):
        return {k: _shifted(v, delta) for k, v in value.items()}
    if isinstance(value, list):
        return [_shifted(v, delta) for v in value]
    if isinstance(value, str) and len(value) >= 25 and value[4] == "-" and value[10] == "T":
        try:
            return _iso(datetime.fromisoformat(value) + delta)
        except ValueError:
            return value
    return value


def write_year(data_dir: Path, *, incidents: int, traces: int, audit: int, now: datetime) -> int:
    """The store's snapshot and ids files for a year of data; its size in bytes."""
    templates = walked_incidents(now)
    tables: dict[str, dict[str, dict]] = {"incidents": {}, "postmortems": {}, "traces": {}, "audit": {}}
    per_day: dict[str, int] = {}
    for n in range(incidents):
        template = templates[n % len(templates)]
        opened = now - timedelta(days=365) + timedelta(minutes=n * 365 * 24 * 60 // incidents)
        delta = opened - datetime.fromisoformat(template["opened_at"])
        doc = _shifted({k: v for k, v in template.items() if k not in ("id", "_v", "_markdown")}, delta)
        day = opened.astimezone(KST).strftime("%Y%m%d")
        per_day[day] = per_day.get(day, 0) + 1
        doc["ref"] = f"INC-{day}-{per_day[day]:03d}"
        doc["message"] = {"chat_id": OPS_CHAT.id, "message_id": 1000 + n, "thread_id": None}
        doc["_v"] = 40
        tables["incidents"][str(n + 1)] = doc
        tables["postmortems"][str(n + 1)] = {
            "incident_id": n + 1, "ref": doc["ref"], "filename": doc["postmortem"]["filename"],
            "markdown": template["_markdown"], "written_at": doc["postmortem"]["written_at"]}
    stages = ("generate", "upload", "publish")
    for n in range(traces):
        at = now - timedelta(days=365) + timedelta(seconds=n * 365 * 86400 // traces)
        tables["traces"][str(n + 1)] = {
            "trace_id": f"SF-{at.astimezone(KST):%Y%m%d}-{n % 10000:04d}", "at": _iso(at),
            "stage": stages[n % 3], "status": "ok" if n % 17 else "failed", "topic": "autumn-cafe",
            "detail": {"duration_ms": 1200 + n % 900, "attempt": 1 + n % 3}}
    for n in range(audit):
        at = now - timedelta(days=365) + timedelta(seconds=n * 365 * 86400 // audit)
        tables["audit"][str(n + 1)] = {
            "at": _iso(at), "event": ("access.refused", "token.set_expiry", "health.recheck")[n % 3],
            "actor": f"tg:{1000 + n % 40}", "chat_id": OPS_CHAT.id, "detail": {"command": "/health"}}
    data_dir.mkdir(parents=True, exist_ok=True)
    last_ids = {name: len(docs) for name, docs in tables.items()}
    body = json.dumps({"schema": Store.SCHEMA_VERSION, "last_ids": last_ids, "tables": tables},
                      separators=(",", ":")).encode()
    (data_dir / "store.json").write_bytes(body)
    (data_dir / "store.ids").write_text(json.dumps({"ids": {k: v + 64 for k, v in last_ids.items()},
                                                    "counters": {}}))
    with Store.open(data_dir) as check:  # it opens, every record sound
        assert check.count("incidents") == incidents and not check.recovered, check.recovered
    return len(body)


def _archive_mib(data_dir: Path) -> float:
    return sum(f.stat().st_size for f in (data_dir / "archive").rglob("*.jsonl")) / 2**20


def first_start(sandbox: Sandbox, env: dict[str, str], size: int) -> tuple[float, float]:
    """(seconds to the first getUpdates, seconds until the archiving after it rewrote the store)."""
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, str(CHILD), "bot", json.dumps(env)], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    snapshot = sandbox.data_dir / "store.json"
    try:
        polling = None
        while snapshot.stat().st_size > size // 2:
            if polling is None and sandbox.telegram.polls_waiting:
                polling = time.monotonic() - started
            if time.monotonic() - started > 300 or child.poll() is not None:
                raise RuntimeError("the first start never finished archiving")
            time.sleep(0.005)
        return polling or time.monotonic() - started, time.monotonic() - started
    finally:
        child.terminate()
        child.wait(timeout=20)


def start_seconds(sandbox: Sandbox, env: dict[str, str], runs: int) -> float:
    """Median of `runs`: spawn the bot to its first getUpdates."""
    samples = []
    for _ in range(runs):
        quiet = time.monotonic() + 15  # the last child's long poll, abandoned, ends in <= 10 s
        while sandbox.telegram.polls_waiting and time.monotonic() < quiet:
            time.sleep(0.05)
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, str(CHILD), "bot", json.dumps(env)], cwd=ROOT,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # a getUpdates is recorded when it returns (a long poll: seconds later); the fake
            # counts the ones waiting the moment they arrive
            while sandbox.telegram.polls_waiting == 0:
                if time.monotonic() - started > 60 or child.poll() is not None:
                    raise RuntimeError(f"never polled: {child.stderr.read()[-2000:] if child.poll() else ''}")
                time.sleep(0.002)
            samples.append(time.monotonic() - started)
        finally:
            child.terminate()
            child.wait(timeout=20)
    return statistics.median(samples)


async def latencies(settings: Settings, fake: FakeTelegram, runs: int) -> dict[str, float]:
    """p50 in ms of /incidents, /stats and a Skip press, each handled start to end."""
    out: dict[str, list[float]] = {"/incidents": [], "/stats": [], "press": []}
    async with BotRunner(settings) as runner:
        engine = runner.application.bot_data["sunflow"].engine
        for scenario in SCENARIOS:  # open ones to press on (untimed)
            update = fake.send_message(OPS_CHAT, ADMIN, f"/incident {scenario} autumn-cafe")
            await runner.wait_handled(update.update_id)
        for _ in range(runs):
            for command in ("/incidents", "/stats"):
                update = fake.send_message(OPS_CHAT, ADMIN, command)
                started = time.perf_counter()
                await runner.wait_handled(update.update_id)
                out[command].append((time.perf_counter() - started) * 1000)
        for n in range(runs):
            open_ones = engine.unresolved()
            incident = open_ones[n % len(open_ones)]
            found = incident.current_step()
            if found is None or incident.message is None:
                continue
            data = cb.incident(incident.id, found[0], Verb.SKIP)
            query = fake.press_button(OPS_CHAT, ADMIN, incident.message.message_id, data)
            started = time.perf_counter()
            await runner.wait_handled(fake.last_update_id)
            out["press"].append((time.perf_counter() - started) * 1000)
            assert query in fake.callback_answers, "the press was not answered"
    return {name: statistics.median(values) for name, values in out.items() if values}


def measure(label: str, sandbox: Sandbox, args: argparse.Namespace) -> dict[str, float]:
    env = sandbox.env(lang="en")
    settings = Settings.from_env(env, dotenv_path=None)
    start = start_seconds(sandbox, env, args.start_runs)
    rss = idle_rss(["bot", json.dumps(env)], args.idle, 3)
    sandbox.telegram.set_group_limit(None)  # the group's 20/min would time the limiter
    p50 = asyncio.run(latencies(settings, sandbox.telegram, args.runs))
    print(f"{label:>6}: start {start:.2f} s · idle RSS {rss:.1f} MiB · /incidents p50 "
          f"{p50['/incidents']:.1f} ms · /stats p50 {p50['/stats']:.1f} ms · press p50 {p50['press']:.1f} ms")
    return {"start": start, "rss": rss, **p50}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=2000)
    parser.add_argument("--traces", type=int, default=18000)
    parser.add_argument("--audit", type=int, default=50000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--start-runs", type=int, default=3)
    parser.add_argument("--idle", type=float, default=3.0)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label in ("empty", "year"):
            sandbox = Sandbox.start(Path(tmp) / label)
            try:
                if label == "year":
                    size = write_year(sandbox.data_dir, incidents=args.incidents, traces=args.traces,
                                      audit=args.audit, now=utc_now())
                    print(f"a year: {args.incidents} incidents, {args.traces} traces, {args.audit} "
                          f"audit records; store.json {size / 2**20:.1f} MiB")
                    # the first start reads it all and archives what nobody works on any more
                    first, archived = first_start(sandbox, sandbox.env(lang="en"), size)
                    after = (sandbox.data_dir / "store.json").stat().st_size
                    print(f"  first start: polling after {first:.2f} s, archiving done after "
                          f"{archived:.1f} s; store.json {after / 2**20:.1f} MiB after, "
                          f"{_archive_mib(sandbox.data_dir):.1f} MiB archived")
                results[label] = measure(label, sandbox, args)
            finally:
                sandbox.stop()
    empty, year = results["empty"], results["year"]
    checks = [
        ("start <= 2 s", year["start"], year["start"] <= 2.0),
        ("RSS <= 2x empty", year["rss"] / empty["rss"], year["rss"] <= 2 * empty["rss"]),
        ("/stats p50 <= 100 ms", year["/stats"], year["/stats"] <= 100),
        ("press p50 no worse than empty", year["press"] / empty["press"],
         year["press"] <= empty["press"] * 1.10),  # 10%: the noise of a shared machine
    ]
    for name, figure, ok in checks:
        print(f"{'ok  ' if ok else 'MISS'} {name}: {figure:.2f}")
    return 0 if all(ok for _, _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
