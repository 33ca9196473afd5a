"""Uploads that a retry cannot double: a deterministic public id per image.

The id is the topic, the file's stem and a hash of its bytes: the same image retried lands on
the same id (Cloudinary, asked not to overwrite, answers with the asset it has), and a
different image of the same name gets an id of its own.
"""

from __future__ import annotations

import hashlib
import re

FOLDER = "sunflow"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def upload_public_id(topic: str, filename: str, content: bytes) -> str:
    """`sunflow/<topic>/<stem>-<12 hex of sha256>`, in characters Cloudinary keeps as given."""
    stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    safe_stem = _UNSAFE.sub("-", stem).strip("-") or "image"
    safe_topic = _UNSAFE.sub("-", topic).strip("-") or "topic"
    return f"{FOLDER}/{safe_topic}/{safe_stem}-{hashlib.sha256(content).hexdigest()[:12]}"
