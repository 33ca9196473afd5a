"""The project's own error kinds, mapped from every vendor at the adapter edge.

Adapters catch their vendor's exceptions (httpx, Cloudinary's SDK, fal-client, the Bot API's
JSON errors) and raise one of these instead, so the engine, the handlers and the CLI only ever
reason about *what went wrong*, never about *which library said so*::

    ServiceError                   kind             what an operator does about it
    ├── TokenExpired               token_expired    renew the token (playbook scenario 1)
    ├── TokenInvalid               token_invalid    check the credential; it was never valid
    ├── RateLimited                rate_limited     wait: `retry_after_s`, `usage_pct` when known
    ├── QuotaExceeded              quota            the plan or balance is used up
    ├── ServiceUnavailable         unavailable      the vendor is down or unreachable (5xx, refused)
    ├── ServiceTimeout             timeout          no answer in time
    ├── NotReady                   not_ready        the vendor is still processing: check again soon
    ├── VendorAction               vendor_action    a person must act at the vendor (an account
    │                                               restricted or locked): retrying cannot help
    └── BadRequest                 bad_request      we sent something the vendor rejected

`RETRY_HELPS` names the kinds that waiting and trying again can fix by themselves; every other
kind needs a person first, and an automatic retry only makes it worse (or costs money).

`detail` is a short, secret-free description (never a raw URL: Graph and Bot API URLs carry
tokens). Adapters build it from status codes and vendor error codes only.
"""

from __future__ import annotations

from typing import Any

from enum import Enum


class ErrorKind(str, Enum):
    TOKEN_EXPIRED = "token_expired"
    TOKEN_INVALID = "token_invalid"
    RATE_LIMITED = "rate_limited"
    QUOTA = "quota"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    NOT_READY = "not_ready"
    VENDOR_ACTION = "vendor_action"
    BAD_REQUEST = "bad_request"


RETRY_HELPS = frozenset({ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE, ErrorKind.TIMEOUT,
                         ErrorKind.NOT_READY})


class Refusal(Exception):
    """Nothing was changed; `key` (a message key of the catalogs) and `params` (plain values)
    say why in one sentence. Each domain names its own (`BackupRefused`, `TokenRefused`, ...)."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key, self.params = key, params


class ServiceError(Exception):
    """A failure of an outside service, already classified."""

    kind: ErrorKind

    def __init__(
        self,
        service: str,
        detail: str = "",
        *,
        retry_after_s: float | None = None,
        usage_pct: float | None = None,
        status: int | None = None,
        code: int | None = None,
    ) -> None:
        self.service = service
        self.detail = detail
        self.retry_after_s = retry_after_s
        self.usage_pct = usage_pct
        self.status = status
        self.code = code
        super().__init__(f"{service}: {self.kind.value}" + (f" ({detail})" if detail else ""))


class TokenExpired(ServiceError):
    kind = ErrorKind.TOKEN_EXPIRED


class TokenInvalid(ServiceError):
    kind = ErrorKind.TOKEN_INVALID


class RateLimited(ServiceError):
    kind = ErrorKind.RATE_LIMITED


class QuotaExceeded(ServiceError):
    kind = ErrorKind.QUOTA


class ServiceUnavailable(ServiceError):
    kind = ErrorKind.UNAVAILABLE


class ServiceTimeout(ServiceError):
    kind = ErrorKind.TIMEOUT


class NotReady(ServiceError):
    kind = ErrorKind.NOT_READY


class VendorAction(ServiceError):
    kind = ErrorKind.VENDOR_ACTION


class BadRequest(ServiceError):
    kind = ErrorKind.BAD_REQUEST

