"""A loopback Cloudinary: the Admin API, the Upload API and a delivery path for what was uploaded.

Point the real SDK at it with `upload_prefix` (per call, or in the URL):
`CLOUDINARY_URL=cloudinary://<key>:<secret>@<cloud>?upload_prefix=<fake.url>`.

    GET  /v1_1/<cloud>/ping                      Admin API, HTTP Basic (key:secret)
    GET  /v1_1/<cloud>/usage[/<date>]            Admin API
    GET  /v1_1/<cloud>/resources/image[/upload]  Admin API (prefix, max_results, next_cursor)
    POST /v1_1/<cloud>/image/upload              Upload API, signed multipart form
    GET  /res/<cloud>/image/upload/v<ver>/<public_id>.<fmt>   the uploaded bytes (the "CDN")

Uploads are checked the way Cloudinary checks them: `api_key` known, `signature` equal to
sha1 (or sha256, by length) of the sorted `k=v` pairs joined by `&` plus the secret, and a
`timestamp` no older than an hour. Errors come as `{"error": {"message": ...}}`.

Faults (`fake.set_fault(name, **params)`), on top of the shared `slow <ms>` and `hang`:
    auth [message]                   401 for every API call ("Unknown API key <key>")
    rate_limited [retry_after] [status=420|429] [only="admin"|"upload"]
                                     420 "Rate Limit Exceeded. Limit of 500 api operations
                                     reached. Try again on <reset> UTC" with
                                     X-FeatureRateLimit-* (reset: now + retry_after seconds,
                                     else the next full hour); never a Retry-After header
    quota [used_percent=104.2]       usage says credits used_percent >= 100; uploads 420
    5xx [status=500]                 {"error": {"message": "General Error"}}
The delivery path (`/res/...`) answers only to slow/hang, like a CDN that outlives the API.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import struct
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit

from bot.sandbox.base import FakeServer, Reply, Request

COMMON_FAULTS = frozenset({"slow", "hang", "5xx", "rate_limited"})
ADMIN_RATE_LIMIT = 500
STALE_AFTER_S = 3600
# a delivery URL's transformation segment ("c_pad,ar_4:5,b_auto"): the fake ignores it
_TRANSFORMATION = re.compile(r"[a-z]{1,3}_[^,/]+(?:,[a-z]{1,3}_[^,/]+)*")
# parameters Cloudinary leaves out of the string to sign
UNSIGNED_PARAMS = frozenset({"file", "api_key", "signature", "resource_type", "cloud_name"})
QUOTA_MESSAGE = ("Your account has reached its credit limit for the current billing cycle. "
                 "Upgrade your plan or wait for the next cycle to upload more assets.")


@dataclass
class StoredAsset:
    """One uploaded asset: the bytes as received and the upload parameters."""

    public_id: str
    data: bytes
    params: dict[str, str]
    version: int
    format: str
    width: int
    height: int
    created_at: str
    asset_id: str = field(default_factory=lambda: secrets.token_hex(16))
    original_filename: str = "file"

    @property
    def bytes(self) -> int:
        return len(self.data)


class FakeCloudinary(FakeServer):
    """Cloudinary's Admin and Upload APIs on 127.0.0.1."""

    name = "cloudinary"
    FAULTS = COMMON_FAULTS | {"auth", "quota"}

    def __init__(self, cloud_name: str, api_key: str, api_secret: str, *,
                 plan: str = "Free", credits_limit: float = 25.0,
                 credits_used_percent: float = 12.4) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self.cloud_name = cloud_name
        self.api_key = api_key
        self.api_secret = api_secret
        self.plan = plan
        self.credits_limit = credits_limit
        self._credits_used_percent = credits_used_percent
        self.uploads: dict[str, StoredAsset] = {}
        self._admin_calls = 0

    # ---- settable state ----------------------------------------------------------------------
    @property
    def credits_used_percent(self) -> float:
        with self._lock:
            return self._credits_used_percent

    @credits_used_percent.setter
    def credits_used_percent(self, value: float) -> None:
        with self._lock:
            self._credits_used_percent = float(value)

    def delivery_url(self, public_id: str) -> str:
        with self._lock:
            asset = self.uploads[public_id]
        return self._asset_url(asset)

    def set_fault(self, name: str, **params: Any) -> None:
        if name not in self.FAULTS:
            raise ValueError(f"unknown cloudinary fault {name!r}; known: {sorted(self.FAULTS)}")
        super().set_fault(name, **params)

    # ---- serving -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        self.apply_common_faults(request)
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] == ["res"] and request.method in ("GET", "HEAD"):
            return self._deliver(parts[1:])
        if len(parts) < 3 or parts[0] != "v1_1":
            return _error(404, "Resource not found - " + request.path)
        cloud, rest = parts[1], parts[2:]
        mode, params = self.faults.mode, dict(self.faults.params)
        is_upload = len(rest) == 2 and rest[1] == "upload" and request.method == "POST"
        if mode == "5xx":
            return _error(int(params.get("status", 500)), "General Error")
        if mode == "auth":
            message = params.get("message") or f"Unknown API key {self.api_key}"
            return _error(401, message)
        if cloud != self.cloud_name:
            return _error(401, f"Invalid cloud_name {cloud}")
        if is_upload:
            return self._upload(request, rest[0], mode, params)
        problem = self._check_basic_auth(request)
        if problem is not None:
            return problem
        if mode == "rate_limited" and params.get("only", "all") in ("all", "admin"):
            return self._rate_limited(params)
        return self._admin(request, rest, mode, params)

    # ---- Admin API ---------------------------------------------------------------------------
    def _check_basic_auth(self, request: Request) -> Reply | None:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "basic" or not value:
            return _error(401, "Must supply api_key")
        try:
            key, _, secret = base64.b64decode(value).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return _error(401, "Invalid authorization header")
        if key != self.api_key:
            return _error(401, f"Unknown API key {key}")
        if secret != self.api_secret:
            return _error(401, "api_secret mismatch")
        return None

    def _admin(self, request: Request, rest: list[str], mode: str | None,
               params: dict[str, Any]) -> Reply:
        if request.method != "GET":
            return _error(404, "Resource not found - " + request.path)
        if rest == ["ping"]:
            return self._admin_reply({"status": "ok"})
        if rest[0] == "usage" and len(rest) <= 2:
            return self._admin_reply(self._usage(mode, params))
        if rest[0] == "resources" and len(rest) in (2, 3):
            return self._admin_reply(self._list(request, rest[1], rest[2] if len(rest) == 3
                                                else None))
        return _error(404, "Resource not found - " + request.path)

    def _admin_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self._admin_calls += 1
            remaining = max(ADMIN_RATE_LIMIT - self._admin_calls, 0)
        return Reply(200, body, headers={
            "X-FeatureRateLimit-Limit": str(ADMIN_RATE_LIMIT),
            "X-FeatureRateLimit-Remaining": str(remaining),
            "X-FeatureRateLimit-Reset": format_datetime(_next_hour(), usegmt=True),
            "X-Request-Id": secrets.token_hex(10),
        })

    def _usage(self, mode: str | None, params: dict[str, Any]) -> dict[str, Any]:
        pct = float(params.get("used_percent", 104.2)) if mode == "quota" \
            else self.credits_used_percent
        pct = max(pct, 100.0) if mode == "quota" else pct
        used = round(self.credits_limit * pct / 100, 2)
        with self._lock:
            count = len(self.uploads)
            stored = sum(a.bytes for a in self.uploads.values())
        now = datetime.now(timezone.utc)
        return {
            "plan": self.plan,
            "last_updated": now.strftime("%Y-%m-%d"),
            "date_requested": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "transformations": {"usage": 1843, "credits_usage": round(used * 0.18, 2)},
            "objects": {"usage": 1268 + count},
            "bandwidth": {"usage": int(used * 0.62 * 2**30), "credits_usage":
                          round(used * 0.62, 2)},
            "storage": {"usage": int(used * 0.2 * 2**30) + stored, "credits_usage":
                        round(used * 0.2, 2)},
            "credits": {"usage": used, "limit": self.credits_limit,
                        "used_percent": round(pct, 2)},
            "requests": 48213,
            "resources": 1268 + count,
            "derived_resources": 342,
            "media_limits": {"image_max_size_bytes": 10485760, "video_max_size_bytes": 104857600,
                             "raw_max_size_bytes": 10485760, "image_max_px": 25000000,
                             "asset_max_total_px": 50000000},
        }

    def _list(self, request: Request, resource_type: str, upload_type: str | None
              ) -> dict[str, Any]:
        prefix = request.query.get("prefix", "")
        max_results = int(request.query.get("max_results", 10))
        start = int(request.query.get("next_cursor") or 0)
        with self._lock:
            assets = sorted(self.uploads.values(), key=lambda a: (a.created_at, a.version),
                            reverse=True)
        if resource_type not in ("image", "auto") or upload_type not in (None, "upload"):
            assets = []
        assets = [a for a in assets if a.public_id.startswith(prefix)]
        page = assets[start:start + max_results]
        body: dict[str, Any] = {"resources": [self._describe(a) for a in page]}
        if start + max_results < len(assets):
            body["next_cursor"] = str(start + max_results)
        return body

    # ---- Upload API --------------------------------------------------------------------------
    def _upload(self, request: Request, resource_type: str, mode: str | None,
                params: dict[str, Any]) -> Reply:
        if resource_type not in ("image", "auto"):
            return _error(400, f"Invalid resource type {resource_type}: the sandbox "
                               "keeps images only")
        form = dict(request.form)
        if "signature" not in form:
            if form.get("upload_preset"):
                return _error(400, f"Upload preset not found: {form['upload_preset']}")
            return _error(400, "Upload preset must be specified when using unsigned upload")
        api_key = form.get("api_key")
        if not api_key:
            return _error(401, "Must supply api_key")
        if api_key != self.api_key:
            return _error(401, f"Unknown API key {api_key}")
        to_sign = string_to_sign(form)
        if not self._signature_matches(form["signature"], form):
            return _error(401, f"Invalid Signature {form['signature']}. "
                               f"String to sign - '{to_sign}'.")
        timestamp = form.get("timestamp", "")
        if not timestamp.isdigit():
            return _error(400, "Missing required parameter - timestamp")
        if time.time() - int(timestamp) > STALE_AFTER_S:
            reported = datetime.fromtimestamp(int(timestamp), timezone.utc)
            return _error(400, f"Stale request - reported time is "
                               f"{reported:%Y-%m-%d %H:%M:%S} +0000 which is more than "
                               f"1 hour ago")
        if mode == "rate_limited" and params.get("only", "all") in ("upload", "all"):
            return self._rate_limited(params)
        if mode == "quota":
            return _error(420, params.get("message", QUOTA_MESSAGE))
        data, filename, problem = self._file_bytes(request)
        if problem is not None:
            return problem
        return Reply(200, self._store(form, data, filename))

    def _signature_matches(self, signature: str, form: dict[str, str]) -> bool:
        algorithm = {40: hashlib.sha1, 64: hashlib.sha256}.get(len(signature))
        if algorithm is None:
            return False
        for version in (2, 1):
            text = string_to_sign(form, version) + self.api_secret
            if secrets.compare_digest(algorithm(text.encode("utf-8")).hexdigest(), signature):
                return True
        return False

    def _file_bytes(self, request: Request) -> tuple[bytes, str, Reply | None]:
        uploaded = request.files.get("file")
        if uploaded is not None:
            return uploaded.data, uploaded.filename, None
        source = request.form.get("file", "")
        if not source:
            return b"", "", _error(400, "Missing required parameter - file")
        if source.startswith("data:"):
            header, _, payload = source.partition(",")
            try:
                data = base64.b64decode(payload) if header.endswith(";base64") \
                    else payload.encode()
            except ValueError:
                return b"", "", _error(400, "Invalid image file")
            return data, "file", None
        parts = urlsplit(source)
        if parts.scheme in ("http", "https"):
            if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
                return b"", "", _error(400, f"Error in loading {source} - the sandbox "
                                            "fetches loopback URLs only")
            try:
                with urllib.request.urlopen(source, timeout=5) as response:  # noqa: S310
                    data = response.read()
            except OSError as exc:
                return b"", "", _error(400, f"Error in loading {source} - {exc}")
            return data, parts.path.rsplit("/", 1)[-1] or "file", None
        return b"", "", _error(400, f"Invalid image file {source[:60]}")

    def _store(self, form: dict[str, str], data: bytes, filename: str) -> dict[str, Any]:
        stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "file"
        public_id = form.get("public_id") or (
            stem if form.get("use_filename") in ("1", "true") and
            form.get("unique_filename") in ("0", "false")
            else f"{stem}_{_random_id(6)}" if form.get("use_filename") in ("1", "true")
            else _random_id(20)
        )
        folder = (form.get("folder") or "").strip("/")
        if folder and not public_id.startswith(folder + "/"):
            public_id = f"{folder}/{public_id}"
        fmt, width, height = _sniff(data, form.get("format"), filename)
        with self._lock:
            existing = self.uploads.get(public_id)
            if existing is not None and form.get("overwrite") in ("0", "false"):
                return {**self._describe(existing), "existing": True}
            version = int(time.time())
            if existing is not None and existing.version >= version:
                version = existing.version + 1
            asset = StoredAsset(
                public_id=public_id, data=data, params=form, version=version, format=fmt,
                width=width, height=height,
                created_at=datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                original_filename=stem,
            )
            self.uploads[public_id] = asset
        signature = hashlib.sha1(
            f"public_id={public_id}&version={version}{self.api_secret}".encode()
        ).hexdigest()
        tags = [t for t in (form.get("tags") or "").split(",") if t]
        return {
            **self._describe(asset),
            "version_id": secrets.token_hex(16),
            "signature": signature,
            "tags": tags,
            "etag": hashlib.md5(data).hexdigest(),  # noqa: S324 - an etag, not security
            "placeholder": False,
            "asset_folder": folder,
            "display_name": public_id.rsplit("/", 1)[-1],
            "original_filename": stem,
            "api_key": self.api_key,
        }

    def _describe(self, asset: StoredAsset) -> dict[str, Any]:
        url = self._asset_url(asset)
        return {
            "asset_id": asset.asset_id, "public_id": asset.public_id,
            "version": asset.version, "format": asset.format, "resource_type": "image",
            "type": "upload", "created_at": asset.created_at, "bytes": asset.bytes,
            "width": asset.width, "height": asset.height, "url": url, "secure_url": url,
        }

    def _asset_url(self, asset: StoredAsset) -> str:
        return (f"{self.url}/res/{self.cloud_name}/image/upload/v{asset.version}/"
                f"{asset.public_id}.{asset.format}")

    # ---- delivery ----------------------------------------------------------------------------
    def _deliver(self, parts: list[str]) -> Reply:
        # <cloud>/image/upload[/v<version>]/<public_id>.<fmt>
        if len(parts) < 4 or parts[0] != self.cloud_name or parts[1:3] != ["image", "upload"]:
            return Reply(404, b"", headers={"X-Cld-Error": "Resource not found"})
        rest = parts[3:]
        while rest and _TRANSFORMATION.fullmatch(rest[0]):  # the original is served as it is
            rest = rest[1:]
        if rest and re.fullmatch(r"v\d+", rest[0]):
            rest = rest[1:]
        path = "/".join(rest)
        public_id = path.rsplit(".", 1)[0] if "." in path.rsplit("/", 1)[-1] else path
        with self._lock:
            asset = self.uploads.get(public_id)
        if asset is None:
            return Reply(404, b"", headers={"X-Cld-Error": "Resource not found"})
        return Reply(200, asset.data, content_type=f"image/{asset.format}",
                     headers={"Cache-Control": "public, max-age=2592000",
                              "ETag": f'"{hashlib.md5(asset.data).hexdigest()}"'})  # noqa: S324

    # ---- faults ------------------------------------------------------------------------------
    def _rate_limited(self, params: dict[str, Any]) -> Reply:
        retry_after = params.get("retry_after")
        reset = (datetime.now(timezone.utc) + timedelta(seconds=float(retry_after))
                 if retry_after is not None else _next_hour())
        status = int(params.get("status", 420))
        message = (f"Rate Limit Exceeded. Limit of {ADMIN_RATE_LIMIT} api operations reached. "
                   f"Try again on {reset:%Y-%m-%d %H:%M:%S} UTC")
        headers = {
            "X-FeatureRateLimit-Limit": str(ADMIN_RATE_LIMIT),
            "X-FeatureRateLimit-Remaining": "0",
            "X-FeatureRateLimit-Reset": format_datetime(reset, usegmt=True),
        }
        # No Retry-After, as Cloudinary: the SDK's urllib3 pool would honour one on a 429 by
        # sleeping and retrying GETs (3 times) before the caller ever sees the error.
        return _error(status, message, headers)


