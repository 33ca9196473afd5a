"""The fallback channels the settings name, in order (webhook, e-mail), and the outbox."""

from __future__ import annotations

from bot.adapters.outbox import OUTBOX_FILE, OutboxChannel
from bot.adapters.smtp import SmtpChannel
from bot.adapters.webhook import WebhookChannel
from bot.config import Settings
from bot.ports import AlertChannel


def fallback_channels(settings: Settings) -> list[AlertChannel]:
    channels: list[AlertChannel] = []
    if settings.fallback_webhook_url:
        channels.append(WebhookChannel(settings.fallback_webhook_url))
    if settings.smtp is not None:
        smtp = settings.smtp
        channels.append(SmtpChannel(smtp.host, smtp.port, sender=smtp.sender, recipients=smtp.recipients,
                                    user=smtp.user, password=smtp.password, starttls=smtp.starttls))
    return channels


def outbox(settings: Settings) -> OutboxChannel:
    return OutboxChannel(settings.data_dir / OUTBOX_FILE)
