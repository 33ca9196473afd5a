"""Token rotation and refresh as a domain, against the sandbox's Graph through the real adapter:
a good token is put to use (.env rewritten in place, expiry recorded, checks green); anything
Graph does not accept leaves .env byte for byte as it was."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.actions.recovery.token_rotation import INSTALLED_KEY, TokenRefused, fingerprint
from bot.clock import utc_now
from bot.health import State
from bot.sandbox import IG_TOKEN
from bot.secrets import Secret
from bot.services import Services, build_services
from bot.store import Store

ADMIN = "tg:1001 @mina_admin"


@pytest.fixture
async def services(make_settings) -> AsyncIterator[Services]:
    built = build_services(make_settings(), Store.in_memory())
    yield built
    await built.aclose()


async def rotate(services: Services, token: str, **kw):
    assert services.tokens is not None
    return await services.tokens.rotate(token, actor=ADMIN, admin=kw.get("admin", True),
                                        private=kw.get("private", True))


async def test_a_good_token_is_put_to_use_and_only_its_line_changes(sandbox, services) -> None:
    env = sandbox.home / ".env"
    before = env.read_text()
    sandbox.instagram.set_fault("token_expired")  # scenario 1: the token in use has expired
    new = sandbox.instagram.issue_token(expires_at=utc_now() + timedelta(days=59))

    done = await rotate(services, new)

    assert env.read_text() == before.replace(
        f"INSTAGRAM_ACCESS_TOKEN={IG_TOKEN}", f"INSTAGRAM_ACCESS_TOKEN={new}")
    assert done.how == "rotated" and done.account.username == "sunflow.daily"
    assert done.fingerprint == fingerprint(Secret(new)) and new not in done.fingerprint
    assert timedelta(days=58, hours=23) < done.expires_at - utc_now() <= timedelta(days=59)
    assert services.store.token_expiry() == done.expires_at
    # the bot goes on with the new token: the checks run again are green, the old is expired
    assert {r.component: r.state for r in done.checks.results} == {
        "token": State.OK, "instagram": State.OK}
    assert (await services.token_status()).valid is True
    # .env as it was is a backup: restoring it undoes the rotation
    assert services.backups.files_of(done.backup.backup_id)[".env"] == before.encode()
    [audit] = services.store.audit_records(event="token.rotated")
    assert audit.detail["fingerprint"] == done.fingerprint and new not in repr(audit.detail)
    assert services.redact(f"token {new} here") == "token ••• here"


@pytest.mark.parametrize(("make", "key"), [
    (lambda ig: "sandbox-instagram-access-token-never-issued", "rotate.invalid"),
    (lambda ig: ig.issue_token(expires_at=utc_now() - timedelta(hours=2)), "rotate.expired"),
    (lambda ig: ig.issue_token(expires_at=utc_now() + timedelta(hours=1, minutes=30)),
     "rotate.short_lived"),
    (lambda ig: IG_TOKEN, "rotate.same"),
    (lambda ig: ig.issue_token(other_account=True), "rotate.other_account"),
    (lambda ig: "short", "rotate.bad_shape"),
    (lambda ig: "has spaces in it, so it is not a token at all", "rotate.bad_shape"),
])
async def test_a_token_graph_does_not_accept_changes_nothing(sandbox, services, make, key) -> None:
    env = sandbox.home / ".env"
    before = env.read_bytes()
    token = make(sandbox.instagram)
    with pytest.raises(TokenRefused) as refused:
        await rotate(services, token)
    assert refused.value.key == key
    assert env.read_bytes() == before
    assert services.store.backups() == [] and services.store.token_expiry() is None
    assert services.store.get_setting(INSTALLED_KEY) is None
    assert (await services.token_status()).account is not None  # still the old token, working


async def test_who_and_where_come_first(sandbox, services) -> None:
    new = sandbox.instagram.issue_token()
    for kw, key in (({"admin": False}, "rotate.needs_admin"), ({"private": False}, "rotate.private_only")):
        with pytest.raises(TokenRefused) as refused:
            await rotate(services, new, **kw)
        assert refused.value.key == key
    assert services.store.backups() == []


async def test_graph_unable_to_judge_is_a_refusal_not_a_guess(sandbox, services) -> None:
    before = (sandbox.home / ".env").read_bytes()
    new = sandbox.instagram.issue_token()
    sandbox.instagram.set_fault("5xx", status=503)
    with pytest.raises(TokenRefused) as refused:
        await rotate(services, new)
    assert refused.value.key == "rotate.unchecked" and "HTTP 503" in refused.value.params["error"]
    assert (sandbox.home / ".env").read_bytes() == before


async def test_without_app_credentials_the_old_tokens_expiry_is_forgotten(sandbox, make_settings) -> None:
    services = build_services(make_settings(debug_token=False), Store.in_memory())
    try:
        services.store.set_token_expiry(utc_now() + timedelta(days=3), actor=ADMIN)
        done = await rotate(services, sandbox.instagram.issue_token())
        assert done.expires_at is None and not done.never_expires
        assert services.store.token_expiry() is None  # the 3 days were the old token's
    finally:
        await services.aclose()


async def test_an_instagram_login_token_a_few_days_old_refreshes_in_one_step(sandbox, make_settings) -> None:
    ig_token = sandbox.instagram.issue_token("IGAAsandboxlonglived0123456789abcdefXYZ",
                                             issued_at=utc_now() - timedelta(days=3),
                                             expires_at=utc_now() + timedelta(days=5))
    services = build_services(make_settings(INSTAGRAM_ACCESS_TOKEN=ig_token), Store.in_memory())
    try:
        assert services.tokens is not None
        status = await services.token_status()
        assert services.tokens.refresh_offer(status).possible
        env = sandbox.home / ".env"
        done = await services.tokens.refresh(status, actor=ADMIN, admin=True)
        new = env.read_text().split("INSTAGRAM_ACCESS_TOKEN=", 1)[1].split("\n", 1)[0]
        assert new.startswith("IGAA") and new != ig_token and sandbox.instagram.accepts(new)
        assert done.how == "refreshed" and done.fingerprint == fingerprint(Secret(new))
        assert timedelta(days=59) < done.expires_at - utc_now() <= timedelta(days=60)
        assert services.redact(new) == "•••"
        with pytest.raises(TokenRefused) as refused:  # the new one is too young to refresh
            await services.tokens.refresh(await services.token_status(), actor=ADMIN, admin=True)
        assert refused.value.key == "refresh.too_new"
    finally:
        await services.aclose()


async def test_refresh_is_offered_only_where_graph_would_do_it(sandbox, make_settings, services) -> None:
    assert services.tokens is not None
    status = await services.token_status()
    assert not services.tokens.refresh_offer(status).possible  # a Facebook Login token
    with pytest.raises(TokenRefused) as refused:
        await services.tokens.refresh(status, actor=ADMIN, admin=True)
    assert refused.value.key == "refresh.not_possible"

    young = sandbox.instagram.issue_token("IGAAsandboxjustissued0123456789abcdefXYZ",
                                          issued_at=utc_now() - timedelta(hours=2))
    other = build_services(make_settings(INSTAGRAM_ACCESS_TOKEN=young), Store.in_memory())
    try:
        assert other.tokens is not None
        offer = other.tokens.refresh_offer(await other.token_status())
        assert not offer.possible and offer.not_before is not None
        assert timedelta(hours=21) < offer.not_before - utc_now() <= timedelta(hours=22)
        with pytest.raises(TokenRefused) as refused:
            await other.tokens.refresh(await other.token_status(), actor=ADMIN, admin=False)
        assert refused.value.key == "rotate.needs_admin"
    finally:
        await other.aclose()


async def test_graph_refusing_a_refresh_changes_nothing(sandbox, make_settings) -> None:
    """Without app credentials the bot cannot know the token's age: Graph's "Unsupported
    request" (what it answers a token under 24 hours) comes back as the reason."""
    young = sandbox.instagram.issue_token("IGAAsandboxjustissued0123456789abcdefXYZ",
                                          issued_at=utc_now() - timedelta(hours=2))
    services = build_services(make_settings(INSTAGRAM_ACCESS_TOKEN=young, debug_token=False),
                              Store.in_memory())
    before = (sandbox.home / ".env").read_bytes()
    try:
        assert services.tokens is not None
        status = await services.token_status()
        assert services.tokens.refresh_offer(status).possible  # age unknown: Graph decides
        with pytest.raises(TokenRefused) as refused:
            await services.tokens.refresh(status, actor=ADMIN, admin=True)
        assert refused.value.key == "refresh.refused"
        assert "Graph 100" in refused.value.params["error"]
        assert (sandbox.home / ".env").read_bytes() == before
    finally:
        await services.aclose()


