"""The Telegram Bot API's getMe and sendMessage over plain httpx: is our notification channel alive?

This deliberately does not go through python-telegram-bot: the CLI runs it when the bot itself
is what broke (playbook scenario 6), and adapters stay free of the chat framework. The Bot API
answers `{"ok": false, "error_code": N, "description": ..., "parameters": {"retry_after": s}}`.
The token is part of the URL path, so no URL or httpx message ever leaves this module.
"""

from __future__ import annotations

import httpx

from bot.errors import (
    BadRequest,
    RateLimited,
    ServiceError,
    ServiceUnavailable,
    TokenInvalid,
)
from bot.adapters.http import request_json
from bot.ports import BotIdentity
from bot.secrets import Secret

SERVICE = "telegram"
# Why the Bot API refused a send, in fixed words (its description names chats, not secrets, but
# `detail` is built from known phrases only, as for every adapter)
_REFUSALS = (
    ("kicked", "the bot was removed from the chat"),
    ("blocked", "the bot was blocked by the user"),
    ("not a member", "the bot is not a member of the chat"),
    ("chat not found", "chat not found: check OPS_CHAT_ID"),
    ("thread not found", "topic not found: check OPS_THREAD_ID"),
    ("not enough rights", "the bot may not post in this chat"),
    ("upgraded to a supergroup", "the group became a supergroup: update OPS_CHAT_ID"),
)


def bot_api_url(base_url: str, token: str, method: str) -> str:
    """The method URL the way python-telegram-bot builds it (a `{token}` placeholder or a suffix)."""
    base = base_url.format(token=token) if "{token}" in base_url else base_url + token
    return f"{base}/{method}"


def classify_bot_api_error(status: int, body: object) -> ServiceError:
    code = body.get("error_code", status) if isinstance(body, dict) else status
    label = f"HTTP {status}"
    description = str(body.get("description", "")).lower() if isinstance(body, dict) else ""
    refusal = next((why for hint, why in _REFUSALS if hint in description), None)
    if refusal is not None and status in (400, 403):
        label += f": {refusal}"
    if status == 401 or code == 401:
        return TokenInvalid(SERVICE, f"{label}: bot token rejected", status=status)
    if status == 404:  # what the Bot API says for a malformed token (or a wrong base URL)
        return TokenInvalid(SERVICE, f"{label}: token or TELEGRAM_API_BASE_URL rejected", status=status)
    if code == 429:
        params = body.get("parameters") if isinstance(body, dict) else None
        retry = params.get("retry_after") if isinstance(params, dict) else None
        return RateLimited(SERVICE, label, retry_after_s=float(retry) if retry else None, status=status)
    if status >= 500:
        return ServiceUnavailable(SERVICE, label, status=status)
    return BadRequest(SERVICE, label, status=status)


class TelegramBotApi:
    """`ChatTransport` for one bot token."""

    def __init__(self, *, base_url: str, token: Secret, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._base_url = base_url
        self._token = token
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get_me(self) -> BotIdentity:
        url = bot_api_url(self._base_url, self._token.reveal(), "getMe")
        response, body = await request_json(self._client, "POST", url, service=SERVICE,
                                            vendor="the Bot API")
        if response.is_success and isinstance(body, dict) and body.get("ok"):
            me = body.get("result") or {}
            return BotIdentity(id=int(me.get("id", 0)), username=str(me.get("username", "")))
        raise classify_bot_api_error(response.status_code, body)

    async def send_message(self, chat_id: int, text: str, thread_id: int | None = None) -> int:
        """Send plain text (no parse mode) to a chat or forum topic; the new message's id."""
        url = bot_api_url(self._base_url, self._token.reveal(), "sendMessage")
        payload: dict[str, object] = {"chat_id": chat_id, "text": text}
        if thread_id is not None:
            payload["message_thread_id"] = thread_id
        response, body = await request_json(self._client, "POST", url, service=SERVICE,
                                            vendor="the Bot API", json=payload)
        if response.is_success and isinstance(body, dict) and body.get("ok"):
            message = body.get("result") or {}
            return int(message.get("message_id", 0))
        raise classify_bot_api_error(response.status_code, body)
