"""A loopback fal queue (`queue.fal.run`) that serves FLUX.2 Pro results with real PNGs.

fal-client has no base-URL argument: the adapter sets `fal_client.client.QUEUE_URL_FORMAT` to
`fake.url + "/"`, and the fake answers with loopback `status_url`/`response_url`/`cancel_url`:

    POST /<owner>/<alias>[/<path>]                  submit (JSON arguments)
    GET  /<owner>/<alias>/requests/<id>/status      IN_QUEUE / IN_PROGRESS / COMPLETED
    GET  /<owner>/<alias>/requests/<id>             the result
    PUT  /<owner>/<alias>/requests/<id>/cancel
    GET  /files/<id>.png                            the generated image (no auth, like the CDN)

Auth is `Authorization: Key <key>`. Errors come as `{"detail": ...}`. An unknown request id is
a 404 `{"detail": "Request not found"}` for a good key, so a status call on a random id is a
free key check (401 when the key is refused).

Faults (`fake.set_fault(name, **params)`), on top of the shared `slow <ms>` and `hang`:
    key_invalid                     401 "No user found for Key ID and Secret"
    quota [scope="submit"|"all"] [reason="balance"|"admin"|"top_up"]
                                    403 "User is locked. Reason: Exhausted balance. ..." (or
                                    "Admin lock. Please contact support@fal.ai", or "TOP_UP."),
                                    the bodies public fal issue threads quote; like fal, only
                                    billable calls (submits) are refused unless scope="all"
    rate_limited [retry_after]      429 {"detail": ...} (+ Retry-After); fal-client retries 429
    5xx [status=500] [ingress=False]  500 with `x-fal-request-id` (fal-client does not retry);
                                    ingress=True: an nginx 502/503/504 page without it, which
                                    fal-client does retry
    generation_error [kind="content_policy"|"validation"|"timeout"|"internal"]
                                    submits succeed; the request then fails: 422 with a
                                    `detail` list on the result (content_policy, validation),
                                    or status COMPLETED with `error`/`error_type` and a
                                    504/500 result (timeout, internal)
"""

from __future__ import annotations

import secrets
import struct
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.base import FakeServer, Reply, Request

COMMON_FAULTS = frozenset({"slow", "hang", "5xx", "rate_limited"})
NAMESPACES = ("workflows", "comfy")
IMAGE_SIZES = {
    "square_hd": (1024, 1024), "square": (512, 512), "portrait_4_3": (768, 1024),
    "portrait_16_9": (576, 1024), "landscape_4_3": (1024, 768), "landscape_16_9": (1024, 576),
}
DEFAULT_SIZE = (1024, 1024)
NGINX_PAGES = {
    502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out",
}


@dataclass
class FalRequest:
    """One submitted request, as the fake remembers it."""

    request_id: str
    application: str  # owner/alias (the queue's app), without the sub-path
    path: str  # the sub-path after owner/alias, "" for none
    arguments: Any
    submitted_at: float
    steps: int  # status polls before COMPLETED
    failure: str | None = None  # generation_error kind, fixed at submit
    polls: int = 0
    cancelled: bool = False
    seed: int = field(default_factory=lambda: secrets.randbelow(2**31))

    @property
    def completed(self) -> bool:
        return self.polls >= self.steps or self.cancelled


