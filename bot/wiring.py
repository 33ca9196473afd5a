"""The incident engine and flows, put together the same way for every way in (the bot, the
terminal): only the notifier and the scheduler differ."""

from __future__ import annotations

from bot.actions.catalog import effective
from bot.backups.mistakes import MistakesFile
from bot.incidents.engine import IncidentEngine
from bot.incidents.flows import IncidentFlows, Team
from bot.incidents.ports import Notifier, Scheduler
from bot.incidents.view import Viewer
from bot.runbooks import RunbookShelf
from bot.services import Services


def viewer(services: Services) -> Viewer:
    """How the team reads things, for any renderer: language, time zone, redactor, who is paged."""
    settings = services.settings
    return Viewer(services.tr, services.tr.lang, settings.timezone, services.redact,
                  no_pd=not settings.pd_user_ids, no_admins=not settings.admin_user_ids)


def incident_engine(services: Services, shelf: RunbookShelf | None = None) -> IncidentEngine:
    """The engine on the services' store; the runbooks read now unless a shelf is given
    (RunbookError names every problem by file)."""
    settings = services.settings
    # a planned step bound to one of the team's scripts is runnable
    actions = effective(services.scripts.bound())
    return IncidentEngine(services.store, shelf or RunbookShelf(settings.runbooks_dir, actions=actions),
                          offsets=settings.escalation_offsets, tz=settings.timezone,
                          clock=services.clock, redact=services.redact)


def incident_flows(services: Services, engine: IncidentEngine, notifier: Notifier,
                   scheduler: Scheduler) -> IncidentFlows:
    settings = services.settings
    team = Team(pd_user_ids=settings.pd_user_ids, admin_user_ids=settings.admin_user_ids,
                remind_every=settings.escalation_remind_every)
    return IncidentFlows(engine, notifier, scheduler, team=team, run_step=services.run_step,
                         tr=services.tr, lang=services.tr.lang, tz=settings.timezone,
                         redact=services.redact, clock=services.clock,
                         mistakes=MistakesFile(services.backups))
