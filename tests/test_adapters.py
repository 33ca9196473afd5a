"""The adapters, driven through their real SDKs against the loopback fakes of `bot.sandbox`.

httpx talks to the fake Graph and Bot API, the Cloudinary SDK (urllib3) to the fake Admin API via
`upload_prefix`, fal-client to the fake queue via `FAL_QUEUE_URL`. Every test states what an
operator would see: the project's error kind with its retry hint, or a probe line (state + reason)
exactly as /health and `sunflow-ops health` print it.

One sandbox serves the whole module (starting and stopping four servers costs ~0.2 s); the `sb`
fixture puts it back to a clean state after each test.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime, timedelta

import fal_client.client as fal_module
import pytest

from bot.health.token import (
    SOURCE_DEBUG_TOKEN,
    SOURCE_SET_EXPIRY,
    check_token,
    describe_token,
)
from bot.adapters.cloudinary import CloudinaryImageHost
from bot.adapters.fal import FalImageGenerator
from bot.adapters.files import PipelineHome
from bot.adapters.instagram import InstagramGraph
from bot.adapters.telegram import TelegramBotApi
from bot.clock import utc_now
from bot.config import CloudinaryConfig, Settings
from bot.errors import (
    RateLimited,
    ServiceError,
    ServiceTimeout,
    ServiceUnavailable,
    TokenExpired,
    TokenInvalid,
    VendorAction,
)
from bot.health import ProbeResult, State, run_health_check
from bot.health.probes import (
    CloudinaryProbe,
    FalProbe,
    InstagramProbe,
    LogsProbe,
    StatsProbe,
    TelegramProbe,
    TokenProbe,
)
from bot.i18n import Translator
from bot.ports import BotIdentity, IgAccount, PublishingQuota
from bot.sandbox import (
    BOT_TOKEN,
    CLOUD_KEY,
    CLOUD_NAME,
    FAL_KEY,
    IG_APP_ID,
    IG_APP_SECRET,
    IG_TOKEN,
    IG_USER_ID,
    Sandbox,
)
from bot.sandbox.home import (
    LOGS_DIR,
    corrupt_stats,
    make_stats_stale,
    parse_log_time,
    remove_stats,
    seed_home,
)
from bot.secrets import Secret
from bot.services import Services, build_services
from bot.store import Store

EN = Translator("en")
USERNAME = "sunflow.daily"  # the fake Graph's account
BOT_USERNAME = "sunflow_ops_bot"
BOT_ID = int(BOT_TOKEN.split(":")[0])
VENDOR_PROBES = ("instagram", "token", "cloudinary", "fal", "telegram")
DEFAULT_CREDITS_PCT = 12.4


# ---- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def sb(world: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The module's sandbox, handed back clean: no faults, default quotas, a fresh home."""
    # FalImageGenerator sets these process-wide globals; put back after every test whatever
    # they held before it, so no test leaks its values into the next.
    monkeypatch.setattr(fal_module, "QUEUE_URL_FORMAT", fal_module.QUEUE_URL_FORMAT)
    monkeypatch.setattr(fal_module, "MAX_ATTEMPTS", fal_module.MAX_ATTEMPTS)
    expires = world.instagram.token_expires_at
    for fake in world.fakes.values():
        with fake._calls_lock:
            fake.calls.clear()
    yield world
    hung = any(fake.faults.mode == "hang" for fake in world.fakes.values())
    world.clear_faults()
    if hung:  # let released requests finish and be logged now, not in the next test's call log
        time.sleep(0.3)
    world.instagram.quota_usage = 0
    world.instagram.token_expires_at = expires
    world.cloudinary.credits_used_percent = DEFAULT_CREDITS_PCT
    now = utc_now()
    seed_home(world.home, now=now - timedelta(hours=25))
    make_stats_stale(world.home, 1.0, now=now)


@pytest.fixture
async def closing() -> AsyncIterator[list]:
    """Adapters and services a test made; closed at the end."""
    made: list = []
    yield made
    for thing in made:
        await thing.aclose()


@pytest.fixture
def settings_for(sb: Sandbox) -> Callable[..., Settings]:
    def make(*, debug_token: bool = True, **overrides: str) -> Settings:
        return Settings.from_env(sb.env(lang="en", debug_token=debug_token, **overrides),
                                 dotenv_path=None)
    return make


