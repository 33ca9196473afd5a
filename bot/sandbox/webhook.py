"""A loopback webhook receiver (the fallback channel's other end): it keeps every JSON body it
is sent. Faults: the shared `slow`/`hang`, and `5xx [status=503]`."""

from __future__ import annotations

import threading
from typing import Any

from bot.sandbox.base import FakeServer, Reply, Request


class FakeWebhook(FakeServer):
    name = "webhook"
    FAULTS = frozenset({"slow", "hang", "5xx"})

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._received: list[dict[str, Any]] = []

    @property
    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._received)

    def set_fault(self, name: str, **params: Any) -> None:
        if name not in self.FAULTS:
            raise ValueError(f"unknown webhook fault {name!r}; known: {sorted(self.FAULTS)}")
        super().set_fault(name, **params)

    def handle(self, request: Request) -> Reply:
        self.apply_common_faults(request)
        if self.faults.mode == "5xx":
            return Reply(int(self.faults.params.get("status", 503)), {"error": "unavailable"})
        if request.method != "POST" or not isinstance(request.json, dict):
            return Reply(400, {"error": "POST a JSON object"})
        with self._lock:
            self._received.append(request.json)
        return Reply(200, {"ok": True})