def string_to_sign(form: dict[str, str], version: int = 2) -> str:
    """The sorted `k=v&...` string Cloudinary signs (version 2 escapes `&` in values)."""
    pairs = []
    for key, value in form.items():
        if key in UNSIGNED_PARAMS or not value:
            continue
        pair = f"{key.removesuffix('[]')}={value}"
        pairs.append(pair.replace("&", "%26") if version >= 2 else pair)
    return "&".join(sorted(pairs))


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"error": {"message": message}},
                 headers={"X-Cld-Error": message, **(headers or {})})


def _next_hour() -> datetime:
    now = datetime.now(timezone.utc)
    return now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


def _random_id(length: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def _sniff(data: bytes, fmt: str | None, filename: str) -> tuple[str, int, int]:
    """Format, width and height from the bytes (PNG, JPEG, GIF, WebP), else from the name."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return fmt or "png", width, height
    if data.startswith(b"GIF8") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return fmt or "gif", width, height
    if data.startswith(b"\xff\xd8"):
        width, height = _jpeg_size(data)
        return fmt or "jpg", width, height
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return fmt or "webp", 0, 0
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "png"
    return fmt or ext, 0, 0


def _jpeg_size(data: bytes) -> tuple[int, int]:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return width, height
        i += 2 + length
    return 0, 0
