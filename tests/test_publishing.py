"""Publishing through Graph's container flow against the sandbox, and the rule that keeps a
publish from ever going out twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.actions.recovery.publishing import (
    Move,
    after_unclear_failure,
    wait_for_container,
)
from bot.adapters.instagram import InstagramGraph
from bot.errors import ErrorKind, ServiceError, ServiceTimeout
from bot.ports import Container
from bot.sandbox import IG_TOKEN, IG_USER_ID
from bot.secrets import Secret

IMAGE = "https://res.cloudinary.example/sunflow/autumn-cafe/1.jpg"


@pytest.fixture
async def graph(sandbox) -> AsyncIterator[InstagramGraph]:
    client = InstagramGraph(graph_url=sandbox.instagram.graph_url, access_token=Secret(IG_TOKEN),
                            user_id=IG_USER_ID, timeout_s=5)
    yield client
    await client.aclose()


async def test_a_container_is_polled_until_finished_then_published_once(sandbox, graph) -> None:
    sandbox.instagram.container_processing_s = 0.3
    container = await graph.create_container(IMAGE, "Autumn cafe")
    with pytest.raises(ServiceError) as early:  # published while IN_PROGRESS: Graph says wait
        await graph.publish(container)
    assert early.value.kind is ErrorKind.NOT_READY
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(seconds)

    state = await wait_for_container(graph, container, first_s=0.05, sleep=sleep)
    assert state.status_code == "FINISHED" and slept and slept == sorted(slept)  # growing waits
    media_id = await graph.publish(container)
    assert [m["media_id"] for m in sandbox.instagram.published] == [media_id]


async def test_a_publish_whose_answer_was_lost_is_found_live_not_sent_again(sandbox, graph) -> None:
    container = await graph.create_container(IMAGE, "Autumn cafe")
    await graph.publish(container)  # went through; say the answer never reached us
    move = after_unclear_failure(await graph.container(container))
    assert move is Move.LIVE
    assert len(sandbox.instagram.published) == 1
    with pytest.raises(ServiceError):  # and Graph itself refuses the same container twice
        await graph.publish(container)
    assert len(sandbox.instagram.published) == 1


async def test_an_expired_container_is_made_anew_and_a_finished_one_published_as_is(sandbox, graph) -> None:
    sandbox.instagram.container_ttl_s = 0.2
    stale = await graph.create_container(IMAGE, "Autumn cafe")
    assert after_unclear_failure(await graph.container(stale)) is Move.PUBLISH_SAME
    await asyncio.sleep(0.3)
    assert after_unclear_failure(await graph.container(stale)) is Move.MAKE_NEW
    with pytest.raises(ServiceError) as expired:
        await graph.publish(stale)
    assert expired.value.kind is ErrorKind.BAD_REQUEST  # the same request will never work
    sandbox.instagram.set_fault("container_error")
    failed = await graph.create_container(IMAGE, "Autumn cafe")
    assert after_unclear_failure(await graph.container(failed)) is Move.MAKE_NEW
    assert sandbox.instagram.published == []


async def test_waiting_for_a_container_has_a_deadline(sandbox, graph) -> None:
    sandbox.instagram.container_processing_s = 60
    container = await graph.create_container(IMAGE, "Autumn cafe")
    clock = [0.0]

    async def sleep(seconds: float) -> None:  # a fast clock: the deadline without the wait
        clock[0] += seconds

    with pytest.raises(ServiceTimeout):
        await wait_for_container(graph, container, deadline_s=30, sleep=sleep,
                                 monotonic=lambda: clock[0])
    assert clock[0] == 30


def test_the_never_twice_table() -> None:
    assert {code: after_unclear_failure(Container("1", code)) for code in
            ("PUBLISHED", "FINISHED", "EXPIRED", "ERROR", "IN_PROGRESS")} == {
        "PUBLISHED": Move.LIVE, "FINISHED": Move.PUBLISH_SAME, "EXPIRED": Move.MAKE_NEW,
        "ERROR": Move.MAKE_NEW, "IN_PROGRESS": Move.WAIT}


async def test_a_carousel_is_published_once_its_items_are_finished(sandbox, graph) -> None:
    sandbox.instagram.container_processing_s = 0.2
    items = [await graph.create_carousel_item(f"{IMAGE}?n={n}") for n in range(3)]
    with pytest.raises(ServiceError):  # an item alone is never published
        await graph.publish(items[0])
    carousel = await graph.create_carousel(items, "Autumn cafe, three ways")
    assert (await graph.container(carousel)).status_code == "IN_PROGRESS"
    state = await wait_for_container(graph, carousel, first_s=0.05)
    assert state.status_code == "FINISHED"
    await graph.publish(carousel)
    [post] = sandbox.instagram.published
    assert post["children"] == [f"{IMAGE}?n={n}" for n in range(3)]
    assert post["caption"] == "Autumn cafe, three ways"


async def test_a_carousel_needs_two_to_ten_item_containers(sandbox, graph) -> None:
    single = await graph.create_container(IMAGE, "not an item")
    item = await graph.create_carousel_item(IMAGE)
    for children in ([item], [item, single]):
        with pytest.raises(ServiceError) as refused:
            await graph.create_carousel(children, "x")
        assert refused.value.kind is ErrorKind.BAD_REQUEST
