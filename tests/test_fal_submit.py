"""A FLUX.2 Pro submit is a paid image: it is sent once, also when its answer is lost, and a run
is followed by its request id (measured against fal-client's own behaviour, on the sandbox)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import fal_client
import httpx
import pytest

from bot.adapters.fal import DEFAULT_MODEL, FalImageGenerator, configure_fal_client
from bot.errors import ServiceTimeout
from bot.sandbox import FAL_KEY
from bot.secrets import Secret

ARGS = {"prompt": "a sunflower in an autumn cafe", "seed": 7}


def submits(sandbox) -> int:
    return len([c for c in sandbox.fal.calls if c.method == "POST" and c.path.endswith(DEFAULT_MODEL)])


async def settled(sandbox, count: int) -> int:
    """The submits the fake received, once the slow ones it is still answering are in."""
    for _ in range(60):
        if submits(sandbox) >= count:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.8)  # anything still on its way
    return submits(sandbox)


@pytest.fixture
async def fal(sandbox) -> AsyncIterator[FalImageGenerator]:
    generator = FalImageGenerator(key=Secret(FAL_KEY), queue_url=sandbox.fal.url, timeout_s=0.3)
    yield generator
    await generator.aclose()


async def test_fal_client_alone_sends_a_timed_out_submit_again_and_ours_does_not(sandbox, fal) -> None:
    sandbox.fal.set_fault("slow", ms=700)  # the answer comes after the client gave up
    configure_fal_client(sandbox.fal.url)  # fal-client bounded to the playbook's 3 attempts
    plain = fal_client.AsyncClient(key=FAL_KEY, default_timeout=0.3)
    with pytest.raises(httpx.TimeoutException):
        await plain.submit(DEFAULT_MODEL, ARGS)
    by_fal_client = await settled(sandbox, 3)
    assert by_fal_client == 3  # three paid images for one intended generation

    before = submits(sandbox)
    with pytest.raises(ServiceTimeout) as lost:
        await fal.submit(ARGS)
    assert "not sent again" in lost.value.detail
    assert await settled(sandbox, before + 1) - before == 1
    print(f"\nsubmits for one generation whose answer timed out: fal-client {by_fal_client}, "
          f"the adapter 1")


async def test_a_run_is_followed_by_its_request_id(sandbox, fal) -> None:
    request_id = await fal.submit(ARGS)
    assert submits(sandbox) == 1
    for _ in range(100):
        if await fal.status(request_id) == "COMPLETED":
            break
        await asyncio.sleep(0.05)
    output = await fal.result(request_id)
    assert output["images"] and output["images"][0]["url"]
    assert submits(sandbox) == 1  # polling and reading never submit
