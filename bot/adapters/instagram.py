"""Instagram Graph API over httpx: token check, debug_token expiry, publishing quota, and
content publishing (container, its state, publish: `bot.ports.Publisher`).

Graph reports most failures as HTTP 400 with a JSON error whose `code` and `error_subcode`
say what happened, so errors are classified on that pair first (`GRAPH_PAIRS`), then on the
code, never on the status alone:
    190 / subcode 463          token expired; also 190 with no subcode (or 0) whose message says
                               "Session has expired" (what graph.instagram.com answers)
    190 / other subcodes       token invalid (460 password changed, 467 logged out, ...)
    10, 200-299                permission missing: also a token problem (re-issue with scopes)
    the publishing pairs       -1/2207001, -1/2207032 Instagram's own failure, -2/2207003 it timed
                               out fetching the image, 24/2207008 retry in 30 s to 2 min: retry;
                               9007/2207027 the container is not FINISHED yet: poll it
    4/2207051, 25/2207050      suspected spam, account restricted: a person must act at
                               Instagram; never retried (4 is a rate limit otherwise)
    9 / subcode 2207042        the 24-hour publishing quota is used up
    4, 17, 32, 341, 613, 80002 rate limited (or HTTP 429); usage and the wait come from the
                               X-App-Usage / X-Business-Use-Case-Usage headers
    1, 2, HTTP 5xx             Graph itself is down
The access token travels in the Authorization header, never in the URL, so an httpx log line
or exception text cannot carry it (debug_token and refresh_access_token are the exceptions:
Graph wants it in the query there; the redactor masks `access_token=` and `input_token=`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

from typing import Any

import httpx

from bot.errors import (
    BadRequest,
    NotReady,
    QuotaExceeded,
    RateLimited,
    ServiceError,
    ServiceTimeout,
    ServiceUnavailable,
    TokenExpired,
    TokenInvalid,
    VendorAction,
)
from bot.adapters.http import request_json
from bot.ports import (
    Container,
    IgAccount,
    MediaCounts,
    PublishingQuota,
    RefreshedToken,
    TokenDebug,
)
from bot.secrets import Secret

SERVICE = "instagram"
RATE_LIMIT_CODES = frozenset({4, 17, 32, 341, 613, 80002})
RETRY_SOON_S = 30.0  # Meta: "retry within 30 seconds to 2 minutes"
# (code, error_subcode) -> the error, its label, and a wait when Meta names one
GRAPH_PAIRS: dict[tuple[int, int], tuple[type[ServiceError], str, float | None]] = {
    (-1, 2207001): (ServiceUnavailable, "Instagram server error", RETRY_SOON_S),
    (-1, 2207032): (ServiceUnavailable, "media upload failed at Instagram", RETRY_SOON_S),
    (-2, 2207003): (ServiceTimeout, "Instagram timed out fetching the media", RETRY_SOON_S),
    (24, 2207008): (ServiceUnavailable, "media builder unavailable", RETRY_SOON_S),
    (9007, 2207027): (NotReady, "container not finished yet", None),
    (4, 2207051): (VendorAction, "suspected spam: review the account at Instagram", None),
    (25, 2207050): (VendorAction, "account restricted at Instagram", None),
    (9, 2207042): (QuotaExceeded, "publishing limit", None),
}


PROFILE_FIELDS = "id,username,name,followers_count,follows_count,media_count"
MEDIA_FIELDS = "id,caption,permalink,timestamp,like_count,comments_count"


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def _id_of(body: dict, what: str) -> str:
    value = body.get("id")
    if not isinstance(value, (str, int)) or not str(value):
        raise ServiceUnavailable(SERVICE, f"Graph answered without a {what} id")
    return str(value)


def _usage_from_headers(headers: httpx.Headers) -> tuple[float | None, float | None]:
    """(highest usage %, seconds until access returns) from Graph's usage headers."""
    pcts: list[float] = []
    wait_min: list[float] = []
    app = _json_header(headers.get("x-app-usage"))
    if isinstance(app, dict):
        pcts += [float(v) for v in app.values() if isinstance(v, (int, float))]
    buc = _json_header(headers.get("x-business-use-case-usage"))
    if isinstance(buc, dict):
        for entries in buc.values():
            for entry in entries if isinstance(entries, list) else []:
                if not isinstance(entry, dict):
                    continue
                for key in ("call_count", "total_cputime", "total_time"):
                    if isinstance(entry.get(key), (int, float)):
                        pcts.append(float(entry[key]))
                if isinstance(entry.get("estimated_time_to_regain_access"), (int, float)):
                    wait_min.append(float(entry["estimated_time_to_regain_access"]))
    retry = headers.get("retry-after")
    wait_s = max(wait_min) * 60 if wait_min else None
    if wait_s is None and retry and retry.isdigit():
        wait_s = float(retry)
    return (max(pcts) if pcts else None), wait_s


