"""Diagnose actions that ask a component how it is: health, statistics, Cloudinary, Instagram, Telegram."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.actions.common import OUTCOME_OF_STATE
from bot.clock import local_time
from bot.actions.registry import ActionContext, ActionSpec, Outcome, Param, StepResult
from bot.errors import ServiceError
from bot.health import COMPONENTS, State, describe_error
from bot.health.thresholds import credits_state, quota_state



async def health_check(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """The playbook's health check: every component (or the named ones), one line per problem."""
    report = await ctx.health(args.get("components") or None)
    tr = ctx.tr
    counts = {state: sum(1 for r in report.results if r.state is state) for state in State}
    lines = tuple(
        ctx.redact(tr("act.health.line", component=r.component, state=tr(f"act.state.{r.state.value}"),
                      reason=r.reason))
        for r in report.results if r.state is not State.OK
    )
    summary = tr("act.health.summary", ok=counts[State.OK], degraded=counts[State.DEGRADED],
                 down=counts[State.DOWN])
    return StepResult(
        OUTCOME_OF_STATE[report.overall], summary, lines,
        data={"overall": report.overall.value,
              "states": {r.component: r.state.value for r in report.results}},
    )


async def stats_freshness(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """Scenario 5: how old `last_updated` in instagram_stats.json is, judged like /health does."""
    tr = ctx.tr
    fresh = await ctx.files.stats_freshness()
    # the stats probe holds the configured age limit; asking it keeps one rule for both
    probe = (await ctx.health(["stats"])).get("stats")
    if probe is not None:
        state, reason = probe.state, probe.reason
    elif fresh.last_updated is None:
        state, reason = State.DOWN, tr(f"probe.stats.{fresh.problem}", file=fresh.path.name)
    else:
        state, reason = State.OK, tr("act.stats.updated", at=local_time(fresh.last_updated, ctx.tz))
    lines = [tr("act.stats.file", file=fresh.path.name)]
    data: dict[str, Any] = {"problem": fresh.problem, "last_updated": None, "age_h": None}
    if fresh.last_updated is not None:
        age_h = (ctx.clock() - fresh.last_updated).total_seconds() / 3600
        lines.append(tr("act.stats.last_updated", at=local_time(fresh.last_updated, ctx.tz),
                        age=f"{max(age_h, 0):.1f}"))
        data |= {"last_updated": fresh.last_updated.isoformat(), "age_h": round(age_h, 2)}
    return StepResult(OUTCOME_OF_STATE[state], f"{tr('component.stats')}: {reason}", tuple(lines),
                      data=data)


async def cloudinary_usage(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """Scenario 2: the Cloudinary plan and how much of its credits are used."""
    tr = ctx.tr
    assert ctx.images is not None  # spec.needs: run_action checked it
    try:
        usage = await ctx.images.usage()
    except ServiceError as exc:
        return StepResult(Outcome.FAIL, tr("act.cloudinary.failed", reason=describe_error(exc, tr)),
                          data={"error": exc.kind.value})
    pct = usage.credits_used_pct
    data = {"plan": usage.plan, "credits_used": usage.credits_used,
            "credits_limit": usage.credits_limit, "credits_used_pct": pct}
    if pct is None:
        return StepResult(Outcome.OK, tr("act.cloudinary.no_usage", plan=usage.plan), data=data)
    outcome = OUTCOME_OF_STATE[credits_state(pct)]  # graded like the cloudinary probe
    lines: tuple[str, ...] = ()
    if usage.credits_used is not None and usage.credits_limit is not None:
        lines = (tr("act.cloudinary.credits", used=f"{usage.credits_used:g}",
                    limit=f"{usage.credits_limit:g}"),)
    return StepResult(outcome, tr("act.cloudinary.summary", plan=usage.plan, pct=f"{pct:.1f}"),
                      lines, data=data)


async def instagram_quota(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """Scenario 4: the 24-hour content-publishing quota, or the rate limit that hides it."""
    tr = ctx.tr
    assert ctx.instagram is not None  # spec.needs: run_action checked it
    try:
        quota = await ctx.instagram.publishing_quota()
    except ServiceError as exc:
        return StepResult(Outcome.FAIL, tr("act.quota.failed", reason=describe_error(exc, tr)),
                          data={"error": exc.kind.value, "retry_after_s": exc.retry_after_s,
                                "usage_pct": exc.usage_pct})
    hours = max(1, round(quota.window_s / 3600))
    outcome = OUTCOME_OF_STATE[quota_state(quota)]  # graded like the instagram probe
    summary = tr("act.quota.summary", used=quota.used, total=quota.total, hours=hours,
                 pct=f"{quota.used_pct:.0f}")
    return StepResult(outcome, summary, data={"used": quota.used, "total": quota.total,
                                              "window_s": quota.window_s})


async def telegram_test_message(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """Scenario 6: send a real message to the ops chat, the way the notifier would."""
    tr = ctx.tr
    assert ctx.chat is not None  # spec.needs: run_action checked it
    if ctx.ops_chat_id is None:
        return StepResult(Outcome.FAIL, tr("act.telegram.no_chat"))
    text = tr("act.telegram.text", ref=ctx.incident_ref or "SunFlow Ops")
    try:
        message_id = await ctx.chat.send_message(ctx.ops_chat_id, text, ctx.ops_thread_id)
    except ServiceError as exc:
        return StepResult(Outcome.FAIL, tr("act.telegram.failed", reason=describe_error(exc, tr)),
                          data={"error": exc.kind.value, "chat_id": ctx.ops_chat_id})
    return StepResult(Outcome.OK, tr("act.telegram.sent", message_id=message_id),
                      data={"message_id": message_id, "chat_id": ctx.ops_chat_id,
                            "thread_id": ctx.ops_thread_id})


# what this module offers runbook steps (bot.actions.catalog puts them together)
ACTIONS = (
    ActionSpec("health.check", health_check, params={"components": Param(list, choices=COMPONENTS)}),
    ActionSpec("stats.freshness", stats_freshness),
    ActionSpec("cloudinary.usage", cloudinary_usage, needs=("images",)),
    ActionSpec("instagram.quota", instagram_quota, needs=("instagram",)),
    ActionSpec("telegram.test_message", telegram_test_message, needs=("chat",)),
)