@pytest.fixture
def services_for(settings_for: Callable[..., Settings], closing: list) -> Callable[..., Services]:
    def make(*, store: Store | None = None, clock: Callable[[], datetime] = utc_now,
             debug_token: bool = True, **overrides: str) -> Services:
        services = build_services(settings_for(debug_token=debug_token, **overrides),
                                  store or Store.in_memory(), clock=clock)
        closing.append(services)
        return services
    return make


@pytest.fixture
def graph_for(sb: Sandbox, closing: list) -> Callable[..., InstagramGraph]:
    def make(*, token: str = IG_TOKEN, app: bool = True, timeout_s: float = 5.0,
             graph_url: str | None = None) -> InstagramGraph:
        graph = InstagramGraph(
            graph_url=graph_url or sb.instagram.graph_url, access_token=Secret(token),
            user_id=IG_USER_ID, timeout_s=timeout_s,
            app_id=IG_APP_ID if app else None, app_secret=Secret(IG_APP_SECRET) if app else None,
        )
        closing.append(graph)
        return graph
    return make


@pytest.fixture
def cloudinary_for(sb: Sandbox, closing: list) -> Callable[..., CloudinaryImageHost]:
    def make(*, secret: str | None = None, timeout_s: float = 5.0) -> CloudinaryImageHost:
        configured = Settings.from_env(sb.env(lang="en"), dotenv_path=None).cloudinary
        assert configured is not None
        config = CloudinaryConfig(
            cloud_name=configured.cloud_name, api_key=configured.api_key,
            api_secret=Secret(secret) if secret else configured.api_secret,
            upload_prefix=configured.upload_prefix,
        )
        host = CloudinaryImageHost(config, timeout_s=timeout_s)
        closing.append(host)
        return host
    return make


@pytest.fixture
def fal_for(sb: Sandbox, closing: list) -> Callable[..., FalImageGenerator]:
    def make(*, key: str = FAL_KEY, timeout_s: float = 5.0) -> FalImageGenerator:
        generator = FalImageGenerator(key=Secret(key), queue_url=sb.fal.url,
                                      timeout_s=timeout_s)
        closing.append(generator)
        return generator
    return make


@pytest.fixture
def telegram_for(sb: Sandbox, closing: list) -> Callable[..., TelegramBotApi]:
    def make(*, token: str = BOT_TOKEN, base_url: str | None = None,
             timeout_s: float = 5.0) -> TelegramBotApi:
        api = TelegramBotApi(base_url=base_url or sb.telegram.base_url, token=Secret(token),
                             timeout_s=timeout_s)
        closing.append(api)
        return api
    return make


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_secret_free(error: ServiceError, *secrets: str) -> None:
    text = f"{error} {error.detail}"
    for secret in secrets:
        assert secret not in text


# ---- Instagram Graph ----------------------------------------------------------------------------
async def test_account_is_the_fakes_ig_user(graph_for):
    assert await graph_for().account() == IgAccount(id=IG_USER_ID, username=USERNAME)


async def test_debug_token_reports_the_expiry_graph_holds(sb, graph_for):
    debug = await graph_for().debug_token()
    assert debug is not None and debug.is_valid
    assert debug.expires_at == sb.instagram.token_expires_at.replace(microsecond=0)


async def test_debug_token_is_none_without_app_credentials(sb, graph_for):
    assert await graph_for(app=False).debug_token() is None
    assert sb.instagram.calls == []  # nothing was even asked


async def test_publishing_quota_as_graph_counts_it(sb, graph_for):
    sb.instagram.quota_usage = 7
    assert await graph_for().publishing_quota() == PublishingQuota(used=7, total=100, window_s=86400)
    sb.instagram.quota_total = 25  # 25, 50 or 100 by account: read, never assumed
    assert (await graph_for().publishing_quota()).total == 25
    sb.instagram.quota_total = None  # an answer without config is not taken as "100"
    try:
        with pytest.raises(ServiceError):
            await graph_for().publishing_quota()
    finally:
        sb.instagram.quota_total = 100


async def test_the_access_token_goes_in_the_authorization_header_never_the_url(sb, graph_for):
    graph = graph_for()
    await graph.account()
    await graph.publishing_quota()
    await graph.debug_token()
    calls = sb.instagram.calls
    assert [c.status for c in calls] == [200, 200, 200]  # so the token reached Graph somehow
    ordinary = [c for c in calls if not c.path.endswith("/debug_token")]
    assert len(ordinary) == 2
    for call in ordinary:
        assert "access_token" not in call.query
        assert IG_TOKEN not in call.path and IG_TOKEN not in " ".join(call.query.values())
    # debug_token is the one documented exception: Graph wants the token in its query
    (debug,) = [c for c in calls if c.path.endswith("/debug_token")]
    assert debug.query["input_token"] == IG_TOKEN


