"""Notifications when Telegram is the thing that broke: fallback channels in order (a webhook,
e-mail, and always the local outbox), the summary the group gets when Telegram is back, and
the heartbeat the watchdog reads."""
