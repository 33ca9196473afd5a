"""Child process for bench/idle_rss.py: start one bot against a fake Bot API and idle.

    _idle_child.py bot  '<json env>'          the SunFlow Ops bot (BotRunner, real settings)
    _idle_child.py echo <token> <base_url>    a bare python-telegram-bot echo bot

Prints "ready" once polling, then idles until SIGTERM/SIGINT and shuts down cleanly. The fakes
run in the parent, so this process's memory is the bot's alone.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


async def idle_until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()


async def run_bot(env_json: str) -> None:
    from bot.config import Settings
    from bot.sandbox.runner import BotRunner

    settings = Settings.from_env(json.loads(env_json), dotenv_path=None)
    async with BotRunner(settings):
        await idle_until_signalled()


async def run_echo(token: str, base_url: str) -> None:
    from telegram import Update
    from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.effective_message.reply_text(update.effective_message.text)

    app = ApplicationBuilder().token(token).base_url(base_url).build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=10)
        try:
            await idle_until_signalled()
        finally:
            await app.updater.stop()
            await app.stop()


def main() -> None:
    mode = sys.argv[1]
    if mode == "bot":
        asyncio.run(run_bot(sys.argv[2]))
    elif mode == "echo":
        asyncio.run(run_echo(sys.argv[2], sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
