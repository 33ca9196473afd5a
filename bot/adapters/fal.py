"""fal.ai through fal-client: is the key accepted, without spending a credit.

fal-client has no base-URL argument, so this adapter owns FAL_QUEUE_URL and applies it to
`fal_client.client.QUEUE_URL_FORMAT` (a module global read at call time). fal-client also
retries 429s, timeouts and ingress 5xx up to ten times on its own; the playbook's rule is
three automatic retries, so `MAX_ATTEMPTS` is bounded here too.

The key check asks the queue for the status of a random, unknown request id: fal answers 404
for a good key (nothing to find) and 401/403 for a rejected one, and no model runs.
fal-client raises `FalClientHTTPError` (status_code, message from the body's "detail") for
HTTP errors and lets httpx's own exceptions through for timeouts and refused connections.

Every submit is a paid image, and fal-client re-sends a submit whose answer timed out (its
`_should_retry` retries any read timeout) unless the request carries fal's start-timeout
header. `submit` always sets it (`start_timeout`, generous: fal cancels a request that has
not started within it, which costs nothing), so a submit is sent once; a lost answer is
reported, not repeated. Its request id is the caller's to keep at once: a run is resumed by
polling that id (`status`, `result`: reads, which fal-client may safely repeat).

A 403 "User is locked. Reason: ..." is an account lock, not a used-up balance: public fal
issue threads show accounts staying locked after a top-up ("Exhausted balance") or locked by
fal ("Admin lock. Please contact support@fal.ai") until fal's support unlocks them, so it is
`VendorAction`. A 504 is fal's request timeout (`request_timeout`, or a `start_timeout` the
caller set), so `ServiceTimeout`, not "fal is down".
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import fal_client
import fal_client.client as fal_module
import httpx

from bot.errors import (
    BadRequest,
    QuotaExceeded,
    RateLimited,
    ServiceError,
    ServiceTimeout,
    ServiceUnavailable,
    TokenInvalid,
    VendorAction,
)
from bot.secrets import Secret

SERVICE = "fal"
DEFAULT_MODEL = "fal-ai/flux-2-pro"
CONTENT_POLICY = "the prompt was refused by fal's content checker"
PLAYBOOK_ATTEMPTS = 3  # "retry (3 automatic tries)", playbook scenario 3
SUBMIT_START_TIMEOUT_S = 600.0  # not started in 10 min: fal cancels it (and we are told, 504)
_QUOTA_WORDS = ("balance", "quota", "billing")
_TOPPED_UP = "balance exhausted; top up, and if it stays locked fal support must unlock it"
_LOCK_REASONS = (("exhausted balance", _TOPPED_UP), ("top_up", _TOPPED_UP),
                 ("admin lock", "locked by fal; contact fal support"))


def configure_fal_client(queue_url: str, max_attempts: int = PLAYBOOK_ATTEMPTS) -> None:
    """Point fal-client at `queue_url` and bound its own retries (process-wide settings)."""
    fal_module.QUEUE_URL_FORMAT = queue_url.rstrip("/") + "/"
    fal_module.MAX_ATTEMPTS = max_attempts


def classify_fal_error(exc: Exception) -> ServiceError:
    """Map a fal-client or httpx exception to the project's error kinds."""
    if isinstance(exc, httpx.TimeoutException) or isinstance(exc, TimeoutError):
        return ServiceTimeout(SERVICE, "no answer from fal.ai")
    if isinstance(exc, httpx.TransportError):
        return ServiceUnavailable(SERVICE, f"cannot reach fal.ai ({type(exc).__name__})")
    if not isinstance(exc, fal_client.FalClientHTTPError):
        return ServiceUnavailable(SERVICE, type(exc).__name__)
    status = exc.status_code
    text = str(exc.message).lower() if exc.message else ""
    label = f"HTTP {status}"
    if status in (401, 403) and "user is locked" in text:
        why = next((said for reason, said in _LOCK_REASONS if reason in text), "contact fal support")
        return VendorAction(SERVICE, f"{label}: account locked ({why})", status=status)
    if status in (401, 403) and any(word in text for word in _QUOTA_WORDS):
        return QuotaExceeded(SERVICE, f"{label}: balance exhausted", status=status)
    if status in (401, 403):
        return TokenInvalid(SERVICE, f"{label}: key rejected", status=status)
    if status == 429:
        retry = exc.response_headers.get("retry-after") or exc.response_headers.get("Retry-After")
        wait_s = float(retry) if retry and retry.isdigit() else None
        return RateLimited(SERVICE, label, retry_after_s=wait_s, status=status)
    if status == 504:
        return ServiceTimeout(SERVICE, f"{label}: request timed out at fal.ai", status=status)
    if status >= 500:
        return ServiceUnavailable(SERVICE, label, status=status)
    if status == 422 and ("content_policy" in text or "content checker" in text):
        return BadRequest(SERVICE, f"{label}: {CONTENT_POLICY}", status=status)
    return BadRequest(SERVICE, label, status=status)


