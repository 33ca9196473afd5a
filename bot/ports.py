"""One protocol per capability the engine needs from the outside world, and the values they trade.

Adapters (`bot/adapters/`) implement these against a vendor; the engine, the actions and the
handlers only ever see these names; health probes follow `bot.health.HealthProbe`. Every
method raises `bot.errors.ServiceError` subclasses, never a vendor's own exception; the
pipeline-files port also raises `UnsafePath` for a name that would lead out of its folders.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

from bot.secrets import Secret


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
    issued_at: datetime | None = None


@dataclass(frozen=True)
class RefreshedToken:
    """What `refresh_access_token` gave: a long-lived token valid `expires_in_s` from now."""

    token: Secret
    expires_in_s: int


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
class Container:
    """A Graph media container: made from an image URL, published once it is FINISHED."""

    id: str
    status_code: str  # IN_PROGRESS, FINISHED, ERROR, EXPIRED (24 h unpublished), PUBLISHED
    status: str = ""  # Graph's words for it


@dataclass(frozen=True)
class UploadedImage:
    public_id: str
    url: str  # https delivery URL: what Instagram fetches
    width: int
    height: int
    existing: bool  # it was there already (an earlier try landed): nothing new was made


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


class UnsafePath(ValueError):
    """A file pattern or topic that would reach outside the pipeline's folders; nothing was read."""


@dataclass(frozen=True)
class LogTail:
    """The last lines of one log file in config/logs."""

    file: str  # the name inside config/logs
    lines: tuple[str, ...]
    error_lines: tuple[LogLine, ...]  # those at level ERROR, CRITICAL or FATAL
    modified: datetime | None
    problem: str | None = None  # set (and `lines` empty) when the file could not be read


@dataclass(frozen=True)
class LogMatches:
    """The lines of one log file that contain a text."""

    file: str
    count: int
    last: tuple[LogLine, ...]  # the last few, oldest first; `at` inherited by traceback lines
    problem: str | None = None


@dataclass(frozen=True)
class TraceFile:
    """One config/logs/traces/SF-*.json as found: its JSON object, or why it is unusable."""

    name: str
    body: dict[str, Any] | None
    problem: str | None = None


@dataclass(frozen=True)
class LocalImage:
    name: str
    size: int  # bytes
    modified: datetime


@dataclass(frozen=True)
class TopicPost:
    """content/images/<topic>/post.toml: what a publish of the topic sends."""

    caption: str
    images: tuple[str, ...]  # file names in the topic's folder, in publishing order
    prompt: str | None  # the image generation prompt, when the pipeline wrote it down
    missing: tuple[str, ...] = ()  # listed images not there yet (their generation failed)


@dataclass(frozen=True)
class ImageFolder:
    """content/images/<topic>/ (or its archive/): its files, newest first."""

    path: str  # relative to the pipeline home, for display
    exists: bool
    images: tuple[LocalImage, ...]


@dataclass(frozen=True)
class LogBundle:
    """A .tar.gz of the stderr log tails and the SF-* traces, every member redacted."""

    content: bytes
    members: tuple[str, ...]
    log_files: tuple[str, ...]
    trace_ids: tuple[str, ...]


class TokenInspector(Protocol):
    async def account(self) -> IgAccount: ...

    async def debug_token(self) -> TokenDebug | None:
        """None when no app credentials are configured."""

    async def publishing_quota(self) -> PublishingQuota: ...


class TokenAuthority(Protocol):
    """Graph as the judge of a token the bot is given, and the way to put one to use."""

    async def account(self, token: Secret | None = None) -> IgAccount:
        """The account as `token` (default: the one in use) sees it; raises on a bad token."""

    async def debug_token(self, token: Secret | None = None) -> TokenDebug | None:
        """None when no app credentials are configured."""

    async def refresh_token(self) -> RefreshedToken:
        """`refresh_access_token` for the token in use (Instagram Login long-lived tokens)."""

    def use_token(self, token: Secret) -> None:
        """Every call from now on goes with `token`."""


@dataclass(frozen=True)
class Commit:
    sha: str
    author: str
    at: datetime
    subject: str


@dataclass(frozen=True)
class ChangedFile:
    path: str  # relative to the repository's root, as git names it
    status: str  # A added, M modified, D deleted, T type changed


