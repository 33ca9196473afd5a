"""Turning reports into chat messages: HTML-escaped, secret-free, one glance to read."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.actors import display_name
from bot.actions.token import (
    SOURCE_DEBUG_TOKEN,
    SOURCE_SET_EXPIRY,
    TokenStatus,
    describe_days_left,
)
from bot.health import HealthReport, ProbeResult, State, describe_error
from handlers import callbacks as cb
from handlers.context import BotContext

ICONS = {State.OK: "🟢", State.DEGRADED: "🟡", State.DOWN: "🔴"}
SHARED_AFTER_S = 2.0  # a report this old was a shared check: say how old


def _latency(result: ProbeResult) -> str:
    return "—" if result.latency_ms is None else f"{result.latency_ms:.0f} ms"


def health_text(report: HealthReport, ctx: BotContext) -> str:
    tr = ctx.tr
    age = (ctx.services.clock() - report.checked_at).total_seconds()
    shared = f" · {escape(tr('health.shared_age', seconds=int(age)))}" if age >= SHARED_AFTER_S else ""
    lines = [
        f"{ICONS[report.overall]} <b>{escape(tr(f'health.overall.{report.overall.value}'))}</b>"
        f" · {escape(ctx.local(report.checked_at))}{shared}"
    ]
    for result in report.results:
        lines.append(
            f"{ICONS[result.state]} <b>{escape(tr(f'component.{result.component}'))}</b>"
            f" · {_latency(result)} · {escape(ctx.redact(result.reason))}"
        )
    return ctx.redact("\n".join(lines))


def health_keyboard(ctx: BotContext) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(ctx.tr("button.recheck"), callback_data=cb.HEALTH_RECHECK)]]
    )


def token_text(status: TokenStatus, ctx: BotContext) -> str:
    tr = ctx.tr
    if status.valid is True:
        validity = tr("token.state.valid", username=status.account.username if status.account else "?")
    elif status.expired:
        validity = tr("token.state.expired")
    elif status.valid is False:
        validity = tr("token.state.rejected")
    else:
        validity = tr("token.state.unknown")
    if status.problem is not None and status.valid is not True:
        validity += f" — {describe_error(status.problem, tr)}"

    if status.never_expires or status.expires_at is None:
        expiry = describe_days_left(status, tr)
    else:
        expiry = f"{ctx.local_date(status.expires_at)} ({describe_days_left(status, tr)})"

    if status.source == SOURCE_DEBUG_TOKEN:
        source = tr("token.source.debug_token")
    elif status.source == SOURCE_SET_EXPIRY and status.registration is not None:
        source = tr("token.source.set_expiry", actor=display_name(status.registration.actor),
                    at=ctx.local(status.registration.at))
    elif status.debug_problem is not None:
        source = tr("token.source.debug_failed")
    else:
        source = tr("token.source.none")

    lines = [
        f"{ICONS[status.state]} <b>{escape(tr('token.title'))}</b>",
        f"{escape(tr('token.label.state'))}: {escape(ctx.redact(validity))}",
        f"{escape(tr('token.label.expiry'))}: {escape(expiry)}",
        f"{escape(tr('token.label.source'))}: {escape(source)}",
    ]
    if status.source != SOURCE_SET_EXPIRY and status.registration is not None:
        # debug_token wins, but what an admin registered still shows, or the press looks lost
        registration = status.registration
        by = tr("token.registered_by", actor=display_name(registration.actor))
        lines.append(f"{escape(tr('token.label.registered'))}: "
                     f"{escape(ctx.local_date(registration.expires_at))}{escape(by)}")
    lines.append(f"{escape(tr('token.label.checked'))}: {escape(ctx.local(status.checked_at))}")
    return ctx.redact("\n".join(lines))


def token_keyboard(ctx: BotContext) -> InlineKeyboardMarkup:
    tr = ctx.tr
    return InlineKeyboardMarkup([
        [
            InlineKeyboardButton(tr("button.token_guide"), callback_data=cb.TOKEN_GUIDE),
            InlineKeyboardButton(tr("button.token_set_60"), callback_data=cb.TOKEN_SET_60),
        ],
        [InlineKeyboardButton(tr("button.recheck"), callback_data=cb.TOKEN_RECHECK)],
    ])


def token_guide_text(ctx: BotContext) -> str:
    tr = ctx.tr
    steps = "\n".join(f"{n}. {escape(tr(f'guide.step{n}'))}" for n in range(1, 7))
    return ctx.redact(f"📖 <b>{escape(tr('guide.title'))}</b>\n{steps}")
