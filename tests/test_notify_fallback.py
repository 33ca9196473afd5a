"""When Telegram is what broke: an alert goes to the outbox at once and, once Telegram has failed
for longer than TELEGRAM_DOWN_AFTER, to a loopback webhook and a loopback SMTP server too (with
a digest of what came before); when Telegram works again the group gets one summary."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from email import message_from_bytes

import pytest
from aiosmtpd.controller import Controller

from bot.adapters.outbox import OutboxChannel
from bot.adapters.smtp import SmtpChannel
from bot.adapters.webhook import WebhookChannel
from bot.config import Settings
from bot.detection.detector import Detector
from bot.detection.signals import make_signal
from bot.incidents.ports import NotDelivered
from bot.notify.fallback import Fallback
from bot.notify.fallback_notifier import FallbackNotifier
from bot.sandbox import Sandbox
from bot.sandbox.webhook import FakeWebhook
from bot.services import build_services
from bot.store import Store
from bot.wiring import incident_engine, incident_flows
from tests.memory_ports import MemoryNotifier, MemoryScheduler
from tests.test_detection import Clock


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (the controller checks readiness on its own port)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def webhook() -> Iterator[FakeWebhook]:
    fake = FakeWebhook().start()
    yield fake
    fake.stop()


@pytest.fixture
async def world(sandbox: Sandbox, smtp, webhook, tmp_path) -> AsyncIterator[dict]:
    inbox, port = smtp
    settings = Settings.from_env(sandbox.env(lang="en", HEALTH_TIMEOUT_S="1"), dotenv_path=None)
    clock = Clock()
    store = Store.open(settings.data_dir)
    services = build_services(settings, store, clock=clock)
    engine = incident_engine(services)
    memory = MemoryNotifier(engine)
    announced: list[str] = []

    async def announce(text: str) -> None:
        announced.append(text)

    outbox = OutboxChannel(tmp_path / "outbox.jsonl")
    hook = WebhookChannel(webhook.url + "/hook")
    channels = [hook, SmtpChannel("127.0.0.1", port, sender="bot@sunflow.example",
                                  recipients=("oncall@sunflow.example",), starttls=False)]
    fallback = Fallback(channels, outbox, store, clock=clock, after=timedelta(minutes=2))
    notifier = FallbackNotifier(memory, fallback, tr=services.tr, lang="en", tz=settings.timezone,
                                redact=services.redact, clock=clock, announce=announce)
    flows = incident_flows(services, engine, notifier, MemoryScheduler())
    yield {"detector": Detector(store, flows, redact=services.redact), "memory": memory,
           "outbox": outbox, "inbox": inbox, "webhook": webhook, "announced": announced,
           "clock": clock, "store": store}
    await hook.aclose()
    await services.aclose()
    store.close()


async def signal(world: dict, component: str, message: str) -> None:
    await world["detector"].receive(make_signal("intake", component, message, at=world["clock"]()))


async def test_outbox_at_once_then_webhook_and_email_then_one_summary(world) -> None:
    world["memory"].down = True  # Telegram unreachable
    await signal(world, "cloudinary", "upload 401")
    [first] = world["outbox"].read()
    assert first["title"].endswith("(P0)") and "Cloudinary" in first["title"]
    assert world["webhook"].received == [] and world["inbox"].messages == []  # not yet

    world["clock"].now += timedelta(minutes=3)  # longer than TELEGRAM_DOWN_AFTER
    await signal(world, "fal", "generation failed")
    assert len(world["outbox"].read()) == 2
    [posted] = world["webhook"].received
    assert "Image generation" in posted["title"] and "before this, 1 alert(s) went to the outbox only" in posted["text"]
    [(to, mail)] = world["inbox"].messages
    assert to == ["oncall@sunflow.example"] and "Image generation" in mail["Subject"]

    world["memory"].down = False  # Telegram is back: the next message carries, then the summary
    await signal(world, "telegram", "sendMessage failed")
    [summary] = world["announced"]
    assert summary.startswith("📬 Telegram was unreachable from") and "2 alerts" in summary
    assert "webhook, email" in summary and "outbox" in summary
    await signal(world, "stats", "stale")
    assert len(world["announced"]) == 1  # one summary per outage


async def test_a_failing_channel_does_not_stop_the_others(world) -> None:
    world["webhook"].set_fault("5xx")
    world["memory"].down = True
    world["clock"].now -= timedelta(minutes=10)
    await signal(world, "cloudinary", "upload 401")
    world["clock"].now += timedelta(minutes=10)
    await signal(world, "fal", "generation failed")
    assert world["webhook"].received == [] and len(world["inbox"].messages) == 1
    assert len(world["outbox"].read()) == 2


async def test_a_post_retried_every_minute_is_sent_once_and_escalated_once(world) -> None:
    world["memory"].down = True
    await signal(world, "cloudinary", "upload 401")
    detector = world["detector"]
    engine = detector.incidents.engine
    [incident] = engine.unresolved()
    notifier = detector.incidents.notifier
    for minute in range(1, 6):  # the flows try the post again every minute
        world["clock"].now += timedelta(minutes=1)
        with pytest.raises(NotDelivered):
            await notifier.post(incident)
    assert len(world["outbox"].read()) == 1  # once in the outbox
    assert len(world["webhook"].received) == 1 and len(world["inbox"].messages) == 1  # escalated once
