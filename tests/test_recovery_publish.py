"""publish.retry and publish.dry_run against the sandbox: what goes out, what is never sent twice,
and the trace each run leaves in the store."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.actions.catalog import run_action
from bot.actions.recovery.publish_actions import publish_retry
from bot.actions.registry import Outcome, StepResult
from bot.config import Settings
from bot.sandbox import CLOUD_SECRET, FAL_KEY, IG_TOKEN, Sandbox
from bot.sandbox.home import IMAGES_DIR
from bot.services import Services, build_services
from bot.store import Store

ACTOR = "tg:1001 @mina_admin"
SECRETS = (IG_TOKEN, CLOUD_SECRET, FAL_KEY)


@pytest.fixture
async def services(sandbox: Sandbox) -> AsyncIterator[Services]:
    # vendor calls time out after 0.9 s: a lost answer is quick to stage
    settings = Settings.from_env(sandbox.env(lang="en", HEALTH_TIMEOUT_S="1"), dotenv_path=None)
    made = build_services(settings, Store.in_memory())
    yield made
    await made.aclose()


def run(services: Services, action: str, topic: str | None = "seoul-night",
        args: dict | None = None) -> asyncio.Future:
    """Run `action` for an incident on `topic` with the step's `args`."""
    ctx = services.action_context(topic=topic, incident_ref="INC-20261205-001", actor=ACTOR)
    return asyncio.ensure_future(run_action(action, ctx, args or {}, timeout_s=60))


def trace_of(services: Services, result: StepResult) -> dict:
    [trace] = [t for t in services.store.traces(limit=100) if t.trace_id == result.data["trace"]]
    return {"id": trace.trace_id, "status": trace.status, "stage": trace.stage, "topic": trace.topic,
            **trace.detail}


async def test_a_carousel_goes_out_once_and_its_run_is_traced(sandbox, services) -> None:
    result = await run(services, "publish.retry", topic="autumn-cafe")
    assert result.outcome is Outcome.OK, result
    [post] = sandbox.instagram.published
    assert len(post["children"]) == 3 and post["caption"].startswith("가을 햇살")
    assert result.data["media_id"] == post["media_id"]
    assert len(sandbox.cloudinary.uploads) == 3
    trace = trace_of(services, result)
    assert re.fullmatch(r"SF-\d{8}-\d{4}", trace["id"]) and trace["status"] == "ok"
    assert trace["topic"] == "autumn-cafe" and trace["actor"] == ACTOR
    assert trace["incident"] == "INC-20261205-001" and trace["action"] == "publish.retry"
    stages = [s["stage"] for s in trace["stages"]]
    assert stages == ["quota", "already_live", "upload", "upload", "upload", "container",
                      "processing", "publish"]
    assert all(s["status"] == "ok" and s["ms"] >= 0 for s in trace["stages"])
    assert trace["facts"]["container_id"] and trace["facts"]["media_id"] == post["media_id"]
    stored = json.dumps([t.detail for t in services.store.traces()])
    assert not any(secret in stored for secret in SECRETS)
    assert result.trace_ids[0] == trace["id"] and trace["id"] in result.lines[-1]


async def test_pressing_again_after_it_went_out_sends_nothing(sandbox, services) -> None:
    first = await run(services, "publish.retry")
    assert first.outcome is Outcome.OK
    again = await run(services, "publish.retry")
    assert again.outcome is Outcome.OK and "Already live" in again.summary
    assert again.data["media_id"] == first.data["media_id"]
    assert len(sandbox.instagram.published) == 1 and len(sandbox.instagram.containers) == 1


async def test_a_lost_publish_answer_is_found_live_not_sent_twice(sandbox, services) -> None:
    sandbox.instagram.set_fault("publish_lost", ms=1500)  # it goes out; the answer comes too late
    result = await run(services, "publish.retry")
    assert result.outcome is Outcome.OK and "Already live" in result.summary
    [post] = sandbox.instagram.published
    assert result.data["media_id"] == post["media_id"]  # found by its caption
    stages = [(s["stage"], s["status"]) for s in trace_of(services, result)["stages"]]
    assert stages[-3:] == [("publish", "failed"), ("check", "ok"), ("already_live", "ok")]