def _json_header(value: str | None) -> object:
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def classify_graph_error(status: int, body: object, headers: httpx.Headers) -> ServiceError:
    """Map one failed Graph response to the project's error kinds."""
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    subcode = error.get("error_subcode") if isinstance(error, dict) else None
    label = f"HTTP {status}" + (f", Graph {code}" if code is not None else "") + (
        f"/{subcode}" if subcode is not None else "")
    common = {"status": status, "code": code}
    if isinstance(code, int) and isinstance(subcode, int) and (code, subcode) in GRAPH_PAIRS:
        cls, what, wait_s = GRAPH_PAIRS[(code, subcode)]
        return cls(SERVICE, f"{label}: {what}", retry_after_s=wait_s, **common)
    if code == 190:
        message = str(error.get("message") or "") if isinstance(error, dict) else ""
        expired = subcode == 463 or (not subcode and "session has expired" in message.lower())
        return (TokenExpired if expired else TokenInvalid)(SERVICE, label, **common)
    if code == 10 or (isinstance(code, int) and 200 <= code <= 299):
        return TokenInvalid(SERVICE, f"{label}: permission missing", **common)
    if code in RATE_LIMIT_CODES or status == 429:
        usage, wait_s = _usage_from_headers(headers)
        return RateLimited(SERVICE, label, retry_after_s=wait_s, usage_pct=usage, **common)
    if code in (1, 2) or status >= 500:
        return ServiceUnavailable(SERVICE, label, **common)
    return BadRequest(SERVICE, label, **common)


