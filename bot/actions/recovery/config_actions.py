"""`publish.reschedule` (scenario 4: fewer posts a day): the publishing schedule changed, backed
up first. `backup.restore` (the playbook's configuration rollback): every configuration change
made during the incident undone at once.

`config/publishing.json` holds `posts_per_day` and the `post_times` of the day; the step lowers
`posts_per_day` by one (or to its `posts_per_day` argument) and keeps the earliest times. The
whole configuration is backed up before the write, so `/backups` can undo it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from bot.actions.recovery.traced import Run, traced
from bot.actions.registry import ActionContext, ActionSpec, Outcome, Param, StepResult
from bot.backups.managed_files import ManagedFileError
from bot.backups.service import BackupRefused

SCHEDULE_FILE = "config/publishing.json"


async def reschedule(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    return await traced(ctx, "publish.reschedule", lambda run: _reschedule(run, args), topic=None)


async def _reschedule(run: Run, args: Mapping[str, Any]) -> StepResult:
    ctx = run.ctx
    tr = ctx.tr
    if ctx.backups is None:
        return StepResult(Outcome.FAIL, tr("rec.needs.content"))
    backups = ctx.backups
    seen: dict[str, int] = {}

    def edit(content: bytes | None) -> bytes:
        if content is None:
            raise BackupRefused("rec.schedule_missing", file=SCHEDULE_FILE)
        try:
            schedule = json.loads(content)
        except ValueError:
            raise BackupRefused("rec.schedule_unreadable", file=SCHEDULE_FILE) from None
        before = schedule.get("posts_per_day") if isinstance(schedule, dict) else None
        if not isinstance(before, int) or isinstance(before, bool) or before < 1:
            raise BackupRefused("rec.schedule_unreadable", file=SCHEDULE_FILE)
        after = args.get("posts_per_day") or before - 1
        if after < 1 or after >= before:
            raise BackupRefused("rec.schedule_floor", now=before)
        times = schedule.get("post_times")
        if isinstance(times, list):
            schedule["post_times"] = sorted(times)[:after]
        schedule["posts_per_day"] = after
        seen.update(before=before, after=after)
        return (json.dumps(schedule, ensure_ascii=False, indent=2) + "\n").encode("utf-8")

    try:
        async with run.trace.step("schedule", tr("rec.progress.schedule")):
            backup, _ = await asyncio.to_thread(
                backups.change, SCHEDULE_FILE, edit, actor=ctx.actor,
                reason=f"publish.reschedule for {ctx.incident_ref or 'a drill'}")
    except BackupRefused as refused:
        return StepResult(Outcome.FAIL, tr(refused.key, **refused.params))
    except ManagedFileError as exc:
        return StepResult(Outcome.FAIL, ctx.redact(tr("backup.unreadable", problem=str(exc))))
    return StepResult(Outcome.OK, tr("rec.rescheduled", before=seen["before"], after=seen["after"]),
                      (tr("rec.backed_up", id=backup.backup_id),),
                      data={"backup": backup.backup_id, **seen})


async def restore_backup(ctx: ActionContext, args: Mapping[str, Any]) -> StepResult:
    """The configuration as it was when the incident opened: the oldest backup taken since (the
    bot backs up before every change it makes), restored the backups' way — what it overwrites
    is backed up first, so /backups can undo this too. `backup` names another one instead."""
    return await traced(ctx, "backup.restore", lambda run: _restore(run, args), topic=None)


async def _restore(run: Run, args: Mapping[str, Any]) -> StepResult:
    ctx = run.ctx
    tr = ctx.tr
    if ctx.backups is None:
        return StepResult(Outcome.FAIL, tr("rec.needs.content"))
    backups = ctx.backups
    wanted = args.get("backup")
    if wanted is None:
        since = ctx.incident_opened_at
        taken = await asyncio.to_thread(backups.taken_since, since) if since is not None else []
        if not taken:
            return StepResult(Outcome.OK, tr("rec.config_unchanged"))
        wanted = taken[0].backup_id
    try:
        # the runbook loader made this step admin-only and confirmed (`guarded`); the engine let
        # the confirmation through only within its five minutes
        async with run.trace.step("restore", tr("rec.progress.restore")):
            restored = await asyncio.to_thread(backups.restore, wanted, actor=ctx.actor or "unknown",
                                               admin=True, asked_at=ctx.clock())
    except BackupRefused as refused:
        if refused.key == "backup.same":
            return StepResult(Outcome.OK, tr("rec.config_as_backup", id=wanted))
        return StepResult(Outcome.FAIL, tr(refused.key, **refused.params))
    except ManagedFileError as exc:
        return StepResult(Outcome.FAIL, ctx.redact(tr("backup.unreadable", problem=str(exc))))
    return StepResult(Outcome.OK, tr("rec.config_restored", id=wanted,
                                     files=", ".join(restored.changed) or "—"),
                      (tr("rec.backed_up", id=restored.undo.backup_id),),
                      data={"backup": wanted, "undo": restored.undo.backup_id,
                            "files": list(restored.changed)})


ACTIONS = (
    ActionSpec("publish.reschedule", reschedule,
               params={"posts_per_day": Param(int, low=1, high=100)}),
    ActionSpec("backup.restore", restore_backup, guarded=True,
               params={"backup": Param(str, pattern=r"BK-\d{8}-\d{4,6}")}),
)
