"""Detection: the scheduled check against the sandbox's real vendors opens the right scenario's
incident, counts repeats on it (one fingerprint, one open incident), joins one opened by hand,
says when the component recovers without resolving anything, and keeps a flapping component
one incident. Flows run on in-memory ports: no Telegram needed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from bot.clock import utc_now
from bot.config import Settings
from bot.detection.detector import Detector
from bot.detection.scheduled import check_and_signal
from bot.detection.signals import SignalError, make_signal
from bot.incidents.engine import IncidentEngine
from bot.incidents.model import Incident, Status
from bot.incidents.view import Viewer, incident_lines
from bot.rich_text import to_plain
from bot.sandbox import Sandbox
from bot.sandbox.home import make_stats_stale
from bot.services import Services, build_services
from bot.store import Store
from bot.wiring import incident_engine, incident_flows
from tests.memory_ports import MemoryNotifier, MemoryScheduler

LEAD = "tg:1001 @mina_admin"


class Clock:
    def __init__(self) -> None:
        self.now = utc_now()

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    services: Services
    engine: IncidentEngine
    notifier: MemoryNotifier
    detector: Detector
    clock: Clock
    flows: object

    async def round(self) -> list:
        """One scheduled check, a check interval after the last."""
        self.clock.now += timedelta(minutes=5)
        return await check_and_signal(self.services.health, self.detector, now=self.clock)

    def open_incidents(self) -> list[Incident]:
        return [i for i in self.engine.unresolved()]


@pytest.fixture
async def world(sandbox: Sandbox) -> AsyncIterator[World]:
    settings = Settings.from_env(sandbox.env(lang="en", HEALTH_TIMEOUT_S="1"), dotenv_path=None)
    clock = Clock()
    store = Store.open(settings.data_dir)
    services = build_services(settings, store, clock=clock)
    engine = incident_engine(services)
    notifier = MemoryNotifier(engine)
    flows = incident_flows(services, engine, notifier, MemoryScheduler())
    yield World(services, engine, notifier, Detector(store, flows, redact=services.redact), clock, flows)
    await services.aclose()
    store.close()


async def test_a_fault_opens_its_scenario_once_and_repeats_are_counted(world, sandbox) -> None:
    assert [r.kind for r in await world.round()] == ["fine"] * 8  # all green (6 + 2 usage checks)
    assert world.open_incidents() == [] and world.services.store.count("signals") == 0

    sandbox.cloudinary.set_fault("auth")
    received = [r for r in await world.round() if r.kind != "fine"]
    assert [r.kind for r in received] == ["opened"]
    [incident] = world.open_incidents()
    assert incident.scenario == "cloudinary-upload" and incident.severity == "P0"
    assert incident.opened_by == "detector" and incident.alerts.count == 1
    posts = [s for s in world.notifier.sent if s.kind == "post"]
    assert len(posts) == 1  # the 0-minute alert

    for _ in range(3):
        assert [r.kind for r in await world.round() if r.kind != "fine"] == ["counted"]
    [incident] = world.open_incidents()
    assert incident.alerts.count == 4
    assert len([s for s in world.notifier.sent if s.kind == "post"]) == 1  # edits, not messages
    assert world.services.store.count("signals") == 4  # every failing signal is kept
    lines = to_plain(incident_lines(Viewer(world.services.tr, "en", world.services.settings.timezone,
                                           world.services.redact), incident, world.clock.now))
    assert "🔁 Detected: Cloudinary failing, 4 times" in lines


async def test_recovery_is_said_not_resolved_and_flapping_stays_one_incident(world, sandbox) -> None:
    sandbox.fal.set_fault("key_invalid")
    await world.round()
    sandbox.clear_faults()
    assert [r.kind for r in await world.round() if r.kind != "fine"] == ["recovered"]
    [incident] = world.open_incidents()
    assert incident.status != Status.RESOLVED and incident.alerts.recovered_at == world.clock.now
    lines = to_plain(incident_lines(Viewer(world.services.tr, "en", world.services.settings.timezone,
                                           world.services.redact), incident, world.clock.now))
    assert "looks fine again since" in lines and "nothing resolves by itself" in lines
    assert [r.kind for r in await world.round() if r.kind != "fine"] == []  # said once

    sandbox.fal.set_fault("key_invalid")  # fail, ok, fail: the same incident
    assert [r.kind for r in await world.round() if r.kind != "fine"] == ["counted"]
    [incident] = world.open_incidents()
    assert incident.alerts.count == 2 and incident.alerts.recovered_at is None
    names = [e.name for e in incident.timeline if e.name.startswith("signal.")]
    assert names == ["signal.failing", "signal.recovered", "signal.failing_again"]


async def test_a_scenario_opened_by_hand_is_joined_not_duplicated(world, sandbox) -> None:
    by_hand = await world.flows.open("token", topic=None, actor=LEAD)
    sandbox.instagram.set_fault("token_expired")
    received = [r for r in await world.round() if r.kind != "fine"]
    # the token's failure; Instagram failing because of it opens nothing of its own
    assert [(r.kind, r.ref) for r in received] == [("counted", by_hand.incident.ref)]
    [incident] = world.open_incidents()
    assert incident.id == by_hand.incident.id and incident.alerts.component == "token"


async def test_stale_statistics_open_scenario_5(world, sandbox) -> None:
    make_stats_stale(sandbox.home, 40, now=world.clock.now + timedelta(minutes=5))
    [received] = [r for r in await world.round() if r.kind != "fine"]
    assert received.kind == "opened"
    [incident] = world.open_incidents()
    assert incident.scenario == "stats-collection" and incident.alerts.component == "stats"


async def test_a_resolved_incident_is_not_reopened_by_its_old_fingerprint(world, sandbox) -> None:
    sandbox.cloudinary.set_fault("auth")
    await world.round()
    [first] = world.open_incidents()
    await world.flows.resolve(first.id, actor=LEAD, admin=True, reason="checked by hand")
    await world.round()
    [second] = world.open_incidents()
    assert second.id != first.id and second.alerts.count == 1


@pytest.mark.parametrize(("kwargs", "problem"), [
    ({"component": "database"}, "unknown component 'database'"),
    ({"details": "   "}, "needs a message"),
    ({"details": "x" * 501}, "longer than 500"),
    ({"trace_ids": ("SF-1",)}, "not trace ids"),
    ({"source": "carrier-pigeon"}, "unknown source"),
])
def test_a_bad_signal_is_refused_in_one_sentence(kwargs, problem) -> None:
    given = {"source": "terminal", "component": "fal", "details": "generation failed", **kwargs}
    with pytest.raises(SignalError, match=problem):
        make_signal(given.pop("source"), given.pop("component"), given.pop("details"),
                    at=utc_now(), **given)


async def test_usage_near_its_limit_is_a_warning_said_once_not_an_incident(world, sandbox) -> None:
    said: list[tuple[str, str]] = []

    async def announce(component: str, warning: str) -> None:
        said.append((component, warning))

    world.detector.announce = announce
    sandbox.instagram.quota_usage = 85  # of 100: filling up, not full
    received = {r.kind for r in await world.round()}
    assert "warning" in received and world.open_incidents() == []
    [(component, warning)] = said
    assert component == "instagram" and "85/100" in warning
    await world.round()
    assert len(said) == 1  # once per crossing
    sandbox.instagram.quota_usage = 10
    await world.round()
    sandbox.instagram.quota_usage = 90
    await world.round()
    assert len(said) == 2  # below, then over again: said again
    sandbox.instagram.quota_usage = 100  # full: now it fails, scenario 4
    assert "opened" in {r.kind for r in await world.round()}
    [incident] = world.open_incidents()
    assert incident.scenario == "rate-limit"


async def test_signals_at_once_for_one_fingerprint_make_one_incident_unlinked(world) -> None:
    signals = [make_signal("intake", "fal", f"failed {n}", at=world.clock()) for n in range(8)]
    received = await asyncio.gather(*(world.detector.receive(s) for s in signals))
    assert sorted(r.kind for r in received) == ["counted"] * 7 + ["opened"]
    [incident] = world.open_incidents()
    assert incident.alerts.count == 8 and incident.linked == ()


async def test_only_the_source_that_saw_a_failure_can_say_it_is_over(world, sandbox) -> None:
    await world.detector.receive(make_signal("file", "fal", "generation timed out", at=world.clock()))
    await world.round()  # the fal check passes: it cannot see a failed generation
    [incident] = world.open_incidents()
    assert incident.alerts.recovered_at is None
    ok = await world.detector.receive(make_signal("file", "fal", "", at=world.clock(), failing=False))
    assert ok.kind == "recovered"