class FalImageGenerator:
    """`ImageGenerator` for one fal.ai key."""

    def __init__(self, *, key: Secret, queue_url: str, model: str = DEFAULT_MODEL,
                 timeout_s: float = 30.0) -> None:
        configure_fal_client(queue_url)
        self._client = fal_client.AsyncClient(key=key.reveal(), default_timeout=timeout_s)
        self.model = model
        self._timeout_s = timeout_s

    async def check_key(self) -> None:
        # fal-client polls the queue with its own 120 s read timeout and retries timeouts, so
        # our deadline has to wrap the whole call.
        try:
            await asyncio.wait_for(self._client.status(self.model, str(uuid.uuid4())),
                                   self._timeout_s)
        except fal_client.FalClientHTTPError as exc:
            if exc.status_code == 404:
                return  # the key was accepted; the random request simply does not exist
            raise classify_fal_error(exc) from None
        except (httpx.HTTPError, TimeoutError) as exc:
            raise classify_fal_error(exc) from None

    async def submit(self, arguments: Mapping[str, Any]) -> str:
        """Queue one generation; its request id. Sent once: a submit whose answer is lost
        raises ServiceTimeout saying it may have reached fal, and is never sent again here."""
        try:
            handle = await self._client.submit(self.model, dict(arguments),
                                               start_timeout=SUBMIT_START_TIMEOUT_S)
        except (fal_client.FalClientHTTPError, httpx.HTTPError) as exc:
            error = classify_fal_error(exc)
            if isinstance(error, ServiceTimeout):
                raise ServiceTimeout(SERVICE, "the submit's answer was lost: it may be running at "
                                              "fal, so it was not sent again") from None
            raise error from None
        return str(handle.request_id)

    async def status(self, request_id: str) -> str:
        """IN_QUEUE, IN_PROGRESS or COMPLETED."""
        try:
            state = await asyncio.wait_for(self._client.status(self.model, request_id),
                                           self._timeout_s)
        except (fal_client.FalClientHTTPError, httpx.HTTPError, TimeoutError) as exc:
            raise classify_fal_error(exc) from None
        return {"Queued": "IN_QUEUE", "InProgress": "IN_PROGRESS",
                "Completed": "COMPLETED"}.get(type(state).__name__, "IN_QUEUE")

    async def result(self, request_id: str) -> Mapping[str, Any]:
        """The finished request's output (fal's JSON)."""
        try:
            output = await asyncio.wait_for(self._client.result(self.model, request_id),
                                            self._timeout_s)
        except (fal_client.FalClientHTTPError, httpx.HTTPError, TimeoutError) as exc:
            raise classify_fal_error(exc) from None
        if not isinstance(output, Mapping):
            raise ServiceUnavailable(SERVICE, "fal answered a result that is not an object")
        return output

    async def aclose(self) -> None:
        # fal-client caches its httpx client on the instance (asyncstdlib's cached property
        # stores an awaitable under the attribute's name) and offers no close of its own.
        cached = vars(self._client).get("_client")
        if cached is not None:
            client = await cached
            await client.aclose()