@pytest.mark.parametrize(("fault", "params", "expected", "subcode"), [
    ("token_expired", {}, TokenExpired, 463),
    ("token_invalid", {"subcode": 460}, TokenInvalid, 460),
    ("token_invalid", {"subcode": 467}, TokenInvalid, 467),
    ("token_invalid", {"subcode": 458}, TokenInvalid, 458),
])
async def test_token_faults_are_classified_on_graphs_code(sb, graph_for, fault, params, expected,
                                                          subcode):
    sb.instagram.set_fault(fault, **params)
    with pytest.raises(ServiceError) as caught:
        await graph_for().account()
    assert type(caught.value) is expected
    assert caught.value.code == 190 and caught.value.status == 400
    assert f"Graph 190/{subcode}" in caught.value.detail
    assert_secret_free(caught.value, IG_TOKEN)


async def test_a_token_graph_does_not_know_is_invalid(graph_for):
    with pytest.raises(TokenInvalid) as caught:
        await graph_for(token="some-other-token-entirely").account()
    assert caught.value.code == 190
    assert_secret_free(caught.value, "some-other-token-entirely")


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80002])
async def test_rate_limit_codes_carry_the_wait_and_usage_from_graphs_headers(sb, graph_for, code):
    sb.instagram.set_fault("rate_limited", code=code, retry_after=900)
    with pytest.raises(RateLimited) as caught:
        await graph_for().publishing_quota()
    error = caught.value
    assert error.status == 400 and error.code == code  # classified on the code, not the status
    assert error.retry_after_s == 900  # estimated_time_to_regain_access: 15 minutes
    assert error.usage_pct == 100


async def test_http_429_is_a_rate_limit_too(sb, graph_for):
    sb.instagram.set_fault("rate_limited", code=4, retry_after=120, http429=True)
    with pytest.raises(RateLimited) as caught:
        await graph_for().account()
    assert caught.value.status == 429 and caught.value.retry_after_s == 120


@pytest.mark.parametrize("status", [500, 503])
async def test_graph_5xx_is_unavailable(sb, graph_for, status):
    sb.instagram.set_fault("5xx", status=status)
    with pytest.raises(ServiceUnavailable) as caught:
        await graph_for().account()
    assert caught.value.status == status


async def test_graph_unreachable_is_unavailable(graph_for):
    graph = graph_for(graph_url=f"http://127.0.0.1:{closed_port()}/v26.0")
    with pytest.raises(ServiceUnavailable, match="cannot reach Graph"):
        await graph.account()


async def test_a_hung_graph_times_out_on_the_adapters_own_timeout(sb, graph_for):
    sb.instagram.set_fault("hang")
    started = time.perf_counter()
    with pytest.raises(ServiceTimeout) as caught:
        await graph_for(timeout_s=1.0).account()
    assert 0.9 < time.perf_counter() - started < 2.0
    assert_secret_free(caught.value, IG_TOKEN)


async def test_instagram_probe_ok_shows_the_publishing_quota(graph_for):
    result = await InstagramProbe(graph_for(), tr=EN).probe()
    assert (result.component, result.state) == ("instagram", State.OK)
    assert result.reason == "publishing quota 0/100 per 24 h"


@pytest.mark.parametrize(("used", "state"), [(79, State.OK), (80, State.DEGRADED),
                                             (99, State.DEGRADED), (100, State.DOWN)])
async def test_instagram_probe_follows_the_publishing_quota(sb, graph_for, used, state):
    sb.instagram.quota_usage = used
    result = await InstagramProbe(graph_for(), tr=EN).probe()
    assert result.state is state
    assert result.reason == f"publishing quota {used}/100 per 24 h"


async def test_instagram_probe_is_degraded_while_rate_limited(sb, graph_for):
    sb.instagram.set_fault("rate_limited", code=80002, retry_after=900)
    result = await InstagramProbe(graph_for(), tr=EN).probe()
    assert result.state is State.DEGRADED
    assert result.reason.startswith("rate limited · retry in ~15 min · usage 100%")


