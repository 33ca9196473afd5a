"""The intake endpoint: the pipeline reports a failure over HTTP, as one line of `curl`.

    curl -fsS -X POST http://127.0.0.1:8787/signal \\
         -H "Authorization: Bearer $INTAKE_SECRET" -H "Content-Type: application/json" \\
         -d '{"component": "cloudinary", "message": "upload 401 Invalid Signature",
              "trace_ids": ["SF-20261205-0003"]}'

A small HTTP/1.1 server on the bot's own event loop (loopback by default): `POST /signal` only,
the shared secret compared in constant time, the body at most `MAX_BODY` bytes of JSON with
the fields `make_signal` checks. Every answer is JSON; a refusal says why in one sentence and a
wrong or missing secret is audited (once a minute at most, whatever the flood). A request that
does not finish within `READ_TIMEOUT_S` is dropped.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.detection.detector import Detector, Received
from bot.detection.signals import Signal, SignalError, make_signal
from bot.store import Store

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024
MAX_HEAD = 8 * 1024
READ_TIMEOUT_S = 5.0  # to read a request; a slow or stalled client is dropped
PROCESS_WAIT_S = 3.0  # the answer waits this long for the incident; the work goes on regardless
AUDIT_EVERY = timedelta(minutes=1)
_REASONS = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
            413: "Payload Too Large", 415: "Unsupported Media Type", 422: "Unprocessable Entity",
            500: "Internal Server Error"}


class IntakeRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def signal_of(body: bytes, *, at: datetime) -> Signal:
    """The signal a request body asks for, or IntakeRefused (400 not JSON, 422 bad fields)."""
    try:
        doc = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise IntakeRefused(400, "the body is not JSON") from None
    if not isinstance(doc, dict):
        raise IntakeRefused(422, "the body must be a JSON object")
    unknown = sorted(set(doc) - {"component", "message", "trace_ids", "ok"})
    if unknown:
        raise IntakeRefused(422, f"unknown fields: {', '.join(unknown)}")
    component, message = doc.get("component"), doc.get("message", "")
    trace_ids, ok = doc.get("trace_ids", []), doc.get("ok", False)
    if not isinstance(component, str) or not isinstance(message, str):
        raise IntakeRefused(422, "component and message must be strings")
    if not isinstance(trace_ids, list) or not all(isinstance(t, str) for t in trace_ids) \
            or len(trace_ids) > 20:
        raise IntakeRefused(422, "trace_ids must be a list of at most 20 strings")
    if not isinstance(ok, bool):
        raise IntakeRefused(422, "ok must be true or false")
    try:
        return make_signal("intake", component, message, at=at, trace_ids=tuple(trace_ids),
                           failing=not ok)
    except SignalError as exc:
        raise IntakeRefused(422, str(exc)) from None


def authorized(given: str | None, secret: str) -> bool:
    """`Authorization: Bearer <secret>`, compared in constant time."""
    scheme, _, value = (given or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), secret.encode())


@dataclass
class IntakeServer:
    detector: Detector
    store: Store
    secret: str = field(repr=False)
    clock: Callable[[], datetime] = field(repr=False)
    _server: asyncio.AbstractServer | None = None
    _working: set[asyncio.Task] = field(default_factory=set, repr=False)
    address: tuple[str, int] | None = None  # where it listens (port 0 in the settings: any free)

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._serve, host, port, limit=MAX_HEAD)
        bound = self._server.sockets[0].getsockname()
        self.address = (str(bound[0]), int(bound[1]))
        log.info("intake endpoint listening on %s:%s", *self.address)
        if not ipaddress.ip_address(self.address[0]).is_loopback:
            log.warning("the intake endpoint listens beyond this machine (%s) over plain HTTP: put a "
                        "TLS proxy in front of it, or bind it to 127.0.0.1", self.address[0])
        return self.address

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            read = await asyncio.wait_for(self._read(reader, str(peer[0]) if peer else "?"),
                                          READ_TIMEOUT_S)
            status, answer = read if isinstance(read, tuple) else await self._take(read)
        except asyncio.TimeoutError:
            status, answer = 408, {"ok": False, "error": "the request did not finish in time"}
        except (asyncio.LimitOverrunError, asyncio.IncompleteReadError, ValueError):
            status, answer = 400, {"ok": False, "error": "the request is malformed or ends early"}
        except ConnectionError:
            return
        except Exception:  # the endpoint stays up; the bug goes to the log
            log.exception("intake request failed")
            status, answer = 500, {"ok": False, "error": "internal error"}
        body = json.dumps(answer).encode()
        try:
            writer.write(f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nContent-Type: application/json"
                         f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _take(self, signal: Signal) -> tuple[int, dict[str, Any]]:
        """Hand the signal on; its incident may take long to post (the group's budget, Telegram
        down): the answer does not wait past `PROCESS_WAIT_S`, and the work is never cut off."""
        task = asyncio.ensure_future(self.detector.receive(signal))
        self._working.add(task)
        task.add_done_callback(self._done)
        done, _ = await asyncio.wait({task}, timeout=PROCESS_WAIT_S)
        if not done:
            return 202, {"ok": True, "kind": "accepted", "incident": None}
        received: Received = task.result()
        return 202, {"ok": True, "kind": received.kind, "incident": received.ref}

    def _done(self, task: asyncio.Task) -> None:
        self._working.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("an intake signal failed", exc_info=task.exception())

    async def _read(self, reader: asyncio.StreamReader, peer: str) -> tuple[int, dict[str, Any]] | Signal:
        """The request read and checked: its signal, or the answer that refuses it."""
        method, path, headers = await _head(reader)
        if path.split("?", 1)[0] != "/signal":
            return 404, {"ok": False, "error": "the only path is /signal"}
        if method != "POST":
            return 405, {"ok": False, "error": "POST a JSON signal to /signal"}
        if not authorized(headers.get("authorization"), self.secret):
            await self._audit_refusal(peer, "missing secret" if "authorization" not in headers
                                      else "wrong secret")
            return 401, {"ok": False, "error": "a wrong or missing secret (Authorization: Bearer …)"}
        length = headers.get("content-length")
        if length is None or not length.isdigit():
            return 411, {"ok": False, "error": "Content-Length is required"}
        if int(length) > MAX_BODY:
            return 413, {"ok": False, "error": f"the body is larger than {MAX_BODY} bytes"}
        if "json" not in headers.get("content-type", "application/json"):
            return 415, {"ok": False, "error": "the body must be application/json"}
        body = await reader.readexactly(int(length))
        try:
            return signal_of(body, at=self.clock())
        except IntakeRefused as refused:
            return refused.status, {"ok": False, "error": refused.message}

    async def _audit_refusal(self, peer: str, reason: str) -> None:
        def audit() -> None:
            if self.store.claim(f"intake.refusal_audited.{reason}", now=self.clock(), every=AUDIT_EVERY):
                self.store.audit("intake.refused", actor=f"http:{peer}", detail={"reason": reason})

        log.info("intake request from %s refused: %s", peer, reason)  # the audit is the record
        await asyncio.to_thread(audit)


async def _head(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str]]:
    request = (await reader.readline()).decode("latin-1").strip()
    parts = request.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/"):
        raise ValueError("not an HTTP request line")
    headers: dict[str, str] = {}
    size = len(request)
    while True:
        line = (await reader.readline()).decode("latin-1")
        size += len(line)
        if size > MAX_HEAD or len(headers) > 50:
            raise ValueError("the head is too long")
        if line in ("\r\n", "\n", ""):
            break
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return parts[0].upper(), parts[1], headers


