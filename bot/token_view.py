"""What the Instagram token's status says, for any transport (lines of `bot.rich_text`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

from bot.health.token import (
    SOURCE_SET_EXPIRY,
    TokenStatus,
    describe_days_left,
    describe_source,
    guide_steps,
)
from bot.actors import display_name
from bot.clock import local_date, local_time
from bot.health import STATE_ICONS, describe_error
from bot.i18n import Translate
from bot.rich_text import Line, bold


def token_lines(status: TokenStatus, tr: Translate, tz: tzinfo,
                redact: Callable[[str], str]) -> list[Line]:
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
        expiry = f"{local_date(status.expires_at, tz)} ({describe_days_left(status, tr)})"

    source = describe_source(status, tr, tz)

    lines: list[Line] = [
        [f"{STATE_ICONS[status.state]} ", bold(tr("token.title"))],
        [f"{tr('token.label.state')}: {redact(validity)}"],
        [f"{tr('token.label.expiry')}: {expiry}"],
        [f"{tr('token.label.source')}: {source}"],
    ]
    if status.source != SOURCE_SET_EXPIRY and status.registration is not None:
        # debug_token wins, but what an admin registered still shows, or the press looks lost
        registration = status.registration
        by = tr("token.registered_by", actor=display_name(registration.actor))
        lines.append([f"{tr('token.label.registered')}: {local_date(registration.expires_at, tz)}{by}"])
    lines.append([f"{tr('token.label.checked')}: {local_time(status.checked_at, tz)}"])
    return lines


def guide_lines(tr: Translate) -> list[Line]:
    return [["📖 ", bold(tr("guide.title"))],
            *([step] for step in guide_steps(tr))]
