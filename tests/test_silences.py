"""Silences: an operator mutes a component for 1, 4 or 24 hours (never over 7 days); it ends by
itself; an admin lifts one early; all audited. A silenced signal is stored and touches no
incident. In the group: the 🔕 buttons under a detected incident, and /silences."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.detection.signals import make_signal
from bot.detection.silences import SilenceRefused, Silences
from bot.sandbox import ADMIN, OPERATOR, OPS_CHAT, VIEWER
from bot.store import Store
from handlers import callbacks as cb
from tests.test_detection import Clock, World, world  # noqa: F401  (the fixture)

OP = f"tg:{OPERATOR.id} @joon_ops"


def test_set_expire_lift_and_the_limits() -> None:
    clock = Clock()
    silences = Silences(Store.in_memory(), clock=clock)
    with pytest.raises(SilenceRefused) as refused:
        silences.add("fal", 1, actor="tg:1003", operator=False)
    assert refused.value.key == "silence.needs_operator"
    for component, hours, key in (("fal", 24 * 7 + 1, "silence.too_long"), ("db", 1, "silence.unknown_component")):
        with pytest.raises(SilenceRefused) as refused:
            silences.add(component, hours, actor=OP, operator=True)
        assert refused.value.key == key
    set_ = silences.add("fal", 4, actor=OP, operator=True)
    assert silences.silenced("fal") == set_ and set_.until == clock.now + timedelta(hours=4)
    clock.now += timedelta(hours=4, seconds=1)
    assert silences.silenced("fal") is None and silences.active() == []  # over by itself
    silences.add("cloudinary", 1, actor=OP, operator=True)
    with pytest.raises(SilenceRefused):
        silences.lift("cloudinary", actor=OP, admin=False)
    silences.lift("cloudinary", actor="tg:1001", admin=True)
    assert silences.silenced("cloudinary") is None
    events = [r.event for r in silences.store.audit_records()]
    assert events.count("silence.set") == 2 and events.count("silence.lifted") == 1


async def test_a_silenced_signal_is_stored_and_touches_no_incident(world: World) -> None:
    silences = world.services.silences
    world.detector.silences = silences
    silences.add("cloudinary", 1, actor=OP, operator=True)
    received = await world.detector.receive(make_signal("intake", "cloudinary", "401", at=world.clock()))
    assert received.kind == "silenced" and world.open_incidents() == []
    [stored] = world.services.store.find("signals")
    assert stored["silenced"] is True
    world.clock.now += timedelta(hours=1, minutes=1)  # over: the next one opens the incident
    received = await world.detector.receive(make_signal("intake", "cloudinary", "401", at=world.clock()))
    assert received.kind == "opened"


async def test_the_buttons_under_a_detected_incident_and_silences(chat, sandbox) -> None:
    detector = chat.runner.application.bot_data["sunflow"].detector
    received = await detector.receive(make_signal("intake", "fal", "generation failed",
                                                  at=chat.services.clock()))
    live = next(m for m in chat.bot_messages(OPS_CHAT) if received.ref in (m.text or ""))
    datas = [d for _, d in live.buttons()]
    assert [cb.silence("fal", h) for h in (1, 4, 24)] == [d for d in datas if d.startswith("v1:s:")]

    viewer = await chat.press(live, data=cb.silence("fal", 4), user=VIEWER)
    assert viewer["show_alert"] and "Only an operator" in viewer["text"]
    done = await chat.press(live, data=cb.silence("fal", 4), user=OPERATOR)
    assert done["text"].startswith("🔕 fal.ai alerts silenced until")
    counted_before = chat.runner.application.bot_data["sunflow"].engine.by_ref(received.ref).alerts.count
    muted = await detector.receive(make_signal("intake", "fal", "failed again", at=chat.services.clock()))
    assert muted.kind == "silenced"  # held in the running bot: stored, the incident untouched
    assert chat.runner.application.bot_data["sunflow"].engine.by_ref(received.ref).alerts.count == counted_before
    assert sorted(d["silenced"] for d in chat.store.find("signals")) == [False, True]

    [listing] = await chat.send("/silences", user=OPERATOR)
    assert "fal.ai until" in listing.text and "@joon_ops" in listing.text and listing.buttons() == []
    [admin_view] = await chat.send("/silences", user=ADMIN)
    [(label, lift)] = admin_view.buttons()
    assert label == "🔔 Lift: fal.ai"
    await chat.press(admin_view, data=lift)
    assert chat.tg.message(OPS_CHAT.id, admin_view.message_id).text == "Nothing is silenced."
