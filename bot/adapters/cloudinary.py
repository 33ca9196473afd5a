"""Cloudinary through its own SDK: reachability (`api.ping`) and plan usage (`api.usage`).

The SDK is blocking (urllib3), so every call runs on a small dedicated thread pool, under our
own deadline and the SDK's `timeout`. urllib3 retries a read timeout three more times by
default, which made one hung call hold a pool thread for four timeouts; the SDK's connectors
are rebuilt once per process without read retries (connection failures are still retried).
Credentials go per call (never into the SDK's process-wide config), so two adapters with two
accounts, or a test and the bot, cannot step on each other.

The SDK raises by status: 401 AuthorizationRequired, 403 NotAllowed, 420/429 RateLimited,
400 BadRequest, 404 NotFound, 500/503 GeneralError, any other status a bare Exception whose
message starts "Error <status> - ", and urllib3/socket failures GeneralError("Unexpected error
..." / "Socket Error: ...").
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, TypeVar

from urllib3.util.retry import Retry


@contextmanager
def _sdk_blind_to_the_environment() -> Iterator[None]:
    # The SDK parses CLOUDINARY_URL from the environment when it is imported and raises on a
    # bad scheme, which killed every command (health and token too) with a traceback before our
    # settings could name the problem. We configure it per call from Settings instead, so it
    # is imported without seeing the variable.
    saved = os.environ.pop("CLOUDINARY_URL", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["CLOUDINARY_URL"] = saved


with _sdk_blind_to_the_environment():
    import cloudinary
    import cloudinary.api
    import cloudinary.api_client.call_api
    import cloudinary.exceptions as cx
    import cloudinary.uploader
    import cloudinary.utils

from bot.config import CloudinaryConfig
from bot.errors import (
    BadRequest,
    QuotaExceeded,
    RateLimited,
    ServiceError,
    ServiceTimeout,
    ServiceUnavailable,
    TokenInvalid,
)
from bot.ports import HostUsage, UploadedImage

SERVICE = "cloudinary"
_STATUS_RE = re.compile(r"Error (\d{3})\b")
_RESET_RE = re.compile(r"Try again on (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC")
_TIMEOUT_HINTS = ("timed out", "timeout", "Timeout")
_NO_READ_RETRIES = Retry(total=2, connect=2, read=0, status=0, redirect=0)
_transport_ready = False


def configure_cloudinary_transport() -> None:
    """Rebuild the SDK's module-level connectors with read retries off (once per process)."""
    global _transport_ready
    if _transport_ready:
        return
    # maxsize: ping and usage run at once; one pooled connection would be dropped each time
    options = {**cloudinary.CERT_KWARGS, "retries": _NO_READ_RETRIES, "maxsize": 4}
    connector = cloudinary.utils.get_http_connector(cloudinary.config(), options)
    cloudinary.api_client.call_api._http = connector
    cloudinary.uploader._http = connector
    _transport_ready = True


def _seconds_until_reset(message: str) -> float | None:
    match = _RESET_RE.search(message)
    if not match:
        return None
    reset = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    return max(0.0, (reset - datetime.now(timezone.utc)).total_seconds())

T = TypeVar("T")


def classify_cloudinary_error(exc: Exception) -> ServiceError:
    """Map an exception raised by the Cloudinary SDK to the project's error kinds."""
    message = str(exc)
    match = _STATUS_RE.search(message)
    status = int(match.group(1)) if match else None
    label = f"HTTP {status}" if status else type(exc).__name__
    if isinstance(exc, cx.AuthorizationRequired) or status == 401:
        return TokenInvalid(SERVICE, f"{label}: credentials rejected", status=status)
    if isinstance(exc, cx.RateLimited) or status in (420, 429):
        if "credit" in message.lower() or "quota" in message.lower():
            return QuotaExceeded(SERVICE, label, status=status)
        return RateLimited(SERVICE, label, status=status, retry_after_s=_seconds_until_reset(message))
    if isinstance(exc, cx.NotAllowed) or status == 403:
        return TokenInvalid(SERVICE, f"{label}: not allowed", status=status)
    if isinstance(exc, (cx.BadRequest, cx.NotFound, cx.AlreadyExists)):
        return BadRequest(SERVICE, label, status=status)
    if status is None and any(hint in message for hint in _TIMEOUT_HINTS):
        return ServiceTimeout(SERVICE, "no answer from Cloudinary")
    if isinstance(exc, cx.GeneralError) or (status is not None and status >= 500):
        return ServiceUnavailable(SERVICE, label if status else "cannot reach Cloudinary", status=status)
    return ServiceUnavailable(SERVICE, label, status=status)


class CloudinaryImageHost:
    """`ImageHost` for one Cloudinary account."""

    def __init__(self, config: CloudinaryConfig, *, timeout_s: float = 10.0) -> None:
        self._config = config
        self._timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cloudinary")
        configure_cloudinary_transport()

    def _options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "cloud_name": self._config.cloud_name,
            "api_key": self._config.api_key,
            "api_secret": self._config.api_secret.reveal(),
            "timeout": self._timeout_s,
        }
        if self._config.upload_prefix:
            options["upload_prefix"] = self._config.upload_prefix
        return options

    async def _call(self, fn: Callable[..., T], **extra: Any) -> T:
        options = {**self._options(), **extra}

        def run() -> T:
            try:
                return fn(**options)
            except Exception as exc:  # the SDK raises bare Exception for unmapped statuses
                raise classify_cloudinary_error(exc) from None

        future = asyncio.get_running_loop().run_in_executor(self._pool, run)
        try:
            return await asyncio.wait_for(future, self._timeout_s)
        except (asyncio.TimeoutError, TimeoutError):
            raise ServiceTimeout(SERVICE, "no answer from Cloudinary") from None

    async def ping(self) -> None:
        await self._call(cloudinary.api.ping)

    async def usage(self) -> HostUsage:
        body = await self._call(cloudinary.api.usage)
        credits = body.get("credits") if isinstance(body.get("credits"), dict) else {}
        return HostUsage(
            plan=str(body.get("plan", "?")),
            credits_used=credits.get("usage"),
            credits_limit=credits.get("limit"),
            credits_used_pct=credits.get("used_percent"),
        )

    async def upload(self, content: bytes, *, public_id: str) -> UploadedImage:
        """`ImageUploader`: `overwrite=False`, so Cloudinary answers an id it has already with
        that asset (`existing`) instead of making a new version."""
        body = await self._call(cloudinary.uploader.upload, file=content, public_id=public_id,
                                overwrite=False, resource_type="image")
        try:
            return UploadedImage(public_id=str(body["public_id"]), url=str(body["secure_url"]),
                                 width=int(body["width"]), height=int(body["height"]),
                                 existing=bool(body.get("existing", False)))
        except (KeyError, TypeError, ValueError):
            raise ServiceUnavailable(SERVICE, "the upload's answer lacks the asset") from None

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
