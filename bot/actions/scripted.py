"""An action bound to one of the team's scripts (`sunflow-ops.scripts.toml`): run it, and read
its exit code as the outcome and its output's tail (redacted) as the details."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.actions.common import clip
from bot.actions.registry import ActionContext, ActionSpec, Outcome, StepResult
from bot.actions.recovery.traced import Run, traced
from bot.ports import Binding

SHOWN_LINES = 8


SLACK_S = 10.0  # the action's deadline is the script's own timeout and this


def scripted(spec: ActionSpec, binding: Binding) -> ActionSpec:
    """`spec` run by the team's script instead (a planned action becomes runnable)."""

    async def run(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
        return await run_bound(ctx, spec.name)

    return replace(spec, run=run, needs_topic=spec.needs_topic or binding.needs_topic, needs=(),
                   timeout_s=binding.timeout_s + SLACK_S)


async def run_bound(ctx: ActionContext, name: str) -> StepResult:
    """The bound script's run, recorded as a trace of its own (the script's own trace ids, read
    from its output, beside it)."""
    async def body(run: Run) -> StepResult:
        async with run.trace.step("script", ctx.tr("rec.progress.script")):
            return await _run_script(ctx, name)

    return await traced(ctx, name, body, topic=ctx.topic)


async def _run_script(ctx: ActionContext, name: str) -> StepResult:
    assert ctx.scripts is not None
    done = await ctx.scripts.run(name, topic=ctx.topic, incident=ctx.incident_ref)
    tail = tuple(clip(ctx.redact(line)) for line in done.tail if line.strip())  # redact, then cut
    data = {"exit_code": done.exit_code, "script": True}
    if done.exit_code is None:
        return StepResult(Outcome.FAIL, ctx.tr("act.script.timed_out", name=name), tail[-SHOWN_LINES:],
                          trace_ids=done.trace_ids, data=data)
    if done.exit_code != 0:
        return StepResult(Outcome.FAIL, ctx.tr("act.script.failed", name=name, code=done.exit_code),
                          tail[-SHOWN_LINES:], trace_ids=done.trace_ids, data=data)
    return StepResult(Outcome.OK, ctx.tr("act.script.ok", name=name), tail[-SHOWN_LINES:],
                      trace_ids=done.trace_ids, data=data)
