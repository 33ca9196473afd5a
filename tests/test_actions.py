"""The diagnose step actions, run the way the engine runs them: `run_action` with a context from
`Services.action_context`, against the real adapters and the loopback sandbox.

Each test states what an operator would read in the incident message (outcome, summary, lines)
or receive (the document), with the vendor faults and pipeline-home damage the playbook's
scenarios describe. One sandbox serves the module; `sandbox` hands it to each test clean.
"""

from __future__ import annotations

import dataclasses

import io
import json
import os
import tarfile
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.health import COMPONENTS
from bot.actions.catalog import all_actions, run_action
from bot.actions.registry import ActionContext, Outcome, StepResult
from bot.config import Settings
from bot.i18n import Translator
from bot.sandbox import (
    BOT_TOKEN,
    CLOUD_SECRET,
    IG_APP_SECRET,
    IG_TOKEN,
    OPS_CHAT,
    Sandbox,
)
from bot.sandbox.home import (
    IMAGES_DIR,
    LOGS_DIR,
    TRACES_DIR,
    corrupt_stats,
    make_stats_stale,
    remove_stats,
    seed_home,
)
from bot.services import Services, build_services
from bot.store import Store
from bot.clock import utc_now

EN = Translator("en")
REF = "INC-20261127-001"
ACTOR = "tg:1001 @mina_admin"
TIMEOUT_S = 10.0
BUILT = ("health.check", "token.status", "token.guide", "token.set_expiry", "traces.list",
         "logs.tail", "logs.grep", "logs.collect", "stats.freshness", "images.local",
         "cloudinary.usage", "instagram.quota", "telegram.test_message")


@pytest.fixture
def sandbox(world: Sandbox) -> Iterator[Sandbox]:
    """The module's sandbox with no faults, default vendor state, an empty ops chat, a fresh home."""
    expires = world.instagram.token_expires_at
    credits = world.cloudinary.credits_used_percent
    world.telegram.reset()
    world.telegram.add_chat(OPS_CHAT)
    now = utc_now()
    seed_home(world.home, now=now - timedelta(hours=25))
    make_stats_stale(world.home, 1.0, now=now)
    yield world
    world.clear_faults()
    world.instagram.quota_usage = 0
    world.instagram.token_expires_at = expires
    world.cloudinary.credits_used_percent = credits


@pytest.fixture
async def make_services(sandbox: Sandbox) -> AsyncIterator[Callable[..., Services]]:
    """Services wired to the sandbox (English), closed after the test."""
    made: list[Services] = []

    def make(*, lang: str = "en", without: tuple[str, ...] = (), **overrides: str) -> Services:
        env = sandbox.env(lang=lang, **overrides)
        for name in without:
            del env[name]
        # the CLI's way: the bot's own settings may be missing
        settings = Settings.from_env(env, dotenv_path=None, require_telegram=not without)
        services = build_services(settings, Store.in_memory())
        made.append(services)
        return services

    yield make
    for services in made:
        await services.aclose()


@pytest.fixture
def services(make_services: Callable[..., Services]) -> Services:
    return make_services()


def context(services: Services, *, topic: str | None = "autumn-cafe",
            ref: str | None = REF) -> ActionContext:
    return services.action_context(topic=topic, incident_ref=ref, actor=ACTOR)


async def run(services: Services, name: str, args: dict | None = None, **ctx_args) -> StepResult:
    return await run_action(name, context(services, **ctx_args), args or {}, timeout_s=TIMEOUT_S)


def seeded_lines(home: Path, glob: str) -> dict[str, list[str]]:
    return {p.name: p.read_text(encoding="utf-8").splitlines()
            for p in sorted((home / LOGS_DIR).glob(glob))}


def everything(result: StepResult) -> str:
    """All the text an operator sees: summary, lines and the document's caption."""
    caption = result.document.caption if result.document else ""
    return "\n".join([result.summary, *result.lines, caption])


