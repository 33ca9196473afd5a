"""One HTTP round trip for the httpx-based adapters: transport failures mapped, JSON parsed.

The exception text of httpx names the URL, and Bot API and Graph URLs can carry tokens, so
nothing of it travels on: only the exception's class name.
"""

from __future__ import annotations

from typing import Any

import httpx

from bot.errors import ServiceTimeout, ServiceUnavailable


async def request_json(client: httpx.AsyncClient, method: str, url: str, *, service: str,
                       vendor: str, **kwargs: Any) -> tuple[httpx.Response, object]:
    """(response, parsed JSON body or None); timeouts and refused connections raise ours."""
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise ServiceTimeout(service, f"no answer from {vendor}") from None
    except httpx.TransportError as exc:
        raise ServiceUnavailable(service, f"cannot reach {vendor} ({type(exc).__name__})") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    return response, body
