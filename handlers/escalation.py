"""The playbook's escalation clock on the JobQueue, armed from due times kept in the store.

0 min: the live message itself is the alert. 30 min: a reply asking whether the three automatic
retries are done (and, until someone acknowledges, a reminder every ESCALATION_REMIND_EVERY).
1 hour: the PD, by direct message and by a mention in the group. 4 hours: the admins, "manual
intervention needed". A stage is sent first and marked fired after, so a crash in between means
a repeated alert at the next start, never a lost one; a stage nobody received (Telegram down) is
tried again a minute later. After a restart every unfired stage is
armed again; one that fell due while the bot was down fires at once (APScheduler would drop a
past-due one-off job, so the delay is clamped to zero and misfire_grace_time is None).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from html import escape

from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from bot.actors import display_name
from bot.clock import parse_time
from bot.incidents.escalation_plan import next_reminder
from bot.incidents.record import OPEN, RESOLVED
from bot.incidents.stats import format_duration
from handlers.context import KEY, BotContext
from handlers.incident_live import post_live, refresh_live, reply_to_live
from handlers.incident_render import title_of

log = logging.getLogger(__name__)
JOB_KWARGS = {"misfire_grace_time": None, "coalesce": True}
RETRY_UNDELIVERED_S = 60.0  # a stage nobody received (Telegram down) is tried again this soon
REMINDER_SLACK = timedelta(seconds=0.2)  # a reminder job this early still counts as due


def _prefix(doc_id: int) -> str:
    return f"inc:{doc_id}:"


def _delay_s(ctx: BotContext, due: datetime) -> float:
    return max(0.0, (due - ctx.services.clock()).total_seconds())


def arm(application: Application, incident: dict | None) -> None:
    """Schedule every unfired stage of an unresolved incident, and its next reminder."""
    if incident is None or incident["status"] == RESOLVED or application.job_queue is None:
        return
    ctx: BotContext = application.bot_data[KEY]
    queue = application.job_queue
    for entry in incident["escalation"]:
        if entry["fired_at"] is not None:
            continue
        name = f"{_prefix(incident['id'])}{entry['stage']}"
        for job in queue.get_jobs_by_name(name):
            job.schedule_removal()
        queue.run_once(_stage_job, _delay_s(ctx, parse_time(entry["due_at"])),
                       data=(incident["id"], entry["stage"]), name=name, job_kwargs=JOB_KWARGS)
    _arm_reminder(application, incident)


def _arm_reminder(application: Application, incident: dict) -> None:
    ctx: BotContext = application.bot_data[KEY]
    queue = application.job_queue
    name = f"{_prefix(incident['id'])}remind"
    for job in queue.get_jobs_by_name(name):
        job.schedule_removal()
    due = next_reminder(incident, every=ctx.settings.escalation_remind_every, now=ctx.services.clock())
    if due is not None:
        queue.run_once(_remind_job, _delay_s(ctx, due), data=incident["id"], name=name,
                       job_kwargs=JOB_KWARGS)


def disarm(application: Application, doc_id: int) -> None:
    """Drop an incident's pending jobs (resolved, or about to be re-armed)."""
    if application.job_queue is None:
        return
    for job in application.job_queue.jobs():
        if job.name and job.name.startswith(_prefix(doc_id)):
            job.schedule_removal()


async def arm_all(application: Application) -> int:
    """At start: steps a crash left running go back to pending; every open incident is re-armed,
    and its live message shows the stored state again (a kill mid-step left it saying
    "running" without the Run button)."""
    ctx: BotContext = application.bot_data[KEY]
    for incident in await asyncio.to_thread(ctx.engine.recover_interrupted):
        log.warning("%s: a step was running when the bot stopped; it is pending again", incident["ref"])
    incidents = await asyncio.to_thread(ctx.engine.unresolved)
    for incident in incidents:
        arm(application, incident)
        if incident.get("message"):
            refresh_live(application.bot, ctx, incident["id"], known=incident)
    return len(incidents)


async def _stage_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    doc_id, stage = context.job.data
    await fire_stage(context.application, doc_id, stage, by=None)


async def _remind_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    application = context.application
    ctx: BotContext = application.bot_data[KEY]
    async with ctx.clock_lock(context.job.data):
        incident = await asyncio.to_thread(ctx.engine.get, context.job.data)
        if incident is None or incident["status"] != OPEN:
            return
        now = ctx.services.clock()
        due = next_reminder(incident, every=ctx.settings.escalation_remind_every, now=now)
        if due is None or due > now + REMINDER_SLACK:
            # a stage that fired meanwhile re-armed the reminder from a record that did not yet
            # hold the reminder just sent: it is not due again yet
            _arm_reminder(application, incident)
            return
        age = format_duration(now - parse_time(incident["opened_at"]), ctx.tr)
        await _say(application, incident, ctx.tr("escalation.reminder", ref=incident["ref"], age=age))
        noted = await asyncio.to_thread(ctx.engine.note_reminder, incident["id"])
        if noted is not None:
            _arm_reminder(application, noted)


