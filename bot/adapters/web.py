"""Plain https reads with httpx: is an image URL there, and its bytes (a generated image).

URLs come from vendors (Cloudinary's delivery URL, fal's result), never from a chat. Only
http(s) is followed, a body is read up to a limit, and an error names the host, never the
URL (a signed URL carries its signature).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from bot.errors import BadRequest, ServiceTimeout, ServiceUnavailable

SERVICE = "web"


def _host(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest(SERVICE, "not an http(s) URL")
    return parts.hostname


class HttpFetcher:
    """`WebFetcher` over one httpx client."""

    def __init__(self, *, timeout_s: float = 30.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout_s, follow_redirects=True,
                                         max_redirects=3)

    async def status_of(self, url: str) -> int:
        """The HTTP status a GET of `url` answers (the body is not read)."""
        host = _host(url)
        try:
            async with self._client.stream("GET", url) as response:
                return response.status_code
        except httpx.TimeoutException:
            raise ServiceTimeout(SERVICE, f"no answer from {host}") from None
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(SERVICE, f"cannot reach {host} ({type(exc).__name__})") from None

    async def fetch(self, url: str, *, limit_bytes: int) -> bytes:
        host = _host(url)
        try:
            async with self._client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise ServiceUnavailable(SERVICE, f"{host} answered HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > limit_bytes:
                        raise BadRequest(SERVICE, f"{host} sent more than {limit_bytes} bytes")
                return bytes(body)
        except httpx.TimeoutException:
            raise ServiceTimeout(SERVICE, f"no answer from {host}") from None
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(SERVICE, f"cannot reach {host} ({type(exc).__name__})") from None

    async def aclose(self) -> None:
        await self._client.aclose()
