"""Running a recovery action as a trace: the failed trace it resumes from, the new one it writes,
and one StepResult whatever happens.

`traced(ctx, action, body)` imports the pipeline's trace files (so a retry can resume from a
run of the pipeline's own), finds the topic's last failed or interrupted run, opens a new
`RunTrace`, and runs `body(run)`. A classified vendor error, an unusable topic or post, or a
missing file ends the run as a failure that says, in one sentence, what failed where, with the
trace id; the result's data carries the error kind and the vendor's wait hint for the retry
policy (`bot.actions.recovery.retry_policy`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.actions.recovery.run_trace import RunTrace, facts_of, last_failure
from bot.actions.registry import ActionContext, Outcome, StepResult
from bot.actions.traces import import_trace
from bot.adapters.topic_post import TopicPostError
from bot.errors import ServiceError
from bot.health.report import describe_error
from bot.ports import TopicPost, UnsafePath
from bot.store import TraceRecord

_LOOKED_AT = 500  # newest traces searched for the topic's last failure
# facts a later run resumes from: carried into each new trace until a run replaces them
CARRIED = frozenset({"container_id", "children", "requests", "refused_prompt"})
_TOPIC_LOCKS: dict[str, asyncio.Lock] = {}


class Stop(Exception):
    """The run cannot go on for a reason a person must see (the message says it)."""

    def __init__(self, message: str, outcome: Outcome = Outcome.FAIL) -> None:
        super().__init__(message)
        self.outcome = outcome


@dataclass
class Run:
    """What a recovery body gets: the context, its trace, and the failed run it resumes."""

    ctx: ActionContext
    trace: RunTrace
    prior: TraceRecord | None  # the topic's last failed (or interrupted) run, if any

    @property
    def prior_facts(self) -> Mapping[str, Any]:
        return facts_of(self.prior)

    async def post(self, topic: str) -> TopicPost:
        """The topic's post.toml (Stop when it has none or it is wrong)."""
        post = await self.ctx.files.topic_post(topic)
        if post is None:
            raise Stop(self.ctx.tr("rec.no_post", topic=topic))
        return post


Body = Callable[[Run], Awaitable[StepResult]]


async def traced(ctx: ActionContext, action: str, body: Body, *, topic: str | None,
                 resume_from: frozenset[str] = frozenset()) -> StepResult:
    """Run `body` as a new trace of `action` for `topic`, handing it the topic's last failed run
    of the pipeline's or of one of the bot's `resume_from` actions (none: start from nothing).
    One recovery run per topic at a time (a second is refused in one sentence)."""
    lock = _TOPIC_LOCKS.setdefault(topic or action, asyncio.Lock())  # no topic: per action
    if lock.locked():
        return StepResult(Outcome.FAIL, ctx.tr("rec.topic_busy", topic=topic or action))
    async with lock:
        return await _traced(ctx, action, body, topic=topic, resume_from=resume_from)


async def _traced(ctx: ActionContext, action: str, body: Body, *, topic: str | None,
                  resume_from: frozenset[str]) -> StepResult:
    tr = ctx.tr
    files = await ctx.files.trace_files()
    await asyncio.to_thread(lambda: [import_trace(ctx, f) for f in files])
    prior = None
    if topic and resume_from:
        records = await asyncio.to_thread(ctx.store.traces, limit=_LOOKED_AT)
        prior = last_failure(records, topic, actions=resume_from)
    trace = await RunTrace.start(ctx, action, topic=topic,
                                 taken=[f.name.removesuffix(".json") for f in files])
    if prior is not None:  # what it left to resume from stays on record, run after run
        carried = {k: v for k, v in facts_of(prior).items() if k in CARRIED}
        await trace.note(resumes=prior.trace_id, **carried)
    data: dict[str, Any] = {"trace": trace.trace_id}
    try:
        result = await body(Run(ctx, trace, prior))
    except ServiceError as exc:
        await trace.finish("failed")
        stage = trace.failed_at or trace.stage
        data.update(error_kind=exc.kind.value, retry_after_s=exc.retry_after_s, stage=stage)
        return StepResult(Outcome.FAIL, tr("rec.failed", stage=stage, trace=trace.trace_id,
                                           error=ctx.redact(describe_error(exc, tr))),
                          trace_ids=(trace.trace_id,), data=data)
    except (Stop, UnsafePath, TopicPostError, FileNotFoundError) as exc:
        trace.error = ctx.redact(str(exc))[:300]
        await trace.finish("failed")
        data.update(stage=trace.stage)
        outcome = exc.outcome if isinstance(exc, Stop) else Outcome.FAIL
        message = str(exc) if isinstance(exc, Stop) else tr("rec.refused", problem=str(exc))
        return StepResult(outcome, ctx.redact(message), (tr("rec.trace", trace=trace.trace_id),),
                          trace_ids=(trace.trace_id,), data=data)
    except BaseException:
        await asyncio.shield(trace.finish("failed"))
        raise
    await trace.finish("ok" if result.outcome in (Outcome.OK, Outcome.WARN) else "failed")
    return StepResult(result.outcome, result.summary,
                      (*result.lines, tr("rec.trace", trace=trace.trace_id)), result.document,
                      trace_ids=(trace.trace_id, *result.trace_ids),
                      data={**data, **result.data})

