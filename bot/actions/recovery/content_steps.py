"""The stages a post goes through before it is published, each resumable from a trace.

* `generate_images`: FLUX.2 Pro makes a listed image that is not there. fal's `request_id` is
  on the trace right after the submit; a run that lost its answer resumes by polling that id,
  never by submitting again (each submit is a paid image). A request that ended in a failure is
  spent: the next run submits anew, except after a content-policy refusal, which is not
  retried with the same prompt.
* `upload_images`: each listed image goes to Cloudinary under its deterministic public id
  (`overwrite=false`), so an upload that landed before is found, not made twice; the URLs go
  out at a shape Instagram accepts.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from bot.actions.recovery.traced import Run, Stop
from bot.actions.recovery.uploads import instagram_url, upload_public_id
from bot.errors import BadRequest, ServiceError, ServiceTimeout
from bot.ports import ImageRequests, TopicPost

T = TypeVar("T")
IMAGE_SIZE = {"width": 1080, "height": 1350}  # 4:5, Instagram's tallest feed shape
GENERATED_MAX_BYTES = 20 * 1024 * 1024
POLL_FIRST_S, POLL_MAX_S, GENERATION_DEADLINE_S = 1.0, 10.0, 300.0


def need(value: T | None, run: Run, what: str) -> T:
    """A service the action cannot run without (Stop naming it when it is not configured)."""
    if value is None:
        raise Stop(run.ctx.tr(f"rec.needs.{what}"))
    return value


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


async def generate_images(run: Run, topic: str, post: TopicPost, names: Sequence[str], *,
                          replace_existing: bool = False) -> list[str]:
    """Make each of `names` (listed in the post) with FLUX.2 Pro; the names made.
    `replace_existing`: an image there already moves to archive/ just before its new one is
    saved (never earlier: a failed generation leaves the old image in place)."""
    ctx, trace = run.ctx, run.trace
    generator = need(ctx.generator, run, "generator")
    web = need(ctx.web, run, "web")
    content = need(ctx.content, run, "content")
    if not post.prompt:
        raise Stop(ctx.tr("rec.no_prompt", topic=topic))
    prompt_id = prompt_hash(post.prompt)
    if run.prior_facts.get("refused_prompt") == prompt_id:
        raise Stop(ctx.tr("rec.prompt_refused", topic=topic))
    requests: dict[str, str] = {k: v for k, v in _mapping(run.prior_facts.get("requests")).items()
                                if isinstance(v, str) and k in names}
    made = []
    for n, name in enumerate(names, 1):
        async with trace.step("generate", ctx.tr("rec.progress.generate", n=n, total=len(names))):
            request_id = requests.get(name)
            if request_id is None:
                request_id = await generator.submit({
                    "prompt": post.prompt, "image_size": IMAGE_SIZE, "num_images": 1,
                    "output_format": "png"})
            requests[name] = request_id
            await trace.note(requests=requests)  # before anything else: a lost run polls it
            await _wait_for_generation(generator, request_id)  # an error here keeps the id
            try:
                output = await generator.result(request_id)
            except ServiceError as exc:
                # fal said the generation itself failed (422 refused, 500, 504 timed out): that
                # request is spent. No answer, a 429 or a gateway's 502/503 leave it to poll again.
                if exc.status is not None and exc.status not in (429, 502, 503):
                    del requests[name]
                    refused = isinstance(exc, BadRequest) and exc.status == 422
                    await trace.note(requests=requests,
                                     **({"refused_prompt": prompt_id} if refused else {}))
                raise
            url = _first_image_url(output)
            if url is None:
                raise Stop(ctx.tr("rec.no_image_in_result", request=request_id))
            image = await web.fetch(url, limit_bytes=GENERATED_MAX_BYTES)
            if replace_existing and name not in post.missing:
                await content.archive_image(topic, name)
            await content.save_image(topic, name, image)
        made.append(name)
        del requests[name]  # finished and saved: a later run never fetches it again
        await trace.note(generated=made, requests=requests)
    return made


async def _wait_for_generation(generator: ImageRequests, request_id: str) -> None:
    loop = asyncio.get_running_loop()
    deadline, interval = loop.time() + GENERATION_DEADLINE_S, POLL_FIRST_S
    while await generator.status(request_id) != "COMPLETED":
        if loop.time() >= deadline:
            raise ServiceTimeout("fal", f"not finished after {GENERATION_DEADLINE_S:.0f} s")
        await asyncio.sleep(interval)
        interval = min(interval * 2, POLL_MAX_S)


def _first_image_url(output: Mapping[str, Any]) -> str | None:
    images = output.get("images")
    first = images[0] if isinstance(images, list) and images else None
    url = first.get("url") if isinstance(first, Mapping) else None
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


async def upload_images(run: Run, topic: str, post: TopicPost) -> list[str]:
    """Upload every listed image (found, not doubled, when an earlier try landed); the URLs
    Instagram fetches, in the post's order."""
    ctx, trace = run.ctx, run.trace
    uploader = need(ctx.uploader, run, "uploader")
    content = need(ctx.content, run, "content")
    if post.missing:
        raise Stop(ctx.tr("rec.images_missing", names=", ".join(post.missing)))
    uploads: dict[str, Any] = {}
    urls = []
    for n, name in enumerate(post.images, 1):
        async with trace.step("upload", ctx.tr("rec.progress.upload", n=n, total=len(post.images))):
            data = await content.read_image(topic, name)
            image = await uploader.upload(data, public_id=upload_public_id(topic, name, data))
        url = instagram_url(image)
        urls.append(url)
        uploads[name] = {"public_id": image.public_id, "url": url, "existing": image.existing}
        await trace.note(uploads=uploads)
    return urls
