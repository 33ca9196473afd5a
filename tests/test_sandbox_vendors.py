"""The vendor fakes, driven by the real clients: httpx for Graph, the Cloudinary SDK, fal-client.

Each test states what the real client sees, so an adapter written against these fakes meets
the same shapes, status codes and exception classes in production.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cloudinary
import cloudinary.api
import cloudinary.exceptions
import cloudinary.api_client.call_api
import cloudinary.uploader
import cloudinary.utils
import fal_client
import fal_client.client as fal_module
import httpx
import pytest

from bot.sandbox.cloudinary import FakeCloudinary, string_to_sign
from bot.sandbox.fal import FakeFal, make_png
from bot.sandbox.home import (
    LOG_LINE_TIME,
    PIPELINE_TZ,
    SAMPLE_HOME,
    corrupt_stats,
    make_stats_stale,
    parse_log_time,
    remove_stats,
    seed_home,
    stats_path,
    trace_ids,
)
from bot.sandbox.instagram import FakeInstagram
from bot.clock import utc_now

IG_TOKEN = "sandbox-ig-token-1"
IG_USER = "17841400000000001"
APP_ID = "100000000000777"
APP_SECRET = "sandbox-app-secret"
CLOUD, CLD_KEY, CLD_SECRET = "sunflow-demo", "123456789012345", "sandbox-cloudinary-secret"
FAL_KEY = "sandbox-key-id:sandbox-key-secret"
FLUX = "fal-ai/flux-2-pro"
SAMPLE_PNG = SAMPLE_HOME / "content/images/autumn-cafe/maple-terrace.png"


# ---- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def ig():
    with FakeInstagram(IG_TOKEN, IG_USER, app_id=APP_ID, app_secret=APP_SECRET) as fake:
        yield fake


@pytest.fixture
def graph(ig):
    with httpx.Client(base_url=ig.graph_url, timeout=5) as client:
        yield client


@pytest.fixture
def cld():
    with FakeCloudinary(CLOUD, CLD_KEY, CLD_SECRET) as fake:
        yield fake


@pytest.fixture
def cld_opts(cld):
    return {"cloud_name": CLOUD, "api_key": CLD_KEY, "api_secret": CLD_SECRET,
            "upload_prefix": cld.url}


@pytest.fixture
def fal(monkeypatch):
    with FakeFal(FAL_KEY) as fake:
        monkeypatch.setattr(fal_module, "QUEUE_URL_FORMAT", fake.url + "/")
        yield fake


@pytest.fixture
async def fal_clients():
    """Real fal AsyncClients, closed afterwards (fal-client caches one httpx client each)."""
    made: list[fal_client.AsyncClient] = []

    def make(key: str = FAL_KEY, **kwargs) -> fal_client.AsyncClient:
        client = fal_client.AsyncClient(key=key, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        if "_client" in client.__dict__:
            await (await client._client).aclose()


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", data[16:24])


# ==== Instagram Graph ============================================================================
def q(**params):
    return {"access_token": IG_TOKEN, **params}


def test_graph_url_and_version_prefixes(ig, graph):
    assert ig.graph_url == f"{ig.url}/v26.0"
    for base in (ig.graph_url, f"{ig.url}/v21.0", f"{ig.url}/v19.0"):
        reply = httpx.get(f"{base}/{IG_USER}", params=q(fields="id,username"))
        assert reply.status_code == 200
        assert reply.json() == {"id": IG_USER, "username": "sunflow.daily"}


@pytest.mark.parametrize("how", ["query", "bearer", "oauth", "form"])
def test_account_with_every_token_carrier(graph, how):
    params, headers = {"fields": "id,username"}, {}
    if how == "query":
        params["access_token"] = IG_TOKEN
    elif how == "bearer":
        headers["Authorization"] = f"Bearer {IG_TOKEN}"
    elif how == "oauth":
        headers["Authorization"] = f"OAuth {IG_TOKEN}"
    if how == "form":  # Graph reads access_token from a POST body too
        reply = graph.post(f"/{IG_USER}/media", data={"access_token": IG_TOKEN,
                                                      "image_url": "http://x/a.png"})
        assert reply.status_code == 200 and reply.json()["id"].isdigit()
        return
    reply = graph.get(f"/{IG_USER}", params=params, headers=headers)
    assert reply.status_code == 200
    assert reply.json() == {"id": IG_USER, "username": "sunflow.daily"}


def test_normal_answers_carry_low_usage_headers(graph):
    reply = graph.get(f"/{IG_USER}", params=q(fields="id,username,followers_count,media_count"))
    body = reply.json()
    assert body["followers_count"] > 0 and body["media_count"] > 0
    app_usage = json.loads(reply.headers["X-App-Usage"])
    assert set(app_usage) == {"call_count", "total_cputime", "total_time"}
    assert app_usage["call_count"] < 10
    buc = json.loads(reply.headers["X-Business-Use-Case-Usage"])
    assert buc[IG_USER][0]["type"] == "instagram"
    assert buc[IG_USER][0]["call_count"] < 10


def test_wrong_token_cannot_be_parsed(graph):
    reply = graph.get(f"/{IG_USER}", params={"access_token": "not-the-token"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == 190 and "error_subcode" not in error
    assert error["type"] == "OAuthException"
    assert error["message"].startswith("Invalid OAuth access token - Cannot parse access token")
    assert error["fbtrace_id"]
    assert "invalid_token" in reply.headers["WWW-Authenticate"]


def test_missing_token(graph):
    reply = graph.get(f"/{IG_USER}")
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == 104


def test_unknown_object_and_unknown_field(graph):
    missing = graph.get("/123456", params=q())
    assert missing.status_code == 400
    assert (missing.json()["error"]["code"], missing.json()["error"]["error_subcode"]) == (100, 33)
    field = graph.get(f"/{IG_USER}", params=q(fields="id,nope"))
    assert field.json()["error"]["code"] == 100 and "(nope)" in field.json()["error"]["message"]


def test_debug_token_valid_never_expiring(graph):
    reply = graph.get("/debug_token", params={"input_token": IG_TOKEN,
                                              "access_token": f"{APP_ID}|{APP_SECRET}"})
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["is_valid"] is True and data["expires_at"] == 0
    assert data["app_id"] == APP_ID and data["type"] == "USER" and data["application"]
    assert data["data_access_expires_at"] > time.time()
    assert "instagram_content_publish" in data["scopes"] and data["user_id"]
    assert "error" not in data


def test_debug_token_reports_expiry_and_a_token_can_inspect_itself(ig, graph):
    expires = utc_now() + timedelta(days=12)
    ig.token_expires_at = expires
    reply = graph.get("/debug_token", params={"input_token": IG_TOKEN, "access_token": IG_TOKEN})
    data = reply.json()["data"]
    assert data["is_valid"] is True
    assert data["expires_at"] == int(expires.timestamp())


@pytest.mark.parametrize("by_fault", [True, False])
def test_debug_token_expired(ig, graph, by_fault):
    if by_fault:
        ig.set_fault("token_expired")
    else:
        ig.token_expires_at = utc_now() - timedelta(hours=2)
    reply = graph.get("/debug_token", params={"input_token": IG_TOKEN,
                                              "access_token": f"{APP_ID}|{APP_SECRET}"})
    assert reply.status_code == 200
    data = reply.json()["data"]
    assert data["is_valid"] is False
    assert data["error"]["code"] == 190 and data["error"]["subcode"] == 463
    assert "Session has expired" in data["error"]["message"]
    assert 0 < data["expires_at"] < time.time()


def test_debug_token_wrong_app_credentials(graph):
    bad_secret = graph.get("/debug_token", params={"input_token": IG_TOKEN,
                                                   "access_token": f"{APP_ID}|wrong"})
    assert bad_secret.status_code == 400 and bad_secret.json()["error"]["code"] == 190
    bad_app = graph.get("/debug_token", params={"input_token": IG_TOKEN,
                                                "access_token": f"999|{APP_SECRET}"})
    assert bad_app.status_code == 400 and bad_app.json()["error"]["code"] == 101


def test_debug_token_of_a_foreign_token(graph):
    data = graph.get("/debug_token", params={"input_token": "someone-else",
                                             "access_token": f"{APP_ID}|{APP_SECRET}"}
                     ).json()["data"]
    assert data["is_valid"] is False and data["error"]["code"] == 190


def test_content_publishing_limit(ig, graph):
    ig.quota_usage = 7
    reply = graph.get(f"/{IG_USER}/content_publishing_limit", params=q(fields="quota_usage,config"))
    assert reply.status_code == 200
    assert reply.json() == {"data": [{"quota_usage": 7, "config": {"quota_total": 100,
                                                                   "quota_duration": 86400}}]}


def test_publish_flow(ig, graph):
    created = graph.post(f"/{IG_USER}/media", data=q(image_url="https://cdn.example/a.png",
                                                     caption="해바라기 🌻"))
    container = created.json()["id"]
    status = graph.get(f"/{container}", params=q(fields="status_code")).json()
    assert status == {"status_code": "FINISHED", "id": container}
    published = graph.post(f"/{IG_USER}/media_publish", data=q(creation_id=container))
    assert published.status_code == 200
    media_id = published.json()["id"]
    assert len(ig.published) == 1
    assert ig.published[0]["media_id"] == media_id
    assert ig.published[0]["caption"] == "해바라기 🌻"
    assert ig.published[0]["image_url"] == "https://cdn.example/a.png"
    assert ig.quota_usage == 1
    again = graph.post(f"/{IG_USER}/media_publish", data=q(creation_id=container))
    assert again.status_code == 400 and again.json()["error"]["code"] == 100
    media = graph.get(f"/{media_id}", params=q(fields="id,permalink,media_type")).json()
    assert media["media_type"] == "IMAGE" and media["permalink"].startswith("https://")


def test_publish_over_quota(ig, graph):
    ig.quota_usage = 100
    container = graph.post(f"/{IG_USER}/media", data=q(image_url="https://cdn.example/a.png")
                           ).json()["id"]
    reply = graph.post(f"/{IG_USER}/media_publish", data=q(creation_id=container))
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["code"], error["error_subcode"]) == (9, 2207042)
    assert "publishing limit" in error["message"]
    assert ig.published == [] and ig.quota_usage == 100


def test_container_needs_a_fetchable_url(graph):
    reply = graph.post(f"/{IG_USER}/media", data=q(image_url="file:///tmp/a.png"))
    error = reply.json()["error"]
    assert (error["code"], error["error_subcode"]) == (9004, 2207052)


GRAPH_TIME = r"[A-Z][a-z]+day, \d{2}-[A-Z][a-z]{2}-\d{2} \d{2}:\d{2}:\d{2} P[SD]T"


@pytest.mark.parametrize("by_fault", [True, False])
def test_token_expired(ig, graph, by_fault):
    if by_fault:
        ig.set_fault("token_expired")
    else:
        ig.token_expires_at = utc_now() - timedelta(minutes=5)
    reply = graph.get(f"/{IG_USER}", params=q(fields="id,username"))
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert (error["code"], error["error_subcode"], error["type"]) == (190, 463, "OAuthException")
    assert re.fullmatch(rf"Error validating access token: Session has expired on {GRAPH_TIME}\. "
                        rf"The current time is {GRAPH_TIME}\.", error["message"])
    assert "X-App-Usage" in reply.headers


@pytest.mark.parametrize(("subcode", "words"), [(None, "changed their password"),
                                                (467, "logged out")])
def test_token_invalid(ig, graph, subcode, words):
    ig.set_fault("token_invalid", **({"subcode": subcode} if subcode else {}))
    error = graph.get(f"/{IG_USER}", params=q()).json()["error"]
    assert error["code"] == 190 and error["error_subcode"] == (subcode or 460)
    assert words in error["message"]


def test_token_rotation(ig, graph):
    ig.set_fault("token_expired")
    ig.set_token("sandbox-ig-token-2")
    assert ig.faults.mode is None
    old = graph.get(f"/{IG_USER}", params=q())
    assert old.json()["error"]["code"] == 190
    new = graph.get(f"/{IG_USER}", params={"access_token": "sandbox-ig-token-2"})
    assert new.status_code == 200
    assert ig.token_expires_at > utc_now() + timedelta(days=59)


RATE_LIMIT_WORDS = {4: "Application request limit reached", 17: "User request limit reached",
                    32: "Page request limit reached", 613: "exceeded the rate limit",
                    80002: "too many calls to this Instagram account"}


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80002])
def test_rate_limited_codes(ig, graph, code):
    ig.set_fault("rate_limited", code=code, retry_after=125)
    reply = graph.get(f"/{IG_USER}/content_publishing_limit", params=q())
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == code and RATE_LIMIT_WORDS[code] in error["message"]
    assert error["is_transient"] is True
    assert json.loads(reply.headers["X-App-Usage"])["call_count"] == 100
    buc = json.loads(reply.headers["X-Business-Use-Case-Usage"])[IG_USER][0]
    assert buc["call_count"] == 100 and buc["type"] == "instagram"
    assert buc["estimated_time_to_regain_access"] == math.ceil(125 / 60)


def test_rate_limited_defaults_and_http429(ig, graph):
    ig.set_fault("rate_limited")
    reply = graph.get(f"/{IG_USER}", params=q())
    assert reply.status_code == 400 and reply.json()["error"]["code"] == 80002
    ig.set_fault("rate_limited", code=17, http429=True, retry_after=30)
    reply = graph.get(f"/{IG_USER}", params=q())
    assert reply.status_code == 429 and reply.json()["error"]["code"] == 17
    buc = json.loads(reply.headers["X-Business-Use-Case-Usage"])[IG_USER][0]
    assert buc["estimated_time_to_regain_access"] == 1


@pytest.mark.parametrize(("status", "code", "words"), [(500, 1, "An unknown error"),
                                                       (503, 2, "temporarily unavailable")])
def test_server_errors(ig, graph, status, code, words):
    ig.set_fault("5xx", status=status)
    reply = graph.get(f"/{IG_USER}", params=q())
    assert reply.status_code == status
    error = reply.json()["error"]
    assert error["code"] == code and words in error["message"] and error["fbtrace_id"]


def test_hang_and_slow(ig, graph):
    ig.set_fault("hang")
    with pytest.raises(httpx.ReadTimeout):
        graph.get(f"/{IG_USER}", params=q(), timeout=0.3)
    ig.clear_faults()
    assert graph.get(f"/{IG_USER}", params=q()).status_code == 200
    ig.set_fault("slow", ms=250)
    started = time.perf_counter()
    assert graph.get(f"/{IG_USER}", params=q()).status_code == 200
    elapsed = time.perf_counter() - started
    assert 0.25 <= elapsed < 0.45  # the delay is paid once, not once per layer


def test_unknown_fault_names_are_refused(ig, cld):
    with pytest.raises(ValueError):
        ig.set_fault("token_expird")
    with pytest.raises(ValueError):
        cld.set_fault("ratelimited")


# ==== Cloudinary =================================================================================
def test_cloudinary_ping_and_usage(cld, cld_opts):
    assert cloudinary.api.ping(**cld_opts) == {"status": "ok"}
    usage = cloudinary.api.usage(**cld_opts)
    assert usage["plan"] == "Free"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", usage["last_updated"])
    assert usage["credits"]["limit"] == 25 and usage["credits"]["used_percent"] == 12.4
    for key in ("objects", "bandwidth", "storage", "requests", "resources"):
        assert key in usage
    # the SDK reads the rate-limit headers into attributes
    assert usage.rate_limit_allowed == 500 and 0 < usage.rate_limit_remaining < 500
    assert usage.rate_limit_reset_at is not None
    cld.credits_used_percent = 91.5
    assert cloudinary.api.usage(**cld_opts)["credits"]["used_percent"] == 91.5


def test_cloudinary_url_with_upload_prefix(cld, monkeypatch):
    """CLOUDINARY_URL=cloudinary://key:secret@cloud?upload_prefix=<fake.url> (the adapter's way)."""
    monkeypatch.delenv("CLOUDINARY_CLOUD_NAME", raising=False)
    monkeypatch.setenv("CLOUDINARY_URL",
                       f"cloudinary://{CLD_KEY}:{CLD_SECRET}@{CLOUD}?upload_prefix={cld.url}")
    monkeypatch.setattr(cloudinary, "_config", cloudinary.Config())
    assert cloudinary.config().upload_prefix == cld.url
    assert cloudinary.api.ping() == {"status": "ok"}
    result = cloudinary.uploader.upload(str(SAMPLE_PNG), public_id="from-env")
    assert result["public_id"] == "from-env"


