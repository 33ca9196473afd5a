"""Uploads that a retry cannot double, delivered at a shape Instagram accepts.

The public id is the topic, the file's stem and a hash of its bytes: the same image retried
lands on the same id (Cloudinary, asked not to overwrite, answers with the asset it has), and a
different image of the same name gets an id of its own.

Instagram takes feed images from 4:5 (portrait) to 1.91:1 (landscape); an image outside that
is delivered padded to the nearest limit by a Cloudinary transformation in its URL, so the
stored original stays as it was.
"""

from __future__ import annotations

import hashlib
import re
from fractions import Fraction

from bot.ports import UploadedImage

FOLDER = "sunflow"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def upload_public_id(topic: str, filename: str, content: bytes) -> str:
    """`sunflow/<topic>/<stem>-<12 hex of sha256>`, in characters Cloudinary keeps as given."""
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    safe_stem = _UNSAFE.sub("-", stem).strip("-") or "image"
    safe_topic = _UNSAFE.sub("-", topic).strip("-") or "topic"
    return f"{FOLDER}/{safe_topic}/{safe_stem}-{hashlib.sha256(content).hexdigest()[:12]}"


NARROWEST = Fraction(4, 5)
WIDEST = Fraction(191, 100)
_PADS = {NARROWEST: "c_pad,ar_4:5,b_auto", WIDEST: "c_pad,ar_191:100,b_auto"}


def instagram_url(image: UploadedImage) -> str:
    """The image's delivery URL, padded to 4:5 or 1.91:1 when its own ratio is outside them."""
    if image.width <= 0 or image.height <= 0:
        return image.url
    ratio = Fraction(image.width, image.height)
    limit = NARROWEST if ratio < NARROWEST else WIDEST if ratio > WIDEST else None
    marker = "/image/upload/"
    if limit is None or marker not in image.url:
        return image.url
    head, tail = image.url.split(marker, 1)
    return f"{head}{marker}{_PADS[limit]}/{tail}"