# ---- the registry ------------------------------------------------------------------------------
def test_every_named_action_is_registered_with_its_params() -> None:
    built = {name for name, spec in all_actions().items() if not spec.planned}
    assert set(BUILT) <= built
    assert set(all_actions()["health.check"].params) == {"components"}
    assert all_actions()["health.check"].params["components"].choices == COMPONENTS
    assert all_actions()["token.set_expiry"].with_defaults({}) == {"days": 60}
    assert all_actions()["token.set_expiry"].arg_problems({"days": 91})
    assert all_actions()["traces.list"].with_defaults({}) == {"limit": 10}
    assert all_actions()["logs.tail"].with_defaults({}) == {"lines": 50, "files": "*_stderr.log"}
    assert all_actions()["logs.grep"].with_defaults({"pattern": "429"}) == {
        "pattern": "429", "files": "*.log", "show": 5}
    assert all_actions()["logs.collect"].with_defaults({}) == {"lines": 200}
    assert all_actions()["logs.collect"].arg_problems({"lines": 2001})
    assert all_actions()["images.local"].needs_topic
    assert all_actions()["images.local"].with_defaults({}) == {"archive": False}
    for name in ("token.status", "token.guide", "stats.freshness", "cloudinary.usage",
                 "instagram.quota", "telegram.test_message"):
        assert all_actions()[name].params == {}, name


async def test_run_action_says_unavailable_for_a_planned_action(services: Services) -> None:
    unbound = dataclasses.replace(context(services), scripts=None)  # no team scripts bound
    result = await run_action("telegram.restart", unbound, {}, timeout_s=TIMEOUT_S)
    assert result.outcome is Outcome.UNAVAILABLE
    assert "telegram.restart is not built yet" in result.summary