def test_cloudinary_upload_round_trip(cld, cld_opts):
    data = SAMPLE_PNG.read_bytes()
    result = cloudinary.uploader.upload(str(SAMPLE_PNG), folder="sunflow/autumn-cafe",
                                        public_id="maple-terrace", tags=["sunflow", "autumn"],
                                        **cld_opts)
    assert result["public_id"] == "sunflow/autumn-cafe/maple-terrace"
    assert (result["format"], result["resource_type"], result["type"]) == ("png", "image",
                                                                             "upload")
    assert (result["width"], result["height"]) == png_size(data)
    assert result["bytes"] == len(data) and result["tags"] == ["sunflow", "autumn"]
    assert re.fullmatch(r"[0-9a-f]{32}", result["asset_id"])
    assert re.fullmatch(r"[0-9a-f]{40}", result["signature"])
    assert datetime.strptime(result["created_at"], "%Y-%m-%dT%H:%M:%SZ")
    assert result["secure_url"] == (f"{cld.url}/res/{CLOUD}/image/upload/v{result['version']}/"
                                    "sunflow/autumn-cafe/maple-terrace.png")
    served = httpx.get(result["secure_url"])
    assert served.status_code == 200 and served.content == data
    assert served.headers["content-type"] == "image/png"
    stored = cld.uploads["sunflow/autumn-cafe/maple-terrace"]
    assert stored.data == data and stored.params["folder"] == "sunflow/autumn-cafe"
    listed = cloudinary.api.resources(type="upload", prefix="sunflow/autumn", **cld_opts)
    assert [r["public_id"] for r in listed["resources"]] == ["sunflow/autumn-cafe/maple-terrace"]


