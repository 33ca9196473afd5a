"""Settings from the environment and `.env`: the only module that reads either.

`Settings.from_env()` validates every variable and raises `ConfigError` listing *every* problem
by variable name, so an operator fixes the file once instead of once per restart. Secret values
are wrapped in `Secret` and never appear in a problem message, a repr or a log line.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from typing import Any
from dataclasses import dataclass, field
from functools import cached_property
from datetime import time, timedelta, timezone, tzinfo
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from bot.i18n import LANGUAGES
from bot.secrets import Redactor, Secret

DEFAULT_TELEGRAM_API_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_INSTAGRAM_GRAPH_URL = "https://graph.facebook.com/v26.0"
DEFAULT_FAL_QUEUE_URL = "https://queue.fal.run"
DEFAULT_TIMEZONE = "Asia/Seoul"  # the team's; times in chat are shown in it
DEFAULT_RUNBOOKS_DIR = Path(__file__).resolve().parent.parent / "runbooks"
# The playbook's escalation table (0 min, 30 min, 1 hour, 4 hours), the same for every severity
# until the team decides otherwise; ESCALATION_P0..ESCALATION_P3 override one severity.
_PLAYBOOK_CLOCK = (timedelta(0), timedelta(minutes=30), timedelta(hours=1), timedelta(hours=4))
DEFAULT_ESCALATION_OFFSETS: Mapping[str, tuple[timedelta, ...]] = {
    sev: _PLAYBOOK_CLOCK for sev in ("P0", "P1", "P2", "P3")}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "": 60}


def parse_duration(text: str) -> timedelta | None:
    """`45s`, `30m`, `1h`, `1d`; a bare number is minutes. None when unreadable."""
    match = _DURATION_RE.match(text)
    if match is None:
        return None
    return timedelta(seconds=float(match.group(1)) * _UNIT_S[match.group(2)])

_BOT_TOKEN_RE = re.compile(r"^\d{3,12}:[A-Za-z0-9_-]{20,}$")
# Variables that hold a credential: a problem message never shows them (a URL set to a token by
# mistake, a token pasted into a URL), whichever variable the problem is about.
SECRET_VARIABLES = ("TELEGRAM_BOT_TOKEN", "INSTAGRAM_ACCESS_TOKEN", "INSTAGRAM_APP_SECRET",
                    "FAL_KEY", "CLOUDINARY_URL", "INTAKE_SECRET", "SMTP_PASSWORD",
                    "FALLBACK_WEBHOOK_URL")
# What each checked component needs. When only these are wrong, `sunflow-ops health` still checks
# every other component and shows this one down with the problem (playbook scenario 6: the CLI
# is what is left when things are broken).
COMPONENT_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "telegram": ("TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL"),
    "instagram": ("INSTAGRAM_ACCESS_TOKEN", "INSTAGRAM_USER_ID", "INSTAGRAM_GRAPH_URL",
                  "INSTAGRAM_APP_ID", "INSTAGRAM_APP_SECRET"),
    "cloudinary": ("CLOUDINARY_URL",),
    "fal": ("FAL_KEY", "FAL_QUEUE_URL"),
}
_COMPONENT_OF = {var: comp for comp, names in COMPONENT_VARIABLES.items() for var in names}


class ConfigError(Exception):
    """Every configuration problem at once, one line per variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class CloudinaryConfig:
    cloud_name: str
    api_key: str
    api_secret: Secret
    upload_prefix: str | None  # None: the SDK's default (https://api.cloudinary.com)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    user: str | None
    password: Secret | None
    starttls: bool