async def test_instagram_probe_is_down_when_the_token_expired(sb, graph_for):
    sb.instagram.set_fault("token_expired")
    result = await InstagramProbe(graph_for(), tr=EN).probe()
    assert result.state is State.DOWN and result.reason.startswith("token expired")


# ---- Cloudinary ---------------------------------------------------------------------------------
async def test_cloudinary_ping_and_usage_reach_the_upload_prefix(sb, cloudinary_for):
    host = cloudinary_for()
    await host.ping()
    usage = await host.usage()
    assert usage.plan == "Free"
    assert usage.credits_used_pct == DEFAULT_CREDITS_PCT
    assert usage.credits_limit == 25.0
    assert [(c.path, c.status) for c in sb.cloudinary.calls] == [
        (f"/v1_1/{CLOUD_NAME}/ping", 200), (f"/v1_1/{CLOUD_NAME}/usage", 200)]


async def test_cloudinary_auth_fault_is_token_invalid(sb, cloudinary_for):
    sb.cloudinary.set_fault("auth")
    with pytest.raises(TokenInvalid) as caught:
        await cloudinary_for().ping()
    assert caught.value.status == 401
    assert_secret_free(caught.value, CLOUD_KEY)


async def test_a_wrong_cloudinary_secret_is_token_invalid(cloudinary_for):
    with pytest.raises(TokenInvalid):
        await cloudinary_for(secret="not-the-secret").usage()


@pytest.mark.parametrize("status", [420, 429])
async def test_cloudinary_rate_limits_are_rate_limited(sb, cloudinary_for, status):
    sb.cloudinary.set_fault("rate_limited", status=status, retry_after=600)
    with pytest.raises(RateLimited) as caught:
        await cloudinary_for().usage()
    assert caught.value.status == status


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_cloudinary_5xx_is_unavailable(sb, cloudinary_for, status):
    sb.cloudinary.set_fault("5xx", status=status)
    with pytest.raises(ServiceUnavailable) as caught:
        await cloudinary_for().ping()
    assert caught.value.status == status


async def test_a_hung_cloudinary_surfaces_on_the_adapters_own_timeout(sb, cloudinary_for):
    # urllib3 would retry a read timeout 3 times (4 s for timeout_s=1); the adapter turns that off
    sb.cloudinary.set_fault("hang")
    started = time.perf_counter()
    with pytest.raises(ServiceTimeout):
        await cloudinary_for(timeout_s=1.0).ping()
    assert 0.9 < time.perf_counter() - started < 3.0  # 4 s and more when reads were retried
    sb.cloudinary.clear_faults()
    time.sleep(0.3)
    assert len([c for c in sb.cloudinary.calls if c.path.endswith("/ping")]) <= 1, "read was retried"


async def test_a_cloudinary_rate_limit_carries_the_reset_time(sb, cloudinary_for):
    sb.cloudinary.set_fault("rate_limited", retry_after=600)
    with pytest.raises(RateLimited) as caught:
        await cloudinary_for().usage()
    assert 540 <= caught.value.retry_after_s <= 660


@pytest.mark.parametrize(("pct", "state", "shown"), [
    (DEFAULT_CREDITS_PCT, State.OK, "12"), (79.9, State.OK, "80"), (80.0, State.DEGRADED, "80"),
    (99.0, State.DEGRADED, "99"), (100.0, State.DOWN, "100"),
])
async def test_cloudinary_probe_follows_the_credits(sb, cloudinary_for, pct, state, shown):
    sb.cloudinary.credits_used_percent = pct
    result = await CloudinaryProbe(cloudinary_for(), tr=EN).probe()
    assert result.state is state
    assert result.reason == f"credits {shown}% used (Free)"


async def test_cloudinary_probe_is_down_when_the_plan_is_used_up(sb, cloudinary_for):
    sb.cloudinary.set_fault("quota", used_percent=104.2)
    result = await CloudinaryProbe(cloudinary_for(), tr=EN).probe()
    assert result.state is State.DOWN and result.reason == "credits 104% used (Free)"


async def test_cloudinary_probe_is_degraded_while_rate_limited(sb, cloudinary_for):
    sb.cloudinary.set_fault("rate_limited")
    result = await CloudinaryProbe(cloudinary_for(), tr=EN).probe()
    assert result.state is State.DEGRADED and result.reason.startswith("rate limited")


# ---- fal.ai -------------------------------------------------------------------------------------
def status_calls(sb: Sandbox) -> list:
    return sb.fal.calls_to(lambda c: c.path.endswith("/status"))