async def test_run_action_reports_a_crash_as_error(services: Services,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    services.store.close()  # traces.list then fails inside: the store refuses reads and writes
    result = await run(services, "traces.list")
    assert result.outcome is Outcome.ERROR
    assert result.summary == "traces.list failed unexpectedly; see the bot's log"
    assert "action traces.list crashed" in caplog.text


async def test_an_action_that_needs_a_topic_fails_without_one(services: Services) -> None:
    result = await run(services, "images.local", topic=None)
    assert result.outcome is Outcome.FAIL
    assert "needs the incident's topic" in result.summary


def test_action_context_carries_the_services_and_the_incident(services: Services) -> None:
    ctx = services.action_context(topic="seoul-night", incident_ref=REF, actor=ACTOR)
    assert (ctx.topic, ctx.incident_ref, ctx.actor) == ("seoul-night", REF, ACTOR)
    assert ctx.ops_chat_id == OPS_CHAT.id and ctx.ops_thread_id is None
    assert ctx.files is services.files and ctx.store is services.store
    assert ctx.images is services.cloudinary and ctx.chat is services.telegram
    assert ctx.redact(f"token {IG_TOKEN}") == "token •••"


# ---- health.check ------------------------------------------------------------------------------
async def test_health_check_all_green(services: Services) -> None:
    result = await run(services, "health.check")
    assert result.outcome is Outcome.OK
    assert result.summary == f"Health: {len(COMPONENTS)} ok, 0 degraded, 0 down"
    assert result.lines == ()
    assert set(result.data["states"]) == set(COMPONENTS)


async def test_health_check_names_what_is_down(sandbox: Sandbox, services: Services) -> None:
    sandbox.cloudinary.set_fault("auth")
    result = await run(services, "health.check")
    assert result.outcome is Outcome.FAIL
    assert result.summary == f"Health: {len(COMPONENTS) - 1} ok, 0 degraded, 1 down"
    assert len(result.lines) == 1
    assert result.lines[0].startswith("cloudinary: down — credentials rejected")
    assert result.data["states"]["cloudinary"] == "down"


async def test_health_check_of_some_components_only(sandbox: Sandbox, services: Services) -> None:
    make_stats_stale(sandbox.home, 48)
    result = await run(services, "health.check", {"components": ["stats", "store"]})
    assert result.outcome is Outcome.WARN
    assert result.summary == "Health: 1 ok, 1 degraded, 0 down"
    assert result.lines[0].startswith("stats: degraded — stale: updated 48.0 h ago")
    assert set(result.data["states"]) == {"stats", "store"}


async def test_health_check_speaks_korean_by_default(make_services: Callable[..., Services]) -> None:
    result = await run(make_services(lang="ko"), "health.check", {"components": ["store"]})
    assert result.summary == "상태: 정상 1, 저하 0, 장애 0"


# ---- token.* -----------------------------------------------------------------------------------
async def test_token_status_valid(services: Services) -> None:
    result = await run(services, "token.status")
    assert result.outcome is Outcome.OK
    assert result.summary.startswith("valid (@sunflow.daily) · 5")  # 54 days left in the sandbox
    assert result.lines[0].startswith("Expires: ") and result.lines[0].endswith("days left)")
    assert "Source: Graph API debug_token" in result.lines
    assert result.data["valid"] is True and result.data["source"] == "debug_token"


async def test_token_status_fails_when_the_token_expired(sandbox: Sandbox,
                                                         services: Services) -> None:
    sandbox.instagram.set_fault("token_expired")
    result = await run(services, "token.status")
    assert result.outcome is Outcome.FAIL
    assert result.summary.startswith("token expired")
    assert result.data["state"] == "down" and result.data["expired"] is True
    assert IG_TOKEN not in everything(result)


async def test_token_status_warns_a_week_before_expiry(make_services: Callable[..., Services],
                                                       sandbox: Sandbox) -> None:
    sandbox.instagram.token_expires_at = utc_now() + timedelta(days=3)
    result = await run(make_services(), "token.status")
    assert result.outcome is Outcome.WARN
    assert "3 days left" in result.summary


async def test_token_guide_lists_the_renewal_steps(make_services: Callable[..., Services]) -> None:
    result = await run(make_services(), "token.guide")
    assert result.outcome is Outcome.OK
    assert result.summary == EN("guide.title")
    assert len(result.lines) == 6
    assert result.lines[3] == "4. " + EN("guide.step4")
    korean = await run(make_services(lang="ko"), "token.guide")
    assert korean.summary == Translator("ko")("guide.title")


async def test_token_set_expiry_registers_and_token_status_then_shows_it(
        make_services: Callable[..., Services]) -> None:
    services = make_services(debug_token=False)  # no app credentials: set-expiry is the source
    result = await run(services, "token.set_expiry", {"days": 30})
    assert result.outcome is Outcome.OK
    assert result.summary.startswith("Token expiry registered: 30 days, until ")
    registration = services.store.token_expiry_registration()
    assert registration is not None and registration.actor == ACTOR
    assert [r.actor for r in services.store.audit_records()] == [ACTOR]
    status = await run(services, "token.status")
    assert status.outcome is Outcome.OK
    assert "30 days left" in status.summary
    assert any(line.startswith("Source: registered with set-expiry by @mina_admin")
               for line in status.lines)


async def test_token_set_expiry_defaults_to_the_playbooks_60_days(services: Services) -> None:
    result = await run(services, "token.set_expiry")
    assert result.data["days"] == 60
    assert "60 days" in result.summary


# ---- traces.list -------------------------------------------------------------------------------
def sample_traces(home: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((home / TRACES_DIR).glob("SF-*.json"))}


async def test_traces_list_imports_the_trace_files_and_lists_the_newest(
        sandbox: Sandbox, services: Services) -> None:
    traces = sample_traces(sandbox.home)
    newest_first = sorted(traces, key=lambda t: traces[t]["started_at"], reverse=True)
    result = await run(services, "traces.list", {"limit": 3})
    assert result.trace_ids == tuple(newest_first[:3])
    assert result.outcome is Outcome.WARN  # the sample's recent runs failed
    assert result.summary.startswith("3 recent traces, 3 with errors (6 trace files imported)")
    newest = traces[newest_first[0]]
    assert result.lines[0].startswith(f"{newest_first[0]} · {newest['stage']} · error · "
                                      f"{newest['topic']} · ")
    assert "401 Unauthorized" in result.lines[0]
    stored = {r.trace_id: r for r in services.store.traces(limit=50)}
    assert set(stored) == set(traces)
    one = stored[newest_first[0]]
    assert one.detail["attempts"] == newest["attempts"] and one.detail["ended_at"] == newest["ended_at"]


async def test_traces_list_upserts_and_reports_an_unreadable_file(sandbox: Sandbox,
                                                                  services: Services) -> None:
    await run(services, "traces.list")
    (sandbox.home / TRACES_DIR / "SF-20261127-9999.json").write_text('{"trace_id": ', "utf-8")
    result = await run(services, "traces.list", {"limit": 50})
    assert services.store.count("traces") == 6  # imported twice, stored once
    assert "SF-20261127-9999.json: not imported (not JSON (JSONDecodeError))" in result.lines
    assert len(result.trace_ids) == 6
    assert result.outcome is Outcome.WARN


async def test_traces_list_is_ok_when_every_listed_run_went_well(sandbox: Sandbox,
                                                                 services: Services) -> None:
    traces = sample_traces(sandbox.home)
    oldest = min(traces, key=lambda t: traces[t]["started_at"])  # the sample's clean run
    for name in traces:
        if name != oldest:
            (sandbox.home / TRACES_DIR / f"{name}.json").unlink()
    result = await run(services, "traces.list")
    assert result.outcome is Outcome.OK
    assert result.trace_ids == (oldest,)


async def test_traces_list_with_no_traces_at_all(sandbox: Sandbox, services: Services) -> None:
    for path in (sandbox.home / TRACES_DIR).glob("SF-*.json"):
        path.unlink()
    result = await run(services, "traces.list")
    assert result.outcome is Outcome.OK
    assert result.summary == "No traces on record (no SF-*.json in config/logs/traces)"
    assert result.trace_ids == ()


# ---- logs.tail ---------------------------------------------------------------------------------
async def test_logs_tail_short_output_is_shown_in_the_lines(sandbox: Sandbox,
                                                            services: Services) -> None:
    result = await run(services, "logs.tail", {"lines": 3, "files": "publish_content_stderr.log"})
    expected = seeded_lines(sandbox.home, "publish_content_stderr.log")["publish_content_stderr.log"]
    assert result.document is None
    assert result.lines == ("==> publish_content_stderr.log <==", *expected[-3:])
    assert result.outcome is Outcome.OK  # the last three lines hold no ERROR
    assert result.summary == ("Last 3 lines of 1 log file (publish_content_stderr.log): "
                              "0 ERROR/CRITICAL lines")


async def test_logs_tail_long_output_goes_in_a_document(sandbox: Sandbox,
                                                        services: Services) -> None:
    log = sandbox.home / LOGS_DIR / "upload_cloudinary_stderr.log"
    with log.open("a", encoding="utf-8") as handle:  # a secret the pipeline should not have logged
        handle.write(f"2026-11-27 09:00:00,000 ERROR [upload_cloudinary] retry with "
                     f"api_secret {CLOUD_SECRET}\n")
    result = await run(services, "logs.tail")
    assert result.outcome is Outcome.WARN
    assert result.document is not None
    assert result.document.filename.startswith(f"{REF}-tail-") and \
        result.document.filename.endswith(".log")
    text = result.document.content.decode("utf-8")
    seeded = seeded_lines(sandbox.home, "*_stderr.log")
    for name, lines in seeded.items():
        assert f"==> {name} <==" in text
        assert lines[-2] in text and (len(lines) <= 50 or lines[-51] not in text)
    assert CLOUD_SECRET not in text and "api_secret •••" in text
    assert result.lines[0] == f"The full text is in the attached file {result.document.filename}."
    assert result.lines[1] == "Latest ERROR lines:"
    assert 1 < len(result.lines) <= 7
    assert CLOUD_SECRET not in everything(result)
    assert result.data["errors"] >= 1


async def test_logs_tail_of_a_big_log_is_exactly_the_last_lines(sandbox: Sandbox,
                                                                services: Services) -> None:
    # ~400 KB, multi-byte text, no final newline: the tail is read backwards in 64 KB blocks
    lines = [f"2026-11-27 09:{i // 60 % 60:02d}:{i % 60:02d},000 INFO [daemon] 통계 줄 {i:05d} "
             + "x" * 40 for i in range(6000)]
    (sandbox.home / LOGS_DIR / "big_stderr.log").write_text("\n".join(lines), encoding="utf-8")
    result = await run(services, "logs.tail", {"lines": 500, "files": "big_stderr.log"})
    assert result.document is not None
    shown = result.document.content.decode("utf-8").splitlines()
    assert shown == ["==> big_stderr.log <==", *lines[-500:]]
    short = await run(services, "logs.tail", {"lines": 29, "files": "publish_content.log"})
    seeded = seeded_lines(sandbox.home, "publish_content.log")["publish_content.log"]
    assert len(seeded) < 29  # a log shorter than asked is shown whole
    assert short.lines == ("==> publish_content.log <==", *seeded)


async def test_logs_tail_refuses_a_path_outside_the_logs(services: Services) -> None:
    result = await run(services, "logs.tail", {"files": "../data/*.json"})
    assert result.outcome is Outcome.FAIL
    assert result.summary.startswith("Refused file pattern ../data/*.json")


async def test_logs_tail_with_no_matching_file(services: Services) -> None:
    result = await run(services, "logs.tail", {"files": "nothing_*.log"})
    assert result.outcome is Outcome.WARN
    assert result.summary == "No log file matches nothing_*.log in config/logs"


# ---- logs.grep ---------------------------------------------------------------------------------
async def test_logs_grep_finds_the_samples_429_lines(sandbox: Sandbox, services: Services) -> None:
    expected = {name: [line for line in lines if "429" in line]
                for name, lines in seeded_lines(sandbox.home, "*.log").items()}
    expected = {name: found for name, found in expected.items() if found}
    total = sum(len(found) for found in expected.values())
    assert total >= 10  # scenario 4's backoffs, in the publisher's two logs
    result = await run(services, "logs.grep", {"pattern": "429"})
    assert result.outcome is Outcome.WARN
    assert result.data["matches"] == total
    assert result.data["per_file"] == {name: len(found) for name, found in expected.items()}
    assert result.summary == f"“429”: {total} matching lines in {len(expected)} files (*.log)"
    for name, found in expected.items():
        assert f"{name}: {len(found)}" in result.lines
    assert "Last 5 matches:" in result.lines
    shown = result.lines[-5:]
    assert any("giving up after 3 attempts" in line for line in shown)
    assert all(line.split(": ", 1)[0] in expected for line in shown)


async def test_logs_grep_is_literal_not_a_regex(sandbox: Sandbox, services: Services) -> None:
    needle = "[telegram_bot]"  # as a regex, a character class matching nearly every line
    expected = sum(needle in line for lines in seeded_lines(sandbox.home, "*.log").values()
                   for line in lines)
    result = await run(services, "logs.grep", {"pattern": needle, "show": 2})
    assert result.data["matches"] == expected
    assert result.data["per_file"] == {"telegram_bot_stderr.log": expected}
    assert result.lines[-3:] == (
        "Last 2 matches:",
        *(f"telegram_bot_stderr.log: {line}" for line in [
            line for line in seeded_lines(sandbox.home, "telegram_bot_stderr.log")
            ["telegram_bot_stderr.log"] if needle in line][-2:]),
    )


async def test_logs_grep_with_no_match_is_ok(services: Services) -> None:
    result = await run(services, "logs.grep", {"pattern": "no such text anywhere"})
    assert result.outcome is Outcome.OK
    assert result.data["matches"] == 0
    assert result.summary == "No line contains “no such text anywhere” in *.log"


async def test_logs_grep_needs_a_pattern_and_a_safe_glob(services: Services) -> None:
    missing = await run(services, "logs.grep")
    assert missing.outcome is Outcome.FAIL
    assert missing.summary == "logs.grep needs a pattern: the text to look for"
    outside = await run(services, "logs.grep", {"pattern": "root", "files": "../../../etc/*"})
    assert outside.outcome is Outcome.FAIL
    assert outside.summary.startswith("Refused file pattern ../../../etc/*")


async def test_logs_grep_many_matches_go_in_a_document(sandbox: Sandbox,
                                                       services: Services) -> None:
    result = await run(services, "logs.grep", {"pattern": "INFO", "show": 50})
    assert result.document is not None
    text = result.document.content.decode("utf-8")
    assert text.count(" INFO ") == 50
    assert len(result.lines) <= 15


# ---- logs.collect ------------------------------------------------------------------------------
async def test_logs_collect_bundles_stderr_tails_and_traces_without_secrets(
        sandbox: Sandbox, services: Services) -> None:
    logs, traces = sandbox.home / LOGS_DIR, sandbox.home / TRACES_DIR
    with (logs / "publish_content_stderr.log").open("a", encoding="utf-8") as handle:
        handle.write(f"2026-11-27 09:00:00,000 ERROR [publish_content] GET /me?access_token="
                     f"{IG_TOKEN} failed\n")
    trace = next(traces.glob("SF-*.json"))
    body = json.loads(trace.read_text(encoding="utf-8"))
    body["error"] = {"type": "Leak", "message": f"app secret was {IG_APP_SECRET}"}
    trace.write_text(json.dumps(body), encoding="utf-8")

    result = await run(services, "logs.collect", {"lines": 20})
    assert result.outcome is Outcome.OK
    document = result.document
    assert document is not None
    assert document.filename.startswith(f"{REF}-logs-") and document.filename.endswith(".tar.gz")
    trace_names = sorted(p.name for p in traces.glob("SF-*.json"))
    assert result.trace_ids == tuple(name.removesuffix(".json") for name in trace_names)

    with tarfile.open(fileobj=io.BytesIO(document.content), mode="r:gz") as archive:
        members = {m.name: archive.extractfile(m).read().decode("utf-8")
                   for m in archive.getmembers()}
    folder = document.filename.removesuffix(".tar.gz")
    day = folder.rsplit("-", 1)[1]
    assert set(members) == {f"{folder}/error_{day}.log",
                            *(f"{folder}/traces/{name}" for name in trace_names)}
    error_log = members[f"{folder}/error_{day}.log"]
    for name, lines in seeded_lines(sandbox.home, "*_stderr.log").items():
        assert f"==> {name} <==" in error_log
        assert lines[-1].replace(IG_TOKEN, "•••") in error_log
        assert len(lines) <= 20 or lines[-21] not in error_log
    assert "publish_content.log <==" not in error_log  # the INFO log is not a stderr log
    for text in members.values():
        for secret in (IG_TOKEN, IG_APP_SECRET, CLOUD_SECRET, BOT_TOKEN):
            assert secret not in text
    leaked = json.loads(members[f"{folder}/traces/{trace.name}"])
    assert leaked["error"]["message"] == "app secret was •••"
    assert result.summary.startswith(
        f"Collected the last 20 lines of 5 logs and {len(trace_names)} traces: {document.filename}")


async def test_logs_collect_without_an_incident_is_named_sunflow(sandbox: Sandbox,
                                                                 services: Services) -> None:
    result = await run(services, "logs.collect", ref=None)
    assert result.document is not None
    assert result.document.filename.startswith("sunflow-logs-")


async def test_logs_collect_with_nothing_to_collect(sandbox: Sandbox, services: Services) -> None:
    for path in (sandbox.home / LOGS_DIR).rglob("*"):
        if path.is_file() and (path.name.endswith("_stderr.log") or path.suffix == ".json"):
            path.unlink()
    result = await run(services, "logs.collect")
    assert result.outcome is Outcome.WARN
    assert result.document is None


# ---- stats.freshness ---------------------------------------------------------------------------
async def test_stats_freshness_fresh(services: Services) -> None:
    result = await run(services, "stats.freshness")
    assert result.outcome is Outcome.OK
    assert result.summary == "Statistics: updated 1.0 h ago (limit 26 h)"
    assert result.lines[0] == "File: instagram_stats.json"
    assert result.lines[1].startswith("last_updated: ") and result.lines[1].endswith("(1.0 h ago)")
    assert 0.9 < result.data["age_h"] < 1.1


async def test_stats_freshness_stale(sandbox: Sandbox, services: Services) -> None:
    make_stats_stale(sandbox.home, 30)
    result = await run(services, "stats.freshness")
    assert result.outcome is Outcome.WARN
    assert result.summary == "Statistics: stale: updated 30.0 h ago (limit 26 h)"


@pytest.mark.parametrize(("damage", "reason"), [
    (remove_stats, "instagram_stats.json is missing"),
    (corrupt_stats, "instagram_stats.json cannot be read as JSON"),
])
async def test_stats_freshness_missing_or_broken(sandbox: Sandbox, services: Services,
                                                 damage: Callable[[Path], None],
                                                 reason: str) -> None:
    damage(sandbox.home)
    result = await run(services, "stats.freshness")
    assert result.outcome is Outcome.FAIL
    assert result.summary == f"Statistics: {reason}"
    assert result.data["last_updated"] is None


# ---- images.local ------------------------------------------------------------------------------
async def test_images_local_lists_the_topics_images_newest_first(sandbox: Sandbox,
                                                                 services: Services) -> None:
    folder = sandbox.home / IMAGES_DIR / "autumn-cafe"
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix == ".png"),
                   key=lambda p: p.stat().st_mtime, reverse=True)
    result = await run(services, "images.local")
    assert result.outcome is Outcome.OK
    assert result.summary.startswith(f"content/images/autumn-cafe/: {len(files)} files, newest from ")
    assert [line.split(" · ")[0] for line in result.lines] == [p.name for p in files]
    assert result.lines[0].split(" · ")[1] == f"{files[0].stat().st_size} B"


