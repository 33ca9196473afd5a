"""`trace_manager.py list` as a step: import the pipeline's SF-* trace files, list the newest."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bot.clock import parse_pipeline_time
from bot.actions.common import (
    PREVIEW_LINES,
    clip,
    day_stamp,
    file_prefix,
    is_long,
    text_document,
)
from bot.clock import local_time
from bot.actions.registry import ActionContext, ActionSpec, Outcome, Param, StepResult
from bot.ports import TraceFile

ERROR_STATUSES = frozenset({"error", "failed", "failure"})
TRACES_KEPT = timedelta(days=30)  # how long a trace stays in memory (`bot.retention` archives older)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def import_trace(ctx: ActionContext, trace: TraceFile) -> str | None:
    """Upsert one trace file into the store; why it could not be, or None."""
    if trace.body is None:
        return trace.problem or "unreadable"
    body = trace.body
    trace_id = _text(body.get("trace_id")) or trace.name.removesuffix(".json")
    # a naive time is the pipeline machine's local time
    at = parse_pipeline_time(body.get("started_at")) or parse_pipeline_time(body.get("ended_at"))
    if at is None:
        return "no started_at or ended_at time"
    if at < ctx.clock() - TRACES_KEPT:  # archived or about to be: not brought back into memory
        return None
    error = value if isinstance(value := body.get("error"), dict) else {}
    message = _text(error.get("message"))
    attempts = body.get("attempts")
    ctx.store.add_trace(
        trace_id, at=at, stage=_text(body.get("stage")) or "?",
        status=_text(body.get("status")) or "?", topic=_text(body.get("topic")),
        detail={
            "started_at": _text(body.get("started_at")), "ended_at": _text(body.get("ended_at")),
            "error": ctx.redact(message) if message else None,
            "error_type": _text(error.get("type")),
            "attempts": attempts if isinstance(attempts, int) and not isinstance(attempts, bool)
            else None,
            "file": trace.name,
        },
    )
    return None


async def list_traces(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """The newest traces, after importing config/logs/traces/SF-*.json into the store."""
    tr = ctx.tr
    files = await ctx.files.trace_files()

    def import_all() -> list[str]:
        problems = []
        for trace in files:
            why = import_trace(ctx, trace)
            if why is not None:
                problems.append(tr("act.traces.unreadable", file=trace.name, problem=why))
        return problems

    problems = await asyncio.to_thread(import_all)  # each upsert is an fsynced store write
    records = await asyncio.to_thread(ctx.store.traces, limit=args["limit"])
    errors = [r for r in records if r.status.lower() in ERROR_STATUSES]
    listed = []
    for r in records:
        line = f"{r.trace_id} · {r.stage} · {r.status} · {r.topic or '-'} · {local_time(r.at, ctx.tz)}"
        message = r.detail.get("error")
        listed.append(ctx.redact(line + (f" — {clip(message, 120)}" if message else "")))
    summary = (tr("act.traces.summary", shown=len(records), errors=len(errors),
                  imported=len(files) - len(problems))
               if records else tr("act.traces.none"))
    lines = [ctx.redact(p) for p in problems] + listed
    document = None
    if is_long(lines):
        filename = f"{file_prefix(ctx, 'traces')}-traces-{day_stamp(ctx)}.txt"
        document = text_document(ctx, filename, [summary, *lines], tr("act.traces.caption"))
        lines = [tr("act.in_document", filename=filename), *lines[:PREVIEW_LINES]]
    return StepResult(
        Outcome.WARN if errors or problems else Outcome.OK, summary, tuple(lines), document,
        trace_ids=tuple(r.trace_id for r in records),
        data={"imported": len(files) - len(problems), "unreadable": len(problems),
              "errors": len(errors)},
    )


# what this module offers runbook steps (bot.actions.catalog puts them together)
ACTIONS = (
    ActionSpec("traces.list", list_traces, params={"limit": Param(int, default=10, low=1, high=50)}),
)
