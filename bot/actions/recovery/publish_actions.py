"""`publish.retry` and `publish.dry_run`: a topic's post through Graph's container flow.

A retry resumes where the topic's last failed run stopped (`traced` finds it):

1. **A saved container first.** When that run made a container, it is looked at before
   anything else (`after_unclear_failure`): PUBLISHED means the post is live (its media id is
   recorded, nothing is sent); FINISHED means publish that same container; IN_PROGRESS means
   wait for it; EXPIRED or ERROR means make a new one.
2. **The quota** (`content_publishing_limit`: 25, 50 or 100 a day by account, read every time).
3. **Already live?** A post with the same caption published in the last 24 hours is taken as
   this one (a run of the pipeline's own may have gone through without saying so).
4. **Images**: listed images that are not there are generated (FLUX.2 Pro), then every image is
   uploaded (found again, never doubled, when an earlier upload landed).
5. **Container**: one image, or carousel items then the carousel; its id is on the trace before
   the next call, then it is polled until FINISHED.
6. **media_publish**; after an unclear failure (no answer, a 5xx, "not ready") the container is
   looked at again before anything is sent twice.

A dry run (the playbook's verify step) does 2, the token, 4 without generating, checks that
each image URL answers, and makes a container that reaches FINISHED — and never publishes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from bot.actions.recovery.content_steps import generate_images, need, upload_images
from bot.actions.recovery.publishing import Move, after_unclear_failure, wait_for_container
from bot.actions.recovery.traced import Run, Stop, traced
from bot.actions.registry import ActionContext, ActionSpec, Outcome, Param, StepResult
from bot.clock import parse_time
from bot.errors import ErrorKind, ServiceError
from bot.ports import Publisher, PublishingQuota, TopicPost

DRY_RUN_TOPIC = "test_topic"  # the playbook's `publish_content.py test_topic --dry-run`
SAME_POST_WITHIN = timedelta(hours=24)
RECENT_MEDIA = 25
UNCLEAR = frozenset({ErrorKind.TIMEOUT, ErrorKind.UNAVAILABLE, ErrorKind.NOT_READY})
PUBLISH_TRIES = 3  # media_publish calls in one run, each after looking at the container
RECOVERY_TIMEOUT_S = 900.0  # generation and container processing can take minutes


async def publish_retry(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    topic = ctx.topic or ""
    return await traced(ctx, "publish.retry", lambda run: _publish(run, topic), topic=topic,
                        resume_from=frozenset({"publish.retry"}))


async def publish_dry_run(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    topic = str(args.get("topic") or DRY_RUN_TOPIC)
    return await traced(ctx, "publish.dry_run", lambda run: _dry_run(run, topic), topic=topic)


async def _publish(run: Run, topic: str) -> StepResult:
    ctx, trace, tr = run.ctx, run.trace, run.ctx.tr
    publisher = need(ctx.publisher, run, "publisher")
    post = await run.post(topic)
    container = None
    saved = run.prior_facts.get("container_id")
    if isinstance(saved, str) and saved:
        async with trace.step("check", tr("rec.progress.check")):
            state = await publisher.container(saved)
        move = after_unclear_failure(state)
        await trace.note(checked={"container_id": saved, "status": state.status_code})
        if move is Move.LIVE:
            return await _live(run, post, saved, found_by="container")
        if move in (Move.PUBLISH_SAME, Move.WAIT):
            container = saved
    await _quota(run)
    if container is None:
        live = await _same_post_live(run, post)
        if live is not None:
            return await _live(run, post, None, found_by="caption", media_id=live)
        if post.missing:
            await generate_images(run, topic, post, post.missing)
            post = await run.post(topic)
        urls = await upload_images(run, topic, post)
        container = await _make_container(run, publisher, urls, post.caption)
    await _finished(run, publisher, container)
    media_id = await _publish_once(run, publisher, container)
    if media_id is None:  # it went out, but its answer was lost
        return await _live(run, post, container, found_by="container")
    await trace.note(media_id=media_id)
    return StepResult(Outcome.OK, tr("rec.published", topic=topic, media=media_id),
                      data={"media_id": media_id, "container_id": container})


async def _dry_run(run: Run, topic: str) -> StepResult:
    ctx, trace, tr = run.ctx, run.trace, run.ctx.tr
    publisher = need(ctx.publisher, run, "publisher")
    inspector = need(ctx.instagram, run, "publisher")
    web = need(ctx.web, run, "web")
    quota = await _quota(run)
    async with trace.step("token", tr("rec.progress.token")):
        account = await inspector.account()
    post = await run.post(topic)
    urls = await upload_images(run, topic, post)
    async with trace.step("reachable", tr("rec.progress.reachable")):
        statuses = await asyncio.gather(*(web.status_of(url) for url in urls))
    bad = [f"{n}: HTTP {status}" for n, status in enumerate(statuses, 1) if status != 200]
    if bad:
        raise Stop(tr("rec.url_unreachable", which=", ".join(bad)))
    container = await _make_container(run, publisher, urls, post.caption)
    await _finished(run, publisher, container)
    return StepResult(Outcome.OK, tr("rec.dry_run_ok", topic=topic, container=container),
                      (tr("rec.dry_run_lines", account=account.username, used=quota.used,
                          total=quota.total, images=len(urls)),),
                      data={"container_id": container, "published": False})


async def _quota(run: Run) -> PublishingQuota:
    ctx, tr = run.ctx, run.ctx.tr
    inspector = need(ctx.instagram, run, "publisher")
    async with run.trace.step("quota", tr("rec.progress.quota")):
        quota = await inspector.publishing_quota()
    await run.trace.note(quota={"used": quota.used, "total": quota.total})
    if quota.used >= quota.total:
        raise Stop(tr("rec.quota_full", used=quota.used, total=quota.total))
    return quota


async def _same_post_live(run: Run, post: TopicPost) -> str | None:
    source = run.ctx.stats_source
    if source is None:
        return None
    async with run.trace.step("already_live", run.ctx.tr("rec.progress.already_live")):
        media = await source.recent_media(RECENT_MEDIA)
    since = run.ctx.clock() - SAME_POST_WITHIN
    for item in media:
        at = parse_time(item.timestamp)
        if item.caption == post.caption and at is not None and at >= since:
            return item.media_id
    return None


async def _make_container(run: Run, publisher: Publisher, urls: Sequence[str], caption: str) -> str:
    trace, tr = run.trace, run.ctx.tr
    async with trace.step("container", tr("rec.progress.container")):
        if len(urls) == 1:
            container = await publisher.create_container(urls[0], caption)
        else:
            children: list[str] = []
            for url in urls:
                children.append(await publisher.create_carousel_item(url))
                await trace.note(children=children)
            container = await publisher.create_carousel(children, caption)
        await trace.note(container_id=container)  # before anything else is asked of Graph
    return container


async def _finished(run: Run, publisher: Publisher, container: str) -> None:
    async with run.trace.step("processing", run.ctx.tr("rec.progress.processing")):
        state = await wait_for_container(publisher, container)
    if state.status_code != "FINISHED":
        raise Stop(run.ctx.tr("rec.container_state", container=container, state=state.status_code,
                              status=state.status or "-"))


async def _publish_once(run: Run, publisher: Publisher, container: str) -> str | None:
    """media_publish; None when it turned out live although its answer was lost. After an
    unclear failure the container is looked at before anything else: live → None; still
    processing → wait, then send; finished after a lost answer → send again. Anything else is
    raised: the step's retry policy waits, and the next run resumes this same container."""
    trace, tr = run.trace, run.ctx.tr
    for attempt in range(1, PUBLISH_TRIES + 1):
        try:
            async with trace.step("publish", tr("rec.progress.publish")):
                return await publisher.publish(container)
        except ServiceError as exc:
            if exc.kind not in UNCLEAR or attempt == PUBLISH_TRIES:
                raise
            async with trace.step("check", tr("rec.progress.check")):
                state = await publisher.container(container)
            move = after_unclear_failure(state)
            if move is Move.LIVE:
                return None
            if move is Move.WAIT:
                await _finished(run, publisher, container)
            elif not (move is Move.PUBLISH_SAME and exc.kind is ErrorKind.TIMEOUT):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _live(run: Run, post: TopicPost, container: str | None, *, found_by: str,
                media_id: str | None = None) -> StepResult:
    tr = run.ctx.tr
    if media_id is None and run.ctx.stats_source is not None:
        media_id = await _same_post_live(run, post)
    await run.trace.note(media_id=media_id, live=found_by, container_id=container)
    return StepResult(Outcome.OK, tr("rec.already_live", media=media_id or "?"),
                      data={"media_id": media_id, "container_id": container, "published": False})


ACTIONS = (
    ActionSpec("publish.retry", publish_retry, needs_topic=True, timeout_s=RECOVERY_TIMEOUT_S),
    ActionSpec("publish.dry_run", publish_dry_run,
               params={"topic": Param(str, default=DRY_RUN_TOPIC)}, timeout_s=RECOVERY_TIMEOUT_S),
)