async def test_images_local_archive(sandbox: Sandbox, services: Services) -> None:
    archive = sandbox.home / IMAGES_DIR / "seoul-night" / "archive"
    result = await run(services, "images.local", {"archive": True}, topic="seoul-night")
    assert result.outcome is Outcome.OK
    assert result.data["path"] == "content/images/seoul-night/archive/"
    assert sorted(result.data["files"]) == sorted(p.name for p in archive.iterdir())


async def test_images_local_fails_on_a_missing_or_empty_folder(sandbox: Sandbox,
                                                               services: Services) -> None:
    missing = await run(services, "images.local", topic="winter-market")
    assert missing.outcome is Outcome.FAIL
    assert missing.summary == "content/images/winter-market/ does not exist"
    (sandbox.home / IMAGES_DIR / "winter-market").mkdir()
    empty = await run(services, "images.local", topic="winter-market")
    assert empty.outcome is Outcome.FAIL
    assert empty.summary == "content/images/winter-market/ holds no files"


@pytest.mark.parametrize("topic", ["../etc", "..", "autumn-cafe/archive", "/etc", ".hidden",
                                   "a\\b", "autumn-cafe/../../config"])
async def test_images_local_refuses_path_tricks(services: Services, topic: str) -> None:
    result = await run(services, "images.local", topic=topic)
    assert result.outcome is Outcome.FAIL
    assert result.summary == f"Refused topic “{topic}”: a topic is one folder name under content/images"


