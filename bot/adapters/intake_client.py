"""The bot's own intake endpoint as a client sees it (`sunflow-ops signal` while the bot runs):
one POST, the answer's JSON, or None when nothing listens there."""

from __future__ import annotations

from typing import Any

import httpx


async def post_signal(address: tuple[str, int], secret: str, body: dict[str, Any], *,
                      timeout_s: float = 10.0) -> tuple[int, dict[str, Any]] | None:
    host, port = address
    host = f"[{host}]" if ":" in host else host
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.post(f"http://{host}:{port}/signal", json=body,
                                         headers={"Authorization": f"Bearer {secret}"})
    except httpx.HTTPError:
        return None
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    return response.status_code, answer if isinstance(answer, dict) else {}