def test_cloudinary_upload_bytes_and_sha256_signature(cld, cld_opts):
    png = make_png(40, 30)
    result = cloudinary.uploader.upload(png, signature_algorithm="sha256", **cld_opts)
    assert (result["width"], result["height"]) == (40, 30)
    assert re.fullmatch(r"[a-z0-9]{20}", result["public_id"])
    assert httpx.get(result["secure_url"]).content == png


def test_cloudinary_wrong_secret(cld, cld_opts):
    bad = {**cld_opts, "api_secret": "wrong"}
    with pytest.raises(cloudinary.exceptions.AuthorizationRequired) as upload_error:
        cloudinary.uploader.upload(str(SAMPLE_PNG), public_id="x", **bad)
    # the Upload API's message is the vendor's own, without the status
    assert re.fullmatch(r"Invalid Signature [0-9a-f]{40}\. String to sign - "
                        r"'public_id=x&timestamp=\d+'\.", str(upload_error.value))
    with pytest.raises(cloudinary.exceptions.AuthorizationRequired) as admin_error:
        cloudinary.api.ping(**bad)
    # the Admin API prefixes "Error <status> - "
    assert str(admin_error.value) == "Error 401 - api_secret mismatch"
    assert cld.uploads == {}


def test_cloudinary_wrong_key(cld_opts):
    bad = {**cld_opts, "api_key": "999"}
    with pytest.raises(cloudinary.exceptions.AuthorizationRequired, match="Unknown API key 999"):
        cloudinary.uploader.upload(str(SAMPLE_PNG), **bad)
    with pytest.raises(cloudinary.exceptions.AuthorizationRequired,
                       match=r"^Error 401 - Unknown API key 999$"):
        cloudinary.api.usage(**bad)