async def test_images_local_refuses_a_topic_that_links_outside(sandbox: Sandbox,
                                                               services: Services,
                                                               tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "private.png").write_bytes(b"not yours")
    os.symlink(outside, sandbox.home / IMAGES_DIR / "sneaky")
    result = await run(services, "images.local", topic="sneaky")
    assert result.outcome is Outcome.FAIL
    assert "private.png" not in everything(result)


async def test_images_local_accepts_a_korean_topic(sandbox: Sandbox, services: Services) -> None:
    folder = sandbox.home / IMAGES_DIR / "가을-카페"
    folder.mkdir()
    (folder / "단풍.png").write_bytes(b"\x89PNG" + b"0" * 2044)
    result = await run(services, "images.local", topic="가을-카페")
    assert result.outcome is Outcome.OK
    assert result.lines[0].startswith("단풍.png · 2.0 KB · ")


# ---- cloudinary.usage --------------------------------------------------------------------------
async def test_cloudinary_usage_ok(sandbox: Sandbox, services: Services) -> None:
    result = await run(services, "cloudinary.usage")
    assert result.outcome is Outcome.OK
    assert result.summary == f"Cloudinary plan Free: {sandbox.cloudinary.credits_used_percent:.1f}% " \
                             "of the credits used"
    assert result.lines == (f"Credits: {result.data['credits_used']:g} of 25",)


