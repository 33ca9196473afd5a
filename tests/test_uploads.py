"""An upload retried after its answer was lost finds the asset it made, never a second one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.actions.recovery.uploads import instagram_url, upload_public_id
from bot.adapters.cloudinary import CloudinaryImageHost
from bot.config import Settings
from bot.errors import ServiceTimeout
from bot.sandbox.fal import make_png


@pytest.fixture
async def host(sandbox) -> AsyncIterator[CloudinaryImageHost]:
    config = Settings.from_env(sandbox.env(lang="en"), dotenv_path=None).cloudinary
    assert config is not None
    uploader = CloudinaryImageHost(config, timeout_s=0.5)
    yield uploader
    await uploader.aclose()


def test_the_public_id_follows_the_image_not_the_try() -> None:
    first, other = make_png(1080, 1350, seed=1), make_png(1080, 1350, seed=2)
    assert upload_public_id("autumn-cafe", "1.png", first) == upload_public_id("autumn-cafe", "1.png", first)
    assert upload_public_id("autumn-cafe", "1.png", first) != upload_public_id("autumn-cafe", "1.png", other)
    assert upload_public_id("../x y", "a b.PNG", first).startswith("sunflow/x-y/a-b-")


async def test_a_retry_of_an_upload_that_landed_finds_the_same_asset(sandbox, host) -> None:
    image = make_png(1080, 1350, seed=3)
    public_id = upload_public_id("autumn-cafe", "1.png", image)
    sandbox.cloudinary.set_fault("slow", ms=900)  # it lands, but the answer comes too late
    with pytest.raises(ServiceTimeout):
        await host.upload(image, public_id=public_id)
    sandbox.cloudinary.clear_faults()
    for _ in range(40):  # the slow upload lands meanwhile
        if public_id in sandbox.cloudinary.uploads:
            break
        await asyncio.sleep(0.05)
    again = await host.upload(image, public_id=public_id)  # the retry
    assert again.existing and again.public_id == public_id
    assert (again.width, again.height) == (1080, 1350) and again.url.startswith("http")
    assert list(sandbox.cloudinary.uploads) == [public_id]  # one asset, not two


async def test_an_image_outside_instagrams_shapes_is_delivered_padded(sandbox, host) -> None:
    import httpx

    shapes = {(1080, 1350): None, (1080, 1080): None, (1910, 1000): None,
              (1000, 2000): "c_pad,ar_4:5,b_auto", (3000, 1000): "c_pad,ar_191:100,b_auto"}
    async with httpx.AsyncClient() as client:
        for (width, height), pad in shapes.items():
            image = make_png(width, height, seed=width)
            uploaded = await host.upload(image, public_id=upload_public_id("t", f"{width}", image))
            url = instagram_url(uploaded)
            assert (url == uploaded.url) if pad is None else (f"/image/upload/{pad}/" in url)
            response = await client.get(url)  # what Instagram fetches is there
            assert response.status_code == 200 and response.content == image
