"""A topic's post.toml: caption, images in order, prompt; only listed files, every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.files import PipelineHome
from bot.adapters.topic_post import TopicPostError, read_topic_post
from bot.ports import UnsafePath


def folder_with(tmp_path: Path, post: str, *images: str) -> Path:
    folder = tmp_path / "content" / "images" / "t"
    folder.mkdir(parents=True)
    for name in images:
        (folder / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "post.toml").write_text(post, encoding="utf-8")
    return folder


async def test_the_sample_topics_posts_read(sandbox) -> None:
    home = PipelineHome(sandbox.home)
    post = await home.topic_post("autumn-cafe")
    assert post is not None and post.images[0] == "maple-terrace.png" and len(post.images) == 3
    assert "#sunflow" in post.caption and post.prompt
    assert await home.topic_post("winter-market") is None  # no folder, no post
    listed = await home.images("autumn-cafe")
    assert "post.toml" not in [i.name for i in listed.images]  # not an image
    with pytest.raises(UnsafePath):
        await home.topic_post("../config")


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    tags = " ".join(f"#t{n}" for n in range(31))
    folder = folder_with(tmp_path, f'caption = "{tags}"\nimages = ["a.png", "../x.png", "notes.txt",'
                                   ' "gone.png", "a.png"]\nprompt = ""\nextra = 1\n', "a.png", "notes.txt")
    with pytest.raises(TopicPostError) as caught:
        read_topic_post(folder, "content/images/t/")
    said = "\n".join(caught.value.problems)
    for words in ("unknown key 'extra'", "31 hashtags", "prompt must be", "'../x.png' must be a plain",
                  "'notes.txt' is not an image", "'a.png' is listed twice"):
        assert words in said, words
    assert "gone.png" not in said  # not made yet: missing, not wrong
    assert len(caught.value.problems) == 6


def test_a_listed_image_not_made_yet_is_missing_not_a_problem(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, 'caption = "c"\nimages = ["a.png", "b.png", "c.png"]\n', "b.png")
    (folder / "c.png").mkdir()
    with pytest.raises(TopicPostError) as caught:  # a folder by that name is a problem
        read_topic_post(folder, "t/")
    assert caught.value.problems == ["t/post.toml: images: 'c.png' is not a file"]
    (folder / "c.png").rmdir()
    post = read_topic_post(folder, "t/")
    assert post.images == ("a.png", "b.png", "c.png") and post.missing == ("a.png", "c.png")


def test_limits_are_instagrams(tmp_path: Path) -> None:
    long = "x" * 2201
    folder = folder_with(tmp_path, f'caption = "{long}"\nimages = []\n')
    with pytest.raises(TopicPostError) as caught:
        read_topic_post(folder, "t/")
    assert any("2201 characters" in p for p in caught.value.problems)
    assert any("1 to 10" in p for p in caught.value.problems)


def test_a_symlinked_image_that_leads_out_is_not_picked(tmp_path: Path) -> None:
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    folder = folder_with(tmp_path, 'caption = "c"\nimages = ["link.png"]\n')
    (folder / "link.png").symlink_to(outside)
    with pytest.raises(TopicPostError) as caught:
        read_topic_post(folder, "t/")
    assert "leads outside the topic's folder" in caught.value.problems[0]
