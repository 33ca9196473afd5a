"""Publishing without ever posting twice: the rules the publish actions follow.

Graph has no idempotency key. A `media_publish` that timed out or crashed may have gone
through, so after any unclear failure the container is looked at before anything else
(`after_unclear_failure`): PUBLISHED means the post is live (stop); FINISHED means publish that
same container; EXPIRED (containers live 24 hours) or ERROR means make a new one; IN_PROGRESS
means wait for it (`wait_for_container`: short, growing intervals and a deadline).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum

from bot.errors import ServiceTimeout
from bot.ports import Container, Publisher

# Meta suggests looking at a container about once a minute for at most five minutes; an image
# container is usually FINISHED within seconds. Each wait is a share of the time waited so far
# (at least POLL_FIRST_S, at most 30 s): the publish goes out at most ~15% later than the
# container is ready, and a container that takes minutes costs a few dozen looks, not hundreds.
POLL_FIRST_S = 0.25
POLL_SHARE = 0.15
POLL_MAX_S = 30.0
POLL_DEADLINE_S = 300.0


class Move(StrEnum):
    LIVE = "live"  # it is published: record it, never publish again
    PUBLISH_SAME = "publish_same"  # finished and not published: publish this container
    MAKE_NEW = "make_new"  # expired or failed: a new container from the same image
    WAIT = "wait"  # still processing


def after_unclear_failure(state: Container) -> Move:
    """What to do with a container whose publish may or may not have happened."""
    return {
        "PUBLISHED": Move.LIVE,
        "FINISHED": Move.PUBLISH_SAME,
        "EXPIRED": Move.MAKE_NEW,
        "ERROR": Move.MAKE_NEW,
    }.get(state.status_code, Move.WAIT)


async def wait_for_container(publisher: Publisher, container_id: str, *,
                             deadline_s: float = POLL_DEADLINE_S, first_s: float = POLL_FIRST_S,
                             sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                             monotonic: Callable[[], float] = time.monotonic) -> Container:
    """The container once it is no longer IN_PROGRESS; ServiceTimeout at the deadline."""
    started = monotonic()
    while True:
        state = await publisher.container(container_id)
        if state.status_code != "IN_PROGRESS":
            return state
        waited = monotonic() - started
        left = deadline_s - waited
        if left <= 0:
            raise ServiceTimeout("instagram", f"container still IN_PROGRESS after {deadline_s:.0f} s")
        await sleep(min(max(first_s, waited * POLL_SHARE), POLL_MAX_S, left))
