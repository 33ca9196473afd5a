"""The playbook's clock for an unresolved incident, as data the store keeps.

0 min: alert in the group; 30 min: check the three automatic retries are done and remind;
1 hour: alert the PD; 4 hours: manual intervention needed. The due times are written into the
incident record when it opens, so a restart re-arms them from the store instead of from memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

from bot.incidents.model import Incident, Stage, Status

STAGES = ("alert", "retries", "pd", "manual")

# The playbook's response times per severity (P0 "immediately").
RESPONSE_TIMES: Mapping[str, timedelta] = {
    "P0": timedelta(0),
    "P1": timedelta(hours=1),
    "P2": timedelta(hours=4),
    "P3": timedelta(hours=24),
}


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times in an escalation plan must be timezone-aware")
    return moment.astimezone(timezone.utc)


def escalation_plan(severity: str, opened_at: datetime,
                    offsets: Mapping[str, tuple[timedelta, ...]]) -> tuple[Stage, ...]:
    """One unfired `Stage` per stage, due at opened_at + the severity's offset (UTC)."""
    if severity not in offsets:
        raise ValueError(f"no escalation offsets for severity {severity!r} (have: {', '.join(offsets)})")
    stage_offsets = offsets[severity]
    if len(stage_offsets) != len(STAGES):
        raise ValueError(f"severity {severity} needs {len(STAGES)} escalation offsets "
                         f"({', '.join(STAGES)}), got {len(stage_offsets)}")
    start = _utc(opened_at)
    return tuple(Stage(stage, start + offset) for stage, offset in zip(STAGES, stage_offsets))


def next_reminder(incident: Incident, *, every: timedelta | None, now: datetime) -> datetime | None:
    """When to repeat the group reminder: `every` after the last one (or the retries check).

    Only while nobody has taken the incident (status "open"); None when reminders are off, the
    retries stage has not fired yet, or the incident was acknowledged or resolved. Never earlier
    than `now`: after downtime one reminder is due at once, not one per missed period.
    """
    if every is None or every <= timedelta(0) or incident.status != Status.OPEN:
        return None
    retries = incident.stage("retries")
    if retries is None or retries.fired_at is None:
        return None
    last = retries.fired_at
    for entry in incident.timeline:
        if entry.name == "reminder" or (entry.name == "escalation"
                                        and entry.detail.get("stage") == "retries"):
            last = max(last, entry.at)
    return max(last + every, _utc(now))


def response_deadline(severity: str, opened_at: datetime) -> datetime | None:
    """When the playbook expects a response: P0 at once, P1 within 1 h, P2 4 h, P3 24 h; None for an unknown severity."""
    allowed = RESPONSE_TIMES.get(severity)
    return None if allowed is None else opened_at + allowed
