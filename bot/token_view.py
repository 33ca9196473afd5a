"""What the Instagram token's status says, for any transport (lines of `bot.rich_text`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from bot.actions.recovery.token_rotation import Installed, Notice


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


def expiry_phrase(tr: Translate, expires_at: datetime | None, never: bool, tz: tzinfo) -> str:
    """A new token's expiry in a few words."""
    if never:
        return tr("token.rotate.never")
    if expires_at is None:
        return tr("token.rotate.expiry_unknown")
    return tr("token.rotate.expires", date=local_date(expires_at, tz))


def installed_text(tr: Translate, done: Installed, tz: tzinfo) -> str:
    """What the admin who changed the token is told (plain text; redact, then escape)."""
    checks = "\n".join(f"{STATE_ICONS[r.state]} {tr(f'component.{r.component}')}: {r.reason}"
                       for r in done.checks.results)
    return tr("token.rotate.done", how=tr(f"token.how.{done.how}"),
              username=done.account.username or "?",
              expiry=expiry_phrase(tr, done.expires_at, done.never_expires, tz),
              backup=done.backup.backup_id, checks=checks)


def notice_text(tr: Translate, notice: Notice, tz: tzinfo) -> str:
    """What the group is told of a token change: who, how, a fingerprint, never the token."""
    return tr("token.rotate.group", how=tr(f"token.how.{notice.how}"),
              actor=display_name(notice.actor), fingerprint=notice.fingerprint,
              expiry=expiry_phrase(tr, notice.expires_at, notice.never_expires, tz),
              backup=notice.backup_id)
