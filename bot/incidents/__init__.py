"""The incident domain: the record (`record.py`), the state machine (`engine.py`), the escalation
plan, the post-mortem and the statistics. Nothing in here imports Telegram."""