def test_cloudinary_stale_timestamp(cld_opts):
    stale = int(time.time()) - 2 * 3600
    with pytest.raises(cloudinary.exceptions.BadRequest, match="Stale request"):
        cloudinary.uploader.call_api("upload", {"timestamp": stale}, file=str(SAMPLE_PNG),
                                     **cld_opts)


def test_cloudinary_string_to_sign_matches_the_sdk():
    params = {"timestamp": "1795629083", "folder": "a&b", "public_id": "x", "file": "f",
              "api_key": "k", "tags": "t1,t2"}
    signable = {k: v for k, v in params.items() if k not in ("file", "api_key")}
    assert string_to_sign(params) == cloudinary.utils.api_string_to_sign(signable)


def test_cloudinary_fault_auth(cld, cld_opts):
    cld.set_fault("auth")
    with pytest.raises(cloudinary.exceptions.AuthorizationRequired, match="^Error 401 - "):
        cloudinary.api.ping(**cld_opts)
    with pytest.raises(cloudinary.exceptions.AuthorizationRequired):
        cloudinary.uploader.upload(str(SAMPLE_PNG), **cld_opts)


@pytest.mark.parametrize("status", [420, 429])
def test_cloudinary_fault_rate_limited(cld, cld_opts, status):
    cld.set_fault("rate_limited", **({"status": 429, "retry_after": 90} if status == 429 else {}))
    started = time.perf_counter()
    with pytest.raises(cloudinary.exceptions.RateLimited) as admin_error:
        cloudinary.api.usage(**cld_opts)
    assert re.fullmatch(rf"Error {status} - Rate Limit Exceeded\. Limit of 500 api operations "
                        r"reached\. Try again on \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC",
                        str(admin_error.value))
    with pytest.raises(cloudinary.exceptions.RateLimited, match="^Rate Limit Exceeded"):
        cloudinary.uploader.upload(str(SAMPLE_PNG), **cld_opts)
    # the SDK drops the headers on errors; here is what the wire carries
    raw = httpx.get(f"{cld.url}/v1_1/{CLOUD}/ping", auth=(CLD_KEY, CLD_SECRET))
    assert raw.status_code == status
    assert raw.json()["error"]["message"].startswith("Rate Limit Exceeded")
    assert raw.headers["X-FeatureRateLimit-Remaining"] == "0"
    assert raw.headers["X-FeatureRateLimit-Limit"] == "500"
    assert raw.headers["X-FeatureRateLimit-Reset"].endswith(" GMT")
    # no Retry-After: urllib3 (under the SDK) would sleep on it and retry GETs 3 times
    assert "Retry-After" not in raw.headers
    assert time.perf_counter() - started < 5