@dataclass
class NewInFiles:
    """What the pipeline wrote since the last look (`FileFollower.look`)."""

    lines: list[tuple[str, str]]  # (log file name, line)
    traces: list[tuple[str, dict[str, Any]]]  # (trace file name, its JSON object)
    skipped: int  # trace files that were not readable JSON objects
    positions: dict[str, Any]  # keep it, and hand it to the next look


class FileFollower(Protocol):
    def look(self, positions: dict[str, Any], *, today: date | None = None) -> NewInFiles:
        """What is new since `positions` ({} the first time: then nothing, the rest is history)."""


class ChannelError(Exception):
    """An alert channel could not carry the alert; the message says which and why, briefly."""


@dataclass(frozen=True)
class Alert:
    """What a fallback channel carries: plain text, redacted already."""

    title: str
    text: str
    at: datetime
    incident: str | None = None  # its ref, when it is about one
    severity: str | None = None
    key: str | None = None  # the same key again in one outage is not sent again (a retried post)

    def as_dict(self) -> dict[str, Any]:
        return {"title": self.title, "text": self.text, "at": self.at.isoformat(),
                "incident": self.incident, "severity": self.severity}


class AlertChannel(Protocol):
    name: str

    async def send(self, alert: Alert) -> None:
        """Raises ChannelError."""


class RepositoryError(Exception):
    """The repository could not answer (git missing, not a repository, a timeout); the
    message says why in git's words."""


class CodeRepository(Protocol):
    """The pipeline's git repository, read only (the rollback domain writes the file itself)."""

    root: Path

    async def top_level(self) -> Path: ...

    async def commits(self, limit: int) -> list[Commit]: ...

    async def changed_files(self, sha: str) -> list[ChangedFile]: ...

    async def content_at(self, sha: str, path: str) -> bytes | None: ...

    async def diff_to(self, sha: str, path: str) -> str: ...

    async def has_changes(self, path: str) -> bool: ...

    async def executable_at(self, sha: str, path: str) -> bool: ...


class PublishingQuotaReader(Protocol):
    """What the `instagram` probe reads: the quota, and the usage Graph reported with it."""

    last_usage_pct: float | None  # the highest X-App-Usage figure of the last answer, if any

    async def publishing_quota(self) -> PublishingQuota: ...


class Publisher(Protocol):
    """Instagram's content publishing: container, its state, publish. Graph has no idempotency
    key, so a caller keeps the container id before anything else and looks at the container
    after an unclear failure instead of publishing again."""

    async def create_container(self, image_url: str, caption: str) -> str: ...

    async def create_carousel_item(self, image_url: str) -> str:
        """A container for one image of a carousel (published only through its carousel)."""

    async def create_carousel(self, children: Sequence[str], caption: str) -> str:
        """A carousel container of 2 to 10 item containers, in order."""

    async def container(self, container_id: str) -> Container: ...

    async def publish(self, container_id: str) -> str:
        """The published media's id."""


class ImageUploader(Protocol):
    async def upload(self, content: bytes, *, public_id: str) -> UploadedImage:
        """Upload under `public_id`, never overwriting: a second upload of the same id finds
        the first (`existing`), so a retry of an upload that landed makes no second asset."""


@dataclass(frozen=True)
class MediaCounts:
    """One published post as Graph counts it (`StatsSource.recent_media`)."""

    media_id: str
    caption: str
    permalink: str | None
    timestamp: str  # Graph's own ISO text
    like_count: int
    comments_count: int


class StatsSource(Protocol):
    """What `stats.collect` reads from Graph: the account's counts and its recent posts."""

    async def profile(self) -> dict[str, Any]:
        """id, username, name, followers_count, follows_count, media_count."""

    async def recent_media(self, limit: int) -> list[MediaCounts]:
        """Newest first."""


class ImageRequests(Protocol):
    """FLUX.2 Pro on fal's queue: submit once, then only ever poll the request id."""

    async def submit(self, arguments: Mapping[str, Any]) -> str: ...

    async def status(self, request_id: str) -> str:
        """IN_QUEUE, IN_PROGRESS or COMPLETED."""

    async def result(self, request_id: str) -> Mapping[str, Any]: ...


class WebFetcher(Protocol):
    """Plain https reads: is an image URL there (what Instagram will fetch), and its bytes."""

    async def status_of(self, url: str) -> int: ...

    async def fetch(self, url: str, *, limit_bytes: int) -> bytes: ...