async def test_fal_key_check_accepts_the_right_key_without_spending(sb, fal_for):
    generator = fal_for()
    await generator.check_key()
    (call,) = sb.fal.calls
    assert call.method == "GET" and call.path.endswith("/status") and call.status == 404
    assert sb.fal.requests == []  # nothing was submitted, so nothing was billed
    result = await FalProbe(generator, tr=EN).probe()
    assert result.state is State.OK and result.reason == "key accepted (fal-ai/flux-2-pro)"


@pytest.mark.parametrize("how", ["fault", "wrong key"])
async def test_a_rejected_fal_key_is_token_invalid(sb, fal_for, how):
    if how == "fault":
        sb.fal.set_fault("key_invalid")
    generator = fal_for(key="other-id:other-secret" if how == "wrong key" else FAL_KEY)
    with pytest.raises(TokenInvalid) as caught:
        await generator.check_key()
    assert caught.value.status == 401
    assert_secret_free(caught.value, FAL_KEY, "other-secret")


async def test_a_locked_fal_account_needs_a_person_at_fal(sb, fal_for):
    """fal's "User is locked. Reason: Exhausted balance" can outlast a top-up until fal's
    support lifts it (public fal issue threads): not a quota that refills on its own."""
    sb.fal.set_fault("quota", scope="all")
    with pytest.raises(VendorAction):
        await fal_for().check_key()
    sb.fal.set_fault("quota")  # fal refuses only billable calls: a status call still passes
    await fal_for().check_key()


async def test_fal_rate_limit_carries_retry_after(sb, fal_for):
    sb.fal.set_fault("rate_limited", retry_after=30)
    with pytest.raises(RateLimited) as caught:
        await fal_for().check_key()
    assert caught.value.retry_after_s == 30


async def test_fal_5xx_is_unavailable(sb, fal_for):
    sb.fal.set_fault("5xx", status=500)
    with pytest.raises(ServiceUnavailable) as caught:
        await fal_for().check_key()
    assert caught.value.status == 500
    assert len(status_calls(sb)) == 1  # fal-client does not retry its own 500s


@pytest.mark.parametrize(("fault", "params", "expected"), [
    ("5xx", {"ingress": True}, ServiceUnavailable),
    ("5xx", {"ingress": True, "status": 504}, ServiceTimeout),  # a gateway timeout
    ("rate_limited", {}, RateLimited),
])
async def test_fal_clients_own_retries_are_bounded_to_three_attempts(sb, fal_for, fault, params,
                                                                     expected, monkeypatch):
    monkeypatch.setattr(fal_module, "MAX_ATTEMPTS", 10)  # fal-client's default: the adapter sets 3
    generator = fal_for()
    sb.fal.set_fault(fault, **params)
    with pytest.raises(expected):
        await generator.check_key()
    calls = status_calls(sb)
    assert len(calls) == 3
    assert len({c.path for c in calls}) == 1  # three tries of one check, not three checks


async def test_a_hung_fal_times_out_on_the_adapters_own_timeout(sb, fal_for):
    """fal-client polls with its own 120 s read timeout and retries it: ours must still win."""
    sb.fal.set_fault("hang")
    generator = fal_for(timeout_s=1.0)
    with pytest.raises(ServiceTimeout):
        await asyncio.wait_for(generator.check_key(), 2.5)


# ---- Telegram Bot API ---------------------------------------------------------------------------
async def test_get_me_answers_with_the_bots_identity(telegram_for):
    api = telegram_for()
    assert await api.get_me() == BotIdentity(id=BOT_ID, username=BOT_USERNAME)
    result = await TelegramProbe(api, tr=EN).probe()
    assert result.state is State.OK and result.reason == f"bot @{BOT_USERNAME} answers"


@pytest.mark.parametrize("how", ["fault", "wrong token"])
async def test_a_rejected_bot_token_is_token_invalid(sb, telegram_for, how):
    token = BOT_TOKEN if how == "fault" else "700000009:SANDBOX-some-other-token-0000000"
    if how == "fault":
        sb.telegram.set_fault("unauthorized", methods="getMe")
    with pytest.raises(TokenInvalid) as caught:
        await telegram_for(token=token).get_me()
    assert caught.value.status == 401
    assert_secret_free(caught.value, token)


