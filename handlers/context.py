"""What every handler needs, kept in `application.bot_data` under one key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from telegram.ext import ContextTypes

from bot.config import Settings
from bot.i18n import Translator
from bot.secrets import Redactor
from bot.services import Services

KEY = "sunflow"


@dataclass
class BotContext:
    settings: Settings
    services: Services

    @property
    def tr(self) -> Translator:
        return self.services.tr

    @property
    def redact(self) -> Redactor:
        return self.services.redact

    def local(self, moment: datetime) -> str:
        """A time as the team reads it, with its zone."""
        return moment.astimezone(self.settings.timezone).strftime("%Y-%m-%d %H:%M %Z")

    def local_date(self, moment: datetime) -> str:
        return moment.astimezone(self.settings.timezone).strftime("%Y-%m-%d")


def bot_context(context: ContextTypes.DEFAULT_TYPE) -> BotContext:
    return context.bot_data[KEY]