@dataclass(frozen=True)
class Settings:
    telegram_bot_token: Secret | None
    telegram_api_base_url: str
    ops_chat_id: int | None
    ops_thread_id: int | None
    admin_user_ids: frozenset[int]
    operator_user_ids: frozenset[int]
    instagram_access_token: Secret | None
    instagram_user_id: str | None
    instagram_graph_url: str
    instagram_app_id: str | None
    instagram_app_secret: Secret | None
    cloudinary: CloudinaryConfig | None
    fal_key: Secret | None
    fal_queue_url: str
    sunflow_home: Path
    data_dir: Path
    bot_lang: str
    timezone: tzinfo
    health_timeout_s: float
    stats_max_age_h: float
    # how long a /health result is shared with the next /health (vendor quota: every check
    # costs Graph, Cloudinary and fal calls); 0: never shared
    health_share_s: float = 15.0
    pd_user_ids: frozenset[int] = frozenset()
    # the playbook's clock per severity: (alert, retries checked, PD alerted, manual intervention)
    escalation_offsets: Mapping[str, tuple[timedelta, ...]] = field(
        default_factory=lambda: dict(DEFAULT_ESCALATION_OFFSETS))
    escalation_remind_every: timedelta | None = timedelta(minutes=30)  # None: no repeats
    runbooks_dir: Path = DEFAULT_RUNBOOKS_DIR
    action_timeout_s: float = 30.0
    # messages (edits included) a minute the bot sends one group; Telegram allows about 20
    telegram_group_max_rate: int = 20
    # backups of the pipeline's configuration: at most this many, none older than this many days
    backup_keep: int = 50
    scripts_file: Path | None = None  # the team's scripts (None: SUNFLOW_HOME/sunflow-ops.scripts.toml)
    backup_keep_days: int = 90
    sunflow_repo: Path | None = None  # the pipeline's git repository (None: SUNFLOW_HOME)
    check_every: timedelta | None = timedelta(minutes=5)  # scheduled detection checks (None: off)
    intake: tuple[str, int] | None = None  # the intake endpoint's address (None: off)
    token_report: tuple[int, time] | None = (0, time(9, 0))  # weekday (0: Monday), time; None: off
    token_reminder_days: tuple[int, ...] = (14, 7, 3, 1, 0)
    # fallback channels when Telegram fails for longer than `telegram_down_after`
    fallback_webhook_url: str | None = None
    smtp: SmtpConfig | None = None
    telegram_down_after: timedelta = timedelta(minutes=2)
    watchdog_stale: timedelta = timedelta(minutes=5)  # an older heartbeat: the bot is silent
    intake_secret: Secret | None = None
    # components whose settings are wrong, with the problems (only from `from_env(partial=True)`)
    unusable: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        dotenv_path: str | Path | None = ".env",
        require_telegram: bool = True,
        partial: bool = False,
    ) -> Settings:
        """Read settings: the process environment wins over the `.env` file.

        `require_telegram=False` serves the CLI, which must work when Telegram is the thing
        that broke (playbook scenario 6) or was never configured. `partial=True` (the CLI's
        health check) does not raise for problems that only concern one component's variables:
        that component is listed in `unusable` with its problems, and the rest is usable.
        """
        merged: dict[str, str] = {}
        if dotenv_path is not None and Path(dotenv_path).is_file():
            merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
        merged.update(os.environ if env is None else env)
        return _parse(merged, require_telegram=require_telegram, partial=partial)

    def secret_values(self) -> list[str]:
        """Every configured secret, raw, for the redactor (never for display)."""
        values = [
            s.reveal()
            for s in (
                self.telegram_bot_token,
                self.instagram_access_token,
                self.instagram_app_secret,
                self.fal_key,
                self.intake_secret,
                self.smtp.password if self.smtp else None,
            )
            if s
        ]
        if self.instagram_app_id and self.instagram_app_secret:
            values.append(f"{self.instagram_app_id}|{self.instagram_app_secret.reveal()}")
        if self.fal_key and ":" in self.fal_key.reveal():
            values.append(self.fal_key.reveal().split(":", 1)[1])
        if self.cloudinary:
            values.append(self.cloudinary.api_secret.reveal())
        if self.fallback_webhook_url:  # a webhook's address is often its only credential
            values.append(self.fallback_webhook_url)
        return values

    def redactor(self) -> Redactor:
        """The one redactor of these settings: logs, chat text and the store share it, so a
        secret it learns while running (a rotated token) is masked everywhere at once."""
        return self._shared_redactor

    @cached_property
    def _shared_redactor(self) -> Redactor:
        return Redactor(self.secret_values())