class InstagramGraph:
    """`TokenInspector`, `PublishingQuotaReader` and `Publisher` for one Instagram account."""

    def __init__(
        self,
        *,
        graph_url: str,
        access_token: Secret,
        user_id: str,
        app_id: str | None = None,
        app_secret: Secret | None = None,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token = access_token
        self._user_id = user_id
        self._app_id = app_id
        self._app_secret = app_secret
        self._client = httpx.AsyncClient(
            base_url=graph_url.rstrip("/") + "/", timeout=timeout_s, transport=transport
        )
        self.last_usage_pct: float | None = None

    async def aclose(self) -> None:
        await self._client.aclose()

    def use_token(self, token: Secret) -> None:
        """Every call from now on goes with `token` (a rotation or a refresh put it in .env)."""
        self._token = token

    async def _get(self, path: str, params: dict[str, str], *, bearer: bool = True,
                   token: Secret | None = None) -> dict:
        return await self._call("GET", path, params, bearer=bearer, token=token)

    async def _call(self, method: str, path: str, params: dict[str, str], *,
                    bearer: bool = True, token: Secret | None = None) -> dict:
        headers = {"Authorization": f"Bearer {(token or self._token).reveal()}"} if bearer else {}
        response, body = await request_json(self._client, method, path, service=SERVICE,
                                            vendor="Graph", params=params, headers=headers)
        if response.is_success and isinstance(body, dict):
            self.last_usage_pct, _ = _usage_from_headers(response.headers)
            return body
        if response.is_success:
            raise ServiceUnavailable(SERVICE, f"HTTP {response.status_code}: not JSON")
        raise classify_graph_error(response.status_code, body, response.headers)

    # -- publishing (`Publisher`)

    async def create_container(self, image_url: str, caption: str) -> str:
        body = await self._call("POST", f"{self._user_id}/media",
                                {"image_url": image_url, "caption": caption})
        return _id_of(body, "container")

    async def create_carousel_item(self, image_url: str) -> str:
        body = await self._call("POST", f"{self._user_id}/media",
                                {"image_url": image_url, "is_carousel_item": "true"})
        return _id_of(body, "container")

    async def create_carousel(self, children: Sequence[str], caption: str) -> str:
        body = await self._call("POST", f"{self._user_id}/media",
                                {"media_type": "CAROUSEL", "children": ",".join(children),
                                 "caption": caption})
        return _id_of(body, "container")

    async def container(self, container_id: str) -> Container:
        body = await self._get(container_id, {"fields": "id,status_code,status"})
        return Container(id=str(body.get("id", container_id)),
                         status_code=str(body.get("status_code") or "IN_PROGRESS"),
                         status=str(body.get("status") or ""))

    async def publish(self, container_id: str) -> str:
        body = await self._call("POST", f"{self._user_id}/media_publish",
                                {"creation_id": container_id})
        return _id_of(body, "media")

    async def profile(self) -> dict[str, Any]:
        body = await self._get(self._user_id, {"fields": PROFILE_FIELDS})
        return {k: body[k] for k in PROFILE_FIELDS.split(",") if k in body}

    async def recent_media(self, limit: int) -> list[MediaCounts]:
        body = await self._get(f"{self._user_id}/media", {"fields": MEDIA_FIELDS, "limit": str(limit)})
        rows = body.get("data")
        out = []
        for row in rows if isinstance(rows, list) else ():
            if not isinstance(row, dict) or not row.get("id"):
                continue
            out.append(MediaCounts(
                media_id=str(row["id"]), caption=str(row.get("caption") or ""),
                permalink=row.get("permalink") if isinstance(row.get("permalink"), str) else None,
                timestamp=str(row.get("timestamp") or ""),
                like_count=_count(row.get("like_count")), comments_count=_count(row.get("comments_count"))))
        return out[:limit]

    async def account(self, token: Secret | None = None) -> IgAccount:
        """The account as `token` (default: the one in use) sees it."""
        body = await self._get(self._user_id, {"fields": "id,username"}, token=token)
        return IgAccount(id=str(body.get("id", self._user_id)), username=str(body.get("username", "")))

    async def refresh_token(self) -> RefreshedToken:
        """`refresh_access_token` (Instagram Login tokens, graph.instagram.com): the token in
        use, at least 24 hours old and not expired, for one valid 60 days from now. The path
        is the host's own, without a version; Graph wants the token in the query here."""
        url = self._client.base_url.copy_with(path="/refresh_access_token")
        body = await self._get(str(url), {"grant_type": "ig_refresh_token",
                                          "access_token": self._token.reveal()}, bearer=False)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int) \
                or isinstance(expires_in, bool) or expires_in <= 0:
            raise ServiceUnavailable(SERVICE, "refresh_access_token answered without a token "
                                              "and its lifetime")
        return RefreshedToken(token=Secret(token), expires_in_s=expires_in)

    async def debug_token(self, token: Secret | None = None) -> TokenDebug | None:
        if not (self._app_id and self._app_secret):
            return None
        body = await self._get(
            "debug_token",
            {
                "input_token": (token or self._token).reveal(),
                "access_token": f"{self._app_id}|{self._app_secret.reveal()}",
            },
            bearer=False,
        )
        data = value if isinstance(value := body.get("data"), dict) else {}
        expires = data.get("expires_at")
        expires_at = (
            datetime.fromtimestamp(expires, tz=timezone.utc)
            if isinstance(expires, (int, float)) and expires > 0
            else None
        )
        error = value if isinstance(value := data.get("error"), dict) else {}
        issued = data.get("issued_at")
        return TokenDebug(
            is_valid=bool(data.get("is_valid")),
            expires_at=expires_at,
            error_subcode=error.get("subcode"),
            issued_at=(datetime.fromtimestamp(issued, tz=timezone.utc)
                       if isinstance(issued, (int, float)) and issued > 0 else None),
        )

    async def publishing_quota(self) -> PublishingQuota:
        body = await self._get(
            f"{self._user_id}/content_publishing_limit", {"fields": "quota_usage,config"}
        )
        rows = body.get("data") or [{}]
        row = rows[0] if isinstance(rows[0], dict) else {}
        config = row.get("config") or {}
        # quota_total is 25, 50 or 100 depending on the account: never assumed
        if not isinstance(config.get("quota_total"), int) or not isinstance(row.get("quota_usage"), int):
            raise ServiceUnavailable(SERVICE, "content_publishing_limit answered without "
                                              "quota_usage or quota_total")
        return PublishingQuota(
            used=row["quota_usage"], total=config["quota_total"],
            window_s=int(config.get("quota_duration", 86400)),
        )