async def test_bot_api_rate_limit_carries_retry_after(sb, telegram_for):
    sb.telegram.set_fault("rate_limited", retry_after=7, methods="getMe")
    api = telegram_for()
    with pytest.raises(RateLimited) as caught:
        await api.get_me()
    assert caught.value.retry_after_s == 7
    result = await TelegramProbe(api, tr=EN).probe()
    assert result.state is State.DEGRADED and result.reason == "rate limited · retry in ~1 min (HTTP 429)"


async def test_bot_api_5xx_is_unavailable(sb, telegram_for):
    sb.telegram.set_fault("5xx", status=502, methods="getMe")
    with pytest.raises(ServiceUnavailable) as caught:
        await telegram_for().get_me()
    assert caught.value.status == 502


async def test_a_wrong_base_url_path_is_token_invalid_and_says_which_setting(sb, telegram_for):
    api = telegram_for(base_url=f"{sb.telegram.url}/api/bot")
    with pytest.raises(TokenInvalid, match="TELEGRAM_API_BASE_URL") as caught:
        await api.get_me()
    assert caught.value.status == 404
    assert_secret_free(caught.value, BOT_TOKEN)


async def test_a_hung_bot_api_times_out(sb, telegram_for):
    sb.telegram.set_fault("hang", methods="getMe")
    started = time.perf_counter()
    with pytest.raises(ServiceTimeout):
        await telegram_for(timeout_s=1.0).get_me()
    assert time.perf_counter() - started < 2.0


# ---- the pipeline's files: stats and logs -------------------------------------------------------
def stats_probe(sb: Sandbox, **kwargs) -> StatsProbe:
    return StatsProbe(PipelineHome(sb.home), max_age_h=26, tr=EN, **kwargs)


async def test_fresh_stats_are_ok(sb):
    at = make_stats_stale(sb.home, 1.0)
    freshness = await PipelineHome(sb.home).stats_freshness()
    assert freshness.last_updated == at.replace(microsecond=0) and freshness.problem is None
    result = await stats_probe(sb).probe()
    assert result.state is State.OK and result.reason == "updated 1.0 h ago (limit 26 h)"


async def test_stale_stats_are_degraded_with_their_age(sb):
    make_stats_stale(sb.home, 30)
    result = await stats_probe(sb).probe()
    assert result.state is State.DEGRADED
    assert result.reason == "stale: updated 30.0 h ago (limit 26 h)"


async def test_the_stats_age_follows_the_injected_clock(sb):
    now = utc_now()
    make_stats_stale(sb.home, 1.0, now=now)
    result = await stats_probe(sb, clock=lambda: now + timedelta(hours=27)).probe()
    assert result.state is State.DEGRADED and result.reason.startswith("stale: updated 28.0 h ago")


@pytest.mark.parametrize(("damage", "reason"), [
    (remove_stats, "instagram_stats.json is missing"),
    (corrupt_stats, "instagram_stats.json cannot be read as JSON"),
])
async def test_missing_or_corrupt_stats_are_down_with_the_reason(sb, damage, reason):
    damage(sb.home)
    result = await stats_probe(sb).probe()
    assert result.state is State.DOWN and result.reason == reason


async def test_logs_without_errors_in_24_hours_are_ok(sb):
    # the seeded sample's incidents ended 25 h ago, just outside the window
    result = await LogsProbe(PipelineHome(sb.home), tr=EN).probe()
    assert result.state is State.OK and result.reason == "no errors in the last 24 h"


async def test_current_errors_are_degraded_naming_the_latest_file(tmp_path):
    sandbox = Sandbox.start(tmp_path, history_age_h=0)
    try:
        now = utc_now()
        expected = 0  # counted with the sandbox's own log-time parser, not the adapter's
        for path in (sandbox.home / LOGS_DIR).glob("*_stderr.log"):
            for line in path.read_text(encoding="utf-8").splitlines():
                at = parse_log_time(line)
                if at and " ERROR " in line and at >= now - timedelta(hours=24):
                    expected += 1
        assert expected > 0
        result = await LogsProbe(PipelineHome(sandbox.home), tr=EN).probe()
    finally:
        sandbox.stop()
    assert result.state is State.DEGRADED
    # the newest error of the sample: the bot was kicked from the group, 2 minutes ago
    assert result.reason == (f"{expected} errors in 24 h, latest in telegram_bot_stderr.log: "
                             "[telegram_bot] sendMessage failed: Forbidden: bot was kicked "
                             "from the supergrou…")


