"""`sunflow-ops signal <component> <message>`: a failure reported from a shell, the way every
other source reports one (`bot.detection`): stored, then its scenario's incident opened or the
open one counted. With the intake endpoint configured it goes to the running bot there; when
nothing listens (the bot is down), the terminal opens the store itself and reaches nobody: the
bot shows the incident at its next start."""

from __future__ import annotations

import argparse
from typing import Any

from bot.clock import Clock
from bot.config import Settings
from bot.detection.detector import Detector
from bot.detection.signals import COMPONENT_SCENARIOS, SignalError, make_signal
from bot.exit_codes import EX_NOPERM, EX_OK, EX_SOFTWARE, EX_USAGE
from bot.services import build_services, post_signal
from bot.terminal.incidents import operator, terminal_flows
from bot.terminal.store_access import open_store


def add_parser(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    signal = sub.add_parser("signal", help="report a failure: its scenario's incident opens or counts it")
    signal.add_argument("component", help=f"one of: {', '.join(COMPONENT_SCENARIOS)}")
    signal.add_argument("message", nargs="+", help="what failed, in a few words")
    signal.add_argument("--trace", action="append", default=[], help="a trace id (SF-…) to link")
    signal.add_argument("--as", dest="operator", help="your Telegram user id (or SUNFLOW_OPERATOR)")


async def run(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    who = operator(args, settings)
    if isinstance(who, str):
        print(f"sunflow-ops signal: {who}")
        return EX_NOPERM
    try:
        signal = make_signal("terminal", args.component, " ".join(args.message), at=clock(),
                             trace_ids=tuple(args.trace))
    except SignalError as exc:
        print(f"sunflow-ops signal: {exc}")
        return EX_USAGE
    if settings.intake is not None and settings.intake_secret is not None:
        # the bot is most likely running: hand the signal to it, the way the pipeline does
        sent = await post_signal(settings.intake, settings.intake_secret.reveal(), {
            "component": signal.component, "message": signal.details,
            "trace_ids": list(signal.trace_ids)})
        if sent is not None:
            status, answer = sent
            if status == 202:
                print(settings.redactor()(f"Signal handed to the running bot: {answer.get('kind')}"
                                          + (f", incident {answer['incident']}" if answer.get("incident") else "")))
                return EX_OK
            print(f"sunflow-ops signal: the running bot refused it ({status}): {answer.get('error', '?')}")
            return EX_USAGE if status in (400, 413, 422) else EX_NOPERM if status == 401 else EX_SOFTWARE
    store = open_store(settings, writing=True, busy_hint=(
        "the bot is running: set INTAKE_ADDRESS and INTAKE_SECRET and the signal goes to it; "
        "or stop the bot first"))
    if isinstance(store, int):
        return store
    services = build_services(settings, store, clock=clock)
    try:
        built = terminal_flows(services)
        if isinstance(built, int):
            return built
        _engine, flows = built
        received = await Detector(store, flows, redact=services.redact,
                                  silences=services.silences).receive(signal)
        print(services.redact(services.tr(f"signal.{received.kind}", ref=received.ref or "-",
                                          component=signal.component)))
        return EX_OK
    finally:
        await services.aclose()
        store.close()
