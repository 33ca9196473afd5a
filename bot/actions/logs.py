"""The pipeline's logs as steps: `tail -50`, `grep "429"`, and the playbook's log collection."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from bot.actions.common import (
    PREVIEW_LINES,
    clip,
    day_stamp,
    file_prefix,
    human_size,
    is_long,
    text_document,
)
from bot.actions.registry import ActionContext, ActionSpec, Document, Outcome, Param, StepResult
from bot.ports import LogLine, UnsafePath

_EPOCH = datetime.min.replace(tzinfo=timezone.utc)


def _by_time(lines: list[LogLine]) -> list[LogLine]:
    # stable: lines without a time keep their file order, ahead of timed ones
    return sorted(lines, key=lambda line: line.at or _EPOCH)


def _shown(line: LogLine) -> str:
    # the files adapter hands lines over redacted, so cutting one cannot leave half a secret
    return f"{line.file}: {clip(line.text)}"


async def logs_tail(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """`tail -50 config/logs/*_stderr.log`; long output goes in a file."""
    tr = ctx.tr
    count, pattern = args["lines"], args["files"]
    try:
        tails = await ctx.files.tail_logs(pattern, count)
    except UnsafePath:
        return StepResult(Outcome.FAIL, tr("act.logs.refused", pattern=pattern))
    if not tails:
        return StepResult(Outcome.WARN, tr("act.logs.no_files", pattern=pattern))
    text: list[str] = []
    for tail in tails:  # tail's own layout for several files
        if text:
            text.append("")
        text.append(f"==> {tail.file} <==")
        text.extend(tail.lines if tail.problem is None
                    else [tr("act.logs.unreadable", file=tail.file, problem=tail.problem)])
    errors = _by_time([line for tail in tails for line in tail.error_lines])
    unreadable = [tail.file for tail in tails if tail.problem is not None]
    summary = tr("act.logs.tail_summary", lines=count, files=len(tails), pattern=pattern,
                 errors=len(errors))
    document: Document | None = None
    if is_long(text):
        filename = f"{file_prefix(ctx, 'logs')}-tail-{day_stamp(ctx)}.log"
        document = text_document(ctx, filename, text, tr("act.logs.tail_caption", pattern=pattern))
        if errors:
            preview = [tr("act.logs.latest_errors"), *map(_shown, errors[-PREVIEW_LINES:])]
        else:
            newest = max(tails, key=lambda tail: tail.modified or _EPOCH)
            preview = [tr("act.logs.last_lines", file=newest.file),
                       *(clip(line) for line in newest.lines[-PREVIEW_LINES:])]
        lines = [tr("act.in_document", filename=filename), *preview]
    else:
        lines = text  # short enough to show whole
    return StepResult(
        Outcome.WARN if errors or unreadable else Outcome.OK, summary,
        tuple(ctx.redact(line) for line in lines), document,
        data={"files": [tail.file for tail in tails], "errors": len(errors),
              "unreadable": unreadable},
    )


async def logs_grep(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """`grep "429" config/logs/*.log`: literal text, case as given; counts and the last matches."""
    tr = ctx.tr
    needle, pattern, show = args.get("pattern"), args["files"], args["show"]
    if not isinstance(needle, str) or not needle:
        return StepResult(Outcome.FAIL, tr("act.logs.no_pattern"))
    try:
        found = await ctx.files.grep_logs(pattern, needle, show)
    except UnsafePath:
        return StepResult(Outcome.FAIL, tr("act.logs.refused", pattern=pattern))
    if not found:
        return StepResult(Outcome.WARN, tr("act.logs.no_files", pattern=pattern),
                          data={"matches": 0})
    total = sum(m.count for m in found)
    hit = [m for m in found if m.count]
    lines = [tr("act.logs.unreadable", file=m.file, problem=m.problem)
             for m in found if m.problem is not None]
    data = {"matches": total, "per_file": {m.file: m.count for m in hit}}
    if not total:
        return StepResult(Outcome.WARN if lines else Outcome.OK,
                          ctx.redact(tr("act.logs.grep_none", text=needle, pattern=pattern)),
                          tuple(lines), data=data)
    last = _by_time([line for m in hit for line in m.last])[-show:]
    counts = [tr("act.logs.grep_file", file=m.file, count=m.count) for m in hit]
    lines += [*counts, tr("act.logs.grep_last", count=len(last)), *map(_shown, last)]
    document: Document | None = None
    if is_long(lines):
        filename = f"{file_prefix(ctx, 'logs')}-grep-{day_stamp(ctx)}.log"
        full = [*counts, "", *(f"{line.file}: {line.text}" for line in last)]
        document = text_document(ctx, filename, full, tr("act.logs.grep_caption", text=needle))
        lines = [*counts, tr("act.in_document", filename=filename),
                 *map(_shown, last[-PREVIEW_LINES:])]
    summary = tr("act.logs.grep_summary", text=needle, matches=total, files=len(hit),
                 pattern=pattern)
    return StepResult(Outcome.WARN, ctx.redact(summary), tuple(ctx.redact(l) for l in lines),
                      document, data=data)


async def logs_collect(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """The playbook's log collection: stderr tails and SF-* traces in one redacted .tar.gz."""
    tr = ctx.tr
    count, day = args["lines"], day_stamp(ctx)
    folder = f"{file_prefix(ctx, 'sunflow')}-logs-{day}"
    bundle = await ctx.files.collect_bundle(count, day, folder)
    if not bundle.members:
        return StepResult(Outcome.WARN, tr("act.logs.nothing"))
    filename = f"{folder}.tar.gz"
    summary = tr("act.logs.collected", lines=count, logs=len(bundle.log_files),
                 traces=len(bundle.trace_ids), filename=filename, size=human_size(len(bundle.content)))
    lines = []
    if bundle.log_files:
        lines.append(tr("act.logs.bundle_logs", day=day, files=", ".join(bundle.log_files)))
    if bundle.trace_ids:
        lines.append(tr("act.logs.bundle_traces", ids=", ".join(bundle.trace_ids)))
    document = Document(filename, bundle.content, tr("act.logs.bundle_caption", filename=filename))
    return StepResult(Outcome.OK, summary, tuple(lines), document, trace_ids=bundle.trace_ids,
                      data={"members": list(bundle.members), "bytes": len(bundle.content)})


# what this module offers runbook steps (bot.actions.catalog puts them together)
ACTIONS = (
    ActionSpec("logs.tail", logs_tail, params={"lines": Param(int, default=50, low=1, high=500),
                                               "files": Param(str, default="*_stderr.log")}),
    ActionSpec("logs.grep", logs_grep, params={"pattern": Param(str, required=True),
                                               "files": Param(str, default="*.log"),
                                               "show": Param(int, default=5, low=1, high=50)}),
    ActionSpec("logs.collect", logs_collect, params={"lines": Param(int, default=200, low=1, high=2000)}),
)