async def test_a_saved_finished_container_is_published_as_it_is(sandbox, services) -> None:
    sandbox.instagram.set_fault("publish_error", code=-1, subcode=2207001, on="media_publish")
    failed = await run(services, "publish.retry")
    assert failed.outcome is Outcome.FAIL and failed.summary.startswith("Stopped at publish:")
    assert failed.data["error_kind"] == "unavailable" and failed.data["retry_after_s"]
    [container] = sandbox.instagram.containers
    assert trace_of(services, failed)["facts"]["container_id"] == container
    sandbox.instagram.clear_faults()
    again = await run(services, "publish.retry")
    assert again.outcome is Outcome.OK, again
    assert list(sandbox.instagram.containers) == [container]  # the same one, not a second
    [post] = sandbox.instagram.published
    assert post["container_id"] == container
    detail = trace_of(services, again)
    assert detail["facts"]["resumes"] == failed.data["trace"]
    assert detail["stages"][0]["stage"] == "check"


async def test_an_expired_saved_container_is_made_anew(sandbox, services) -> None:
    sandbox.instagram.set_fault("publish_error", code=-1, subcode=2207001, on="media_publish")
    await run(services, "publish.retry")
    sandbox.instagram.clear_faults()
    [old] = sandbox.instagram.containers
    sandbox.instagram.containers[old]["expires_at"] = 0  # 24 hours went by
    result = await run(services, "publish.retry")
    assert result.outcome is Outcome.OK
    [post] = sandbox.instagram.published
    assert post["container_id"] != old and len(sandbox.instagram.containers) == 2


async def test_a_used_up_quota_stops_before_anything_is_made(sandbox, services) -> None:
    sandbox.instagram.quota_total = 25  # this account's own limit, read not assumed
    sandbox.instagram.quota_usage = 25
    try:
        result = await run(services, "publish.retry")
    finally:
        sandbox.instagram.quota_total = 100
    assert result.outcome is Outcome.FAIL and "25 of 25" in result.summary
    assert not sandbox.instagram.containers and not sandbox.cloudinary.uploads


async def test_a_dry_run_makes_a_finished_container_and_publishes_nothing(sandbox, services) -> None:
    sandbox.instagram.container_processing_s = 0.3
    result = await run(services, "publish.dry_run", topic=None)
    assert result.outcome is Outcome.OK, result
    assert "nothing was published" in result.summary and "reachable" in result.lines[0]
    assert sandbox.instagram.published == []
    [container] = sandbox.instagram.containers.values()
    assert container["caption"].startswith("SunFlow test post")
    assert trace_of(services, result)["topic"] == "test_topic"


async def test_a_dry_run_of_a_topic_that_is_no_folder_name_is_refused(sandbox, services) -> None:
    result = await run(services, "publish.dry_run", topic=None, args={"topic": "../config"})
    assert result.outcome is Outcome.FAIL and "not a topic folder name" in result.summary
    assert not sandbox.cloudinary.uploads


async def test_a_missing_image_is_generated_then_published(sandbox, services) -> None:
    (sandbox.home / IMAGES_DIR / "seoul-night" / "euljiro-neon-alley.png").unlink()
    result = await run(services, "publish.retry")
    assert result.outcome is Outcome.OK, result
    [request] = sandbox.fal.requests
    assert request.arguments["prompt"].startswith("a neon-lit alley")
    made = (sandbox.home / IMAGES_DIR / "seoul-night" / "euljiro-neon-alley.png").read_bytes()
    assert made.startswith(b"\x89PNG") and len(sandbox.instagram.published) == 1
    stages = [s["stage"] for s in trace_of(services, result)["stages"]]
    assert stages[:3] == ["quota", "already_live", "generate"]


async def test_a_generation_cut_off_resumes_by_polling_never_by_submitting_again(sandbox, services) -> None:
    image = sandbox.home / IMAGES_DIR / "seoul-night" / "euljiro-neon-alley.png"
    image.unlink()
    sandbox.fal.steps_in_queue = 10_000  # still generating when the run is cut off
    ctx = services.action_context(topic="seoul-night", incident_ref="INC-1", actor=ACTOR)
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(publish_retry(ctx, {}), 2.5)
    [request] = sandbox.fal.requests
    request.steps = 0  # fal finishes it meanwhile
    result = await run(services, "publish.retry")
    assert result.outcome is Outcome.OK, result
    assert len(sandbox.fal.requests) == 1  # polled, not paid for twice
    assert image.exists() and len(sandbox.instagram.published) == 1