def test_cloudinary_fault_rate_limited_admin_only(cld, cld_opts):
    cld.set_fault("rate_limited", only="admin")
    with pytest.raises(cloudinary.exceptions.RateLimited):
        cloudinary.api.ping(**cld_opts)
    assert cloudinary.uploader.upload(str(SAMPLE_PNG), **cld_opts)["public_id"]


def test_cloudinary_fault_quota(cld, cld_opts):
    cld.set_fault("quota")
    credits = cloudinary.api.usage(**cld_opts)["credits"]
    assert credits["used_percent"] >= 100 and credits["usage"] >= credits["limit"]
    assert cloudinary.api.ping(**cld_opts) == {"status": "ok"}
    with pytest.raises(cloudinary.exceptions.RateLimited, match="credit limit"):
        cloudinary.uploader.upload(str(SAMPLE_PNG), **cld_opts)
    assert cld.uploads == {}


def test_cloudinary_fault_5xx(cld, cld_opts):
    cld.set_fault("5xx")
    with pytest.raises(cloudinary.exceptions.GeneralError, match="^Error 500 - General Error$"):
        cloudinary.api.ping(**cld_opts)
    with pytest.raises(cloudinary.exceptions.GeneralError, match="^General Error$"):
        cloudinary.uploader.upload(str(SAMPLE_PNG), **cld_opts)
    # statuses outside the SDK's table (502, 504) come out as bare exception classes
    cld.set_fault("5xx", status=502)
    with pytest.raises(Exception, match="^Error 502 - General Error$") as admin_error:
        cloudinary.api.ping(**cld_opts)
    assert type(admin_error.value) is Exception
    with pytest.raises(cloudinary.exceptions.Error) as upload_error:
        cloudinary.uploader.upload(str(SAMPLE_PNG), **cld_opts)
    assert type(upload_error.value) is cloudinary.exceptions.Error