async def test_a_restart_goes_on_with_the_rotated_token_not_the_settings_older_one(
        sandbox, make_settings, caplog) -> None:
    store = Store.in_memory()
    first = build_services(make_settings(), store)
    sandbox.instagram.set_fault("token_expired")
    new = sandbox.instagram.issue_token()
    try:
        await rotate(first, new)
    finally:
        await first.aclose()
    # the bot's own settings still say the old token (they came from its environment)
    again = build_services(make_settings(), store)
    try:
        assert (await again.token_status()).valid is True
        assert new not in caplog.text and "older than the token it put in" in caplog.text
        assert again.redact(new) == "•••"
    finally:
        await again.aclose()
    # someone edited .env by hand since: the bot does not second-guess its settings
    env = sandbox.home / ".env"
    env.write_text(env.read_text().replace(new, "edited-by-hand-token-0000000000"))
    third = build_services(make_settings(), store)
    try:
        assert (await third.token_status()).valid is False
    finally:
        await third.aclose()


async def test_a_restore_that_brings_back_the_old_token_brings_the_bot_back_to_it(sandbox, services) -> None:
    """Undoing a rotation from /backups (or the rollback step) puts the old token in .env: the
    bot must follow, not go on with a token the pipeline no longer has."""
    assert services.tokens is not None
    done = await rotate(services, sandbox.instagram.issue_token())
    sandbox.instagram.set_fault("token_expired")  # the old token, as in scenario 1
    assert (await services.token_status()).valid is True  # the bot is on the new one
    await asyncio.to_thread(services.backups.restore, done.backup.backup_id, actor=ADMIN, admin=True,
                            asked_at=utc_now())
    status = await services.token_status()
    assert status.expired  # back on the old token, like the pipeline
    notice = services.tokens.owed_notice()
    assert notice is not None and notice.how == "restored" and notice.fingerprint == fingerprint(Secret(IG_TOKEN))
    assert services.store.token_expiry() is None
    # restoring something that leaves the token alone changes nothing about it
    services.tokens.told(notice)
    other = await asyncio.to_thread(services.backups.take, actor=ADMIN, reason="test")
    schedule = sandbox.home / "config" / "publishing.json"
    schedule.write_text(schedule.read_text().replace('"posts_per_day": 2', '"posts_per_day": 1'))
    restored = await asyncio.to_thread(services.backups.restore, other.backup_id, actor=ADMIN,
                                       admin=True, asked_at=utc_now())
    assert restored.changed == ("config/publishing.json",)
    assert services.tokens.owed_notice() is None
    assert (await services.token_status()).expired  # still the token .env holds


