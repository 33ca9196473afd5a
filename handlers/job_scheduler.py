"""The incident flows' Scheduler on PTB's JobQueue.

A job that fell due while the bot was down runs at once: APScheduler would drop a past-due
one-off job, so the delay is clamped to zero and `misfire_grace_time` is None.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from telegram.ext import ContextTypes, JobQueue

from bot.clock import Clock
from bot.incidents.ports import Work

JOB_KWARGS = {"misfire_grace_time": None, "coalesce": True}


class JobQueueScheduler:
    def __init__(self, queue: JobQueue | None, clock: Clock) -> None:
        self.queue, self.clock = queue, clock  # no queue (PTB without its job-queue extra): no clock

    def at(self, name: str, due: datetime, work: Work) -> None:
        if self.queue is None:
            return
        self.cancel_exactly(name)
        delay = max(0.0, (due - self.clock()).total_seconds())
        self.queue.run_once(_run, delay, data=work, name=name, job_kwargs=JOB_KWARGS)

    def cancel_exactly(self, name: str) -> None:
        if self.queue is not None:
            for job in self.queue.get_jobs_by_name(name):
                job.schedule_removal()

    def cancel(self, prefix: str) -> None:
        if self.queue is not None:
            for job in self.queue.jobs():
                if job.name and job.name.startswith(prefix):
                    job.schedule_removal()


async def _run(context: ContextTypes.DEFAULT_TYPE) -> None:
    if context.job is None:  # PTB gives a job's callback its job
        raise LookupError("a job callback was called without its job")
    # `at()` is the only place that schedules _run, always with the Work as its data
    await cast(Work, context.job.data)()
