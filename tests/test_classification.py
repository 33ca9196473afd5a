"""Each vendor's failures land on the project's own error kinds."""

from __future__ import annotations

import json

import cloudinary.exceptions as cx
import fal_client
import httpx
import pytest

from bot.adapters.cloudinary import classify_cloudinary_error
from bot.adapters.fal import classify_fal_error
from bot.adapters.instagram import classify_graph_error
from bot.adapters.telegram import classify_bot_api_error
from bot.errors import ErrorKind


def graph(code, subcode=None, status=400, headers=None):
    body = {"error": {"message": "m", "type": "OAuthException", "code": code, "fbtrace_id": "x"}}
    if subcode is not None:
        body["error"]["error_subcode"] = subcode
    return classify_graph_error(status, body, httpx.Headers(headers or {}))


@pytest.mark.parametrize(
    ("code", "subcode", "status", "kind"),
    [
        (190, 463, 400, ErrorKind.TOKEN_EXPIRED),
        (190, 460, 400, ErrorKind.TOKEN_INVALID),
        (190, 467, 401, ErrorKind.TOKEN_INVALID),
        (190, None, 400, ErrorKind.TOKEN_INVALID),
        (341, None, 400, ErrorKind.RATE_LIMITED),
        (-1, 2207001, 400, ErrorKind.UNAVAILABLE),
        (-1, 2207032, 400, ErrorKind.UNAVAILABLE),
        (-2, 2207003, 400, ErrorKind.TIMEOUT),
        (24, 2207008, 400, ErrorKind.UNAVAILABLE),
        (9007, 2207027, 400, ErrorKind.NOT_READY),
        (4, 2207051, 400, ErrorKind.VENDOR_ACTION),  # code 4 alone is a rate limit; not this pair
        (25, 2207050, 400, ErrorKind.VENDOR_ACTION),
        (10, None, 403, ErrorKind.TOKEN_INVALID),
        (4, None, 400, ErrorKind.RATE_LIMITED),
        (17, None, 400, ErrorKind.RATE_LIMITED),
        (32, None, 400, ErrorKind.RATE_LIMITED),
        (613, None, 400, ErrorKind.RATE_LIMITED),
        (80002, None, 400, ErrorKind.RATE_LIMITED),
        (9, 2207042, 400, ErrorKind.QUOTA),
        (1, None, 500, ErrorKind.UNAVAILABLE),
        (2, None, 503, ErrorKind.UNAVAILABLE),
        (100, None, 400, ErrorKind.BAD_REQUEST),
    ],
)
def test_graph_errors_are_classified_on_the_body_code(code, subcode, status, kind) -> None:
    assert graph(code, subcode, status).kind is kind


def test_graph_http_429_without_a_body_is_a_rate_limit_and_5xx_html_is_unavailable() -> None:
    assert classify_graph_error(429, None, httpx.Headers()).kind is ErrorKind.RATE_LIMITED
    assert classify_graph_error(502, None, httpx.Headers()).kind is ErrorKind.UNAVAILABLE


def test_graph_rate_limit_reads_usage_and_wait_from_headers() -> None:
    headers = {
        "X-App-Usage": json.dumps({"call_count": 45, "total_time": 12, "total_cputime": 8}),
        "X-Business-Use-Case-Usage": json.dumps({"178414": [
            {"type": "instagram", "call_count": 100, "total_cputime": 30, "total_time": 41,
             "estimated_time_to_regain_access": 17}]}),
    }
    error = graph(80002, headers=headers)
    assert error.kind is ErrorKind.RATE_LIMITED
    assert error.usage_pct == 100 and error.retry_after_s == 17 * 60
    assert error.code == 80002


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (cx.AuthorizationRequired("Error 401 - Invalid api_key 123"), ErrorKind.TOKEN_INVALID),
        (cx.NotAllowed("Error 403 - not allowed"), ErrorKind.TOKEN_INVALID),
        (cx.RateLimited("Error 420 - Rate Limit Exceeded"), ErrorKind.RATE_LIMITED),
        (cx.RateLimited("Error 429 - Too many requests"), ErrorKind.RATE_LIMITED),
        (cx.RateLimited("Error 420 - Your account has reached its credit limit"), ErrorKind.QUOTA),
        (cx.BadRequest("Error 400 - Invalid image file"), ErrorKind.BAD_REQUEST),
        (cx.GeneralError("Error 500 - General Error"), ErrorKind.UNAVAILABLE),
        (Exception("Error 502 - Bad Gateway"), ErrorKind.UNAVAILABLE),
        (cx.GeneralError("Socket Error: [Errno 111] Connection refused"), ErrorKind.UNAVAILABLE),
        (cx.GeneralError("Unexpected error HTTPConnectionPool: Read timed out."), ErrorKind.TIMEOUT),
    ],
)
def test_cloudinary_sdk_errors(exc, kind) -> None:
    assert classify_cloudinary_error(exc).kind is kind


