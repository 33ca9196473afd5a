"""One protocol per capability the engine needs from the outside world, and the values they trade.

Adapters (`bot/adapters/`) implement these against a vendor; the engine, the actions and the
handlers only ever see these names; health probes follow `bot.health.HealthProbe`. Every
method raises `bot.errors.ServiceError` subclasses, never a vendor's own exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class IgAccount:
    id: str
    username: str


@dataclass(frozen=True)
class TokenDebug:
    """What Graph's debug_token says about the access token."""

    is_valid: bool
    expires_at: datetime | None  # None: the token never expires
    error_subcode: int | None = None


@dataclass(frozen=True)
class ExpiryRegistration:
    """The token expiry an operator registered (the playbook's `set-expiry`), and who did."""

    expires_at: datetime
    actor: str | None
    at: datetime


@dataclass(frozen=True)
class PublishingQuota:
    used: int
    total: int
    window_s: int

    @property
    def used_pct(self) -> float:
        return 100.0 * self.used / self.total if self.total else 0.0


@dataclass(frozen=True)
class HostUsage:
    plan: str
    credits_used: float | None
    credits_limit: float | None
    credits_used_pct: float | None


@dataclass(frozen=True)
class BotIdentity:
    id: int
    username: str


@dataclass(frozen=True)
class StatsFreshness:
    path: Path
    last_updated: datetime | None  # None when missing or unreadable; see `problem`
    problem: str | None = None  # "missing", "unreadable", "no_last_updated", "bad_timestamp"


@dataclass(frozen=True)
class LogLine:
    file: str
    text: str
    at: datetime | None  # the line's own timestamp when it has one


class TokenInspector(Protocol):
    async def account(self) -> IgAccount: ...

    async def debug_token(self) -> TokenDebug | None:
        """None when no app credentials are configured."""

    async def publishing_quota(self) -> PublishingQuota: ...


class ImageHost(Protocol):
    async def ping(self) -> None: ...

    async def usage(self) -> HostUsage: ...


class ImageGenerator(Protocol):
    async def check_key(self) -> None:
        """An authenticated call that spends no credits; raises when the key is rejected."""


class ChatTransport(Protocol):
    async def get_me(self) -> BotIdentity: ...


class PipelineFiles(Protocol):
    async def stats_freshness(self) -> StatsFreshness: ...

    async def recent_errors(self, since: datetime) -> list[LogLine]: ...


class TokenExpiryStore(Protocol):
    def token_expiry_registration(self) -> ExpiryRegistration | None: ...

    def set_token_expiry(self, expires_at: datetime, *, actor: str) -> None: ...