async def test_cloudinary_usage_warns_from_80_percent(sandbox: Sandbox, services: Services) -> None:
    sandbox.cloudinary.credits_used_percent = 81.6
    result = await run(services, "cloudinary.usage")
    assert result.outcome is Outcome.WARN
    assert "81.6%" in result.summary


async def test_cloudinary_usage_fails_when_the_credits_are_gone(sandbox: Sandbox,
                                                                services: Services) -> None:
    sandbox.cloudinary.set_fault("quota")
    result = await run(services, "cloudinary.usage")
    assert result.outcome is Outcome.FAIL
    assert "104.2%" in result.summary


async def test_cloudinary_usage_fails_on_rejected_credentials(sandbox: Sandbox,
                                                              services: Services) -> None:
    sandbox.cloudinary.set_fault("auth")
    result = await run(services, "cloudinary.usage")
    assert result.outcome is Outcome.FAIL
    assert result.summary.startswith("Cloudinary usage could not be read: credentials rejected")
    assert CLOUD_SECRET not in everything(result)


async def test_cloudinary_usage_fails_on_the_420_rate_limit_with_the_wait(
        sandbox: Sandbox, services: Services) -> None:
    sandbox.cloudinary.set_fault("rate_limited", retry_after=600, status=420)
    result = await run(services, "cloudinary.usage")
    assert result.outcome is Outcome.FAIL
    assert "rate limited · retry in ~10 min" in result.summary
    assert result.data["error"] == "rate_limited"