def fal_error(status: int, detail: str, headers: dict | None = None) -> fal_client.FalClientHTTPError:
    request = httpx.Request("GET", "http://127.0.0.1/x")
    response = httpx.Response(status, json={"detail": detail}, headers=headers, request=request)
    return fal_client.FalClientHTTPError(detail, status, dict(response.headers), response=response)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (fal_error(401, "Unauthorized"), ErrorKind.TOKEN_INVALID),
        # the bodies public fal issue threads quote: a lock a person at fal may have to lift
        (fal_error(403, "User is locked. Reason: Exhausted balance. Top up your balance at "
                        "fal.ai/dashboard/billing."), ErrorKind.VENDOR_ACTION),
        (fal_error(403, "User is locked. Reason: Admin lock. Please contact support@fal.ai"),
         ErrorKind.VENDOR_ACTION),
        (fal_error(403, "User is locked. Reason: TOP_UP."), ErrorKind.VENDOR_ACTION),
        (fal_error(403, "Insufficient balance"), ErrorKind.QUOTA),
        (fal_error(504, "Request timed out", {"x-fal-request-timeout-type": "user"}),
         ErrorKind.TIMEOUT),
        (fal_error(429, "Too many requests", {"retry-after": "30"}), ErrorKind.RATE_LIMITED),
        (fal_error(500, "Internal error"), ErrorKind.UNAVAILABLE),
        (fal_error(422, "prompt: field required"), ErrorKind.BAD_REQUEST),
        (httpx.ReadTimeout("slow"), ErrorKind.TIMEOUT),
        (httpx.ConnectError("refused"), ErrorKind.UNAVAILABLE),
    ],
)
def test_fal_errors(exc, kind) -> None:
    assert classify_fal_error(exc).kind is kind


def test_fal_rate_limit_keeps_the_retry_hint() -> None:
    assert classify_fal_error(fal_error(429, "slow down", {"retry-after": "30"})).retry_after_s == 30


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, ErrorKind.TOKEN_INVALID),
        (404, {"ok": False, "error_code": 404, "description": "Not Found"}, ErrorKind.TOKEN_INVALID),
        (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
               "parameters": {"retry_after": 7}}, ErrorKind.RATE_LIMITED),
        (502, None, ErrorKind.UNAVAILABLE),
        (400, {"ok": False, "error_code": 400, "description": "Bad Request"}, ErrorKind.BAD_REQUEST),
    ],
)
def test_bot_api_errors(status, body, kind) -> None:
    error = classify_bot_api_error(status, body)
    assert error.kind is kind
    if kind is ErrorKind.RATE_LIMITED:
        assert error.retry_after_s == 7


def test_session_has_expired_without_a_subcode_is_an_expired_token() -> None:
    """graph.instagram.com answers an expired token with 190 and no subcode (or 0); the
    message is how it says so. Other 190s without a subcode stay "never valid"."""
    for subcode in (None, 0):
        body = {"error": {"message": "Error validating access token: Session has expired on "
                                     "Tuesday, 01-Dec-25 06:00:00 PST. The current time is "
                                     "Tuesday, 01-Dec-25 06:07:02 PST.",
                          "type": "OAuthException", "code": 190, "fbtrace_id": "x"}}
        if subcode is not None:
            body["error"]["error_subcode"] = subcode
        assert classify_graph_error(400, body, httpx.Headers()).kind is ErrorKind.TOKEN_EXPIRED
    assert graph(190, 0).kind is ErrorKind.TOKEN_INVALID


RETRY_RIGHT = [  # what each must let happen: an automatic retry, or a person first
    ((-1, 2207001), True), ((-2, 2207003), True), ((-1, 2207032), True), ((24, 2207008), True),
    ((9007, 2207027), True), ((4, 2207051), False), ((25, 2207050), False), ((9, 2207042), False),
]


@pytest.mark.parametrize(("pair", "retry"), RETRY_RIGHT, ids=[f"{c}/{s}" for (c, s), _ in RETRY_RIGHT])
async def test_publishing_errors_from_the_sandbox_land_where_their_handling_is_right(
        sandbox, pair, retry) -> None:
    """The sandbox answers a container create with each pair Meta documents; the bot's
    classifier decides whether waiting and trying again can fix it."""
    from bot.errors import RETRY_HELPS

    ig = sandbox.instagram
    if pair == (9, 2207042):  # the publishing quota: the fake's own limit, not a fault
        ig.quota_total = 0
        async with httpx.AsyncClient() as client:
            made = await client.post(f"{ig.graph_url}/{ig.user_id}/media",
                                     params={"image_url": "https://example.invalid/a.jpg"},
                                     headers={"Authorization": f"Bearer {ig.access_token}"})
            response = await client.post(f"{ig.graph_url}/{ig.user_id}/media_publish",
                                         params={"creation_id": made.json()["id"]},
                                         headers={"Authorization": f"Bearer {ig.access_token}"})
    else:
        ig.set_fault("publish_error", code=pair[0], subcode=pair[1])
        async with httpx.AsyncClient() as client:
            response = await client.post(f"{ig.graph_url}/{ig.user_id}/media",
                                         params={"image_url": "https://example.invalid/a.jpg"},
                                         headers={"Authorization": f"Bearer {ig.access_token}"})
    body = response.json()
    assert response.status_code == 400 and (body["error"]["code"], body["error"]["error_subcode"]) == pair
    error = classify_graph_error(response.status_code, body, response.headers)
    assert (error.kind in RETRY_HELPS) is retry, error
    if pair in ((24, 2207008), (-1, 2207001)):
        assert error.retry_after_s == 30  # Meta: within 30 s to 2 min, not at once


def test_fal_account_locks_say_who_can_lift_them() -> None:
    from bot.errors import RETRY_HELPS

    admin = classify_fal_error(fal_error(403, "User is locked. Reason: Admin lock. Please contact support@fal.ai"))
    balance = classify_fal_error(fal_error(403, "User is locked. Reason: Exhausted balance."))
    assert "contact fal support" in admin.detail and "top up" in balance.detail
    assert admin.kind not in RETRY_HELPS and balance.kind not in RETRY_HELPS
