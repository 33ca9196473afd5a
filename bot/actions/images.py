"""`ls -la content/images/<topic>/` (and its archive/) as a step: is there an image to use?"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.actions.common import human_size
from bot.clock import local_time
from bot.actions.registry import ActionContext, ActionSpec, Outcome, Param, StepResult
from bot.ports import UnsafePath

SHOWN_FILES = 8


async def images_local(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """The incident topic's local images (scenario 2's backup, scenario 3's substitutes)."""
    tr = ctx.tr
    topic = ctx.topic or ""
    try:
        folder = await ctx.files.images(topic, bool(args.get("archive", False)))
    except UnsafePath:
        return StepResult(Outcome.FAIL, tr("act.images.refused", topic=topic))
    data: dict[str, Any] = {"path": folder.path, "count": len(folder.images)}
    if not folder.exists:
        return StepResult(Outcome.FAIL, tr("act.images.missing", path=folder.path), data=data)
    if not folder.images:
        return StepResult(Outcome.FAIL, tr("act.images.empty", path=folder.path), data=data)
    shown = folder.images[:SHOWN_FILES]
    lines = [f"{image.name} · {human_size(image.size)} · {local_time(image.modified, ctx.tz)}" for image in shown]
    if len(folder.images) > len(shown):
        lines.append(tr("act.images.more", count=len(folder.images) - len(shown)))
    data["files"] = [image.name for image in folder.images[:50]]
    summary = tr("act.images.summary", path=folder.path, count=len(folder.images),
                 newest=local_time(folder.images[0].modified, ctx.tz))
    return StepResult(Outcome.OK, summary, tuple(lines), data=data)


# what this module offers runbook steps (bot.actions.catalog puts them together)
ACTIONS = (
    ActionSpec("images.local", images_local, params={"archive": Param(bool, default=False)}, needs_topic=True),
)
