"""Turning reports into chat messages: HTML-escaped, secret-free, one glance to read."""

from __future__ import annotations

from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.health.token import TokenStatus
from bot.health import STATE_ICONS, HealthReport, ProbeResult
from bot.rich_text import to_html
from bot.token_view import guide_lines, token_lines
from handlers import callbacks as cb
from handlers.context import BotContext

SHARED_AFTER_S = 2.0  # a report this old was a shared check: say how old


def _latency(result: ProbeResult) -> str:
    return "—" if result.latency_ms is None else f"{result.latency_ms:.0f} ms"


def health_text(report: HealthReport, ctx: BotContext) -> str:
    tr = ctx.tr
    age = (ctx.services.clock() - report.checked_at).total_seconds()
    shared = f" · {escape(tr('health.shared_age', seconds=int(age)))}" if age >= SHARED_AFTER_S else ""
    lines = [
        f"{STATE_ICONS[report.overall]} <b>{escape(tr(f'health.overall.{report.overall.value}'))}</b>"
        f" · {escape(ctx.local(report.checked_at))}{shared}"
    ]
    for result in report.results:
        lines.append(
            f"{STATE_ICONS[result.state]} <b>{escape(tr(f'component.{result.component}'))}</b>"
            f" · {_latency(result)} · {escape(ctx.redact(result.reason))}"
        )
    return ctx.redact("\n".join(lines))


def health_keyboard(ctx: BotContext) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(ctx.tr("button.recheck"), callback_data=cb.HEALTH_RECHECK)]]
    )


def token_text(status: TokenStatus, ctx: BotContext) -> str:
    return ctx.redact(to_html(token_lines(status, ctx.tr, ctx.settings.timezone, ctx.redact)))


def token_keyboard(ctx: BotContext, status: TokenStatus | None = None,
                   bot_username: str | None = None) -> InlineKeyboardMarkup:
    """Guide, set-expiry and re-check; a refresh when the domain says one can work for this
    `status`; a link to a private chat for a new token when the bot's username is known."""
    tr = ctx.tr
    rows = [
        [
            InlineKeyboardButton(tr("button.token_guide"), callback_data=cb.TOKEN_GUIDE),
            InlineKeyboardButton(tr("button.token_set_60"), callback_data=cb.TOKEN_SET_60),
        ],
    ]
    tokens = ctx.services.tokens
    if status is not None and tokens is not None and tokens.refresh_offer(status).possible:
        rows.append([InlineKeyboardButton(tr("button.token_refresh"), callback_data=cb.TOKEN_REFRESH)])
    if bot_username:
        rows.append([InlineKeyboardButton(tr("button.token_rotate"),
                                          url=f"https://t.me/{bot_username}?start={cb.START_ROTATE}")])
    rows.append([InlineKeyboardButton(tr("button.recheck"), callback_data=cb.TOKEN_RECHECK)])
    return InlineKeyboardMarkup(rows)


def token_guide_text(ctx: BotContext) -> str:
    return ctx.redact(to_html(guide_lines(ctx.tr)))
