"""`images.regenerate`, `images.use_archive` and `cloudinary.upload`: a topic's images made good.

* `images.regenerate` (scenario 3): FLUX.2 Pro makes the listed images that are not there,
  resuming a cut-off run by polling its saved request id (`content_steps.generate_images`).
  With `all = true` every listed image is made anew; each old file moves to `archive/` just
  before its replacement is saved.
* `images.use_archive` (scenario 3's fallback): each missing listed image is filled with an
  image from the topic's `archive/`, newest first, one archive image per missing name.
* `cloudinary.upload` (scenario 2): every listed image to Cloudinary, found again rather
  than doubled when an earlier upload landed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.actions.recovery.content_steps import generate_images, need, upload_images
from bot.actions.recovery.publish_actions import RECOVERY_TIMEOUT_S
from bot.actions.recovery.traced import Run, Stop, traced
from bot.actions.registry import ActionContext, ActionSpec, Outcome, Param, StepResult


async def regenerate(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    topic = ctx.topic or ""
    every = bool(args.get("all", False))

    async def body(run: Run) -> StepResult:
        post = await run.post(topic)
        names = list(post.images) if every else list(post.missing)
        if not names:
            return StepResult(Outcome.OK, ctx.tr("rec.nothing_missing", topic=topic))
        made = await generate_images(run, topic, post, names, replace_existing=every)
        return StepResult(Outcome.OK, ctx.tr("rec.regenerated", topic=topic, count=len(made)),
                          (", ".join(made),), data={"generated": made})

    return await traced(ctx, "images.regenerate", body, topic=topic,
                        resume_from=frozenset({"images.regenerate", "publish.retry"}))


async def use_archive(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    topic = ctx.topic or ""

    async def body(run: Run) -> StepResult:
        content = need(ctx.content, run, "content")
        post = await run.post(topic)
        if not post.missing:
            return StepResult(Outcome.OK, ctx.tr("rec.nothing_missing", topic=topic))
        archive = await ctx.files.images(topic, archive=True)
        if len(archive.images) < len(post.missing):
            raise Stop(ctx.tr("rec.archive_short", topic=topic, have=len(archive.images),
                              need=len(post.missing)))
        used = []
        async with run.trace.step("substitute", ctx.tr("rec.progress.substitute")):
            for name, source in zip(post.missing, archive.images):
                data = await content.read_image(topic, source.name, archive=True)
                await content.save_image(topic, name, data)
                used.append(f"{source.name} → {name}")
        await run.trace.note(substituted=used)
        return StepResult(Outcome.OK, ctx.tr("rec.used_archive", topic=topic, count=len(used)),
                          tuple(used), data={"substituted": used})

    return await traced(ctx, "images.use_archive", body, topic=topic)


async def upload(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    topic = ctx.topic or ""

    async def body(run: Run) -> StepResult:
        post = await run.post(topic)
        urls = await upload_images(run, topic, post)
        uploads = run.trace.facts.get("uploads", {})
        found = sum(1 for u in uploads.values() if u.get("existing"))
        return StepResult(Outcome.OK, ctx.tr("rec.uploaded", topic=topic, count=len(urls),
                                             found=found),
                          tuple(urls), data={"urls": urls, "found": found})

    return await traced(ctx, "cloudinary.upload", body, topic=topic)


ACTIONS = (
    ActionSpec("images.regenerate", regenerate, params={"all": Param(bool, default=False)},
               needs_topic=True, timeout_s=RECOVERY_TIMEOUT_S),
    ActionSpec("images.use_archive", use_archive, needs_topic=True),
    ActionSpec("cloudinary.upload", upload, needs_topic=True, timeout_s=RECOVERY_TIMEOUT_S),
)