def _intake(r: _Reader) -> dict[str, Any]:
    """INTAKE_ADDRESS host:port (loopback unless said otherwise) and its INTAKE_SECRET."""
    address = r.raw("INTAKE_ADDRESS")
    secret = r.secret("INTAKE_SECRET", needed=False)
    if not address:
        if secret is not None:
            r.problem("INTAKE_SECRET", "is set but INTAKE_ADDRESS is not: the endpoint stays off")
        return {}
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) < 65536:
        r.problem("INTAKE_ADDRESS", f"must be host:port, like 127.0.0.1:8787, got {address!r}")
        return {}
    if secret is None or len(secret.reveal()) < 16 or not secret.reveal().isascii():
        r.problem("INTAKE_SECRET", "is required with INTAKE_ADDRESS: at least 16 ASCII characters")
        return {}
    return {"intake": (host.strip("[]"), int(port)), "intake_secret": secret}


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_report_time(text: str) -> tuple[int, time] | None:
    """TOKEN_REPORT's "mon 09:00" -> (weekday, 0 = Monday; time); None when unreadable."""
    match = re.fullmatch(r"\s*([a-z]{3})[a-z]*\s+(\d{1,2}):(\d{2})\s*", text.lower())
    if match is None or match[1] not in WEEKDAYS or int(match[2]) > 23 or int(match[3]) > 59:
        return None
    return WEEKDAYS.index(match[1]), time(int(match[2]), int(match[3]))


def _token_reminders(r: _Reader) -> dict[str, Any]:
    """TOKEN_REPORT ("mon 09:00", "off") and TOKEN_REMINDER_DAYS ("14,7,3,1,0")."""
    out: dict[str, Any] = {}
    report = r.raw("TOKEN_REPORT")
    if report is not None:
        parsed = None if report.strip().lower() == "off" else parse_report_time(report)
        if parsed is None and report.strip().lower() != "off":
            r.problem("TOKEN_REPORT", f"must be a weekday and a time like mon 09:00, or off; got {report!r}")
        else:
            out["token_report"] = parsed
    days = r.raw("TOKEN_REMINDER_DAYS")
    if days is not None:
        parts = [p.strip() for p in days.split(",") if p.strip()]
        if not parts or not all(p.isdigit() and int(p) <= 90 for p in parts):
            r.problem("TOKEN_REMINDER_DAYS", f"must be whole days from 0 to 90, like 14,7,3,1,0; got {days!r}")
        else:
            out["token_reminder_days"] = tuple(sorted({int(p) for p in parts}, reverse=True))
    return out