async def test_a_missing_logs_folder_is_degraded(sb):
    for path in sorted((sb.home / LOGS_DIR).rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (sb.home / LOGS_DIR).rmdir()
    result = await LogsProbe(PipelineHome(sb.home), tr=EN).probe()
    assert result.state is State.DEGRADED and result.reason == "no log folder (config/logs)"


# ---- the token: check_token and TokenProbe ------------------------------------------------------
async def test_token_expiry_comes_from_debug_token_when_app_credentials_are_set(sb, graph_for):
    store = Store.in_memory()
    store.set_token_expiry(utc_now() + timedelta(days=3), actor="test")
    status = await check_token(graph_for(), store)
    assert status.source == SOURCE_DEBUG_TOKEN  # Graph wins over a registered date
    assert status.expires_at == sb.instagram.token_expires_at.replace(microsecond=0)
    assert status.valid is True and status.account == IgAccount(IG_USER_ID, USERNAME)
    assert 53 < status.days_left < 54.1
    result = await TokenProbe(graph_for(), store, tr=EN).probe()
    assert result.state is State.OK
    assert result.reason == f"valid (@{USERNAME}) · 54 days left"  # 53.99…: a moment ago it was 54


async def test_token_expiry_comes_from_set_expiry_without_app_credentials(graph_for):
    store = Store.in_memory()
    registered = utc_now() + timedelta(days=30, hours=1)
    store.set_token_expiry(registered, actor="mina_admin")
    status = await check_token(graph_for(app=False), store)
    assert status.source == SOURCE_SET_EXPIRY
    assert abs((status.expires_at - registered).total_seconds()) < 1
    assert status.state is State.OK
    result = await TokenProbe(graph_for(app=False), store, tr=EN).probe()
    assert result.reason == f"valid (@{USERNAME}) · 30 days left"


async def test_an_unknown_expiry_is_degraded(graph_for):
    status = await check_token(graph_for(app=False), Store.in_memory())
    assert status.source is None and status.expires_at is None and status.valid is True
    result = await TokenProbe(graph_for(app=False), Store.in_memory(), tr=EN).probe()
    assert result.state is State.DEGRADED
    assert result.reason == (f"valid (@{USERNAME}) · "
                             "unknown: register it with /token set-expiry <days>")


@pytest.mark.parametrize(("days", "state", "shown"), [
    (8.5, State.OK, "8 days left"), (7.5, State.OK, "7 days left"),
    (6.5, State.DEGRADED, "6 days left"), (0.52, State.DEGRADED, "12 h left"),
])
async def test_a_week_or_less_left_is_degraded(sb, graph_for, days, state, shown):
    sb.instagram.token_expires_at = utc_now() + timedelta(days=days)
    result = await TokenProbe(graph_for(), Store.in_memory(), tr=EN).probe()
    assert result.state is state and result.reason == f"valid (@{USERNAME}) · {shown}"


async def test_an_expired_token_is_down_and_not_valid(sb, graph_for):
    sb.instagram.set_fault("token_expired")
    status = await check_token(graph_for(), Store.in_memory())
    assert status.valid is False and status.expired and status.state is State.DOWN
    result = await TokenProbe(graph_for(), Store.in_memory(), tr=EN).probe()
    assert result.state is State.DOWN and result.reason.startswith("token expired")


async def test_a_rejected_token_is_down(graph_for):
    graph = graph_for(token="an-old-revoked-token")
    status = await check_token(graph, Store.in_memory())
    assert status.valid is False and status.state is State.DOWN
    assert isinstance(status.problem, TokenInvalid)


async def test_a_passed_registered_date_while_graph_accepts_the_token_is_degraded(graph_for):
    store = Store.in_memory()
    store.set_token_expiry(utc_now() - timedelta(days=2, hours=1), actor="test")
    status = await check_token(graph_for(app=False), store)
    assert status.valid is True and not status.expired
    assert status.state is State.DEGRADED
    result = await TokenProbe(graph_for(app=False), store, tr=EN).probe()
    assert result.state is State.DEGRADED
    assert result.reason == f"valid (@{USERNAME}) · expiry date passed 2 days ago"


async def test_an_injected_clock_moves_days_left(sb, graph_for):
    expires = sb.instagram.token_expires_at.replace(microsecond=0)
    early = await check_token(graph_for(), Store.in_memory(), clock=lambda: expires - timedelta(days=10))
    late = await check_token(graph_for(), Store.in_memory(), clock=lambda: expires - timedelta(days=3))
    assert early.days_left == 10 and early.state is State.OK
    assert late.days_left == 3 and late.state is State.DEGRADED


async def test_a_rate_limited_graph_leaves_the_token_state_unknown(sb, graph_for):
    sb.instagram.set_fault("rate_limited", code=4, retry_after=60)
    status = await check_token(graph_for(), Store.in_memory())
    assert status.valid is None and status.state is State.DEGRADED
    assert isinstance(status.problem, RateLimited)


# ---- run_health_check ---------------------------------------------------------------------------
async def test_probes_run_concurrently(sb, services_for):
    services = services_for()
    for name in ("instagram", "cloudinary", "fal", "telegram"):
        sb.fakes[name].set_fault("slow", ms=1000)  # cloudinary's ping and usage also run at once
    started = time.perf_counter()
    report = await services.health(only=VENDOR_PROBES)
    wall = time.perf_counter() - started
    assert [r.component for r in report.results] == list(VENDOR_PROBES)
    assert all(r.state is State.OK for r in report.results), report.results
    assert all(r.latency_ms >= 950 for r in report.results)  # each took ~1 s on its own
    assert wall < 2.5, f"five ~1 s probes took {wall:.2f} s: not concurrent (one after another: 5 s)"


@pytest.mark.parametrize(("hung", "dependent"), [("fal", ()), ("instagram", ("token",))])
async def test_a_hung_vendor_is_down_after_the_timeout_and_the_rest_still_report(
        sb, services_for, hung, dependent):
    services = services_for(HEALTH_TIMEOUT_S="1")
    sb.fakes[hung].set_fault("hang")
    started = time.perf_counter()
    report = await services.health()
    wall = time.perf_counter() - started
    assert wall < 3.0  # the deadline is 1 s; a probe waiting out the hang would take minutes
    line = report.get(hung)
    assert line.state is State.DOWN and "timed out" in line.reason
    for result in report.results:
        if result.component in (hung, *dependent):
            assert result.state is not State.OK
        else:
            assert result.state is State.OK, result
    assert report.get("cloudinary").reason == "credits 12% used (Free)"
    assert report.exit_code == 2


class CrashingProbe:
    """A probe with a bug in it (what a broken adapter looks like to the runner)."""

    component = "stats"

    async def probe(self) -> ProbeResult:
        return {}["last_updated"]


async def test_a_probe_that_crashes_is_down_without_hiding_the_others(services_for):
    services = services_for()
    probes = [p for p in services.probes if p.component != "stats"] + [CrashingProbe()]
    report = await run_health_check(probes, timeout_s=5, tr=EN)
    crashed = report.get("stats")
    assert crashed.state is State.DOWN
    assert crashed.reason == "the check itself failed (KeyError); see the bot's log"
    others = [r for r in report.results if r.component != "stats"]
    assert len(others) == 7 and all(r.state is State.OK for r in others), others


async def test_only_selects_components_and_asks_no_one_else(sb, services_for):
    report = await services_for().health(only=["stats", "telegram"])
    assert [r.component for r in report.results] == ["telegram", "stats"]
    assert sb.instagram.calls == [] and sb.cloudinary.calls == [] and sb.fal.calls == []


async def test_telegram_without_settings_is_not_configured(sb, closing):
    env = sb.env(lang="en")
    del env["TELEGRAM_BOT_TOKEN"]
    settings = Settings.from_env(env, dotenv_path=None, require_telegram=False)
    services = build_services(settings, Store.in_memory())
    closing.append(services)
    report = await services.health(only=["telegram"])
    (line,) = report.results
    assert line.state is State.DOWN
    assert line.reason == "not configured (TELEGRAM_BOT_TOKEN is not set)"


async def test_a_failing_debug_token_is_shown_not_passed_off_as_unknown(sb):
    graph = InstagramGraph(graph_url=sb.instagram.graph_url, access_token=Secret(IG_TOKEN),
                           user_id=IG_USER_ID, app_id=IG_APP_ID,
                           app_secret=Secret("not-the-app-secret"))
    try:
        status = await check_token(graph, Store.in_memory())
    finally:
        await graph.aclose()
    assert status.valid is True and status.source is None
    assert isinstance(status.debug_problem, TokenInvalid)
    assert status.state is State.DEGRADED
    line = describe_token(status, EN)
    assert "debug_token failed (credentials rejected" in line and "register it" not in line
