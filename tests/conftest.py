"""Shared fixtures: the sandbox, settings pointed at it, and the real bot polling it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.sandbox import ADMIN, OPS_CHAT, Sandbox
from bot.sandbox.runner import BotRunner
from bot.sandbox.telegram import SentMessage, TgChat, TgUser


class Chat:
    """Talk to the running bot the way a person in Telegram would, and wait for its answer."""

    def __init__(self, sandbox: Sandbox, runner: BotRunner) -> None:
        self.sandbox = sandbox
        self.tg = sandbox.telegram
        self.runner = runner

    @property
    def store(self):
        return self.runner.store

    @property
    def services(self):
        return self.runner.services

    def bot_messages(self, chat: TgChat = OPS_CHAT) -> list[SentMessage]:
        return self.tg.bot_messages(chat.id)

    async def send(self, text: str, *, user: TgUser = ADMIN, chat: TgChat = OPS_CHAT,
                   reply_to: int | None = None) -> list[SentMessage]:
        """Send `text`; returns the bot messages that appeared in that chat while it was handled."""
        before = len(self.bot_messages(chat))
        message = self.tg.send_message(chat, user, text, reply_to=reply_to)
        assert message.update_id is not None, "Telegram would not deliver this message"
        assert await self.runner.wait_handled(message.update_id, timeout=20), f"{text!r} not handled"
        return self.bot_messages(chat)[before:]

    async def press(self, message: SentMessage, index: int | None = None, *, data: str | None = None,
                    user: TgUser = ADMIN, chat: TgChat = OPS_CHAT) -> dict:
        """Press the index-th button (or send raw callback `data`); returns the callback answer."""
        if data is None:
            assert index is not None
            query_id = self.tg.press(chat, user, message.message_id, index)
        else:
            query_id = self.tg.press_button(chat, user, message.message_id, data)
        update_id = self.tg.last_update_id
        assert await self.runner.wait_handled(update_id, timeout=20), "button press not handled"
        assert query_id in self.tg.callback_answers, "the bot did not answer the button"
        return self.tg.callback_answers[query_id]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """One sandbox for a whole module, for tests that reset it themselves between tests."""
    sandbox = Sandbox.start(tmp_path_factory.mktemp("sandbox"))
    yield sandbox
    sandbox.stop()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    sb = Sandbox.start(tmp_path / "sandbox")
    yield sb
    sb.stop()


@pytest.fixture
def make_settings(sandbox: Sandbox) -> Callable[..., Settings]:
    """Settings for the sandbox in English, probes cut off after 1 s (hang tests stay quick)."""

    def make(*, debug_token: bool = True, **overrides: str) -> Settings:
        env = sandbox.env(lang="en", debug_token=debug_token, HEALTH_TIMEOUT_S="1")
        env.update(overrides)
        return Settings.from_env(env, dotenv_path=None)

    return make


@pytest.fixture
async def chat(sandbox: Sandbox, make_settings: Callable[..., Settings]) -> AsyncIterator[Chat]:
    async with BotRunner(make_settings()) as runner:
        yield Chat(sandbox, runner)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """For tests that run our logging setup: put pytest's handlers back afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    yield
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