def test_cloudinary_hang_is_a_timeout(cld, cld_opts, monkeypatch):
    # the SDK's own connector, as shipped (the adapter replaces it process-wide)
    default = cloudinary.utils.get_http_connector(cloudinary.config(), cloudinary.CERT_KWARGS)
    monkeypatch.setattr(cloudinary.api_client.call_api, "_http", default)
    monkeypatch.setattr(cloudinary.uploader, "_http", default)
    cld.set_fault("hang")
    started = time.perf_counter()
    with pytest.raises(cloudinary.exceptions.GeneralError, match="Read timed out"):
        cloudinary.api.ping(timeout=0.2, **cld_opts)
    # urllib3 under the Admin API retries a GET's read timeout 3 times: 4 x the timeout
    assert time.perf_counter() - started >= 0.8
    with pytest.raises(cloudinary.exceptions.Error, match="Read timed out") as upload_error:
        cloudinary.uploader.upload(str(SAMPLE_PNG), timeout=0.2, **cld_opts)
    assert type(upload_error.value) is cloudinary.exceptions.Error  # a POST is not retried


# ==== fal ========================================================================================
async def test_fal_submit_poll_and_result(fal, fal_clients):
    fal.steps_in_queue = 3
    client = fal_clients()
    handle = await client.submit(FLUX, {"prompt": "sunflowers in a Seoul cafe", "seed": 42})
    assert handle.status_url.startswith(fal.url + f"/{FLUX}/requests/")
    assert handle.response_url.startswith(fal.url) and handle.cancel_url.startswith(fal.url)
    seen = [type(s).__name__ async for s in handle.iter_events(interval=0.01)]
    assert seen == ["Queued", "InProgress", "InProgress", "Completed"]
    result = await handle.get()
    image = result["images"][0]
    assert image["url"] == f"{fal.url}/files/{handle.request_id}.png"
    assert (image["width"], image["height"], image["content_type"]) == (1024, 1024, "image/png")
    assert result["seed"] == 42 and result["prompt"] == "sunflowers in a Seoul cafe"
    png = httpx.get(image["url"]).content
    assert png_size(png) == (1024, 1024)
    assert [(r.request_id, r.application, r.arguments["seed"]) for r in fal.requests] == [
        (handle.request_id, FLUX, 42)]


async def test_fal_status_completed_has_metrics(fal, fal_clients):
    client = fal_clients()
    handle = await client.submit(FLUX, {"prompt": "p"})
    status = await client.status(FLUX, handle.request_id, with_logs=True)
    assert isinstance(status, fal_client.Completed)
    assert status.metrics["inference_time"] > 0 and status.error is None


async def test_fal_unknown_request_is_404_with_a_good_key(fal, fal_clients):
    client = fal_clients()
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        await client.status(FLUX, "00000000-0000-4000-8000-000000000000")
    assert error.value.status_code == 404 and str(error.value) == "Request not found"


async def test_fal_wrong_key_is_401(fal, fal_clients):
    client = fal_clients(key="sandbox-key-id:wrong-secret")
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        await client.status(FLUX, "00000000-0000-4000-8000-000000000000")
    assert error.value.status_code == 401
    assert str(error.value) == "No user found for Key ID and Secret"
    malformed = fal_clients(key="no-colon")
    with pytest.raises(fal_client.FalClientHTTPError, match="Invalid Key Authorization"):
        await malformed.submit(FLUX, {"prompt": "p"})


async def test_fal_key_invalid_fault(fal, fal_clients):
    fal.set_fault("key_invalid")
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        await fal_clients().submit(FLUX, {"prompt": "p"})
    assert error.value.status_code == 401


async def test_fal_quota(fal, fal_clients):
    client = fal_clients()
    done = await client.submit(FLUX, {"prompt": "before the balance ran out"})
    fal.set_fault("quota")
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        await client.submit(FLUX, {"prompt": "p"})
    assert error.value.status_code == 403
    assert str(error.value).startswith("User is locked. Reason: Exhausted balance.")
    # like fal, reading the queue still works: a key check cannot see an empty balance
    assert isinstance(await client.status(FLUX, done.request_id), fal_client.Completed)
    fal.set_fault("quota", scope="all")
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        await client.status(FLUX, done.request_id)
    assert error.value.status_code == 403


async def test_fal_rate_limited_is_retried_by_fal_client(fal, fal_clients, monkeypatch):
    monkeypatch.setattr(fal_module, "MAX_ATTEMPTS", 2)
    fal.set_fault("rate_limited", retry_after=7)
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        await fal_clients().submit(FLUX, {"prompt": "p"})
    assert error.value.status_code == 429
    assert error.value.response_headers["retry-after"] == "7"
    assert len(fal.calls_to(lambda c: c.method == "POST")) == 2  # fal-client's own retry
    assert fal.requests == []


async def test_fal_5xx_from_the_app_is_not_retried(fal, fal_clients, monkeypatch):
    monkeypatch.setattr(fal_module, "MAX_ATTEMPTS", 3)
    fal.set_fault("5xx")
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        await fal_clients().submit(FLUX, {"prompt": "p"})
    assert error.value.status_code == 500
    assert "x-fal-request-id" in error.value.response_headers
    assert len(fal.calls) == 1


async def test_fal_ingress_5xx_is_retried(fal, fal_clients, monkeypatch):
    monkeypatch.setattr(fal_module, "MAX_ATTEMPTS", 2)
    fal.set_fault("5xx", ingress=True, status=503)
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        await fal_clients().submit(FLUX, {"prompt": "p"})
    assert error.value.status_code == 503 and "nginx" in str(error.value)
    assert len(fal.calls) == 2


