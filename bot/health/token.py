"""The Instagram token (playbook scenario 1): is it valid, when does it expire, and who says so.

Expiry comes from Graph's debug_token when app credentials are configured (authoritative), else
from the date an admin registered with `set-expiry` (the playbook's `token_monitor.py set-expiry
60`). Expired or rejected is down; seven days or fewer left, an unknown expiry, or a check that
could not reach Graph is degraded. A failed debug_token call is kept and shown (a wrong app
secret must not pass for "expiry unknown").
"""

from __future__ import annotations

import asyncio
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from bot.actors import display_name
from bot.clock import Clock, local_time, utc_now
from bot.errors import ServiceError, TokenExpired, TokenInvalid
from bot.health.report import State, describe_error
from bot.i18n import Translate, Translator
from bot.ports import (
    ExpiryRegistration,
    IgAccount,
    TokenDebug,
    TokenExpiryStore,
    TokenInspector,
)

WARN_DAYS = 7
ROUNDING_SLACK_DAYS = 1 / 96  # 15 minutes
MIN_EXPIRY_DAYS, MAX_EXPIRY_DAYS = 1, 90
GUIDE_STEPS = 6  # the renewal guide: guide.step1 .. guide.step6
SOURCE_DEBUG_TOKEN = "debug_token"
SOURCE_SET_EXPIRY = "set_expiry"


@dataclass(frozen=True)
class TokenStatus:
    checked_at: datetime
    account: IgAccount | None  # set when Graph accepted the token
    problem: ServiceError | None  # why the token check failed
    expires_at: datetime | None
    never_expires: bool
    source: str | None  # SOURCE_DEBUG_TOKEN, SOURCE_SET_EXPIRY or None (unknown)
    registration: ExpiryRegistration | None = None  # what set-expiry recorded, whatever the source
    debug_problem: ServiceError | None = None  # why debug_token failed, when it did
    issued_at: datetime | None = None  # when the token was made (debug_token), when known

    @property
    def valid(self) -> bool | None:
        """True: Graph accepted it; False: Graph rejected it; None: could not tell."""
        if self.account is not None:
            return True
        if isinstance(self.problem, (TokenExpired, TokenInvalid)):
            return False
        return None

    @property
    def expired(self) -> bool:
        if isinstance(self.problem, TokenExpired):
            return True
        # A passed date only means expired when Graph did not just accept the token.
        return self.account is None and self.expires_at is not None and self.expires_at <= self.checked_at

    @property
    def days_left(self) -> float | None:
        if self.expires_at is None:
            return None
        return (self.expires_at - self.checked_at).total_seconds() / 86400

    @property
    def state(self) -> State:
        if self.valid is False or self.expired:
            return State.DOWN
        if self.valid is None:
            return State.DEGRADED
        if self.never_expires:
            return State.OK
        if self.days_left is None or self.days_left <= WARN_DAYS:
            return State.DEGRADED
        return State.OK


async def check_token(inspector: TokenInspector, expiry_store: TokenExpiryStore,
                      *, clock: Clock = utc_now) -> TokenStatus:
    """Ask Graph about the token (and debug_token, when possible) at the same time."""
    account, debug = await asyncio.gather(
        inspector.account(), inspector.debug_token(), return_exceptions=True
    )
    problem = account if isinstance(account, ServiceError) else None
    debug_problem = debug if isinstance(debug, ServiceError) else None
    for outcome in (account, debug):
        if isinstance(outcome, BaseException) and not isinstance(outcome, ServiceError):
            raise outcome  # a bug, not a vendor failure: let the error handler see it
    expires_at, never, source = None, False, None
    if isinstance(debug, TokenDebug):
        source = SOURCE_DEBUG_TOKEN
        expires_at, never = debug.expires_at, debug.expires_at is None and debug.is_valid
        if not debug.is_valid and problem is None and debug.error_subcode == 463:
            problem = TokenExpired("instagram", "debug_token: expired")
    registration = expiry_store.token_expiry_registration()
    if source is None and registration is not None:
        expires_at, source = registration.expires_at, SOURCE_SET_EXPIRY
    return TokenStatus(
        checked_at=clock(),
        account=account if isinstance(account, IgAccount) else None,
        problem=problem,
        expires_at=expires_at,
        never_expires=never,
        source=source,
        registration=registration,
        debug_problem=debug_problem,
        issued_at=debug.issued_at if isinstance(debug, TokenDebug) else None,
    )


def parse_expiry_days(text: str) -> int:
    """`set-expiry <days>`: a whole number from 1 to 90, or ValueError with the rule."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]{1,3}", text):  # int() would take "6_0", "+7" and "٦٠"
        raise ValueError(f"not a whole number of days: {text!r}")
    days = int(text)
    if not MIN_EXPIRY_DAYS <= days <= MAX_EXPIRY_DAYS:
        raise ValueError(f"out of range {MIN_EXPIRY_DAYS}-{MAX_EXPIRY_DAYS}: {days}")
    return days


def set_token_expiry(expiry_store: TokenExpiryStore, days: int, *, actor: str,
                     clock: Clock = utc_now) -> datetime:
    """Register that the current token expires `days` from now (the store audits it)."""
    if not MIN_EXPIRY_DAYS <= days <= MAX_EXPIRY_DAYS:
        raise ValueError(f"out of range {MIN_EXPIRY_DAYS}-{MAX_EXPIRY_DAYS}: {days}")
    expires_at = clock() + timedelta(days=days)
    expiry_store.set_token_expiry(expires_at, actor=actor)
    return expires_at


def describe_source(status: TokenStatus, tr: Translate, tz: tzinfo) -> str:
    """Where the expiry comes from: Graph, an admin's registration, a failed check, or nowhere."""
    if status.source == SOURCE_DEBUG_TOKEN:
        return tr("token.source.debug_token")
    if status.source == SOURCE_SET_EXPIRY and status.registration is not None:
        return tr("token.source.set_expiry", actor=display_name(status.registration.actor),
                  at=local_time(status.registration.at, tz))
    if status.debug_problem is not None:
        return tr("token.source.debug_failed")
    return tr("token.source.none")


def guide_steps(tr: Translate) -> tuple[str, ...]:
    """The renewal guide's steps, numbered (playbook scenario 1)."""
    return tuple(f"{n}. {tr(f'guide.step{n}')}" for n in range(1, GUIDE_STEPS + 1))


def describe_days_left(status: TokenStatus, tr: Translate) -> str:
    if status.never_expires:
        return tr("token.never_expires")
    days = status.days_left
    if days is None and status.debug_problem is not None:
        if status.problem is not None:  # Graph failed both calls: the first reason says it all
            return tr("token.expiry_not_read")
        return tr("token.debug_token_failed", error=describe_error(status.debug_problem, tr))
    if days is None:
        return tr("token.expiry_unknown")
    if days <= -1:
        return tr("token.expired_ago", days=math.floor(-days))
    if days <= 0:
        return tr("token.expired_today")
    if days < 1:
        return tr("token.hours_left", hours=max(1, math.floor(days * 24)))
    # whole days, but a date registered "60 days from now" a moment ago still reads 60
    return tr("token.days_left", days=math.floor(days + ROUNDING_SLACK_DAYS))


def describe_token(status: TokenStatus, tr: Translator) -> str:
    """The one-line summary used by /health and the CLI."""
    if status.problem is not None and status.valid is not True:
        line = describe_error(status.problem, tr)
    elif status.expired:
        line = tr("error.token_expired")
    else:
        line = tr("token.valid_as", username=status.account.username if status.account else "?")
    return f"{line} · {describe_days_left(status, tr)}"

