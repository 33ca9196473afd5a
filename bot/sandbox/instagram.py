"""A loopback Instagram Graph API (the Facebook Login flavour, `graph.facebook.com/vNN.0`).

Serves what SunFlow Ops asks of Graph: the account (`GET /{ig-user-id}`), `debug_token`, the
content-publishing quota, and the publishing pair (`POST /{ig-user-id}/media` → container,
`POST /{ig-user-id}/media_publish`), single images and carousels (items made with
`is_carousel_item=true`, then `media_type=CAROUSEL` with `children`). Errors come in Graph's own shape::

    {"error": {"message": ..., "type": "OAuthException", "code": N, "error_subcode": M,
               "fbtrace_id": ...}}

with HTTP 400 for OAuth and throttling errors, as Graph answers them (classify on `code`, never
on the status). Every answer carries `X-App-Usage`; answers about the IG user also carry
`X-Business-Use-Case-Usage`.

Faults (`fake.set_fault(name, **params)`), on top of the shared `slow <ms>` and `hang`:
    token_expired [expired_at] [subcode=463]
                                     190/463 "Session has expired on ..." (HTTP 400);
                                     subcode="none": no subcode, as graph.instagram.com says it
    token_invalid [subcode=460|467|458]  190/<subcode>, the token was invalidated (HTTP 400)
    rate_limited [code=80002] [retry_after=300] [http429=False]
                                     code 4/17/32/341/613/80002, usage headers at 100 and
                                     `estimated_time_to_regain_access` in minutes
    container_error                  containers made from now on end in status ERROR
    publish_lost [ms=3000] [times=1] media_publish goes through (the post is live), then its
                                     answer waits `ms`: past a client's timeout, the answer
                                     is lost; after `times` such answers the fault clears
    publish_error [code=-1] [subcode=2207001] [on="both"|"media"|"media_publish"]
                                     creating a container and/or publishing it fails with one
                                     of `PUBLISHING_ERRORS` (the pairs Meta documents for
                                     content publishing, with their messages)
    5xx [status=500]                 500 → code 1 "An unknown error has occurred.",
                                     503 → code 2 "Service temporarily unavailable"
A token that is not the configured one gets 190 "Invalid OAuth access token - Cannot parse
access token"; a `token_expires_at` in the past expires the token without any fault.
`issue_token()` makes another accepted token (what a person does in Meta's token tools before a
rotation); the token faults describe the account's current token only. `GET /refresh_access_token`
is graph.instagram.com's: an `IG…` token at least 24 hours old and not expired gets a new one
(60 days); anything else gets its "Unsupported request - method type: get" (code 100).
"""

from __future__ import annotations

import itertools
import json
import math
import re
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.sandbox.base import FakeServer, Reply, Request

API_VERSION = "v26.0"
COMMON_FAULTS = frozenset({"slow", "hang", "5xx", "rate_limited"})

RATE_LIMIT_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    341: "(#341) Application limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80002: "(#80002) There have been too many calls to this Instagram account. "
           "Wait a bit and try again.",
}
INVALIDATED_MESSAGES = {
    458: "Error validating access token: The user has not authorized application {app_id}.",
    460: "Error validating access token: The session has been invalidated because the user "
         "changed their password or Facebook has changed the session for security reasons.",
    467: "Error validating access token: The session is invalid because the user logged out.",
}
CANNOT_PARSE = "Invalid OAuth access token - Cannot parse access token"
# (code, subcode) -> (message, error_user_title, error_user_msg, is_transient): the pairs of
# Meta's content-publishing error table, its descriptions paraphrased (no public thread quoted
# these bodies whole); 9007's "Media ID is not available" as public issue threads quote it
PUBLISHING_ERRORS: dict[tuple[int, int], tuple[str, str, str, bool]] = {
    (-1, 2207001): ("An unexpected error has occurred. Please retry your request later.",
                    "Instagram server error", "Instagram server error. Please try again.", True),
    (-2, 2207003): ("Timeout", "Timeout downloading media",
                    "It takes too long to download the media.", True),
    (-1, 2207032): ("An unexpected error has occurred. Please retry your request later.",
                    "Create media fail", "Failed to create media, please try to re-create media.",
                    True),
    (24, 2207008): ("The requested resource does not exist", "Media builder expired",
                    "Temporary error publishing a container. Please retry within 30 seconds "
                    "to 2 minutes.", True),
    (9007, 2207027): ("Media ID is not available", "Media not ready for publishing",
                      "The media is not ready for publishing, please wait for a moment.", False),
    (4, 2207051): ("Application request limit reached", "Action is blocked",
                   "We restrict certain activity to protect our community. Tell us if you "
                   "think we made a mistake.", False),
    (25, 2207050): ("The Instagram account is restricted", "Account restricted",
                    "The Instagram account is inactive, checkpointed or restricted.", False),
}
DEFAULT_SCOPES = ("instagram_basic", "instagram_content_publish", "instagram_manage_insights",
                  "pages_show_list", "pages_read_engagement", "business_management")

