"""`sunflow-ops watchdog` (for cron or a systemd timer) and `sunflow-ops outbox`.

The watchdog looks at the bot from outside: its heartbeat's age (older than WATCHDOG_STALE: the
bot is silent or down) and Telegram's getMe with the bot's token (Telegram itself down, or the
token revoked). Either failing is an outage; the first run that sees it alerts through the
fallback channels (webhook, e-mail, and always the outbox), later runs of the same outage stay
quiet, and the first healthy run after it says it is over. It needs no store (the bot holds
that): its memory is a small file under DATA_DIR. Exit 0 healthy, 2 an outage.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

from bot.clock import Clock, local_time
from bot.config import Settings
from bot.durable_files import replace_durably
from bot.errors import ServiceError
from bot.exit_codes import EX_OK
from bot.services import alert_channels, bot_api
from bot.notify.heartbeat import last_beat
from bot.ports import Alert, AlertChannel, ChannelError

STATE_FILE = "watchdog.json"
EX_OUTAGE = 2


async def watchdog(settings: Settings, clock: Clock) -> int:
    now = clock()
    problems = []
    beat = last_beat(settings.data_dir)
    if beat is None:
        problems.append("the bot has never written a heartbeat (is it running?)")
    elif now - beat > settings.watchdog_stale:
        age = int((now - beat).total_seconds())
        problems.append(f"the bot's last heartbeat is {age // 60} min old" if age >= 120
                        else f"the bot's last heartbeat is {age} s old")
    api = bot_api(settings)
    if api is not None:
        try:
            await api.get_me()
        except ServiceError as exc:
            problems.append(f"Telegram getMe failed: {exc.detail or exc.kind.value}")
        finally:
            await api.aclose()
    state_path = settings.data_dir / STATE_FILE
    state = _read_state(state_path)
    redact = settings.redactor()
    others, outbox = alert_channels(settings)
    channels: list[AlertChannel] = [*others, outbox]
    if problems:
        text = redact("; ".join(problems))
        if state.get("outage_since"):
            print(f"outage since {state['outage_since']} (alerted already): {text}")
            return EX_OUTAGE
        via = await _send(channels, Alert(title="SunFlow Ops: the bot is silent or down", text=text, at=now,
                                          severity="P0"))
        _write_state(state_path, {"outage_since": now.isoformat(), "problems": problems})
        print(f"outage: {text}; alerted by {', '.join(via) or 'nothing (every channel failed)'}")
        return EX_OUTAGE
    if state.get("outage_since"):
        since = datetime.fromisoformat(state["outage_since"])
        via = await _send(channels, Alert(
            title="SunFlow Ops: the bot is back",
            text=f"healthy again; the outage began {local_time(since, settings.timezone)}", at=now))
        print(f"healthy again; said by {', '.join(via) or 'nothing'}")
        _write_state(state_path, {})
        return EX_OK
    print(f"healthy: heartbeat {int((now - beat).total_seconds()) if beat else '?'} s old, Telegram answers")
    return EX_OK


async def _send(channels: list[AlertChannel], alert: Alert) -> list[str]:
    via = []
    for channel in channels:
        try:
            await channel.send(alert)
            via.append(channel.name)
        except ChannelError as exc:
            print(f"  {channel.name}: {exc}")
    return via


def _read_state(path: Path) -> dict:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_durably(path, json.dumps(state).encode(), new_mode=0o600)


def show_outbox(settings: Settings, last: int) -> int:
    entries = alert_channels(settings)[1].read(last)
    if not entries:
        print("The outbox is empty: every alert reached Telegram.")
        return EX_OK
    redact = settings.redactor()
    for entry in entries:
        print(redact(f"{entry.get('at', '?')[:19]}  {entry.get('title', '?')}"))
        for line in str(entry.get("text", "")).splitlines()[:6]:
            print(redact(f"    {line}"))
    return EX_OK


def run_watchdog(settings: Settings, clock: Clock) -> int:
    return asyncio.run(watchdog(settings, clock))
