"""A recovery run as a trace: `SF-YYYYMMDD-NNNN` in the store, stage by stage.

Each run of a recovery action (a publish, a regeneration, an upload...) is one trace, written
to the store as it goes: the stages it passed (`quota`, `upload`, `container`, `publish`...),
each with its status, duration and error kind; the facts a later retry resumes from (the
container id, fal's request id, the uploaded image URLs), each written the moment it is known;
and how it ended. The pipeline numbers its own runs the same way (`config/logs/traces/`); a run
of the bot takes the next number of its day after every trace the store and the pipeline's
folder hold. Nothing written here is a secret: messages are redacted first.

Stages also tell the live message where a run is (`ActionContext.progress`).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from bot.actions.registry import ActionContext
from bot.errors import ServiceError
from bot.store import TraceRecord

RUN_BY = "sunflow-ops"  # `detail.run_by` of the bot's own traces (the pipeline's have none)
FAILED_STATUSES = frozenset({"error", "failed", "failure"})
_ID = re.compile(r"^SF-(\d{8})-(\d{4,})$")
_RECENT = 500  # traces looked at for a topic's last failure


@dataclass(frozen=True)
class StageDone:
    stage: str
    status: str  # ok, failed
    ms: int
    error_kind: str | None = None


class RunTrace:
    """One recovery run, written to the store as it goes. Use `RunTrace.start`."""

    def __init__(self, ctx: ActionContext, trace_id: str, action: str, started: datetime,
                 topic: str | None) -> None:
        self._ctx, self.trace_id, self.action, self.started = ctx, trace_id, action, started
        self.topic = topic
        self.stages: list[StageDone] = []
        self.facts: dict[str, Any] = {}
        self.stage = "start"
        self.status = "running"
        self.error: str | None = None
        self.error_kind: str | None = None
        self.failed_at: str | None = None  # the stage whose failure ended the run

    @classmethod
    async def start(cls, ctx: ActionContext, action: str, *, topic: str | None,
                    taken: Iterable[str] = ()) -> RunTrace:
        """A new trace, on the record before the run does anything. `taken`: ids the pipeline's
        trace folder holds, so the new number follows them."""
        started = ctx.clock()
        day = started.astimezone(ctx.tz).strftime("%Y%m%d")

        def allocate() -> str:
            used = [int(m.group(2)) for t in (*taken, *(r.trace_id for r in ctx.store.traces(limit=_RECENT)))
                    if (m := _ID.match(t)) and m.group(1) == day]
            n = ctx.store.next_sequence(f"trace:{day}", floor=max(used, default=0))
            return f"SF-{day}-{n:04d}"

        trace = cls(ctx, await asyncio.to_thread(allocate), action, started, topic)
        await trace._write()
        return trace

    @asynccontextmanager
    async def step(self, stage: str, progress: str | None = None) -> AsyncIterator[None]:
        """Time one stage; a failure in it is recorded (kind and redacted message) and raised on."""
        self.stage = stage
        if progress is not None:
            self._ctx.progress(progress)
        began = time.monotonic()
        await self._write()
        try:
            yield
        except BaseException as exc:
            kind = exc.kind.value if isinstance(exc, ServiceError) else type(exc).__name__
            self.stages.append(StageDone(stage, "failed", _ms(began), kind))
            self.status, self.error_kind, self.failed_at = "failed", kind, stage
            self.error = self._ctx.redact(str(exc))[:300] if isinstance(exc, ServiceError) else None
            await asyncio.shield(self._write())
            raise
        self.stages.append(StageDone(stage, "ok", _ms(began)))

    async def note(self, **facts: Any) -> None:
        """Facts a retry resumes from, on the record before the run goes on."""
        self.facts.update(facts)
        await self._write()

    async def finish(self, status: str = "ok") -> None:
        self.status = status
        if status == "ok":  # a stage that failed on the way was got past (its entry says so)
            self.failed_at = self.error_kind = self.error = None
        await self._write()

    async def _write(self) -> None:
        ctx = self._ctx
        detail = {
            "run_by": RUN_BY, "action": self.action, "incident": ctx.incident_ref,
            "actor": ctx.actor, "stages": [asdict(s) for s in self.stages],
            "facts": self.facts, "error": self.error, "error_kind": self.error_kind,
            "failed_at": self.failed_at,
        }
        await asyncio.to_thread(ctx.store.add_trace, self.trace_id, at=self.started,
                                stage=self.stage, status=self.status, topic=self.topic,
                                detail=detail)


def _ms(began: float) -> int:
    return round((time.monotonic() - began) * 1000)


def is_ours(record: TraceRecord) -> bool:
    return record.detail.get("run_by") == RUN_BY


def last_failure(records: Iterable[TraceRecord], topic: str, *,
                 actions: frozenset[str] = frozenset()) -> TraceRecord | None:
    """The topic's newest run when it failed (the pipeline's or the bot's) or is one of the
    bot's left `running` by a crash (its facts say how far it got); None when the newest run
    succeeded or there is none. Of the bot's runs only those of `actions` count (a successful
    upload says nothing about a publish's container). A `running` trace of the pipeline's is
    its business: skipped."""
    for record in records:  # newest first
        if record.topic != topic or (is_ours(record) and record.detail.get("action") not in actions):
            continue  # another topic, or a run of the bot's that this action does not resume
        status = record.status.lower()
        if status == "running":
            if is_ours(record):
                return record
            continue
        return record if status in FAILED_STATUSES else None
    return None


def facts_of(record: TraceRecord | None) -> Mapping[str, Any]:
    facts = record.detail.get("facts") if record is not None else None
    return facts if isinstance(facts, Mapping) else {}