def _fallbacks(r: _Reader) -> dict[str, Any]:
    """FALLBACK_WEBHOOK_URL; SMTP_HOST with SMTP_PORT, SMTP_USER, SMTP_PASSWORD, SMTP_FROM,
    ALERT_EMAIL_TO and SMTP_STARTTLS; TELEGRAM_DOWN_AFTER; WATCHDOG_STALE."""
    out: dict[str, Any] = {}
    webhook = r.raw("FALLBACK_WEBHOOK_URL")
    if webhook:
        out["fallback_webhook_url"] = r.url("FALLBACK_WEBHOOK_URL", webhook)
    host = r.raw("SMTP_HOST")
    if host:
        port = r.raw("SMTP_PORT") or "587"
        sender, to = r.raw("SMTP_FROM"), r.raw("ALERT_EMAIL_TO")
        recipients = tuple(a.strip() for a in (to or "").split(",") if a.strip())
        starttls = (r.raw("SMTP_STARTTLS") or "true").strip().lower()
        password = r.secret("SMTP_PASSWORD", needed=False)
        if not port.isdigit() or not 0 < int(port) < 65536:
            r.problem("SMTP_PORT", f"must be a port number, got {port!r}")
        elif not sender or "@" not in sender:
            r.problem("SMTP_FROM", "is required with SMTP_HOST: the sender's address")
        elif not recipients or not all("@" in a for a in recipients):
            r.problem("ALERT_EMAIL_TO", "is required with SMTP_HOST: addresses, comma-separated")
        elif starttls not in ("true", "false"):
            r.problem("SMTP_STARTTLS", f"must be true or false, got {starttls!r}")
        elif password is not None and starttls == "false":
            r.problem("SMTP_STARTTLS", "must be true when SMTP_PASSWORD is set: never a password in the clear")
        else:
            out["smtp"] = SmtpConfig(host=host, port=int(port), sender=sender, recipients=recipients,
                                     user=r.raw("SMTP_USER"), password=password,
                                     starttls=starttls == "true")
    # the heartbeat is written every minute: a watchdog stricter than two beats cries wolf
    for name, key, default, low in (
            ("TELEGRAM_DOWN_AFTER", "telegram_down_after", timedelta(minutes=2), timedelta(seconds=10)),
            ("WATCHDOG_STALE", "watchdog_stale", timedelta(minutes=5), timedelta(minutes=2))):
        value = r.duration(name, default)
        if value is None or not low <= value <= timedelta(days=1):
            r.problem(name, f"must be from {int(low.total_seconds())}s to 1d, got {r.raw(name)!r}")
        else:
            out[key] = value
    return out


def _check_every(r: _Reader) -> timedelta | None:
    every = r.duration("CHECK_EVERY", timedelta(minutes=5))
    if every is not None and not timedelta(seconds=10) <= every <= timedelta(days=1):
        r.problem("CHECK_EVERY", f"must be 0 (off) or from 10s to 1d, got {r.raw('CHECK_EVERY')}")
        return timedelta(minutes=5)
    return every