class ContentWrites(Protocol):
    """The pipeline files a recovery action reads whole or writes: a topic's images (listed
    names only) and the statistics file, each written whole (write, fsync, rename)."""

    async def read_image(self, topic: str, name: str, *, archive: bool = False) -> bytes: ...

    async def save_image(self, topic: str, name: str, content: bytes) -> None: ...

    async def archive_image(self, topic: str, name: str) -> str:
        """Move a listed image into the topic's archive/ (a new one takes its name); the name
        it has there."""

    async def read_stats(self) -> dict[str, Any] | None:
        """The statistics file's JSON object; None when missing (BadRequest when unreadable)."""

    async def write_stats(self, stats: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class ScriptRun:
    """How one of the team's scripts ended."""

    exit_code: int | None  # None: killed at its timeout
    tail: tuple[str, ...]  # the output's last lines, not yet redacted
    trace_ids: tuple[str, ...]  # SF-* ids it printed


@dataclass(frozen=True)
class Binding:
    needs_topic: bool  # its command has {topic}
    timeout_s: float


class TeamScripts(Protocol):
    """The team's own commands bound to actions (`bot.adapters.team_scripts`)."""

    def bound(self) -> Mapping[str, Binding]: ...

    async def run(self, action: str, *, topic: str | None, incident: str | None) -> ScriptRun: ...


class ImageHost(Protocol):
    async def ping(self) -> None: ...

    async def usage(self) -> HostUsage: ...


class ImageGenerator(Protocol):
    model: str  # the model the key check asks about (the `fal` probe names it)

    async def check_key(self) -> None:
        """An authenticated call that spends no credits; raises when the key is rejected."""


class ChatTransport(Protocol):
    async def get_me(self) -> BotIdentity: ...

    async def send_message(self, chat_id: int, text: str, thread_id: int | None = None) -> int:
        """Send plain text; the new message's id."""


class PipelineFiles(Protocol):
    async def stats_freshness(self) -> StatsFreshness: ...

    async def recent_errors(self, since: datetime) -> tuple[int, LogLine | None]:
        """How many error lines of the *_stderr.logs are newer than `since`, and the newest."""

    async def tail_logs(self, pattern: str, lines: int) -> list[LogTail]:
        """The last `lines` lines of each config/logs file matching the glob `pattern`."""

    async def grep_logs(self, pattern: str, text: str, show: int) -> list[LogMatches]:
        """Per matching file: how many lines contain `text` (literally), and the last `show`."""

    async def trace_files(self) -> list[TraceFile]:
        """Every config/logs/traces/SF-*.json, by name."""

    async def images(self, topic: str, archive: bool = False) -> ImageFolder:
        """content/images/<topic>/ or its archive/; UnsafePath for a topic that is not a folder name."""

    async def topic_post(self, topic: str) -> TopicPost | None:
        """content/images/<topic>/post.toml, checked (TopicPostError); None when there is none."""

    async def collect_bundle(self, lines: int, day: str, folder: str) -> LogBundle:
        """The playbook's log collection: `error_<day>.log` (stderr tails) and the SF-* traces,
        redacted."""


class VendorClient(Protocol):
    async def aclose(self) -> None:
        """Release the connections (the bot is stopping)."""


class InstagramClient(TokenInspector, PublishingQuotaReader, Publisher, StatsSource, VendorClient,
                      Protocol):
    """The Graph API as the services hold it: the token, the quota, the usage it reported,
    publishing."""


class ImageHostClient(ImageHost, ImageUploader, VendorClient, Protocol): ...


class ImageGeneratorClient(ImageGenerator, ImageRequests, VendorClient, Protocol): ...


class ChatClient(ChatTransport, VendorClient, Protocol): ...


class WebClient(WebFetcher, VendorClient, Protocol): ...


class PipelineLogs(Protocol):
    """What the `logs` probe reads: is the log folder there, and its recent error lines."""

    @property
    def logs_dir(self) -> Path: ...

    async def recent_errors(self, since: datetime) -> tuple[int, LogLine | None]:
        """How many error lines of the *_stderr.logs are newer than `since`, and the newest."""


class TokenExpiryStore(Protocol):
    def token_expiry_registration(self) -> ExpiryRegistration | None: ...

    def set_token_expiry(self, expires_at: datetime, *, actor: str) -> None: ...

    def forget_token_expiry(self, *, actor: str) -> None:
        """The registered expiry was another token's: unknown from now on."""