class FakeFal(FakeServer):
    """The fal queue on 127.0.0.1."""

    name = "fal"
    FAULTS = COMMON_FAULTS | {"key_invalid", "quota", "generation_error"}

    def __init__(self, key: str, *, steps_in_queue: int = 0, inference_time: float = 2.84
                 ) -> None:
        super().__init__()
        self._lock = threading.RLock()
        self.key = key
        self.steps_in_queue = steps_in_queue
        self.inference_time = inference_time
        self.requests: list[FalRequest] = []
        self._by_id: dict[str, FalRequest] = {}
        self._files: dict[str, tuple[int, int, int]] = {}  # name -> (width, height, seed)
        self._png_cache: dict[str, bytes] = {}

    def set_fault(self, name: str, **params: Any) -> None:
        if name not in self.FAULTS:
            raise ValueError(f"unknown fal fault {name!r}; known: {sorted(self.FAULTS)}")
        super().set_fault(name, **params)

    def get_request(self, request_id: str) -> FalRequest | None:
        with self._lock:
            return self._by_id.get(request_id)

    # ---- serving -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        self.apply_common_faults(request)
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] == ["files"] and len(parts) == 2 and request.method in ("GET", "HEAD"):
            return self._file(parts[1])
        mode, params = self.faults.mode, dict(self.faults.params)
        if mode == "5xx":
            return self._server_error(params)
        problem = self._check_key(request, mode)
        if problem is not None:
            return problem
        if mode == "rate_limited":
            return self._rate_limited(params)
        app, rest = _split_app(parts)
        if app is None:
            return _detail(404, "Application not found")
        if rest[:1] == ["requests"] and len(rest) in (2, 3):
            request_id = rest[1]
            if mode == "quota" and params.get("scope") == "all":
                return _quota(params.get("reason", "balance"))
            action = rest[2] if len(rest) == 3 else None
            return self._on_request(request, app, request_id, action)
        if request.method != "POST":
            return _detail(405, "Method Not Allowed")
        if mode == "quota":
            return _quota(params.get("reason", "balance"))
        return self._submit(request, app, "/".join(rest), mode, params)

    def _check_key(self, request: Request, mode: str | None) -> Reply | None:
        auth = request.headers.get("authorization", "")
        scheme, _, key = auth.partition(" ")
        if not auth:
            return _detail(401, "Missing authorization header")
        if scheme != "Key" or not key or (":" in self.key and ":" not in key):
            return _detail(401, "Invalid Key Authorization header format. "
                                "Expected 'Key <key_id>:<key_secret>'.")
        if mode == "key_invalid" or key != self.key:
            return _detail(401, "No user found for Key ID and Secret")
        return None

    # ---- queue -------------------------------------------------------------------------------
    def _submit(self, request: Request, app: str, path: str, mode: str | None,
                params: dict[str, Any]) -> Reply:
        arguments = request.json if request.json is not None else {}
        failure = str(params.get("kind", "content_policy")) if mode == "generation_error" \
            else None
        entry = FalRequest(request_id=str(uuid.uuid4()), application=app, path=path,
                           arguments=arguments, submitted_at=time.time(),
                           steps=int(self.steps_in_queue), failure=failure)
        if isinstance(arguments, dict) and isinstance(arguments.get("seed"), int):
            entry.seed = arguments["seed"]
        with self._lock:
            self.requests.append(entry)
            self._by_id[entry.request_id] = entry
            position = sum(1 for r in self.requests if not r.completed) - 1
        body: dict[str, Any] = {"status": "IN_QUEUE", **self._urls(entry),
                                "queue_position": max(position, 0), "logs": None, "metrics": {}}
        return Reply(200, body, headers={"x-fal-request-id": entry.request_id})

    def _on_request(self, request: Request, app: str, request_id: str,
                    action: str | None) -> Reply:
        with self._lock:
            entry = self._by_id.get(request_id)
        if entry is None or entry.application != app:
            return _detail(404, "Request not found")
        if action == "status" and request.method == "GET":
            return self._status(entry, with_logs=request.query.get("logs") in ("1", "true"))
        if action == "cancel" and request.method == "PUT":
            return self._cancel(entry)
        if action is None and request.method == "GET":
            return self._result(entry)
        return _detail(405, "Method Not Allowed")

    def _status(self, entry: FalRequest, *, with_logs: bool) -> Reply:
        with self._lock:
            poll = entry.polls
            entry.polls += 1
            steps = entry.steps
            cancelled = entry.cancelled
        headers = {"x-fal-request-id": entry.request_id}
        if poll < steps and not cancelled:
            if poll == 0 and steps > 1:
                return Reply(200, {"status": "IN_QUEUE", **self._urls(entry),
                                   "queue_position": 0, "logs": None, "metrics": {}},
                             headers=headers)
            logs = [_log(f"Generating image ({poll}/{steps})")] if with_logs else None
            return Reply(200, {"status": "IN_PROGRESS", **self._urls(entry), "logs": logs,
                               "metrics": {}}, headers=headers)
        body: dict[str, Any] = {
            "status": "COMPLETED", **self._urls(entry),
            "logs": [_log("Image generated")] if with_logs else [],
            "metrics": {"inference_time": self.inference_time},
        }
        if cancelled:
            body["error"], body["error_type"] = "Request was cancelled", "request_cancelled"
        elif entry.failure == "timeout":
            body["error"], body["error_type"] = "Generation timed out", "generation_timeout"
        elif entry.failure == "internal":
            body["error"], body["error_type"] = "Internal server error", "internal_server_error"
        return Reply(200, body, headers=headers)

    def _cancel(self, entry: FalRequest) -> Reply:
        with self._lock:
            if entry.completed:
                return Reply(400, {"status": "ALREADY_COMPLETED"})
            entry.cancelled = True
        return Reply(202, {"status": "CANCELLATION_REQUESTED"})

    def _result(self, entry: FalRequest) -> Reply:
        with self._lock:
            completed, cancelled = entry.completed, entry.cancelled
        headers = {"x-fal-request-id": entry.request_id}
        if not completed:
            return _detail(400, "Request is still in progress", headers)
        if cancelled:
            return _detail(400, "Request was cancelled", headers)
        arguments = entry.arguments if isinstance(entry.arguments, dict) else {}
        prompt = arguments.get("prompt")
        if entry.failure == "content_policy":
            return _detail(422, [{
                "loc": ["body", "prompt"],
                "msg": "The prompt was flagged by the content checker. "
                       "Please revise it and try again.",
                "type": "content_policy_violation",
                "ctx": {"extra_info": "prompt"},
            }], {**headers, "x-fal-error-type": "content_policy_violation"})
        if entry.failure == "validation" or not isinstance(prompt, str) or not prompt.strip():
            return _detail(422, [{
                "loc": ["body", "prompt"],
                "msg": "field required" if not prompt else "ensure this value has at most "
                                                            "2500 characters",
                "type": "value_error.missing" if not prompt else "value_error",
            }], headers)
        if entry.failure == "timeout":
            return _detail(504, "Generation timed out", {
                **headers, "x-fal-error-type": "generation_timeout",
                "X-Fal-Request-Timeout-Type": "user"})
        if entry.failure == "internal":
            return _detail(500, "Internal server error",
                           {**headers, "x-fal-error-type": "internal_server_error"})
        return Reply(200, self._images(entry, arguments, prompt), headers=headers)

    def _images(self, entry: FalRequest, arguments: dict[str, Any], prompt: str
                ) -> dict[str, Any]:
        width, height = _image_size(arguments.get("image_size"))
        count = arguments.get("num_images", 1)
        count = count if isinstance(count, int) and 1 <= count <= 4 else 1
        images = []
        for i in range(count):
            name = f"{entry.request_id}.png" if count == 1 else f"{entry.request_id}-{i}.png"
            with self._lock:
                self._files[name] = (width, height, entry.seed + i)
            images.append({"url": f"{self.url}/files/{name}", "width": width, "height": height,
                           "content_type": "image/png", "file_name": name})
        return {"images": images, "seed": entry.seed, "prompt": prompt,
                "has_nsfw_concepts": [False] * count,
                "timings": {"inference": self.inference_time}}

    def _file(self, name: str) -> Reply:
        with self._lock:
            spec = self._files.get(name)
            cached = self._png_cache.get(name)
        if spec is None:
            return Reply(404, "Not Found")
        if cached is None:
            width, height, seed = spec
            cached = make_png(width, height, seed=seed)
            with self._lock:
                self._png_cache[name] = cached
        return Reply(200, cached, content_type="image/png",
                     headers={"Cache-Control": "public, max-age=604800"})

    def _urls(self, entry: FalRequest) -> dict[str, str]:
        base = f"{self.url}/{entry.application}/requests/{entry.request_id}"
        return {"request_id": entry.request_id, "response_url": base,
                "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    # ---- faults ------------------------------------------------------------------------------
    def _server_error(self, params: dict[str, Any]) -> Reply:
        if _flag(params.get("ingress")):
            status = int(params.get("status", 502))
            title = f"{status} {NGINX_PAGES.get(status, 'Error')}"
            page = (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
                    f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
                    "</body>\r\n</html>\r\n")
            return Reply(status, page, content_type="text/html")
        status = int(params.get("status", 500))
        return _detail(status, "Internal Server Error", {"x-fal-request-id": str(uuid.uuid4())})

    def _rate_limited(self, params: dict[str, Any]) -> Reply:
        headers = {}
        if params.get("retry_after") is not None:
            headers["Retry-After"] = str(int(float(params["retry_after"])))
        return _detail(429, "Too many requests: the concurrent request limit for this key "
                            "has been reached. Please try again later.", headers)


def _flag(value: Any) -> bool:
    """A boolean fault parameter, also when typed as text (`ingress=true`)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _split_app(parts: list[str]) -> tuple[str | None, list[str]]:
    """('owner/alias' or 'namespace/owner/alias', the rest of the path)."""
    size = 3 if parts[:1] and parts[0] in NAMESPACES else 2
    if len(parts) < size:
        return None, []
    return "/".join(parts[:size]), parts[size:]


def _detail(status: int, detail: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"detail": detail}, headers=dict(headers or {}))


LOCK_REASONS = {
    "balance": "Exhausted balance. Top up your balance at fal.ai/dashboard/billing.",
    "admin": "Admin lock. Please contact support@fal.ai",
    "top_up": "TOP_UP.",
}


def _quota(reason: str) -> Reply:
    if reason not in LOCK_REASONS:
        raise ValueError(f"unknown lock reason {reason!r}; known: {sorted(LOCK_REASONS)}")
    return _detail(403, f"User is locked. Reason: {LOCK_REASONS[reason]}")


def _log(message: str) -> dict[str, Any]:
    return {"message": message, "level": "INFO", "source": "user",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())}


def _image_size(value: Any) -> tuple[int, int]:
    if isinstance(value, dict):
        width, height = value.get("width"), value.get("height")
        if isinstance(width, int) and isinstance(height, int) and 0 < width * height <= 4 * 2**20:
            return width, height
    if isinstance(value, str) and value in IMAGE_SIZES:
        return IMAGE_SIZES[value]
    return DEFAULT_SIZE


def make_png(width: int, height: int, *, seed: int = 0) -> bytes:
    """A real RGB PNG (stdlib only): a warm vertical gradient tinted by `seed`."""
    tint = seed % 64
    rows = []
    for y in range(height):
        shade = y * 255 // max(height - 1, 1)
        pixel = bytes(((200 + tint // 2) % 256, (120 + shade // 2) % 256, (40 + tint) % 256))
        rows.append(b"\x00" + pixel * width)  # filter type 0 per row
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
