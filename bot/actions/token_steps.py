"""Scenario 1 as step actions: the token's status, the renewal guide, registering the expiry."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

from bot.actions.common import OUTCOME_OF_STATE
from bot.actors import display_name
from bot.clock import local_time
from bot.actions.registry import ActionContext, ActionSpec, Outcome, Param, StepResult
from bot.health.token import (
    MAX_EXPIRY_DAYS,
    MIN_EXPIRY_DAYS,
    SOURCE_SET_EXPIRY,
    TokenStatus,
    describe_days_left,
    describe_source,
    describe_token,
    guide_steps,
    set_token_expiry,
)

PLAYBOOK_EXPIRY_DAYS = 60  # `token_monitor.py set-expiry 60`


async def token_status(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """`token_monitor.py status`: valid or not, when it expires, and who says so."""
    tr = ctx.tr
    status: TokenStatus = await ctx.token_status()
    lines = []
    if status.expires_at is not None and not status.never_expires:
        lines.append(tr("act.token.expires", date=local_time(status.expires_at, ctx.tz),
                        left=describe_days_left(status, tr)))
    lines.append(tr("act.token.source", source=describe_source(status, tr, ctx.tz)))
    if status.source != SOURCE_SET_EXPIRY and status.registration is not None:
        lines.append(tr("act.token.registered", date=local_time(status.registration.expires_at, ctx.tz),
                        actor=display_name(status.registration.actor)))
    days = status.days_left
    return StepResult(
        OUTCOME_OF_STATE[status.state],
        ctx.redact(describe_token(status, tr)),
        tuple(ctx.redact(line) for line in lines),
        data={"state": status.state.value, "valid": status.valid, "expired": status.expired,
              "expires_at": status.expires_at.isoformat() if status.expires_at else None,
              "days_left": None if days is None else math.floor(days * 100) / 100,
              "source": status.source},
    )


async def token_guide(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """`token_monitor.py guide`: the renewal steps."""
    tr = ctx.tr
    return StepResult(Outcome.OK, tr("guide.title"), guide_steps(tr))


async def token_set_expiry(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """`token_monitor.py set-expiry 60`: the new token expires that many days from now."""
    days = args["days"]
    # the store fsyncs its journal: keep that off the event loop
    expires_at = await asyncio.to_thread(set_token_expiry, ctx.store, days,
                                         actor=ctx.actor or "unknown", clock=ctx.clock)
    return StepResult(Outcome.OK, ctx.tr("act.token.expiry_set", days=days, date=local_time(expires_at, ctx.tz)),
                      data={"days": days, "expires_at": expires_at.isoformat()})


# what this module offers runbook steps (bot.actions.catalog puts them together)
ACTIONS = (
    ActionSpec("token.status", token_status, needs=("instagram",)),
    ActionSpec("token.guide", token_guide),
    ActionSpec("token.set_expiry", token_set_expiry, params={
    "days": Param(int, default=PLAYBOOK_EXPIRY_DAYS, low=MIN_EXPIRY_DAYS, high=MAX_EXPIRY_DAYS)}),
)
