"""The intake endpoint, over real HTTP on loopback: the pipeline's report opens its scenario's
incident in the group; a missing or wrong secret is refused and audited; bad bodies get a clear
4xx and change nothing."""

from __future__ import annotations

import httpx
import pytest

from bot.sandbox import OPS_CHAT
from bot.sandbox.runner import BotRunner
from conftest import Chat

SECRET = "intake-secret-for-the-tests-0001"


@pytest.fixture
async def bot(sandbox, make_settings):
    settings = make_settings(INTAKE_ADDRESS="127.0.0.1:0", INTAKE_SECRET=SECRET)
    async with BotRunner(settings) as runner:
        host, port = runner.application.bot_data["sunflow"].intake.address
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=5) as client:
            yield Chat(sandbox, runner), client


async def test_a_report_opens_its_incident_and_a_repeat_counts(bot) -> None:
    chat, client = bot
    auth = {"Authorization": f"Bearer {SECRET}"}
    sent = await client.post("/signal", headers=auth, json={
        "component": "fal", "message": "generation failed 3 times", "trace_ids": ["SF-20261205-0009"]})
    assert sent.status_code == 202 and sent.json()["kind"] == "opened"
    ref = sent.json()["incident"]
    assert await chat.tg.await_for(lambda: any(
        ref in (m.text or "") and "fal.ai failing" in (m.text or "") for m in chat.bot_messages(OPS_CHAT)),
        timeout=10)
    again = await client.post("/signal", headers=auth, json={"component": "fal", "message": "again"})
    assert again.json() == {"ok": True, "kind": "counted", "incident": ref}
    fine = await client.post("/signal", headers=auth, json={"component": "fal", "ok": True})
    assert fine.json()["kind"] == "recovered"
    assert chat.store.count("signals") == 3


async def test_no_secret_or_a_wrong_one_is_refused_and_audited(bot) -> None:
    chat, client = bot
    body = {"component": "fal", "message": "x"}
    missing = await client.post("/signal", json=body)
    wrong = await client.post("/signal", json=body, headers={"Authorization": "Bearer not-the-secret"})
    assert missing.status_code == wrong.status_code == 401
    assert chat.store.count("signals") == 0
    reasons = {r.detail["reason"] for r in chat.store.audit_records(event="intake.refused")}
    assert reasons == {"missing secret", "wrong secret"}
    for _ in range(20):  # a flood is audited once a minute, not once a request
        await client.post("/signal", json=body, headers={"Authorization": "Bearer nope"})
    assert len(chat.store.audit_records(event="intake.refused")) == 2


@pytest.mark.parametrize(("request_", "status", "says"), [
    ({"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 400, "not JSON"),
    ({"json": ["a", "list"]}, 422, "JSON object"),
    ({"json": {"component": "database", "message": "x"}}, 422, "unknown component"),
    ({"json": {"component": "fal", "message": ""}}, 422, "needs a message"),
    ({"json": {"component": "fal", "message": "x", "extra": 1}}, 422, "unknown fields: extra"),
    ({"json": {"component": "fal", "message": "x", "trace_ids": "SF-1"}}, 422, "trace_ids"),
    ({"content": b"x" * (16 * 1024 + 1)}, 413, "larger than"),
])
async def test_bad_bodies_get_a_clear_4xx_and_change_nothing(bot, request_, status, says) -> None:
    chat, client = bot
    request_ = dict(request_)
    headers = {"Authorization": f"Bearer {SECRET}", **request_.pop("headers", {})}
    answer = await client.post("/signal", headers=headers, **request_)
    assert answer.status_code == status and says in answer.json()["error"]
    assert chat.store.count("signals") == 0


async def test_only_post_to_signal(bot) -> None:
    _chat, client = bot
    assert (await client.get("/signal")).status_code == 405
    assert (await client.post("/other", json={})).status_code == 404


async def test_a_slow_incident_never_cuts_the_work_short(sandbox) -> None:
    """The group's budget (or Telegram down) can hold an incident's post up for long: the
    answer does not wait for it, and the work is not cancelled by the request's end."""
    import asyncio

    from bot.detection.detector import Received
    from bot.detection.intake import IntakeServer
    from bot.store import Store

    finished: list[str] = []

    class SlowDetector:
        async def receive(self, signal):
            await asyncio.sleep(4)
            finished.append(signal.component)
            return Received("opened", "INC-20261205-001")

    from bot.clock import utc_now
    server = IntakeServer(SlowDetector(), Store.in_memory(), SECRET, utc_now)  # type: ignore[arg-type]
    host, port = await server.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            answer = await client.post("/signal", headers={"Authorization": f"Bearer {SECRET}"},
                                       json={"component": "fal", "message": "x"})
        assert answer.status_code == 202 and answer.json()["kind"] == "accepted"
        assert finished == []
        await asyncio.sleep(1.5)
        assert finished == ["fal"]  # carried on after the answer
    finally:
        await server.stop()
    assert "intake-secret" not in repr(server)
