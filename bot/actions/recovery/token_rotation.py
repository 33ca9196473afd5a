"""Putting a new Instagram token to use (playbook scenario 1): a rotation with a token an admin
gives, or a one-press refresh of an Instagram Login long-lived token.

Every rule lives here, whoever asks (the private chat, a button, the terminal):
- only an admin, and a new token only from a private place (a private chat with the bot, the
  terminal): never from the group;
- the token is taught to the redactor the moment it arrives, before Graph sees it, so no error
  text or log line about it can carry it;
- Graph judges it before anything changes: the account as the token sees it (the token must
  reach *this* account), and debug_token for its expiry when app credentials exist. Expired,
  invalid, expiring within a day (a short-lived token) or not checkable now: refused, and not a
  byte of `.env` changes;
- then `.env` is backed up and INSTAGRAM_ACCESS_TOKEN rewritten in place (every other line and
  comment kept), the token put to use, its expiry recorded (or forgotten when unknown: the
  registered date was the old token's), and the token and Instagram checks run again.
- A refresh is offered for an `IG…` token that Graph accepts, is not expired and is not known
  to be younger than 24 hours (Graph's own rule for `refresh_access_token`).
- The store's note of the change is written before `.env` (a crash in between is finished or
  forgotten at the next start: `reconcile`), and remembers the tokens put out of use, so a
  restart whose settings still hold one of them goes on with `.env`'s (`rotated_token`).
- A restore of the managed files that brings another token into `.env` (undoing a rotation)
  takes the bot to that token too (`follow_env`): the bot never works with a token the
  pipeline does not have. The group is told of every change, with a fingerprint only.
One change at a time; a second is refused while one runs.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.backups.env_file import SAFE_VALUE, EnvEditError, get_value, set_value
from bot.backups.managed_files import ENV_FILE, ManagedFileError, ManagedFiles
from bot.backups.service import Backup, BackupRefused, Backups
from bot.errors import BadRequest, Refusal, ServiceError, TokenExpired, TokenInvalid
from bot.health import HealthReport
from bot.health.token import TokenStatus
from bot.ports import IgAccount, TokenAuthority, TokenDebug
from bot.secrets import Redactor, Secret
from bot.store import Store

ENV_KEY = "INSTAGRAM_ACCESS_TOKEN"
INSTALLED_KEY = "instagram.token_installed"  # the store's note of the last token the bot put in
MIN_LIFETIME = timedelta(hours=24)  # a token expiring sooner is a short-lived one: refused
REFRESH_AFTER = timedelta(hours=24)  # Graph refreshes a token at least this old
MIN_TOKEN_CHARS = 20
REPLACED_KEPT = 10  # fingerprints of tokens put out of use, remembered


class TokenRefused(Refusal):
    """Nothing was changed; `key` (a message key) and `params` say why in one sentence."""


@dataclass(frozen=True)
class Notice:
    """What the group is told of a token change (owed until it is: a change made from the
    terminal, or while Telegram was down, is told when the bot can)."""

    how: str  # "rotated", "refreshed" or "restored"
    actor: str
    fingerprint: str  # a short hash: people can compare tokens without seeing one
    expires_at: datetime | None
    never_expires: bool
    backup_id: str


@dataclass(frozen=True)
class Installed:
    how: str  # "rotated" or "refreshed"
    account: IgAccount
    expires_at: datetime | None  # None: unknown, or never (`never_expires`)
    never_expires: bool
    fingerprint: str  # a short hash: people can compare tokens without seeing one
    backup: Backup  # `.env` as it was: restoring it undoes the change
    checks: HealthReport  # the token and Instagram checks, run again with the new token
    notice: Notice


@dataclass(frozen=True)
class RefreshOffer:
    possible: bool
    not_before: datetime | None = None  # too new: possible from then


def looks_like_a_token(text: str) -> bool:
    """Long enough and made of the characters access tokens are made of (the .env can take)."""
    text = text.strip()
    return len(text) >= MIN_TOKEN_CHARS and SAFE_VALUE.fullmatch(text) is not None


def _said(error: ServiceError, redact: Redactor) -> str:
    """What Graph said, short: "HTTP 400, Graph 190/460" (its kind when it said nothing)."""
    return redact(error.detail or error.kind.value)


def fingerprint(token: Secret) -> str:
    return hashlib.sha256(token.reveal().encode()).hexdigest()[:8]


def rotated_token(store: Store, files: ManagedFiles, configured: Secret) -> Secret | None:
    """The token the bot last put in `.env`, when the bot's own settings still hold another
    (they came from the process environment or another file): a restart after a rotation
    must not go back to the old, perhaps expired, token. None: the settings are current."""
    note = store.get_setting(INSTALLED_KEY)
    mark = note.get("fingerprint") if isinstance(note, dict) else None
    if not isinstance(mark, str) or fingerprint(configured) == mark:
        return None
    replaced = note.get("replaced") if isinstance(note, dict) else None
    if not isinstance(replaced, list) or fingerprint(configured) not in replaced:
        return None  # a token the bot never put out of use: a person set it since, it stands
    try:
        value = get_value(files.read().get(ENV_FILE, b""), ENV_KEY)
    except ManagedFileError:
        return None
    if not value or fingerprint(Secret(value)) != mark:
        return None  # .env changed since by someone else: the settings' token stands
    return Secret(value)


class TokenRotation:
    def __init__(self, authority: TokenAuthority, backups: Backups, store: Store, *,
                 current: Secret, redact: Redactor, clock: Callable[[], datetime],
                 recheck: Callable[[], Awaitable[HealthReport]]) -> None:
        self.authority, self.backups, self.store = authority, backups, store
        self.redact, self.clock, self.recheck = redact, clock, recheck
        self._current = current
        self._lock = asyncio.Lock()
        backups.after_restore.append(self.follow_env)

    # -- a token an admin gives

    @staticmethod
    def may_rotate(*, admin: bool, private: bool) -> None:
        """Who may give a new token, and where (asked before the token is asked for)."""
        if not admin:
            raise TokenRefused("rotate.needs_admin")
        if not private:
            raise TokenRefused("rotate.private_only")

    async def rotate(self, text: str, *, actor: str, admin: bool, private: bool) -> Installed:
        """Validate `text` as the new token and put it to use; TokenRefused changes nothing."""
        self.may_rotate(admin=admin, private=private)
        candidate = text.strip()
        if not looks_like_a_token(candidate):
            raise TokenRefused("rotate.bad_shape", low=MIN_TOKEN_CHARS)
        self.redact.learn(candidate)  # first: nothing said about it from here on can show it
        token = Secret(candidate)
        if token == self._current:
            raise TokenRefused("rotate.same")
        async with self._claimed():
            account, expires_at, never = await self._judged(token)
            return await self._install(token, "rotated", account, expires_at, never, actor=actor)

    # -- a refresh of the token in use

    def refresh_offer(self, status: TokenStatus) -> RefreshOffer:
        """Whether a refresh can work for the token in use, from a fresh `status` of it."""
        if not self._current.reveal().startswith("IG") or status.valid is not True or status.expired:
            return RefreshOffer(False)
        issued = status.issued_at or self._installed_at()
        if issued is not None and status.checked_at - issued < REFRESH_AFTER:
            return RefreshOffer(False, not_before=issued + REFRESH_AFTER)
        return RefreshOffer(True)

    async def refresh(self, status: TokenStatus, *, actor: str, admin: bool) -> Installed:
        """`refresh_access_token` for the token in use; `status`: a check of it made now."""
        if not admin:
            raise TokenRefused("rotate.needs_admin")
        offer = self.refresh_offer(status)
        if not offer.possible:
            if offer.not_before is not None:
                raise TokenRefused("refresh.too_new", at=offer.not_before)
            raise TokenRefused("refresh.not_possible")
        async with self._claimed():
            try:
                refreshed = await self.authority.refresh_token()
            except ServiceError as exc:
                raise TokenRefused("refresh.refused", error=_said(exc, self.redact)) from None
            self.redact.learn(refreshed.token.reveal())
            account, expires_at, never = await self._judged(refreshed.token)
            if expires_at is None and not never:
                expires_at = self.clock() + timedelta(seconds=refreshed.expires_in_s)
            return await self._install(refreshed.token, "refreshed", account, expires_at, never,
                                       actor=actor)

    # -- the shared road

    def _claimed(self) -> asyncio.Lock:
        if self._lock.locked():
            raise TokenRefused("rotate.busy")
        return self._lock

    async def _judged(self, token: Secret) -> tuple[IgAccount, datetime | None, bool]:
        """(account, expires_at, never expires) when Graph accepts `token`; else TokenRefused."""
        account, debug = await asyncio.gather(self.authority.account(token),
                                              self.authority.debug_token(token),
                                              return_exceptions=True)
        for outcome in (account, debug):
            if isinstance(outcome, BaseException) and not isinstance(outcome, ServiceError):
                raise outcome  # a bug, not Graph's answer
        if isinstance(account, TokenExpired):
            raise TokenRefused("rotate.expired")
        if isinstance(account, TokenInvalid):
            raise TokenRefused("rotate.invalid", error=_said(account, self.redact))
        if isinstance(account, BadRequest):  # Graph 100: this account is not the token's to see
            raise TokenRefused("rotate.other_account", error=_said(account, self.redact))
        if isinstance(account, ServiceError):
            raise TokenRefused("rotate.unchecked", error=_said(account, self.redact))
        assert isinstance(account, IgAccount)
        if not isinstance(debug, TokenDebug):
            return account, None, False  # no app credentials, or debug_token failed: unknown
        if not debug.is_valid:
            raise TokenRefused("rotate.invalid", error="debug_token: is_valid false")
        if debug.expires_at is None:
            return account, None, True
        left = debug.expires_at - self.clock()
        if left <= timedelta(0):
            raise TokenRefused("rotate.expired")
        if left < MIN_LIFETIME:
            raise TokenRefused("rotate.short_lived", hours=max(1, int(left.total_seconds() // 3600)))
        return account, debug.expires_at, False

    async def _install(self, token: Secret, how: str, account: IgAccount,
                       expires_at: datetime | None, never: bool, *, actor: str) -> Installed:
        def edit(content: bytes | None) -> bytes:
            try:
                return set_value(content, ENV_KEY, token.reveal())
            except EnvEditError as exc:
                raise BackupRefused("rotate.env_unwritable", problem=str(exc)) from None

        mark = fingerprint(token)
        # the note goes first: a crash after .env is written still says which token .env holds
        # and which one it replaced (`reconcile`, `rotated_token` at the next start)
        previous = await asyncio.to_thread(self._note_pending, mark, how, actor, expires_at, never)
        try:
            backup, _ = await asyncio.to_thread(self.backups.change, ENV_FILE, edit, actor=actor,
                                                reason=f"token {how}")
        except (BackupRefused, ManagedFileError) as exc:
            await asyncio.to_thread(self.store.set_setting, INSTALLED_KEY, previous)
            if isinstance(exc, BackupRefused):
                raise TokenRefused(exc.key, **exc.params) from None
            raise TokenRefused("rotate.env_unwritable", problem=self.redact(str(exc))) from None
        # .env is the truth now: the bot goes with it at once, then writes down what it did
        self._use(token)
        notice = Notice(how, actor, mark, expires_at, never, backup.backup_id)
        await asyncio.to_thread(self._record, notice)
        checks = await self.recheck()
        return Installed(how, account, expires_at, never, mark, backup, checks, notice)

    def _use(self, token: Secret) -> None:
        self.redact.learn(token.reveal())
        self.authority.use_token(token)
        self._current = token

    def _note_pending(self, mark: str, how: str, actor: str, expires_at: datetime | None,
                      never: bool) -> Any:
        """Note the change about to be made; what the note was before (to put back)."""
        previous = self.store.get_setting(INSTALLED_KEY)
        replaced = previous.get("replaced", []) if isinstance(previous, dict) else []
        self.store.set_setting(INSTALLED_KEY, {
            "at": self.clock().isoformat(), "fingerprint": mark, "how": how, "actor": actor,
            "expires_at": expires_at.isoformat() if expires_at else None, "never": never,
            "backup": None, "told": False, "pending": True,
            # the tokens this bot has put out of use, newest last: a settings token among them
            # is older than .env's (`rotated_token`); one that is not was set by a person since
            "replaced": [*replaced, fingerprint(self._current)][-REPLACED_KEPT:]})
        return previous

    def _record(self, notice: Notice) -> None:
        """The change is made: its expiry, the note complete, the audit record."""
        if notice.expires_at is not None:
            self.store.set_token_expiry(notice.expires_at, actor=notice.actor)
        else:
            self.store.forget_token_expiry(actor=notice.actor)
        note = self.store.get_setting(INSTALLED_KEY)
        self.store.set_setting(INSTALLED_KEY, {**(note if isinstance(note, dict) else {}),
                                               "backup": notice.backup_id, "pending": False})
        self.store.audit(f"token.{notice.how}", actor=notice.actor, detail={
            "fingerprint": notice.fingerprint, "backup": notice.backup_id,
            "expires_at": notice.expires_at.isoformat() if notice.expires_at else None})

    def reconcile(self) -> None:
        """At start: finish the record of a change a crash interrupted (`.env` was written), or
        forget one that never reached `.env`."""
        note = self.store.get_setting(INSTALLED_KEY)
        if not isinstance(note, dict) or not note.get("pending"):
            return
        if self._env_token_mark() != note.get("fingerprint"):  # .env was never written
            replaced = list(note.get("replaced") or [])
            self.store.set_setting(INSTALLED_KEY, {
                **note, "pending": False, "told": True, "how": "unchanged",
                "fingerprint": replaced.pop() if replaced else None, "replaced": replaced})
            return
        expires = note.get("expires_at")
        self._record(Notice(str(note.get("how")), str(note.get("actor")), str(note["fingerprint"]),
                            datetime.fromisoformat(expires) if isinstance(expires, str) else None,
                            bool(note.get("never")), str(note.get("backup") or "—")))

    def follow_env(self, actor: str | None, before: Mapping[str, bytes],
                   after: Mapping[str, bytes]) -> None:
        """After a restore of the managed files: when it changed the token `.env` holds, the bot
        goes with it (the pipeline reads .env; the bot must not go on with a token the team took
        back), its registered expiry is forgotten, and the group is owed a notice."""
        value = get_value(after.get(ENV_FILE, b""), ENV_KEY)
        if not value or value == get_value(before.get(ENV_FILE, b""), ENV_KEY) \
                or Secret(value) == self._current:
            return
        token = Secret(value)
        self._note_pending(fingerprint(token), "restored", actor or "unknown", None, False)
        self._use(token)
        self._record(Notice("restored", actor or "unknown", fingerprint(token), None, False, "—"))

    def _env_token_mark(self) -> str | None:
        try:
            value = get_value(self.backups.files.read().get(ENV_FILE, b""), ENV_KEY)
        except ManagedFileError:
            return None
        return fingerprint(Secret(value)) if value else None

    def owed_notice(self) -> Notice | None:
        """The last change of the token, while the group has not been told of it."""
        note = self.store.get_setting(INSTALLED_KEY)
        if not isinstance(note, dict) or note.get("told") is not False or note.get("pending"):
            return None
        try:
            expires = note.get("expires_at")
            return Notice(str(note["how"]), str(note["actor"]), str(note["fingerprint"]),
                          datetime.fromisoformat(expires) if isinstance(expires, str) else None,
                          bool(note.get("never")), str(note.get("backup") or "—"))
        except (KeyError, ValueError):
            return None

    def told(self, notice: Notice) -> None:
        """The group has been told of `notice` (a later change stays owed)."""
        note = self.store.get_setting(INSTALLED_KEY)
        if isinstance(note, dict) and note.get("fingerprint") == notice.fingerprint:
            self.store.set_setting(INSTALLED_KEY, {**note, "told": True})

    def _installed_at(self) -> datetime | None:
        """When the bot put in the token in use, if it did."""
        note = self.store.get_setting(INSTALLED_KEY)
        if not isinstance(note, dict) or note.get("fingerprint") != fingerprint(self._current):
            return None
        try:
            return datetime.fromisoformat(str(note.get("at")))
        except ValueError:
            return None
