"""Named step actions; importing the package registers every built action in `registry.ACTIONS`."""

from bot.actions import checks, images, logs, token_steps, traces

__all__ = ["checks", "images", "logs", "token_steps", "traces"]  # imported for registering
