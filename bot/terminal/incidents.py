"""`sunflow-ops incident …`: run an incident from a shell when the bot or Telegram is down.

The same flows, rules, actions, timeline and store as the chat, as the operator named by
`--as <telegram user id>` or SUNFLOW_OPERATOR (one of OPERATOR_USER_IDS or ADMIN_USER_IDS).
`list` and `show` read the store as it is, also while the bot runs; the commands that change
an incident need the store to themselves and exit 75 while the bot holds it. The group sees
what changed when the bot next starts.

Exit codes: 0 done · 1 refused, nothing changed (the reason is printed) · 64 bad usage ·
74 the store cannot be written · 75 the bot holds the store · 77 not an operator.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from dataclasses import dataclass

from bot.clock import Clock
from bot.config import Settings
from bot.exit_codes import (
    EX_CONFIG,
    EX_IOERR,
    EX_NOPERM,
    EX_OK,
    EX_REFUSED,
    EX_USAGE,
)
from bot.incidents.engine import IncidentEngine, Refused
from bot.incidents.flows import IncidentFlows
from bot.incidents.model import Incident, StepStatus, Verb
from bot.incidents.ports import NotDelivered
from bot.incidents.record import valid_ref, valid_topic
from bot.incidents.view import Viewer
from bot.runbooks import RunbookError
from bot.services import Services, build_services
from bot.store import StoreError
from bot.terminal.ports import NoClock, TerminalNotifier
from bot.terminal.render import incident_text, incidents_text
from bot.terminal.store_access import open_store
from bot.wiring import incident_engine, incident_flows, viewer

READING = frozenset({"list", "show"})
STEP_VERBS = {"run": Verb.RUN, "done": Verb.DONE, "skip": Verb.SKIP}


def add_parser(sub: argparse._SubParsersAction, parser_class: type) -> None:
    incident = sub.add_parser("incident", help="run an incident without the bot (list, show, open, "
                                               "ack, run, done, skip, resolve)")
    incident.add_argument("--as", dest="operator", metavar="TELEGRAM_USER_ID",
                          help="who you are (default: SUNFLOW_OPERATOR)")
    verbs = incident.add_subparsers(dest="incident_command", required=True, parser_class=parser_class)
    verbs.add_parser("list", help="the unresolved incidents")
    verbs.add_parser("show", help="one incident, as its live message shows it").add_argument("ref")
    opener = verbs.add_parser("open", help="open an incident (or join the open one)")
    opener.add_argument("scenario", help="a scenario's number, id or alias (see /runbooks)")
    opener.add_argument("topic", nargs="?", help="the affected topic (a folder under content/images)")
    verbs.add_parser("ack", help="acknowledge: you lead it").add_argument("ref")
    for name, what in (("run", "run the current step's action"), ("done", "the current step, done by hand"),
                       ("skip", "skip the current step")):
        step = verbs.add_parser(name, help=what)
        step.add_argument("ref")
        step.add_argument("step", nargs="?", type=int, help="its number (default: the current one)")
        if name == "run":
            step.add_argument("--yes", action="store_true", help="confirm a step that changes things")
    resolver = verbs.add_parser("resolve", help="resolve it (unverified: an admin, with --reason)")
    resolver.add_argument("ref")
    resolver.add_argument("--reason", help="why it is resolved without its verify steps passing")


@dataclass(frozen=True)
class Operator:
    user_id: int
    admin: bool

    @property
    def actor(self) -> str:
        return f"tg:{self.user_id}"


def operator(args: argparse.Namespace, settings: Settings) -> Operator | str:
    """Who runs the command, or why nobody may."""
    given = args.operator or os.environ.get("SUNFLOW_OPERATOR", "")
    if not given:
        return "say who you are: --as <your telegram user id>, or SUNFLOW_OPERATOR"
    if not given.strip().isdigit():
        return f"--as takes a Telegram user id (digits), got {given!r}"
    user_id = int(given)
    if user_id in settings.admin_user_ids:
        return Operator(user_id, admin=True)
    if user_id in settings.operator_user_ids:
        return Operator(user_id, admin=False)
    return f"{user_id} is not in OPERATOR_USER_IDS or ADMIN_USER_IDS"


def terminal_flows(services: Services) -> tuple[IncidentEngine, IncidentFlows] | int:
    """The engine and the flows as the terminal runs them (it reaches nobody, runs no clock),
    or the exit code after saying why the runbooks cannot be loaded."""
    try:
        engine = incident_engine(services)
    except RunbookError as exc:
        print(f"sunflow-ops: {exc}")
        return EX_CONFIG
    return engine, incident_flows(services, engine, TerminalNotifier(), NoClock())


async def run(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    command = args.incident_command
    who = operator(args, settings)
    if isinstance(who, str):
        print(f"sunflow-ops incident: {who}")
        return EX_NOPERM
    ref = getattr(args, "ref", None)
    if ref is not None and not valid_ref(ref):
        print(f"sunflow-ops incident: {ref!r} is not an incident id (like INC-20261127-001)")
        return EX_USAGE
    store = open_store(settings, writing=command not in READING,
                       busy_hint="the bot is running: use the chat, or stop the bot first")
    if isinstance(store, int):
        return store
    services = build_services(settings, store, clock=clock)
    try:
        built = terminal_flows(services)
        if isinstance(built, int):
            return built
        engine, flows = built
        session = _Session(services, engine, flows, who)
        try:
            return await session.run(args)
        except Refused as refused:
            print(session.say(refused.key, **refused.params))
            return EX_REFUSED
        except StoreError as exc:
            print(f"sunflow-ops: {exc} (nothing changed)")
            return EX_IOERR
        except NotDelivered as exc:  # a flow that needed the group; what it recorded stands
            print(f"sunflow-ops incident: {exc}")
            return EX_REFUSED
    finally:
        await services.aclose()
        store.close()


@dataclass
class _Session:
    services: Services
    engine: IncidentEngine
    flows: IncidentFlows
    who: Operator

    @property
    def viewer(self) -> Viewer:
        return viewer(self.services)

    def say(self, key: str, **params: object) -> str:
        return self.services.redact(self.services.tr(key, **params))

    def show(self, incident: Incident) -> None:
        print(incident_text(incident, self.viewer, self.services.clock()))

    async def run(self, args: argparse.Namespace) -> int:
        command = args.incident_command
        if command == "list":
            unresolved = await asyncio.to_thread(self.engine.unresolved)
            print(incidents_text(unresolved, self.viewer, self.services.clock()))
            return EX_OK
        if command == "open":
            return await self._open(args.scenario, args.topic)
        incident = await asyncio.to_thread(self.engine.by_ref, args.ref)
        if incident is None:
            print(self.say("incident.not_found", given=args.ref))
            return EX_USAGE
        if command == "show":
            self.show(incident)
            return EX_OK
        if incident.archived:
            print(self.say("incident.archived", ref=incident.ref))
            return EX_REFUSED
        await asyncio.to_thread(self.services.store.audit, f"terminal.{command}", actor=self.who.actor,
                                detail={"ref": incident.ref})
        if command == "resolve":
            resolved = await self.flows.resolve(incident.id, actor=self.who.actor,
                                                admin=self.who.admin, reason=args.reason)
            self.show(resolved)
            print("\nThe bot asks for the root cause and the prevention in the group when it next runs.")
            return EX_OK
        if command == "ack":
            return await self._press(incident, Verb.ACKNOWLEDGE, 0)
        return await self._step(incident, STEP_VERBS[command], args)

    async def _open(self, scenario: str, topic: str | None) -> int:
        if topic is not None and not valid_topic(topic):
            print(f"sunflow-ops incident: {topic!r} is not a topic (a folder name under "
                  "content/images: letters, digits, - and _, at most 64)")
            return EX_USAGE
        await asyncio.to_thread(self.services.store.audit, "terminal.open", actor=self.who.actor,
                                detail={"scenario": scenario})
        try:
            opened = await self.flows.open(scenario, topic=topic, actor=self.who.actor)
        except Refused as refused:
            print(self.say(refused.key, **refused.params))
            return EX_USAGE
        incident = await asyncio.to_thread(self.engine.get, opened.incident.id) or opened.incident
        self.show(incident)
        print("\n" + ("Opened" if opened.created else f"Joined the open {incident.ref}")
              + ": the group sees it when the bot next runs.")
        return EX_OK

    async def _step(self, incident: Incident, verb: Verb, args: argparse.Namespace) -> int:
        found = incident.current_step()
        if args.step is not None and not 1 <= args.step <= len(incident.steps):
            print(f"sunflow-ops incident: {incident.ref} has steps 1 to {len(incident.steps)}")
            return EX_USAGE
        index = args.step - 1 if args.step is not None else (found[0] if found else 0)
        if verb == Verb.RUN and found is not None and found[0] == index and found[1].confirm \
                and not args.yes:
            print("This step changes things: run it again with --yes to confirm.")
            return EX_REFUSED
        code = await self._press(incident, verb, index)
        if code == EX_OK and verb == Verb.RUN:
            after = await asyncio.to_thread(self.engine.get, incident.id)
            if after is not None and after.step_state[index].status == StepStatus.CONFIRMING:
                code = await self._press(after, Verb.CONFIRM, index)
        return code

    async def _press(self, incident: Incident, verb: Verb, arg: int) -> int:
        pressed = await self.flows.press(incident.id, arg, verb, actor=self.who.actor,
                                         admin=self.who.admin)
        await self.flows.follow(pressed, self.who.actor)
        after = await asyncio.to_thread(self.engine.get, incident.id) or pressed.incident
        if pressed.notice != "incident.confirm_asked":
            self.show(after)
            if pressed.run is None:  # a run's outcome is the last result shown above
                print("\n" + self.say(pressed.notice))
        if after.owed:
            print(f"{len(after.owed)} file(s) kept for the group: the bot sends them when it next runs.")
        return EX_OK