async def test_a_content_policy_refusal_is_not_sent_again_unchanged(sandbox, services) -> None:
    (sandbox.home / IMAGES_DIR / "seoul-night" / "euljiro-neon-alley.png").unlink()
    sandbox.fal.set_fault("generation_error", kind="content_policy")
    refused = await run(services, "publish.retry")
    assert refused.outcome is Outcome.FAIL and "content checker" in refused.summary
    assert refused.data["error_kind"] == "bad_request"
    sandbox.fal.clear_faults()
    again = await run(services, "publish.retry")
    assert again.outcome is Outcome.FAIL and "change the prompt" in again.summary
    assert len(sandbox.fal.requests) == 1 and not sandbox.instagram.published


CHILD = """
import asyncio, json, os, sys
from bot.actions.catalog import run_action
from bot.config import Settings
from bot.services import build_services
from bot.store import Store

async def main():
    settings = Settings.from_env(json.loads(sys.argv[1]), dotenv_path=None)
    services = build_services(settings, Store.open(settings.data_dir))
    ctx = services.action_context(topic="seoul-night", incident_ref="INC-1", actor="tg:1001")
    await run_action("publish.retry", ctx, {}, timeout_s=120)

asyncio.run(main())
"""


async def test_killed_between_media_publish_and_the_store_write_it_never_posts_twice(
        sandbox: Sandbox, tmp_path) -> None:
    """kill -9 while media_publish is answered: the post is live, the store never heard. The
    next run looks at the container it saved before publishing and stops there."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = sandbox.env(lang="en", HEALTH_TIMEOUT_S="60")
    sandbox.instagram.set_fault("publish_lost", ms=60_000)  # the answer never comes in time
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(env)],
                             cwd=Path(__file__).resolve().parents[1],
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        deadline = time.monotonic() + 30
        while not sandbox.instagram.published and time.monotonic() < deadline:
            assert child.poll() is None, "the run ended before it was killed"
            await asyncio.sleep(0.02)
        assert len(sandbox.instagram.published) == 1
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    sandbox.instagram.clear_faults()
    with Store.open(Path(env["DATA_DIR"])) as store:
        [left] = [t for t in store.traces() if t.detail.get("run_by") == "sunflow-ops"]
        assert left.status == "running" and left.detail["facts"]["container_id"]
        made = build_services(Settings.from_env(env, dotenv_path=None), store)
        try:
            ctx = made.action_context(topic="seoul-night", incident_ref="INC-1", actor=ACTOR)
            result = await run_action("publish.retry", ctx, {}, timeout_s=60)
        finally:
            await made.aclose()
    assert result.outcome is Outcome.OK and "Already live" in result.summary, result
    assert len(sandbox.instagram.published) == 1
    assert result.data["media_id"] == sandbox.instagram.published[0]["media_id"]


async def test_a_run_that_fails_again_passes_the_saved_container_on(sandbox, services) -> None:
    sandbox.instagram.set_fault("publish_error", code=-1, subcode=2207001, on="media_publish")
    for _ in range(2):  # fails, and the retry of it fails too
        failed = await run(services, "publish.retry")
        assert failed.outcome is Outcome.FAIL
    [container] = sandbox.instagram.containers
    assert trace_of(services, failed)["facts"]["container_id"] == container  # carried on
    sandbox.instagram.clear_faults()
    await run(services, "cloudinary.upload")
    done = await run(services, "publish.retry")  # an upload's success in between hides nothing
    assert done.outcome is Outcome.OK
    assert list(sandbox.instagram.containers) == [container] and len(sandbox.instagram.published) == 1


async def test_one_recovery_run_per_topic_at_a_time(sandbox, services) -> None:
    sandbox.instagram.container_processing_s = 1.0
    first, second = run(services, "publish.retry"), run(services, "publish.retry")
    results = await asyncio.gather(first, second)
    busy = [r for r in results if "already going" in r.summary]
    assert len(busy) == 1 and busy[0].outcome is Outcome.FAIL
    assert len(sandbox.instagram.published) == 1 and len(sandbox.instagram.containers) == 1
