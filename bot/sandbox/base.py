"""A real HTTP server on 127.0.0.1 for each fake vendor, with switchable faults and a call log.

Each fake subclasses `FakeServer` and implements `handle(request) -> Reply`. The server runs in
its own thread (stdlib `ThreadingHTTPServer`), so a fake can hang a request without touching
the bot's event loop, exactly as a vendor would.

Faults are shared vocabulary across fakes (each fake decides what a fault looks like in its
vendor's own error shape):
    slow <ms>            every request is delayed by ms (combines with any mode below)
    hang                 requests block until the fault is cleared or the server stops
    5xx [status]         a server error in the vendor's shape (default 500/503 per vendor)
    rate_limited [secs]  the vendor's rate-limit answer, with its headers and retry hint
    ...                  vendor-specific modes (token_expired, auth, key_invalid, quota, ...)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from email.utils import collapse_rfc2231_value
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

HOST = "127.0.0.1"  # every fake listens on loopback only
HANG_LIMIT_S = 600.0  # a hung request still ends eventually, so no thread outlives a test run


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    form: dict[str, str] = field(default_factory=dict)  # urlencoded or multipart text fields
    files: dict[str, UploadedFile] = field(default_factory=dict)
    json: Any = None
    # set once the common faults (slow, hang) have run, so a fake that calls
    # `apply_common_faults` itself does not pay the delay twice (the server calls it too)
    common_faults_applied: bool = field(default=False, repr=False, compare=False)

    def param(self, name: str, default: str | None = None) -> str | None:
        """A parameter from the JSON body, the form or the query string, in that order."""
        if isinstance(self.json, dict) and name in self.json:
            value = self.json[name]
            return value if isinstance(value, str) else json.dumps(value)
        if name in self.form:
            return self.form[name]
        return self.query.get(name, default)


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON; bytes -> as is; str -> text
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"


@dataclass(frozen=True)
class RecordedCall:
    at: float
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    json: Any
    status: int


class Faults:
    """The fault switch of one fake: an optional mode plus an optional delay."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.mode: str | None = None
        self.params: dict[str, Any] = {}
        self.delay_ms: int = 0

    def set(self, name: str, **params: Any) -> None:
        with self._lock:
            if name == "slow":
                self.delay_ms = int(params.get("ms", 1000))
                return
            self._released.set()  # let requests hung by a previous mode go
            self._released = threading.Event()
            self.mode, self.params = name, dict(params)

    def clear(self) -> None:
        with self._lock:
            self.mode, self.params, self.delay_ms = None, {}, 0
            self._released.set()

    def wait_released(self, timeout: float) -> None:
        with self._lock:
            released = self._released
        released.wait(timeout)

    def describe(self) -> str:
        parts = []
        if self.mode:
            extra = " ".join(f"{k}={v}" for k, v in self.params.items())
            parts.append(f"{self.mode} {extra}".strip())
        if self.delay_ms:
            parts.append(f"slow {self.delay_ms}ms")
        return ", ".join(parts) or "none"


class FakeServer:
    """Base class: serve `handle()` on a loopback port in a background thread."""

    name = "fake"

    def __init__(self) -> None:
        self.faults = Faults()
        self.calls: list[RecordedCall] = []
        self._calls_lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> Self:
        self._stopping.clear()  # a fake can be started again after stop()
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer((HOST, 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.name}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.faults.clear()  # releases hung requests
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._httpd is not None, f"{self.name} fake is not started"
        return f"http://{HOST}:{self._httpd.server_port}"

    # ---- faults ----------------------------------------------------------------------------
    def set_fault(self, name: str, **params: Any) -> None:
        self.faults.set(name, **params)

    def clear_faults(self) -> None:
        self.faults.clear()

    # ---- the call log ----------------------------------------------------------------------
    def record(self, request: Request, status: int) -> None:
        with self._calls_lock:
            self.calls.append(RecordedCall(time.time(), request.method, request.path,
                                           request.query, request.form, request.json, status))

    def calls_to(self, predicate: Callable[[RecordedCall], bool]) -> list[RecordedCall]:
        with self._calls_lock:
            return [c for c in self.calls if predicate(c)]

    # ---- to implement ----------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def apply_common_faults(self, request: Request) -> Reply | None:
        """Delay, then hang if asked; returns None so the fake applies its own modes.

        Runs once per request: the server calls it before `handle()`, and a fake may call it
        again first thing in `handle()`; the second call is a no-op.
        """
        if request.common_faults_applied:
            return None
        request.common_faults_applied = True
        if self.faults.delay_ms:
            self._stopping.wait(self.faults.delay_ms / 1000)
        if self.faults.mode == "hang":
            deadline = time.monotonic() + HANG_LIMIT_S
            while self.faults.mode == "hang" and not self._stopping.is_set():
                self.faults.wait_released(min(0.25, max(0.0, deadline - time.monotonic())))
                if time.monotonic() >= deadline:
                    break
        return None


def parse_request(method: str, target: str, headers: dict[str, str], body: bytes) -> Request:
    parts = urlsplit(target)
    request = Request(method=method, path=parts.path, query=dict(parse_qsl(parts.query)),
                      headers=headers, body=body)
    ctype = headers.get("content-type", "")
    if not body:
        return request
    if ctype.startswith("application/json"):
        try:
            request.json = json.loads(body)
        except ValueError:
            request.json = None
    elif ctype.startswith("application/x-www-form-urlencoded"):
        request.form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    elif ctype.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            if isinstance(name, tuple):  # an RFC 2231 value: (charset, language, text)
                name = collapse_rfc2231_value(name)
            decoded = part.get_payload(decode=True)  # bytes; None for a multipart part
            payload = decoded if isinstance(decoded, bytes) else b""
            filename = part.get_filename()
            if filename is not None:
                request.files[name] = UploadedFile(filename, part.get_content_type(), payload)
            else:
                request.form[name] = payload.decode(part.get_content_charset() or "utf-8")
    return request


def _make_handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real vendors do
        # headers and body go out in two writes: with Nagle on, the client's delayed ACK stalls
        # every response by ~40 ms on loopback
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            if server._stopping.is_set():
                # a stopped fake must not keep answering on a kept-alive connection: the
                # client sees the connection drop, as it would with a vendor that went away
                self.close_connection = True
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            request = parse_request(self.command, self.path, headers, body)
            try:
                reply = server.apply_common_faults(request) or server.handle(request)
            except Exception as exc:  # a fake's bug shows as a 500, not a dropped connection
                reply = Reply(500, {"error": f"sandbox {server.name} crashed: {exc!r}"})
            server.record(request, reply.status)
            payload, ctype = reply.encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout on its side): nothing to tell it
            if server._stopping.is_set():
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            return  # quiet: the call log is the record

    return Handler
