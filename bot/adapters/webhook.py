"""A generic JSON webhook as an alert channel: one POST per alert (Slack-, Teams- or
PagerDuty-style receivers take JSON); any answer but 2xx, or none, is a failure."""

from __future__ import annotations

import httpx

from bot.ports import Alert, ChannelError


class WebhookChannel:
    name = "webhook"

    def __init__(self, url: str, *, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._url = url
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def send(self, alert: Alert) -> None:
        try:
            response = await self._client.post(self._url, json=alert.as_dict())
        except httpx.HTTPError as exc:
            raise ChannelError(f"webhook: {type(exc).__name__}") from None
        if not response.is_success:
            raise ChannelError(f"webhook: HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self._client.aclose()