async def test_fal_generation_error_content_policy(fal, fal_clients):
    fal.set_fault("generation_error")
    client = fal_clients()
    handle = await client.submit(FLUX, {"prompt": "p"})
    fal.clear_faults()  # the failure belongs to the request, not to the switch
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        await handle.get()
    assert error.value.status_code == 422
    detail = error.value.response.json()["detail"]
    assert detail[0]["loc"] == ["body", "prompt"] and detail[0]["msg"] and detail[0]["type"]
    assert error.value.message == detail  # fal-client passes the list through as `message`
    assert error.value.error_type == "content_policy_violation"


async def test_fal_generation_error_timeout(fal, fal_clients, monkeypatch):
    monkeypatch.setattr(fal_module, "MAX_ATTEMPTS", 3)
    fal.set_fault("generation_error", kind="timeout")
    client = fal_clients()
    handle = await client.submit(FLUX, {"prompt": "p"})
    status = await handle.status()
    assert isinstance(status, fal_client.Completed)
    assert (status.error, status.error_type) == ("Generation timed out", "generation_timeout")
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        await handle.get()
    assert error.value.status_code == 504
    assert len(fal.calls_to(lambda c: c.path == f"/{FLUX}/requests/{handle.request_id}")) == 1


async def test_fal_missing_prompt_is_422(fal, fal_clients):
    client = fal_clients()
    handle = await client.submit(FLUX, {"image_size": "square_hd"})
    with pytest.raises(fal_client.FalClientHTTPError) as error:
        await handle.get()
    assert error.value.status_code == 422
    assert error.value.message[0]["type"] == "value_error.missing"


async def test_fal_cancel(fal, fal_clients):
    fal.steps_in_queue = 5
    client = fal_clients()
    handle = await client.submit(FLUX, {"prompt": "p"})
    await handle.cancel()
    status = await handle.status()
    assert isinstance(status, fal_client.Completed) and status.error == "Request was cancelled"


async def test_fal_hang_times_out(fal, fal_clients, monkeypatch):
    monkeypatch.setattr(fal_module, "MAX_ATTEMPTS", 1)  # fal-client retries timeouts too
    fal.set_fault("hang")
    with pytest.raises(httpx.ReadTimeout):
        await fal_clients(default_timeout=0.3).submit(FLUX, {"prompt": "p"})


# ==== the sample home ===========================================================================
NOW = datetime(2027, 3, 14, 10, 30, 0, tzinfo=timezone.utc)


def log_files(home: Path) -> list[Path]:
    return sorted((home / "config/logs").glob("*.log"))


def test_sample_home_layout():
    for topic in ("autumn-cafe", "seoul-night"):
        images = sorted((SAMPLE_HOME / "content/images" / topic).glob("*.png"))
        archive = sorted((SAMPLE_HOME / "content/images" / topic / "archive").glob("*.png"))
        assert 2 <= len(images) <= 3 and len(archive) == 2
        for png in images + archive:
            assert png_size(png.read_bytes())
    names = {p.name for p in log_files(SAMPLE_HOME)}
    assert names == {"generate_images_stderr.log", "upload_cloudinary_stderr.log",
                     "publish_content_stderr.log", "instagram_stats_collector_stderr.log",
                     "telegram_bot_stderr.log", "publish_content.log"}
    for path in log_files(SAMPLE_HOME):
        lines = path.read_text(encoding="utf-8").splitlines()
        assert 20 <= len(lines) <= 60, path.name
    publish = (SAMPLE_HOME / "config/logs/publish_content_stderr.log").read_text()
    assert publish.count("429 Too Many Requests") >= 3 and "Session has expired" in publish
    assert "429" in (SAMPLE_HOME / "config/logs/publish_content.log").read_text()
    assert 4 <= len(list((SAMPLE_HOME / "config/logs/traces").glob("SF-*.json"))) <= 6


def test_sample_home_holds_nothing_secret_looking():
    pattern = re.compile(r"EAA[A-Za-z0-9]{10,}|IGAA[A-Za-z0-9]{10,}|\d{8,10}:AA[\w-]{20,}|"
                         r"cloudinary://\S+:\S+@")
    for path in SAMPLE_HOME.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            assert not pattern.search(path.read_text(encoding="utf-8")), path


def shape(text: str) -> str:
    text = re.sub(r"\d", "0", text)
    text = re.sub(r"\b[A-Z][a-z]+day, 00-[A-Z][a-z]{2}-", "Day, 00-Mon-", text)
    return re.sub(r"\bP[SD]T\b", "PxT", text)  # NOW is on the day DST starts