class _Reader:
    """Collects problems instead of stopping at the first one."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.variables: list[str] = []  # the variable each problem is about

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def problem(self, name: str, message: str) -> None:
        self.problems.append(f"{name}: {message}")
        self.variables.append(name)

    def redactor(self) -> Redactor:
        """Masks every credential the environment holds (a problem may quote any of them)."""
        values = [v for name in SECRET_VARIABLES if (v := self.raw(name))]
        for value in list(values):
            parsed = urlparse(value)
            values += [p for p in (parsed.password, value.partition(":")[2]) if p]
        return Redactor(values)

    def required(self, name: str, needed: bool = True) -> str | None:
        value = self.raw(name)
        if value is None and needed:
            self.problem(name, "is required but not set")
        return value

    def secret(self, name: str, needed: bool = True) -> Secret | None:
        value = self.required(name, needed)
        return Secret(value) if value is not None else None

    def integer(self, name: str, *, needed: bool = False) -> int | None:
        value = self.required(name, needed)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            self.problem(name, f"must be an integer, got {value!r}")
            return None

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = float(value)
        except ValueError:
            self.problem(name, f"must be a number, got {value!r}")
            return default
        if not low < number <= high:
            self.problem(name, f"must be more than {low:g} and at most {high:g}, got {value}")
            return default
        return number

    def id_list(self, name: str) -> frozenset[int]:
        value = self.raw(name)
        if value is None:
            return frozenset()
        ids: set[int] = set()
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                ids.add(int(part))
            except ValueError:
                self.problem(name, f"must be a comma-separated list of numeric user ids, got {part!r}")
        return frozenset(ids)

    def duration(self, name: str, default: timedelta | None) -> timedelta | None:
        """`90s`, `30m`, `1h`, `0` (off); None when set to 0."""
        value = self.raw(name)
        if value is None:
            return default
        parsed = parse_duration(value)
        if parsed is None:
            self.problem(name, f"must be a duration like 30s, 30m or 4h (0: off), got {value!r}")
            return default
        return parsed or None

    def offsets(self, name: str, default: tuple[timedelta, ...]) -> tuple[timedelta, ...]:
        """Four rising durations: alert, retries checked, PD alerted, manual intervention."""
        value = self.raw(name)
        if value is None:
            return default
        parts = [parse_duration(p) for p in value.split(",")]
        durations = tuple(p for p in parts if p is not None)
        if len(parts) != len(default) or len(durations) != len(parts):
            self.problem(name, f"must be {len(default)} durations like 0m,30m,1h,4h, got {value!r}")
            return default
        if any(b < a for a, b in zip(durations, durations[1:])):
            self.problem(name, f"must not decrease, got {value!r}")
            return default
        return durations

    def url(self, name: str, default: str) -> str:
        value = self.raw(name) or default
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self.problem(name, f"must be an http(s) URL, got {value!r}")
        return value.rstrip("/") if name != "TELEGRAM_API_BASE_URL" else value


def _parse_cloudinary_url(reader: _Reader) -> CloudinaryConfig | None:
    name = "CLOUDINARY_URL"
    value = reader.required(name)
    if value is None:
        return None
    parsed = urlparse(value)
    # Never echo the value: it holds the API secret.
    if parsed.scheme != "cloudinary":
        reader.problem(name, "must look like cloudinary://<api_key>:<api_secret>@<cloud_name>")
        return None
    if not (parsed.username and parsed.password and parsed.hostname):
        reader.problem(name, "needs an api key, an api secret and a cloud name "
                             "(cloudinary://<api_key>:<api_secret>@<cloud_name>)")
        return None
    upload_prefix = None
    prefixes = parse_qs(parsed.query).get("upload_prefix")
    if prefixes:
        upload_prefix = prefixes[-1].rstrip("/")
        prefix_url = urlparse(upload_prefix)
        if prefix_url.scheme not in ("http", "https") or not prefix_url.netloc:
            reader.problem(name, "its upload_prefix must be an http(s) URL")
    return CloudinaryConfig(
        cloud_name=parsed.hostname,
        api_key=unquote(parsed.username),
        api_secret=Secret(unquote(parsed.password)),
        upload_prefix=upload_prefix,
    )


def _zone(reader: _Reader) -> tzinfo:
    name = reader.raw("BOT_TIMEZONE") or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name == DEFAULT_TIMEZONE:  # no tz database on this machine: Seoul has no DST
            return timezone(timedelta(hours=9), "KST")
        reader.problem("BOT_TIMEZONE", f"unknown time zone {name!r} (an IANA name such as Asia/Seoul or UTC)")
        return timezone.utc


def _parse(env: Mapping[str, str], *, require_telegram: bool, partial: bool = False) -> Settings:
    r = _Reader(env)

    token = r.secret("TELEGRAM_BOT_TOKEN", needed=require_telegram)
    if token is not None and not _BOT_TOKEN_RE.match(token.reveal()):
        r.problem("TELEGRAM_BOT_TOKEN", "does not look like a bot token (<digits>:<35 characters>)")
    ops_chat_id = r.integer("OPS_CHAT_ID", needed=require_telegram)
    admins = r.id_list("ADMIN_USER_IDS")
    if require_telegram and not admins:
        r.problem("ADMIN_USER_IDS", "needs at least one admin user id (mutating commands need one)")

    instagram_user_id = r.required("INSTAGRAM_USER_ID")
    if instagram_user_id is not None and not instagram_user_id.isdigit():
        r.problem("INSTAGRAM_USER_ID", f"must be the numeric IG user id, got {instagram_user_id!r}")
    app_id = r.raw("INSTAGRAM_APP_ID")
    app_secret = r.secret("INSTAGRAM_APP_SECRET", needed=False)
    if bool(app_id) != bool(app_secret):
        r.problem("INSTAGRAM_APP_ID" if not app_id else "INSTAGRAM_APP_SECRET",
                  "INSTAGRAM_APP_ID and INSTAGRAM_APP_SECRET go together (both or neither)")

    fal_key = r.secret("FAL_KEY")
    lang = (r.raw("BOT_LANG") or "ko").lower()
    if lang not in LANGUAGES:
        r.problem("BOT_LANG", f"must be one of {', '.join(LANGUAGES)}, got {lang!r}")
        lang = "ko"

    settings = Settings(
        telegram_bot_token=token,
        telegram_api_base_url=r.url("TELEGRAM_API_BASE_URL", DEFAULT_TELEGRAM_API_BASE_URL),
        ops_chat_id=ops_chat_id,
        ops_thread_id=r.integer("OPS_THREAD_ID"),
        admin_user_ids=admins,
        operator_user_ids=r.id_list("OPERATOR_USER_IDS"),
        instagram_access_token=r.secret("INSTAGRAM_ACCESS_TOKEN"),
        instagram_user_id=instagram_user_id,
        instagram_graph_url=r.url("INSTAGRAM_GRAPH_URL", DEFAULT_INSTAGRAM_GRAPH_URL),
        instagram_app_id=app_id,
        instagram_app_secret=app_secret,
        cloudinary=_parse_cloudinary_url(r),
        fal_key=fal_key,
        fal_queue_url=r.url("FAL_QUEUE_URL", DEFAULT_FAL_QUEUE_URL),
        sunflow_home=Path(r.raw("SUNFLOW_HOME") or "."),
        data_dir=Path(r.raw("DATA_DIR") or "data"),
        bot_lang=lang,
        timezone=_zone(r),
        health_timeout_s=r.number("HEALTH_TIMEOUT_S", 5.0, 0, 120),
        stats_max_age_h=r.number("STATS_MAX_AGE_H", 26.0, 0, 24 * 365),
        health_share_s=r.number("HEALTH_SHARE_S", 15.0, -1, 3600),
        pd_user_ids=r.id_list("PD_USER_IDS"),
        escalation_offsets={sev: r.offsets(f"ESCALATION_{sev}", default)
                            for sev, default in DEFAULT_ESCALATION_OFFSETS.items()},
        escalation_remind_every=r.duration("ESCALATION_REMIND_EVERY", timedelta(minutes=30)),
        runbooks_dir=Path(r.raw("RUNBOOKS_DIR") or DEFAULT_RUNBOOKS_DIR),
        action_timeout_s=r.number("ACTION_TIMEOUT_S", 30.0, 0, 600),
        telegram_group_max_rate=int(r.number("TELEGRAM_GROUP_MAX_RATE", 20, 0, 100_000)),
        backup_keep=int(r.number("BACKUP_KEEP", 50, 1, 10_000)),
        scripts_file=Path(scripts_file) if (scripts_file := r.raw("SCRIPTS_FILE")) else None,
        backup_keep_days=int(r.number("BACKUP_KEEP_DAYS", 90, 1, 3650)),
        sunflow_repo=Path(repo) if (repo := r.raw("SUNFLOW_REPO")) else None,
        check_every=_check_every(r),
        **_intake(r),
        **_token_reminders(r),
        **_fallbacks(r),
    )
    if not r.problems:
        return settings
    redact = r.redactor()
    problems = [redact(p) for p in r.problems]
    components = [_COMPONENT_OF.get(name) for name in r.variables]
    known = [component for component in components if component is not None]
    if not partial or len(known) != len(components):
        raise ConfigError(problems)
    unusable: dict[str, list[str]] = {}
    for component, problem in zip(known, problems):
        unusable.setdefault(component, []).append(problem)
    return dataclasses.replace(settings, unusable={c: "; ".join(p) for c, p in unusable.items()})
