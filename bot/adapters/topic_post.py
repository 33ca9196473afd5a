"""A topic's post: `content/images/<topic>/post.toml`, what the publish actions send.

    caption = "Autumn light at the cafe ☕ #sunflow"   # required: at most 2,200 characters and
                                                     # 30 hashtags (Instagram's limits)
    images = ["maple-terrace.png", "latte-art-window.png"]
                                                     # required: 1 to 10 file names in this
                                                     # folder, in publishing order (the first
                                                     # is the cover; more than one: a carousel)
    prompt = "a sunlit cafe terrace in autumn"       # optional: the FLUX.2 Pro prompt the
                                                     # images were made from (regenerate uses it)

Only listed files are ever picked: a name is a plain file name in the topic's folder with an
image extension (no `/`, no `..`, nothing hidden). A listed file that is not there yet is
`missing` (its generation failed: `images.regenerate` or `images.use_archive` makes it), not
a problem; one that leads out of the folder is. Every problem is reported at once, each in one
sentence.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from bot.ports import TopicPost

POST_FILE = "post.toml"
MAX_CAPTION = 2200
MAX_HASHTAGS = 30
MAX_IMAGES = 10
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_KEYS = {"caption", "images", "prompt"}
_HASHTAG = re.compile(r"(?<!\w)#\w+")


class TopicPostError(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def read_topic_post(folder: Path, shown: str) -> TopicPost:
    """The post of the topic folder `folder` (`shown`: its path for messages). TopicPostError
    listing every problem; FileNotFoundError when there is no post.toml."""
    path = folder / POST_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise TopicPostError([f"{shown}{POST_FILE} cannot be read: {exc}"]) from None
    problems = [f"{shown}{POST_FILE}: unknown key {key!r} (known: caption, images, prompt)"
                for key in sorted(set(data) - _KEYS)]
    caption = data.get("caption")
    if not isinstance(caption, str) or not caption.strip():
        problems.append(f"{shown}{POST_FILE}: caption must be a non-empty string")
        caption = ""
    elif len(caption) > MAX_CAPTION:
        problems.append(f"{shown}{POST_FILE}: the caption has {len(caption)} characters; "
                        f"Instagram takes {MAX_CAPTION}")
    elif len(_HASHTAG.findall(caption)) > MAX_HASHTAGS:
        problems.append(f"{shown}{POST_FILE}: the caption has {len(_HASHTAG.findall(caption))} "
                        f"hashtags; Instagram takes {MAX_HASHTAGS}")
    prompt = data.get("prompt")
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        problems.append(f"{shown}{POST_FILE}: prompt must be a non-empty string when given")
        prompt = None
    images = data.get("images")
    names: list[str] = []
    missing: list[str] = []
    if not isinstance(images, list) or not 1 <= len(images) <= MAX_IMAGES:
        problems.append(f"{shown}{POST_FILE}: images must list 1 to {MAX_IMAGES} file names")
    else:
        for name in images:
            why = _image_problem(folder, name)
            if why:
                problems.append(f"{shown}{POST_FILE}: images: {why}")
            elif name in names:
                problems.append(f"{shown}{POST_FILE}: images: {name!r} is listed twice")
            else:
                names.append(name)
                if not (folder / name).exists():
                    missing.append(name)
    if problems:
        raise TopicPostError(problems)
    return TopicPost(caption=caption, images=tuple(names), prompt=prompt, missing=tuple(missing))


def _image_problem(folder: Path, name: object) -> str | None:
    if not isinstance(name, str) or not name:
        return f"{name!r} is not a file name"
    if "/" in name or "\\" in name or "\0" in name or name.startswith(".") or name in ("..", "."):
        return f"{name!r} must be a plain file name in the topic's folder"
    if not name.lower().endswith(IMAGE_SUFFIXES):
        return f"{name!r} is not an image ({', '.join(IMAGE_SUFFIXES)})"
    path = folder / name
    if path.is_symlink() and not path.resolve().is_relative_to(folder.resolve()):
        return f"{name!r} leads outside the topic's folder"
    if path.exists() and not path.is_file():
        return f"{name!r} is not a file"
    return None