LONG_LIVED = object()  # `set_token` default: a long-lived token, 60 days from now
_VERSION_PREFIX = re.compile(r"^/v\d+\.\d+(?=/|$)")

try:  # Graph writes expiry times in Menlo Park's clock
    from zoneinfo import ZoneInfo

    _PACIFIC: Any = ZoneInfo("America/Los_Angeles")
except Exception:  # pragma: no cover - no tz database on this host
    _PACIFIC = timezone(timedelta(hours=-8), "PST")


def graph_time(at: datetime) -> str:
    """`Tuesday, 25-Nov-26 20:00:00 PST`, the way Graph quotes times in 190/463 messages."""
    return at.astimezone(_PACIFIC).strftime("%A, %d-%b-%y %H:%M:%S %Z")


def _fbtrace_id() -> str:
    return secrets.token_urlsafe(17)[:23]


class _GraphError(Exception):
    """Raised inside the fake, turned into Graph's error reply at the edge."""

    def __init__(self, status: int, code: int, message: str, *, subcode: int | None = None,
                 type_: str = "OAuthException", is_transient: bool | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.subcode, self.type, self.is_transient = subcode, type_, is_transient
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        error.update(self.extra)
        error["fbtrace_id"] = _fbtrace_id()
        return {"error": error}


class FakeInstagram(FakeServer):
    """Instagram Graph API on 127.0.0.1. Point the client at `graph_url`."""

    name = "instagram"
    FAULTS = COMMON_FAULTS | {"token_expired", "token_invalid", "publish_error", "container_error",
                              "publish_lost"}

    def __init__(
        self,
        access_token: str,
        user_id: str,
        *,
        username: str = "sunflow.daily",
        app_id: str | None = None,
        app_secret: str | None = None,
        token_expires_at: datetime | None = None,
        quota_total: int | None = 100,
        followers_count: int = 12840,
        media_count: int = 486,
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        fb_user_id: str = "10160000000000001",
        application: str = "SunFlow Publisher",
    ) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self._token = access_token  # the account's current token (faults describe this one)
        # every token Graph accepts now: token -> (expires_at or None, issued_at)
        self._tokens: dict[str, tuple[datetime | None, datetime]] = {
            access_token: (token_expires_at, datetime.now(timezone.utc) - timedelta(days=3))}
        self._others: set[str] = set()  # accepted tokens of another account
        self._quota_usage = 0
        self.user_id = user_id
        self.username = username
        self.app_id = app_id
        self.app_secret = app_secret
        self.quota_total = quota_total
        self.quota_duration = 86400
        self.followers_count = followers_count
        self.media_count = media_count
        self.scopes = tuple(scopes)
        self.fb_user_id = fb_user_id
        self.application = application
        self.containers: dict[str, dict[str, Any]] = {}
        # a container is IN_PROGRESS this long after it is made, then FINISHED; it EXPIRES
        # (cannot be published any more) this long after it is made: Graph's is 24 hours
        self.container_processing_s = 0.0
        self.container_ttl_s = 86400.0
        self.published: list[dict[str, Any]] = []
        self._ids = itertools.count(17900000000000001 + secrets.randbelow(10**12))
        self._served = 0

    # ---- state an operator (or a test) changes ---------------------------------------------
    @property
    def graph_url(self) -> str:
        return f"{self.url}/{API_VERSION}"

    @property
    def access_token(self) -> str:
        with self._lock:
            return self._token

    @property
    def quota_usage(self) -> int:
        with self._lock:
            return self._quota_usage

    @quota_usage.setter
    def quota_usage(self, value: int) -> None:
        with self._lock:
            self._quota_usage = int(value)

    @property
    def token_expires_at(self) -> datetime | None:
        with self._lock:
            return self._tokens[self._token][0]

    @token_expires_at.setter
    def token_expires_at(self, value: datetime | None) -> None:
        with self._lock:
            self._tokens[self._token] = (value, self._tokens[self._token][1])

    def issue_token(self, token: str | None = None, *, expires_at: datetime | None | object = LONG_LIVED,
                    issued_at: datetime | None = None, other_account: bool = False) -> str:
        """A person makes another token for the account (Meta's token tools): it is accepted
        from now on, beside the current one. Returns it (a fresh one when `token` is None).
        `other_account`: a good token, but another account's: this one's objects answer it
        with Graph's 100/33 "does not exist, cannot be loaded due to missing permissions"."""
        token = token or f"sandbox-instagram-access-token-{secrets.token_hex(8)}"
        now = datetime.now(timezone.utc)
        expiry = now + timedelta(days=60) if expires_at is LONG_LIVED else expires_at
        with self._lock:
            self._tokens[token] = (expiry, issued_at or now)  # type: ignore[assignment]
            if other_account:
                self._others.add(token)
        return token

    def accepts(self, token: str) -> bool:
        with self._lock:
            return token in self._tokens

    def set_token(self, new_token: str, *, expires_at: datetime | None | object = LONG_LIVED
                  ) -> None:
        """Rotate the token: only `new_token` is accepted from now on.

        `expires_at` defaults to 60 days from now (a long-lived token); pass None for a token
        that never expires. A `token_expired`/`token_invalid` fault described the old token,
        so it is cleared (a `slow` delay stays).
        """
        with self._lock:
            self._token = new_token
            self._tokens.clear()
        self.issue_token(new_token, expires_at=expires_at)
        if self.faults.mode in ("token_expired", "token_invalid"):
            delay = self.faults.delay_ms
            self.faults.clear()
            if delay:
                self.faults.set("slow", ms=delay)

    def set_fault(self, name: str, **params: Any) -> None:
        if name not in self.FAULTS:
            raise ValueError(f"unknown instagram fault {name!r}; known: {sorted(self.FAULTS)}")
        super().set_fault(name, **params)

    # ---- serving -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        self.apply_common_faults(request)
        mode, params = self.faults.mode, dict(self.faults.params)
        path = _VERSION_PREFIX.sub("", request.path) or "/"
        parts = [p for p in path.split("/") if p]
        try:
            if mode == "5xx":
                raise self._server_error(params)
            if parts == ["debug_token"] and request.method == "GET":
                body = self._debug_token(request, mode, params)
            elif parts == ["refresh_access_token"]:
                body = self._refresh_access_token(request, mode, params)
            else:
                self._authenticate(request, mode, params)
                with self._lock:
                    other = self._presented_token(request) in self._others
                if other and parts and parts[0] == self.user_id:
                    raise self._no_such_object(self.user_id, request.method)
                if mode == "rate_limited":
                    raise self._rate_limited(params)
                body = self._route(request, parts)
        except _GraphError as err:
            headers = {**self._usage_headers(parts), **err.headers}
            return Reply(err.status, err.body(), headers=headers)
        return Reply(200, body, headers=self._usage_headers(parts))

    def _route(self, request: Request, parts: list[str]) -> dict[str, Any]:
        method = request.method
        if parts == ["me"] and method == "GET":
            return {"id": self.fb_user_id, "name": self.application}
        if len(parts) == 1 and method == "GET":
            return self._get_node(parts[0], request)
        if len(parts) == 2 and parts[0] == self.user_id:
            edge = parts[1]
            if edge == "content_publishing_limit" and method == "GET":
                return self._publishing_limit(request)
            if edge in ("media", "media_publish") and method == "POST":
                self._publishing_fault(edge)
            if edge == "media" and method == "POST":
                return self._create_container(request)
            if edge == "media" and method == "GET":
                return self._list_media(request)
            if edge == "media_publish" and method == "POST":
                return self._publish(request)
        if len(parts) >= 2 and parts[0] in (self.user_id, "me"):
            raise _GraphError(400, 100, f"(#100) Tried accessing nonexisting field ({parts[1]})")
        if len(parts) == 1:
            raise self._no_such_object(parts[0], method)
        raise _GraphError(400, 2500, f"Unknown path components: /{'/'.join(parts[1:])}")

    # ---- auth --------------------------------------------------------------------------------
    @staticmethod
    def _presented_token(request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() in ("bearer", "oauth") and value.strip():
            return value.strip()
        return request.param("access_token")

    def _token_problem(self, token: str | None, mode: str | None,
                       params: dict[str, Any]) -> dict[str, Any] | None:
        """What Graph would say about `token`: None when it is good."""
        with self._lock:
            known = self._tokens.get(token or "")
            current = token == self._token
        if known is None:
            return {"code": 190, "message": CANNOT_PARSE}
        expires_at = known[0]
        mode = mode if current else None  # a fault describes the account's current token
        now = datetime.now(timezone.utc)
        if mode == "token_expired" or (expires_at is not None and expires_at <= now):
            expired_at = params.get("expired_at")
            if expired_at is None:
                expired_at = expires_at if expires_at is not None and expires_at <= now \
                    else now - timedelta(hours=1)
            message = (f"Error validating access token: Session has expired on "
                       f"{graph_time(expired_at)}. The current time is {graph_time(now)}.")
            given = params.get("subcode", 463)
            subcode = None if given in (None, "none", "", 0, "0") else int(given)
            return {"code": 190, "subcode": subcode, "message": message, "expired_at": expired_at}
        if mode == "token_invalid":
            subcode = int(params.get("subcode", 460))
            template = INVALIDATED_MESSAGES.get(subcode, INVALIDATED_MESSAGES[460])
            return {"code": 190, "subcode": subcode,
                    "message": template.format(app_id=self.app_id or "this app")}
        return None

    def _authenticate(self, request: Request, mode: str | None, params: dict[str, Any]) -> None:
        token = self._presented_token(request)
        if not token:
            raise _GraphError(400, 104, "An access token is required to request this resource.")
        problem = self._token_problem(token, mode, params)
        if problem is not None:
            raise _GraphError(
                400, problem["code"], problem["message"], subcode=problem.get("subcode"),
                headers={"WWW-Authenticate": f'OAuth "Facebook Platform" "invalid_token" '
                                             f'"{problem["message"]}"'},
            )

    # ---- endpoints ---------------------------------------------------------------------------
    def _debug_token(self, request: Request, mode: str | None,
                     params: dict[str, Any]) -> dict[str, Any]:
        caller = self._presented_token(request)
        if not caller:
            raise _GraphError(400, 104, "An access token is required to request this resource.")
        if "|" in caller:  # an app access token: <app_id>|<app_secret>
            app_id, _, app_secret = caller.partition("|")
            if self.app_id is None or app_id != self.app_id:
                raise _GraphError(400, 101, "Error validating application. "
                                            "Invalid application ID.")
            if app_secret != self.app_secret:
                raise _GraphError(400, 190, "Invalid OAuth access token signature.")
        else:  # a token may inspect itself, as long as it is good
            problem = self._token_problem(caller, mode, params)
            if problem is not None:
                raise _GraphError(400, problem["code"], problem["message"],
                                  subcode=problem.get("subcode"))
        if mode == "rate_limited":
            raise self._rate_limited(params)
        input_token = request.param("input_token")
        if not input_token:
            raise _GraphError(400, 100, "(#100) The parameter input_token is required")
        problem = self._token_problem(input_token, mode, params)
        now = datetime.now(timezone.utc)
        if problem is not None and problem["message"] == CANNOT_PARSE:
            return {"data": {"error": {"code": 190, "message": CANNOT_PARSE},
                             "is_valid": False, "scopes": []}}
        with self._lock:
            expires_at, issued_at = self._tokens[input_token]
        if problem is not None and "expired_at" in problem:
            expires_at = problem["expired_at"]
        data: dict[str, Any] = {
            "app_id": self.app_id or "100000000000001",
            "type": "USER",
            "application": self.application,
            "data_access_expires_at": int((now + timedelta(days=90)).timestamp()),
            "expires_at": int(expires_at.timestamp()) if expires_at is not None else 0,
            "is_valid": problem is None,
            "issued_at": int(issued_at.timestamp()),
            "scopes": list(self.scopes),
            "granular_scopes": [
                {"scope": s, "target_ids": [self.user_id]} for s in self.scopes
                if s.startswith("instagram_")
            ],
            "user_id": self.fb_user_id,
        }
        if problem is not None:
            data["error"] = {"code": problem["code"], "message": problem["message"],
                             "subcode": problem["subcode"]}
        return {"data": data}

    def _refresh_access_token(self, request: Request, mode: str | None,
                              params: dict[str, Any]) -> dict[str, Any]:
        """graph.instagram.com's refresh: an Instagram Login long-lived token (IG…), at least
        24 hours old and not expired, for a new one valid 60 days; the old one stays valid
        until its own expiry. What else Graph says is its "Unsupported request" (code 100)."""
        if request.method != "GET" or request.param("grant_type") != "ig_refresh_token":
            raise _GraphError(400, 100, f"Unsupported request - method type: {request.method.lower()}",
                              type_="IGApiException")
        token = request.param("access_token") or ""
        problem = self._token_problem(token, mode, params)
        if problem is not None:
            raise _GraphError(400, problem["code"], problem["message"], subcode=problem.get("subcode"),
                              type_="IGApiException")
        with self._lock:
            issued_at = self._tokens[token][1]
        now = datetime.now(timezone.utc)
        if not token.startswith("IG") or now - issued_at < timedelta(hours=24):
            raise _GraphError(400, 100, "Unsupported request - method type: get",
                              type_="IGApiException")
        fresh = self.issue_token(f"IGAA{secrets.token_urlsafe(48)}", expires_at=now + timedelta(days=60))
        with self._lock:
            if token == self._token:
                self._token = fresh
        return {"access_token": fresh, "token_type": "bearer",
                "expires_in": 60 * 86400 - 56}

    def _get_node(self, node_id: str, request: Request) -> dict[str, Any]:
        fields = _fields(request)
        if node_id == self.user_id:
            with self._lock:
                media_count = self.media_count + len(self.published)
            values = {
                "id": self.user_id,
                "username": self.username,
                "name": "SunFlow Daily",
                "biography": "Daily AI-made sunflower moods.",
                "followers_count": self.followers_count,
                "follows_count": 312,
                "media_count": media_count,
                "profile_picture_url": f"{self.url}/static/profile.jpg",
                "website": "https://sunflow.example",
            }
            return _select(values, fields or ["id"], "IGUser")
        with self._lock:
            container = self.containers.get(node_id)
            media = next((m for m in self.published if m["media_id"] == node_id), None)
        if container is not None:
            with self._lock:
                code = self._status_code(container)
            values = {"id": node_id, "status_code": code, "status": _CONTAINER_STATUS[code]}
            return _select(values, fields or ["id"], "IGContainer")
        if media is not None:
            values = {
                "id": node_id, "caption": media["caption"],
                "media_type": "CAROUSEL_ALBUM" if media["children"] else "IMAGE",
                "media_url": media["image_url"], "username": self.username,
                "permalink": f"https://www.instagram.com/p/{media['shortcode']}/",
                "timestamp": media["published_at"], "like_count": 0, "comments_count": 0,
            }
            return _select(values, fields or ["id"], "IGMedia")
        raise self._no_such_object(node_id, "GET")

    def _publishing_limit(self, request: Request) -> dict[str, Any]:
        fields = _fields(request) or ["quota_usage"]
        entry: dict[str, Any] = {}
        with self._lock:
            if "quota_usage" in fields:
                entry["quota_usage"] = self._quota_usage
            if "config" in fields and self.quota_total is not None:  # None: Graph left it out
                entry["config"] = {"quota_total": self.quota_total,
                                   "quota_duration": self.quota_duration}
        return {"data": [entry]}

    def _publishing_fault(self, edge: str) -> None:
        mode, params = self.faults.mode, dict(self.faults.params)
        if mode != "publish_error" or params.get("on", "both") not in ("both", edge):
            return
        pair = (int(params.get("code", -1)), int(params.get("subcode", 2207001)))
        if pair not in PUBLISHING_ERRORS:
            raise ValueError(f"no publishing error {pair}; known: {sorted(PUBLISHING_ERRORS)}")
        message, title, user_msg, transient = PUBLISHING_ERRORS[pair]
        raise _GraphError(400, pair[0], message, subcode=pair[1], is_transient=transient,
                          error_user_title=title, error_user_msg=user_msg)

    def _create_container(self, request: Request) -> dict[str, Any]:
        if request.param("media_type") == "CAROUSEL":
            return self._create_carousel(request)
        image_url = request.param("image_url")
        if not image_url:
            raise _GraphError(400, 100, "(#100) The parameter image_url is required.")
        if not image_url.startswith(("http://", "https://")):
            raise _GraphError(
                400, 9004, "Only photo or video can be accepted as media type.",
                subcode=2207052, is_transient=False,
                error_user_title="Media download has failed. "
                                 "The media URI doesn't meet our requirements.",
                error_user_msg=f"The media could not be fetched from this URI: {image_url}.",
            )
        now = time.monotonic()
        with self._lock:
            container_id = str(next(self._ids))
            self.containers[container_id] = {
                "id": container_id, "image_url": image_url,
                "caption": request.param("caption") or "", "published": False,
                "ready_at": now + self.container_processing_s,
                "expires_at": now + self.container_ttl_s,
                "error": self.faults.mode == "container_error",
                "carousel_item": _flag(request.param("is_carousel_item")), "children": [],
            }
        return {"id": container_id}

    def _create_carousel(self, request: Request) -> dict[str, Any]:
        children = [c for c in (request.param("children") or "").split(",") if c]
        if not 2 <= len(children) <= 10:
            raise _GraphError(400, 100, "(#100) The parameter children must have between 2 "
                                        "and 10 carousel items.")
        now = time.monotonic()
        with self._lock:
            for child in children:
                item = self.containers.get(child)
                if item is None or not item["carousel_item"]:
                    raise _GraphError(400, 100, f"(#100) Param children[{child}] is not a "
                                                "valid carousel item container.")
            container_id = str(next(self._ids))
            self.containers[container_id] = {
                "id": container_id, "image_url": self.containers[children[0]]["image_url"],
                "caption": request.param("caption") or "", "published": False,
                "ready_at": now + self.container_processing_s,
                "expires_at": now + self.container_ttl_s,
                "error": self.faults.mode == "container_error",
                "carousel_item": False, "children": children,
            }
        return {"id": container_id}

    def _status_code(self, container: dict[str, Any]) -> str:
        """Where a container is now (read under the lock); a carousel is as far as its
        slowest item."""
        now = time.monotonic()
        if container["published"]:
            return "PUBLISHED"
        if container["error"]:
            return "ERROR"
        if now >= container["expires_at"]:
            return "EXPIRED"
        items = {self._status_code(self.containers[c]) for c in container["children"]}
        if items & {"ERROR", "EXPIRED"}:
            return "ERROR"
        if now < container["ready_at"] or "IN_PROGRESS" in items:
            return "IN_PROGRESS"
        return "FINISHED"

    def _publish(self, request: Request) -> dict[str, Any]:
        creation_id = request.param("creation_id")
        if not creation_id:
            raise _GraphError(400, 100, "(#100) The parameter creation_id is required.")
        with self._lock:
            container = self.containers.get(creation_id)
            if container is None or container["published"]:
                raise self._no_such_object(creation_id, "POST")
            if container["carousel_item"]:
                raise _GraphError(400, 100, "(#100) A carousel item is published through its "
                                            "carousel container.")
            state = self._status_code(container)
            if state in ("IN_PROGRESS", "ERROR"):
                message, title, user_msg, transient = PUBLISHING_ERRORS[(9007, 2207027)]
                raise _GraphError(400, 9007, message, subcode=2207027, is_transient=transient,
                                  error_user_title=title, error_user_msg=user_msg)
            if state == "EXPIRED":
                raise _GraphError(400, 24, "The requested resource does not exist",
                                  subcode=2207006, is_transient=False,
                                  error_user_title="Media not found",
                                  error_user_msg="The media was not found or has expired; "
                                                 "create a new container.")
            if self.quota_total is not None and self._quota_usage >= self.quota_total:
                raise _GraphError(
                    400, 9, "(#9) Application request limit reached: the content publishing "
                            "limit for this account has been reached.",
                    subcode=2207042, is_transient=False,
                    error_user_title="Maximum number of posts reached",
                    error_user_msg=f"You reached the publishing limit of {self.quota_total} "
                                   f"API-published posts in a 24-hour period.",
                )
            media_id = str(next(self._ids))
            container["published"] = True
            self._quota_usage += 1
            self.published.append({
                "media_id": media_id, "container_id": creation_id,
                "image_url": container["image_url"], "caption": container["caption"],
                "children": [self.containers[c]["image_url"] for c in container["children"]],
                "published_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000"),
                "shortcode": secrets.token_urlsafe(8)[:11],
            })
        if self.faults.mode == "publish_lost":
            self._lose_answer()
        return {"id": media_id}

    def _lose_answer(self) -> None:
        params = self.faults.params
        wait_s, left = float(params.get("ms", 3000)) / 1000, int(params.get("times", 1)) - 1
        if left <= 0:
            self.faults.clear()
        else:
            params["times"] = left
        self._stopping.wait(wait_s)

    def _list_media(self, request: Request) -> dict[str, Any]:
        with self._lock:
            ids = [m["media_id"] for m in reversed(self.published)]
        fields = _fields(request) or ["id"]
        return {"data": [self._get_node(i, _with_fields(request, fields)) for i in ids]}

    # ---- error replies -----------------------------------------------------------------------
    def _no_such_object(self, node_id: str, method: str) -> _GraphError:
        verb = "get" if method == "GET" else "post"
        return _GraphError(
            400, 100, f"Unsupported {verb} request. Object with ID '{node_id}' does not exist, "
                      "cannot be loaded due to missing permissions, or does not support this "
                      "operation. Please read the Graph API documentation at "
                      "https://developers.facebook.com/docs/graph-api",
            subcode=33, type_="GraphMethodException",
        )

    def _server_error(self, params: dict[str, Any]) -> _GraphError:
        status = int(params.get("status", 500))
        if status == 503:
            return _GraphError(status, int(params.get("code", 2)),
                               "Service temporarily unavailable", is_transient=True)
        return _GraphError(status, int(params.get("code", 1)),
                           "An unknown error has occurred.", is_transient=True)

    def _rate_limited(self, params: dict[str, Any]) -> _GraphError:
        code = int(params.get("code", 80002))
        if code not in RATE_LIMIT_MESSAGES:
            raise ValueError(f"rate_limited code must be one of {sorted(RATE_LIMIT_MESSAGES)}")
        retry_after = float(params.get("retry_after", 300))
        minutes = max(1, math.ceil(retry_after / 60))
        status = 429 if _flag(params.get("http429")) else 400
        headers = {
            "X-App-Usage": json.dumps({"call_count": 100, "total_cputime": 38,
                                       "total_time": 61}),
            "X-Business-Use-Case-Usage": json.dumps({self.user_id: [{
                "type": "instagram", "call_count": 100, "total_cputime": 38,
                "total_time": 61, "estimated_time_to_regain_access": minutes,
            }]}),
        }
        extra: dict[str, Any] = {}
        if "subcode" in params:
            extra["subcode"] = int(params["subcode"])
        return _GraphError(status, code, RATE_LIMIT_MESSAGES[code], is_transient=True,
                           headers=headers, **extra)

    def _usage_headers(self, parts: list[str]) -> dict[str, str]:
        with self._lock:
            self._served += 1
            pct = min(1 + self._served // 25, 9)
        headers = {
            "X-App-Usage": json.dumps({"call_count": pct, "total_cputime": 1, "total_time": 1}),
            "facebook-api-version": API_VERSION,
        }
        if parts and parts[0] == self.user_id:
            headers["X-Business-Use-Case-Usage"] = json.dumps({self.user_id: [{
                "type": "instagram", "call_count": pct, "total_cputime": 1, "total_time": 1,
                "estimated_time_to_regain_access": 0,
            }]})
        return headers


_CONTAINER_STATUS = {
    "FINISHED": "Finished: Media has been uploaded and it is ready to be published.",
    "IN_PROGRESS": "In Progress: Media is still being processed.",
    "ERROR": "Error: Media upload has failed.",
    "EXPIRED": "Expired: The container was not published within 24 hours.",
    "PUBLISHED": "Published: Media has been published.",
}


def _flag(value: Any) -> bool:
    """A boolean fault parameter, also when typed as text (`http429=true`)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _fields(request: Request) -> list[str]:
    raw = request.param("fields") or ""
    return [f.strip() for f in raw.split(",") if f.strip()]


def _with_fields(request: Request, fields: list[str]) -> Request:
    return Request(method="GET", path=request.path, query={"fields": ",".join(fields)},
                   headers=request.headers, body=b"")


def _select(values: dict[str, Any], fields: list[str], node_type: str) -> dict[str, Any]:
    unknown = [f for f in fields if f not in values]
    if unknown:
        raise _GraphError(400, 100, f"(#100) Tried accessing nonexisting field ({unknown[0]}) "
                                    f"on node type ({node_type})")
    result = {f: values[f] for f in fields}
    result.setdefault("id", values["id"])
    return result
