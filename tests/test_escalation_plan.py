"""The playbook's escalation clock: due times stored with the incident, past-due stages after downtime, reminders."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from bot.config import DEFAULT_ESCALATION_OFFSETS, parse_duration
from bot.incidents.escalation_plan import STAGES, escalation_plan, next_reminder, response_deadline
from bot.incidents.model import Event, Incident, Stage, Status
from bot.incidents.stored import iso
from tests.records import make_incident

OPENED = datetime(2026, 11, 27, 16, 45, 27, tzinfo=timezone.utc)
ADMIN = "tg:1001 @mina_admin"


def _offsets(text: str) -> tuple[timedelta, ...]:
    """Offsets written the way an operator writes ESCALATION_P1 in .env."""
    return tuple(parse_duration(part) for part in text.split(","))  # type: ignore[misc]


def _fire(plan: tuple[Stage, ...], stage: str, at: datetime) -> tuple[Stage, ...]:
    return tuple(replace(entry, fired_at=at) if entry.stage == stage else entry for entry in plan)


def test_the_playbooks_clock_is_the_default_plan() -> None:
    plan = escalation_plan("P0", OPENED, DEFAULT_ESCALATION_OFFSETS)
    assert [entry.stage for entry in plan] == list(STAGES) == ["alert", "retries", "pd", "manual"]
    assert [entry.due_at - OPENED for entry in plan] == [
        timedelta(0), timedelta(minutes=30), timedelta(hours=1), timedelta(hours=4)]
    assert all(entry.fired_at is None for entry in plan)


def test_custom_offsets_per_severity_and_times_stored_as_utc_iso() -> None:
    offsets = dict(DEFAULT_ESCALATION_OFFSETS, P1=_offsets("0m,10m,20m,2h"))
    opened_in_seoul = OPENED.astimezone(ZoneInfo("Asia/Seoul"))
    plan = escalation_plan("P1", opened_in_seoul, offsets)
    assert all(entry.due_at.tzinfo == timezone.utc for entry in plan)
    assert [iso(entry.due_at) for entry in plan] == [  # as the store keeps them
        "2026-11-27T16:45:27+00:00", "2026-11-27T16:55:27+00:00",
        "2026-11-27T17:05:27+00:00", "2026-11-27T18:45:27+00:00"]
    # the other severities keep the playbook's clock
    assert escalation_plan("P2", OPENED, offsets)[1].due_at == OPENED + timedelta(minutes=30)


def test_a_severity_without_offsets_or_with_the_wrong_number_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="P7"):
        escalation_plan("P7", OPENED, DEFAULT_ESCALATION_OFFSETS)
    with pytest.raises(ValueError, match="P2 needs 4"):
        escalation_plan("P2", OPENED, {"P2": _offsets("0m,30m")})
    with pytest.raises(ValueError, match="timezone-aware"):
        escalation_plan("P0", OPENED.replace(tzinfo=None), DEFAULT_ESCALATION_OFFSETS)


def _open_incident(retries_fired: datetime | None) -> Incident:
    plan = _fire(escalation_plan("P0", OPENED, DEFAULT_ESCALATION_OFFSETS), "alert", OPENED)
    timeline = [Event(OPENED, "bot", "opened"), Event(OPENED, "bot", "escalation", {"stage": "alert"})]
    if retries_fired is not None:
        plan = _fire(plan, "retries", retries_fired)
        timeline.append(Event(retries_fired, "bot", "escalation", {"stage": "retries"}))
    return make_incident(opened=OPENED, status=Status.OPEN, escalation=plan, timeline=tuple(timeline),
                         acknowledged_at=None)


def _noted(incident: Incident, entry: Event) -> Incident:
    return replace(incident, timeline=(*incident.timeline, entry))


def test_reminders_repeat_after_the_retries_check_while_nobody_acknowledges() -> None:
    every = timedelta(minutes=30)
    assert next_reminder(_open_incident(None), every=every, now=OPENED + timedelta(minutes=5)) is None

    incident = _open_incident(OPENED + timedelta(minutes=30))
    assert next_reminder(incident, every=every, now=OPENED + timedelta(minutes=31)) == OPENED + timedelta(hours=1)
    incident = _noted(incident, Event(OPENED + timedelta(hours=1), "bot", "reminder"))
    assert next_reminder(incident, every=every, now=OPENED + timedelta(hours=1)) == OPENED + timedelta(minutes=90)
    # a PD alert in between does not move the group reminder
    incident = _noted(incident, Event(OPENED + timedelta(minutes=61), "bot", "escalation", {"stage": "pd"}))
    assert next_reminder(incident, every=every, now=OPENED + timedelta(hours=1)) == OPENED + timedelta(minutes=90)


def test_after_downtime_one_reminder_is_due_now_not_one_per_missed_period() -> None:
    incident = _open_incident(OPENED + timedelta(minutes=30))
    now = OPENED + timedelta(hours=3, minutes=7)
    assert next_reminder(incident, every=timedelta(minutes=30), now=now) == now


def test_reminders_stop_once_acknowledged_or_resolved_or_switched_off() -> None:
    incident = _open_incident(OPENED + timedelta(minutes=30))
    now = OPENED + timedelta(minutes=40)
    assert next_reminder(incident, every=None, now=now) is None
    incident = replace(incident, status=Status.ACKNOWLEDGED, acknowledged_at=now, lead=ADMIN)
    assert next_reminder(incident, every=timedelta(minutes=30), now=now) is None
    incident = replace(incident, status=Status.MITIGATING)
    assert next_reminder(incident, every=timedelta(minutes=30), now=now) is None
    incident = replace(incident, status=Status.RESOLVED)
    assert next_reminder(incident, every=timedelta(minutes=30), now=now) is None


@pytest.mark.parametrize(("severity", "allowed"), [
    ("P0", timedelta(0)), ("P1", timedelta(hours=1)), ("P2", timedelta(hours=4)), ("P3", timedelta(hours=24))])
def test_response_deadline_is_the_playbooks_response_time(severity: str, allowed: timedelta) -> None:
    assert response_deadline(severity, OPENED) == OPENED + allowed


def test_no_response_deadline_for_an_unknown_severity() -> None:
    assert response_deadline("P9", OPENED) is None