def test_seed_home_moves_the_clock(tmp_path):
    original = {p: p.read_bytes() for p in SAMPLE_HOME.rglob("*") if p.is_file()}
    home = seed_home(tmp_path / "home", now=NOW)
    newest = max(t for p in log_files(home) for line in p.read_text().splitlines()
                 if (t := parse_log_time(line)) is not None)
    assert NOW - timedelta(minutes=5) < newest <= NOW
    for path in log_files(home):
        before = (SAMPLE_HOME / "config/logs" / path.name).read_text().splitlines()
        after = path.read_text().splitlines()
        assert len(before) == len(after)
        for old, new in zip(before, after):
            assert bool(LOG_LINE_TIME.match(old)) == bool(LOG_LINE_TIME.match(new))
            if LOG_LINE_TIME.match(new):
                assert re.match(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} "
                                r"(INFO|WARNING|ERROR) \[\w+\] ", new)
                assert shape(old[24:]) == shape(new[24:])  # only times and ids moved
        assert abs(path.stat().st_mtime - max(
            t for line in after if (t := parse_log_time(line))).timestamp()) < 1
    # the sample itself is never written to
    assert original == {p: p.read_bytes() for p in SAMPLE_HOME.rglob("*") if p.is_file()}


@pytest.fixture(params=["UTC", "Asia/Seoul", "America/New_York"])
def local_tz(request):
    """Run under another local time zone (the pipeline's naive log times follow it)."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    yield request.param
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


def test_seed_home_writes_naive_log_times_in_local_time(tmp_path, local_tz):
    home = seed_home(tmp_path / "home", now=NOW)
    last = (home / "config/logs/telegram_bot_stderr.log").read_text().splitlines()
    stamp = next(line[:23] for line in reversed(last) if LOG_LINE_TIME.match(line))
    # read the way the files adapter reads a naive time: as this machine's local time
    at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").astimezone()
    assert NOW - timedelta(minutes=5) < at <= NOW


def test_seed_home_renames_traces_with_their_dates(tmp_path):
    home = seed_home(tmp_path / "home", now=NOW)
    traces = sorted((home / "config/logs/traces").glob("SF-*.json"))
    assert len(traces) == 6
    for path in traces:
        trace = json.loads(path.read_text())
        assert trace["trace_id"] == path.stem
        started = datetime.fromisoformat(trace["started_at"])
        ended = datetime.fromisoformat(trace["ended_at"])
        assert started.utcoffset() == timedelta(hours=9) and started <= ended <= NOW
        assert path.stem.startswith(f"SF-{started.astimezone(PIPELINE_TZ):%Y%m%d}-")
        assert set(trace) == {"trace_id", "topic", "stage", "status", "started_at",
                              "ended_at", "error", "attempts"}
    newest = max(datetime.fromisoformat(json.loads(p.read_text())["ended_at"]) for p in traces)
    assert NOW - timedelta(minutes=10) < newest <= NOW
    ids_in_logs = set(re.findall(r"SF-\d{8}-\d{4}", "".join(
        p.read_text() for p in log_files(home))))
    assert ids_in_logs <= {p.stem for p in traces}
    # a test names a trace by its id in the sample and gets the seeded one: same trace, new name
    renamed = trace_ids(home)
    sample = json.loads((SAMPLE_HOME / "config/logs/traces/SF-20261125-0001.json").read_text())
    seeded = json.loads((home / f"config/logs/traces/{renamed['SF-20261125-0001']}.json").read_text())
    assert (seeded["topic"], seeded["stage"], seeded["status"]) == (
        sample["topic"], sample["stage"], sample["status"])
    assert sorted(renamed.values()) == [p.stem for p in traces]


@pytest.mark.parametrize("age_h", [1.0, 30.0])
def test_seed_home_stats_age(tmp_path, age_h):
    home = seed_home(tmp_path / "home", now=NOW, stats_age_h=age_h)
    stats = json.loads(stats_path(home).read_text(encoding="utf-8"))
    last_updated = datetime.fromisoformat(stats["last_updated"])
    assert stats["last_updated"].endswith("+09:00")
    assert last_updated == NOW - timedelta(hours=age_h)
    assert stats["account"]["followers_count"] > 0
    assert all(p["like_count"] >= 0 and p["comments_count"] >= 0 for p in stats["posts"])
    assert all(datetime.fromisoformat(p["timestamp"]) < NOW for p in stats["posts"])


def test_seed_home_replaces_dest_and_accepts_a_naive_now(tmp_path):
    dest = tmp_path / "home"
    seed_home(dest, now=NOW)
    (dest / "leftover.txt").write_text("old")
    seed_home(dest)
    assert not (dest / "leftover.txt").exists()
    stats = json.loads(stats_path(dest).read_text())
    age = utc_now() - datetime.fromisoformat(stats["last_updated"])
    assert timedelta(minutes=59) < age < timedelta(minutes=61)


def test_stats_drills(tmp_path):
    home = seed_home(tmp_path / "home", now=NOW)
    at = make_stats_stale(home, 48, now=NOW)
    stats = json.loads(stats_path(home).read_text())
    assert datetime.fromisoformat(stats["last_updated"]) == at == NOW - timedelta(hours=48)
    corrupt_stats(home)
    with pytest.raises(json.JSONDecodeError):
        json.loads(stats_path(home).read_text())
    remove_stats(home)
    assert not stats_path(home).exists()
    remove_stats(home)  # twice is fine