async def fire_stage(application: Application, doc_id: int, stage: str, *, by: str | None) -> None:
    """Send one stage of the clock (by the job, or early by someone's Escalate press).

    One stage or reminder of an incident at a time (`clock_lock`): the PD stage falling due in
    the same instant as a reminder sent the reminder twice."""
    ctx: BotContext = application.bot_data[KEY]
    async with ctx.clock_lock(doc_id):
        await _fire_stage(application, ctx, doc_id, stage, by=by)


async def _fire_stage(application: Application, ctx: BotContext, doc_id: int, stage: str, *,
                      by: str | None) -> None:
    incident = await asyncio.to_thread(ctx.engine.get, doc_id)
    if incident is None or incident["status"] == RESOLVED:
        return
    entry = next((e for e in incident["escalation"] if e["stage"] == stage), None)
    if by is None and entry is not None and entry["fired_at"] is not None:
        return  # already sent (pressed early, or before a restart)
    tr = ctx.tr
    ref, title = incident["ref"], escape(title_of(incident, tr.lang))
    age = format_duration(ctx.services.clock() - parse_time(incident["opened_at"]), tr)
    if stage == "alert":
        try:
            await post_live(application.bot, ctx, incident)
            delivered = True
        except TelegramError:
            log.warning("alert for %s could not be posted", ref, exc_info=True)
            delivered = False
    elif stage == "retries":
        key = "escalation.retries" if incident["acknowledged_at"] else "escalation.retries_unacked"
        delivered = await _say(application, incident, tr(key, ref=ref, age=age))
    else:  # pd, manual: a page, by the clock or by someone's press
        people = ctx.settings.pd_user_ids if stage == "pd" else ctx.settings.admin_user_ids
        key = f"escalation.{stage}" + ("_pressed" if by else "")
        text = tr(key, ref=ref, title=title, age=age, by=escape(display_name(by)))
        delivered = await _page(application, incident, people, text, stage)
    if not delivered:  # nobody heard it: not fired; try again shortly rather than lose it
        if application.job_queue is not None:
            application.job_queue.run_once(_stage_job, RETRY_UNDELIVERED_S, data=(doc_id, stage),
                                           name=f"{_prefix(doc_id)}{stage}", job_kwargs=JOB_KWARGS)
        return
    fired = await asyncio.to_thread(ctx.engine.mark_fired, doc_id, stage)
    if fired is not None:
        _arm_reminder(application, fired)
        refresh_live(application.bot, ctx, doc_id)


async def _page(application: Application, incident: dict, user_ids: frozenset[int], text: str,
                stage: str) -> bool:
    """A direct message to each person, and one mention of them all under the live message;
    True when anyone got it."""
    ctx: BotContext = application.bot_data[KEY]
    tr = ctx.tr
    unreachable = []
    for user_id in sorted(user_ids):
        try:
            await application.bot.send_message(user_id, ctx.redact(text), parse_mode=ParseMode.HTML)
        except TelegramError as exc:  # never pressed Start in a private chat, or blocked the bot
            log.warning("could not message %s about %s: %s", user_id, incident["ref"], exc)
            unreachable.append(str(user_id))
    direct = len(unreachable) < len(user_ids)
    label = escape(tr(f"escalation.person.{stage}"))
    numbered = len(user_ids) > 1
    mentions = ", ".join(f'<a href="tg://user?id={uid}">{label}{f" {n}" if numbered else ""}</a>'
                         for n, uid in enumerate(sorted(user_ids), 1))
    group = text + ("\n→ " + mentions if mentions else "")
    if not user_ids:
        group += "\n" + tr(f"escalation.nobody.{stage}")
    if unreachable:
        group += "\n" + tr("escalation.dm_failed", ids=", ".join(unreachable))
    return await _say(application, incident, group) or direct


async def _say(application: Application, incident: dict, text: str) -> bool:
    ctx: BotContext = application.bot_data[KEY]
    try:
        await reply_to_live(application.bot, ctx, incident, text)
    except TelegramError:
        log.warning("escalation message for %s could not be sent", incident["ref"], exc_info=True)
        return False
    return True
