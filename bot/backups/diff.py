"""What a restore would change, file by file and key by key, with secret values masked.

`.env` is compared by its variables (python-dotenv reads it as the pipeline does); a JSON file by
its keys, nested ones dotted (`limits.posts_per_day`); anything else as a whole. A value whose
key names a secret (a token, a key, a password, a URL that carries credentials) is never shown,
only that it changed; every other value is shown clipped, and the caller redacts the lot.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dotenv import dotenv_values

from bot.backups.managed_files import ENV_FILE

SECRET_KEY = re.compile(r"TOKEN|SECRET|PASS|KEY|CREDENTIAL|AUTH|COOKIE|SESSION|PRIVATE|WEBHOOK|"
                        r"DSN|SIGNATURE", re.IGNORECASE)
MASK = "•••"


@dataclass(frozen=True)
class KeyChange:
    key: str
    before: str | None  # None: not there; MASK for a secret
    after: str | None


@dataclass(frozen=True)
class FileChange:
    name: str
    status: str  # "added", "removed", "changed" (a restore would add, remove, change the file)
    keys: tuple[KeyChange, ...] = field(default_factory=tuple)


def restore_changes(current: Mapping[str, bytes], backup: Mapping[str, bytes]) -> list[FileChange]:
    """What writing `backup` over `current` changes; [] when they are the same."""
    changes = []
    for name in sorted(set(current) | set(backup)):
        now, then = current.get(name), backup.get(name)
        if now == then:
            continue
        status = "added" if now is None else "removed" if then is None else "changed"
        changes.append(FileChange(name, status, tuple(_key_changes(name, now, then))))
    return changes


def _key_changes(name: str, now: bytes | None, then: bytes | None) -> list[KeyChange]:
    before, after = _values(name, now), _values(name, then)
    if before is None or after is None:
        return []
    out = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old != new:
            secret = _is_secret(key, old) or _is_secret(key, new)
            out.append(KeyChange(key, _shown(old, secret), _shown(new, secret)))
    return out


def _values(name: str, content: bytes | None) -> dict[str, str] | None:
    """The file's keys and values as text; {} for a file that is not there; None when it
    cannot be read as keys (then only "the file changed" is said)."""
    if content is None:
        return {}
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if name == ENV_FILE:
        return {k: v or "" for k, v in dotenv_values(stream=io.StringIO(text)).items()}
    try:
        data = json.loads(text)
    except ValueError:
        return None
    flat: dict[str, str] = {}
    _flatten(data, "", flat)
    return flat


def _flatten(value: Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list) and value:  # a secret inside a list keeps its own key
        for n, inner in enumerate(value):
            _flatten(inner, f"{prefix}[{n}]", out)
    else:
        out[prefix or "(value)"] = json.dumps(value, ensure_ascii=False)


def _is_secret(key: str, value: str | None) -> bool:
    return bool(SECRET_KEY.search(key)) or (value is not None and re.search(r"://[^/\s]*:[^/\s]*@", value) is not None)


def _shown(value: str | None, secret: bool) -> str | None:
    if value is None:
        return None
    return MASK if secret else value  # the view redacts, then clips (never the other way)