# ---- instagram.quota ---------------------------------------------------------------------------
async def test_instagram_quota_ok_and_warn(sandbox: Sandbox, services: Services) -> None:
    sandbox.instagram.quota_usage = 12
    ok = await run(services, "instagram.quota")
    assert ok.outcome is Outcome.OK
    assert ok.summary == "Publishing quota: 12/100 in 24 h (12%)"
    sandbox.instagram.quota_usage = 85
    warn = await run(services, "instagram.quota")
    assert warn.outcome is Outcome.WARN
    assert warn.data == {"used": 85, "total": 100, "window_s": 86400}
    sandbox.instagram.quota_usage = 100
    assert (await run(services, "instagram.quota")).outcome is Outcome.FAIL


async def test_instagram_quota_fails_on_429_with_the_wait(sandbox: Sandbox,
                                                         services: Services) -> None:
    sandbox.instagram.set_fault("rate_limited", code=80002, retry_after=900, http429=True)
    result = await run(services, "instagram.quota")
    assert result.outcome is Outcome.FAIL
    assert result.summary.startswith("The publishing quota could not be read: rate limited")
    assert "retry in ~" in result.summary and "usage 100%" in result.summary
    assert result.data["error"] == "rate_limited" and result.data["retry_after_s"] > 0


async def test_instagram_quota_fails_when_the_token_expired(sandbox: Sandbox,
                                                            services: Services) -> None:
    sandbox.instagram.set_fault("token_expired")
    result = await run(services, "instagram.quota")
    assert result.outcome is Outcome.FAIL
    assert "token expired" in result.summary
    assert IG_TOKEN not in everything(result)


