"""images.regenerate, images.use_archive, cloudinary.upload and stats.collect on the sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from bot.actions.catalog import run_action
from bot.actions.registry import Outcome, StepResult
from bot.config import Settings
from bot.sandbox import Sandbox
from bot.sandbox.home import IMAGES_DIR, make_stats_stale
from bot.services import Services, build_services
from bot.store import Store

ACTOR = "tg:1001 @mina_admin"


@pytest.fixture
async def services(sandbox: Sandbox) -> AsyncIterator[Services]:
    settings = Settings.from_env(sandbox.env(lang="en", HEALTH_TIMEOUT_S="2"), dotenv_path=None)
    made = build_services(settings, Store.in_memory())
    yield made
    await made.aclose()


async def run(services: Services, action: str, topic: str | None = "autumn-cafe",
              args: dict | None = None) -> StepResult:
    ctx = services.action_context(topic=topic, incident_ref="INC-20261205-002", actor=ACTOR)
    return await run_action(action, ctx, args or {}, timeout_s=60)


async def test_regenerate_makes_only_what_is_missing(sandbox, services) -> None:
    folder = sandbox.home / IMAGES_DIR / "autumn-cafe"
    (folder / "latte-art-window.png").unlink()
    kept = (folder / "maple-terrace.png").read_bytes()
    result = await run(services, "images.regenerate")
    assert result.outcome is Outcome.OK and "Made 1 image" in result.summary, result
    assert len(sandbox.fal.requests) == 1
    assert (folder / "latte-art-window.png").read_bytes().startswith(b"\x89PNG")
    assert (folder / "maple-terrace.png").read_bytes() == kept
    again = await run(services, "images.regenerate")
    assert "nothing to make" in again.summary and len(sandbox.fal.requests) == 1


async def test_regenerate_all_keeps_the_old_images_in_the_archive(sandbox, services) -> None:
    folder = sandbox.home / IMAGES_DIR / "seoul-night"
    old = (folder / "euljiro-neon-alley.png").read_bytes()
    before = set((folder / "archive").iterdir())
    result = await run(services, "images.regenerate", topic="seoul-night", args={"all": True})
    assert result.outcome is Outcome.OK, result
    [archived] = set((folder / "archive").iterdir()) - before
    assert archived.name.startswith("euljiro-neon-alley-") and archived.read_bytes() == old
    assert (folder / "euljiro-neon-alley.png").read_bytes() != old


async def test_fal_failing_twice_then_succeeding_leaves_one_image_per_success(sandbox, services) -> None:
    folder = sandbox.home / IMAGES_DIR / "seoul-night"
    (folder / "euljiro-neon-alley.png").unlink()
    sandbox.fal.set_fault("generation_error", kind="timeout")
    for _ in range(2):
        failed = await run(services, "images.regenerate", topic="seoul-night")
        assert failed.outcome is Outcome.FAIL and failed.data["error_kind"] == "timeout"
    sandbox.fal.clear_faults()
    third = await run(services, "images.regenerate", topic="seoul-night")
    assert third.outcome is Outcome.OK
    assert len(sandbox.fal.requests) == 3  # each failed request was spent; none polled forever
    assert (folder / "euljiro-neon-alley.png").exists()


async def test_use_archive_fills_missing_images_from_the_archive(sandbox, services) -> None:
    folder = sandbox.home / IMAGES_DIR / "autumn-cafe"
    (folder / "maple-terrace.png").unlink()
    newest = max((folder / "archive").iterdir(), key=lambda p: (p.stat().st_mtime, p.name))
    result = await run(services, "images.use_archive")
    assert result.outcome is Outcome.OK, result
    assert (folder / "maple-terrace.png").read_bytes() == newest.read_bytes()
    assert newest.exists()  # copied, the archive keeps it
    assert not sandbox.fal.requests


async def test_use_archive_says_when_the_archive_is_too_small(sandbox, services) -> None:
    folder = sandbox.home / IMAGES_DIR / "autumn-cafe"
    for name in ("maple-terrace.png", "latte-art-window.png", "pumpkin-spice-counter.png"):
        (folder / name).unlink()
    result = await run(services, "images.use_archive")
    assert result.outcome is Outcome.FAIL and "has 2 images; 3 are missing" in result.summary


async def test_an_upload_retried_finds_its_assets_instead_of_doubling_them(sandbox, services) -> None:
    first = await run(services, "cloudinary.upload")
    assert first.outcome is Outcome.OK and "(0 already there)" in first.summary
    again = await run(services, "cloudinary.upload")
    assert again.outcome is Outcome.OK and "(3 already there)" in again.summary
    assert len(sandbox.cloudinary.uploads) == 3 and again.data["urls"] == first.data["urls"]


async def test_a_topic_with_a_separator_is_refused_in_one_sentence(sandbox, services) -> None:
    for topic in ("../config", "a/b", "/etc", "x\0y"):
        result = await run(services, "cloudinary.upload", topic=topic)
        assert result.outcome is Outcome.FAIL and "not a topic folder name" in result.summary
    assert not sandbox.cloudinary.uploads


async def test_stats_collect_writes_fresh_statistics_whole_and_keeps_what_graph_does_not_give(
        sandbox, services) -> None:
    make_stats_stale(sandbox.home, 40)
    path = sandbox.home / "config" / "data" / "instagram_stats.json"
    old = json.loads(path.read_text(encoding="utf-8"))
    stale = await run(services, "stats.freshness", topic=None)
    assert stale.outcome is not Outcome.OK
    result = await run(services, "stats.collect", topic=None)
    assert result.outcome is Outcome.OK, result
    new = json.loads(path.read_text(encoding="utf-8"))
    assert new["last_updated"] != old["last_updated"]
    assert new["account"]["followers_count"] == sandbox.instagram.followers_count
    assert new["posts"][0]["topic"] == old["posts"][0]["topic"]  # kept: Graph does not know it
    assert new["summary_7d"]["reach"] == old["summary_7d"]["reach"]
    assert not list(path.parent.glob("*.tmp"))
    fresh = await run(services, "stats.freshness", topic=None)
    assert fresh.outcome is Outcome.OK, fresh


async def test_reschedule_lowers_the_posts_a_day_once_backed_up_and_never_below_one(sandbox, services) -> None:
    path = sandbox.home / "config" / "publishing.json"
    first = await run(services, "publish.reschedule", topic=None)
    assert first.outcome is Outcome.OK and "2 → 1" in first.summary, first
    assert json.loads(path.read_text())["posts_per_day"] == 1
    [backup] = services.store.backups()
    assert backup.backup_id in first.lines[0]
    again = await run(services, "publish.reschedule", topic=None)
    assert again.outcome is Outcome.FAIL and "not below 1" in again.summary
    assert len(services.store.backups()) == 1  # a refused change takes no backup
    path.unlink()
    missing = await run(services, "publish.reschedule", topic=None)
    assert missing.outcome is Outcome.FAIL and "is missing" in missing.summary


async def test_stats_collect_does_not_overwrite_a_file_it_cannot_read(sandbox, services) -> None:
    path = sandbox.home / "config" / "data" / "instagram_stats.json"
    path.write_text('{"last_updated": "2026-11-01T00:00:00+09:00", "posts": [', encoding="utf-8")
    result = await run(services, "stats.collect", topic=None)
    assert result.outcome is Outcome.FAIL and "not overwritten" in result.summary
    assert path.read_text(encoding="utf-8").endswith('"posts": [')


async def test_regenerate_all_that_fails_leaves_every_image_where_it_was(sandbox, services) -> None:
    folder = sandbox.home / IMAGES_DIR / "seoul-night"
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.png")}
    sandbox.fal.set_fault("generation_error", kind="internal")
    result = await run(services, "images.regenerate", topic="seoul-night", args={"all": True})
    assert result.outcome is Outcome.FAIL
    assert {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*.png")} == before
