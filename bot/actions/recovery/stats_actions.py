"""`stats.collect` (scenario 5, `instagram_stats_collector.py --force`): fresh statistics, written whole.

Graph gives the account's counts and the recent posts' likes and comments; they go into
`config/data/instagram_stats.json` with `last_updated` set to now, in one atomic write (write,
fsync, rename), so the pipeline never reads half a file. What Graph's plain fields do not give
(a post's `topic`, insights such as `reach` and `saved`, the 7-day reach figures) is kept from the
file as it was; posts older than the ones fetched stay as they were.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from bot.actions.recovery.content_steps import need
from bot.actions.recovery.traced import Run, traced
from bot.actions.registry import ActionContext, ActionSpec, Outcome, Param, StepResult
from bot.clock import local_time, parse_time
from bot.ports import MediaCounts

KEPT_POSTS = 100
WEEK = timedelta(days=7)


def merged_stats(old: Mapping[str, Any], profile: Mapping[str, Any], media: Sequence[MediaCounts],
                 now: datetime) -> dict[str, Any]:
    """The statistics file after a collection at `now` (aware): fresh counts over the old file."""
    old_posts = [p for p in old.get("posts") or [] if isinstance(p, Mapping)]
    by_id = {str(p.get("media_id")): p for p in old_posts}
    fresh = []
    for item in media:
        fresh.append({**by_id.get(item.media_id, {}), "media_id": item.media_id,
                      "caption": item.caption, "permalink": item.permalink,
                      "timestamp": item.timestamp, "like_count": item.like_count,
                      "comments_count": item.comments_count})
    seen = {p["media_id"] for p in fresh}
    posts = (fresh + [dict(p) for p in old_posts if str(p.get("media_id")) not in seen])[:KEPT_POSTS]
    week = [p for p in fresh if (at := parse_time(p["timestamp"])) is not None and now - at <= WEEK]
    summary = _object(old.get("summary_7d"))
    return {
        **old,
        "last_updated": now.isoformat(timespec="seconds"),
        "account": {**_object(old.get("account")), **profile},
        "summary_7d": {**summary, "posts": len(week),
                       "likes": sum(p["like_count"] for p in week),
                       "comments": sum(p["comments_count"] for p in week)},
        "posts": posts,
    }


def _object(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


async def collect(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    tr = ctx.tr

    async def body(run: Run) -> StepResult:
        source = need(ctx.stats_source, run, "publisher")
        content = need(ctx.content, run, "content")
        async with run.trace.step("account", tr("rec.progress.account")):
            profile = await source.profile()
        async with run.trace.step("media", tr("rec.progress.media")):
            media = await source.recent_media(args["posts"])
        now = ctx.clock().astimezone(ctx.tz)
        stats = merged_stats(await content.read_stats() or {}, profile, media, now)
        async with run.trace.step("write", tr("rec.progress.write")):
            await content.write_stats(stats)
        return StepResult(Outcome.OK, tr("rec.stats_written", posts=len(media),
                                         at=local_time(now, ctx.tz)),
                          (tr("rec.stats_account", followers=profile.get("followers_count", "?"),
                              media=profile.get("media_count", "?")),),
                          data={"posts": len(media), "last_updated": stats["last_updated"]})

    return await traced(ctx, "stats.collect", body, topic=None)


ACTIONS = (
    ActionSpec("stats.collect", collect, params={"posts": Param(int, default=25, low=1, high=100)}),
)