# ---- telegram.test_message ---------------------------------------------------------------------
async def test_telegram_test_message_lands_in_the_ops_chat(sandbox: Sandbox,
                                                           services: Services) -> None:
    result = await run(services, "telegram.test_message")
    assert result.outcome is Outcome.OK
    sent = sandbox.telegram.bot_messages(OPS_CHAT.id)
    assert len(sent) == 1
    assert REF in sent[0].text and "test message" in sent[0].text
    assert result.data["message_id"] == sent[0].message_id
    assert result.summary == f"Test message delivered (message id {sent[0].message_id})"


async def test_telegram_test_message_goes_to_the_ops_topic(sandbox: Sandbox,
                                                          make_services: Callable[..., Services]
                                                          ) -> None:
    services = make_services(lang="ko", OPS_THREAD_ID="77")
    result = await run(services, "telegram.test_message")
    assert result.outcome is Outcome.OK
    sent = sandbox.telegram.bot_messages(OPS_CHAT.id)[-1]
    assert sent.message_thread_id == 77
    assert "테스트 메시지" in sent.text


async def test_telegram_test_message_fails_when_the_bot_was_kicked(sandbox: Sandbox,
                                                                   services: Services) -> None:
    sandbox.telegram.set_member(OPS_CHAT, sandbox.telegram.bot_user, "kicked")
    result = await run(services, "telegram.test_message")
    assert result.outcome is Outcome.FAIL
    assert result.summary == ("Test message not delivered: request rejected "
                              "(HTTP 403: the bot was removed from the chat)")
    assert sandbox.telegram.bot_messages(OPS_CHAT.id) == []


async def test_telegram_test_message_fails_on_a_flood_wait_and_a_bad_token(
        sandbox: Sandbox, services: Services) -> None:
    sandbox.telegram.set_fault("rate_limited", retry_after=120, methods="sendMessage")
    flood = await run(services, "telegram.test_message")
    assert flood.outcome is Outcome.FAIL
    assert "rate limited · retry in ~2 min" in flood.summary
    sandbox.telegram.set_fault("unauthorized")
    rejected = await run(services, "telegram.test_message")
    assert rejected.outcome is Outcome.FAIL
    assert "credentials rejected" in rejected.summary
    for result in (flood, rejected):
        assert BOT_TOKEN not in everything(result) and BOT_TOKEN.split(":")[1] not in str(result)


async def test_telegram_test_message_without_telegram_or_an_ops_chat(
        make_services: Callable[..., Services]) -> None:
    no_bot = await run(make_services(without=("TELEGRAM_BOT_TOKEN",)), "telegram.test_message")
    assert no_bot.outcome is Outcome.FAIL
    assert no_bot.summary == "Telegram is not configured (TELEGRAM_BOT_TOKEN is not set)"
    no_chat = await run(make_services(without=("OPS_CHAT_ID",)), "telegram.test_message")
    assert no_chat.outcome is Outcome.FAIL
    assert no_chat.summary == "No ops chat to send to (OPS_CHAT_ID is not set)"


@pytest.mark.parametrize("name, missing, says", [
    ("cloudinary.usage", "images", "Cloudinary is not configured"),
    ("instagram.quota", "instagram", "Instagram is not configured"),
    ("token.status", "instagram", "Instagram is not configured"),
    ("telegram.test_message", "chat", "Telegram is not configured"),
])
async def test_a_step_whose_service_is_not_configured_fails_saying_so(
        services: Services, name: str, missing: str, says: str) -> None:
    """The terminal walks incidents with the settings it could read: a vendor left out is a
    plain failure of that step, not a crash."""
    from dataclasses import replace

    ctx = replace(context(services), **{missing: None})
    result = await run_action(name, ctx, {}, timeout_s=TIMEOUT_S)
    assert result.outcome is Outcome.FAIL and says in result.summary


def test_a_trace_older_than_the_store_keeps_is_not_imported_again(services: Services) -> None:
    """The daily archive moved it out; the traces step must not bring it back each time."""
    from bot.actions.traces import TRACES_KEPT, import_trace
    from bot.ports import TraceFile

    ctx = context(services)
    now = services.clock()
    for name, at in (("SF-old", now - TRACES_KEPT - timedelta(days=1)), ("SF-new", now - timedelta(days=1))):
        assert import_trace(ctx, TraceFile(f"{name}.json", {
            "trace_id": name, "started_at": at.isoformat(), "stage": "publish", "status": "ok"})) is None
    assert [t.trace_id for t in services.store.traces()] == ["SF-new"]