async def test_a_settings_token_the_bot_never_replaced_wins_over_env(sandbox, make_settings) -> None:
    store = Store.in_memory()
    first = build_services(make_settings(), store)
    try:
        await rotate(first, sandbox.instagram.issue_token())
    finally:
        await first.aclose()
    newer = sandbox.instagram.issue_token()  # set by a person in the bot's environment since
    again = build_services(make_settings(INSTAGRAM_ACCESS_TOKEN=newer), store)
    try:
        assert again.tokens is not None and again.tokens._current == Secret(newer)
    finally:
        await again.aclose()


async def test_a_change_cut_short_by_a_crash_is_finished_or_forgotten_at_start(sandbox, services) -> None:
    assert services.tokens is not None
    tokens = services.tokens
    env = sandbox.home / ".env"
    # cut short before .env was written: forgotten, the old token stays the one noted
    tokens._note_pending("deadbeef", "rotated", ADMIN, None, False)
    tokens.reconcile()
    note = services.store.get_setting(INSTALLED_KEY)
    assert not note["pending"] and note["fingerprint"] == fingerprint(Secret(IG_TOKEN))
    assert tokens.owed_notice() is None
    # cut short after .env was written: the record is finished and the group is owed a notice
    new = sandbox.instagram.issue_token()
    expires = utc_now() + timedelta(days=30)
    tokens._note_pending(fingerprint(Secret(new)), "rotated", ADMIN, expires, False)
    env.write_text(env.read_text().replace(IG_TOKEN, new))
    tokens.reconcile()
    assert services.store.token_expiry() == expires
    notice = tokens.owed_notice()
    assert notice is not None and notice.fingerprint == fingerprint(Secret(new))
    assert services.store.audit_records(event="token.rotated")
