"""The terminal as a way in of its own: plain-text renderers and the incident commands, for when
the bot or Telegram is down (playbook scenario 6). Nothing here imports Telegram."""
