"""Every step action by name, and running one.

The catalog is put together when it is first asked for (at start-up, when the runbooks are
checked against it), from each action module's own `ACTIONS`: importing a module registers
nothing, so no import order decides which actions exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Any

from bot.actions.registry import PLANNED, ActionContext, ActionSpec, Outcome, StepResult
from bot.ports import Binding

log = logging.getLogger(__name__)


@cache
def all_actions() -> Mapping[str, ActionSpec]:
    """The built actions and the planned ones (a planned name a built one took is built)."""
    from bot.actions import checks, images, logs, token_steps, traces
    from bot.actions.recovery import config_actions, image_actions, publish_actions, stats_actions

    catalog: dict[str, ActionSpec] = {}
    for spec in (*checks.ACTIONS, *images.ACTIONS, *logs.ACTIONS, *token_steps.ACTIONS,
                 *traces.ACTIONS, *publish_actions.ACTIONS, *image_actions.ACTIONS,
                 *stats_actions.ACTIONS, *config_actions.ACTIONS):
        if spec.name in catalog:
            raise ValueError(f"action {spec.name!r} declared twice")
        catalog[spec.name] = spec
    for name, needs_topic in PLANNED.items():
        catalog.setdefault(name, ActionSpec(name, None, {}, needs_topic))
    return MappingProxyType(catalog)


def effective(bound: Mapping[str, Binding]) -> Mapping[str, ActionSpec]:
    """The catalog as this bot runs it: an action bound to the team's script runs the script."""
    if not bound:
        return all_actions()
    from bot.actions.scripted import scripted

    catalog = dict(all_actions())
    for name, binding in bound.items():
        catalog[name] = scripted(catalog[name], binding)
    return MappingProxyType(catalog)


async def run_action(name: str, ctx: ActionContext, args: Mapping[str, Any], *,
                     timeout_s: float) -> StepResult:
    """Run one action to a StepResult, whatever happens: unknown, planned, crashed or hung."""
    spec = effective(ctx.scripts.bound() if ctx.scripts else {}).get(name)
    if spec is None:
        return StepResult(Outcome.ERROR, ctx.tr("action.unknown", name=name))
    if spec.run is None:
        return StepResult(Outcome.UNAVAILABLE, ctx.tr("action.planned", name=name))
    for need in spec.needs:
        if getattr(ctx, need) is None:
            return StepResult(Outcome.FAIL, ctx.tr(f"act.needs.{need}"))
    if spec.needs_topic and not ctx.topic:
        return StepResult(Outcome.FAIL, ctx.tr("action.needs_topic", name=name))
    try:
        timeout_s = spec.timeout_s or timeout_s
        return await asyncio.wait_for(spec.run(ctx, spec.with_defaults(args)), timeout_s)
    except (asyncio.TimeoutError, TimeoutError):
        log.warning("action %s timed out after %.1f s", name, timeout_s)
        return StepResult(Outcome.ERROR, ctx.tr("action.timed_out", name=name, seconds=round(timeout_s)))
    except Exception:
        log.exception("action %s crashed", name)
        return StepResult(Outcome.ERROR, ctx.tr("action.crashed", name=name))
