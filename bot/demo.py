"""`sunflow-ops demo`: the real bot on the sandbox, with you in the ops group, in this terminal.

Each line you type is delivered the way Telegram would deliver it; the next line waits until
the bot has finished with the previous one, so a piped script runs in order. Bot messages are
printed as they are sent or edited, buttons numbered so a number presses one.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shlex
import shutil
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from bot.config import Settings
from bot.logging_setup import configure_logging
from bot.sandbox import (
    ADMIN,
    OPERATOR,
    OPS_CHAT,
    STRANGER,
    STRANGER_CHAT,
    VIEWER,
    Sandbox,
    private_chat,
)
from bot.sandbox.git_history import git_available
from bot.sandbox.home import corrupt_stats, make_stats_stale, remove_stats
from bot.sandbox.runner import BotRunner
from bot.sandbox.telegram import SentMessage, TgChat, TgUser

DEMO_ROOT = Path("data") / "demo"
MARKER = ".sunflow-demo"
IDENTITIES: dict[str, tuple[TgUser, TgChat]] = {
    "admin": (ADMIN, OPS_CHAT),
    "operator": (OPERATOR, OPS_CHAT),
    "viewer": (VIEWER, OPS_CHAT),
    "stranger": (STRANGER, STRANGER_CHAT),
    "private": (ADMIN, private_chat(ADMIN)),  # Mina's private chat with the bot (/token rotate)
}
FAULT_ARGUMENT = {"slow": "ms", "rate_limited": "retry_after", "5xx": "status", "token_invalid": "subcode"}

HELP = """\
Type what you would type in Telegram: /health, /token, /incident, /incidents, /help ...
A number presses that button on the latest message that has buttons.
  :reply <text>               answer the bot's latest question (a topic, a root cause ...)
  :fault <service> <mode> [n] [key=value]  services: instagram cloudinary fal telegram
        modes: token_expired token_invalid (instagram) · auth quota (cloudinary)
               key_invalid quota generation_error (fal) · rate_limited [secs] · 5xx [status]
               hang · slow <ms>        e.g. :fault telegram 5xx methods=getMe
  :clear [service]            remove faults (all services by default)
  :faults                     show the faults in force
  :stale <hours> | :stats missing | :stats corrupt | :stats fresh   the statistics file
  :newtoken                   a new Instagram token from the fake Meta tools (for /token rotate)
  :as admin|operator|viewer|stranger|private   who you are, and where (now: {who})
  :help   :quit               (Ctrl-D and Ctrl-C end the demo too)"""


class Demo:
    def __init__(self, sandbox: Sandbox, runner: BotRunner, out: TextIO) -> None:
        self.sandbox = sandbox
        self.runner = runner
        self.out = out
        self.who = "admin"
        self.latest_keyboard: SentMessage | None = None
        self.latest_question: SentMessage | None = None  # a ForceReply message: :reply answers it
        self._print_lock = threading.Lock()

    # ---- output ---------------------------------------------------------------------------
    def say(self, text: str) -> None:
        with self._print_lock:
            print(text, file=self.out, flush=True)

    def on_event(self, kind: str, obj: Any) -> None:
        """Called by the fake Telegram server (its thread) for everything the bot does."""
        if kind in ("sent", "edited", "document") and isinstance(obj, SentMessage):
            self._show_message(kind, obj)
        elif kind == "answered" and isinstance(obj, dict) and obj.get("text"):
            style = "popup" if obj.get("show_alert") else "toast"
            self.say(f"   ↳ ({style}) {obj['text']}")

    def _show_message(self, kind: str, msg: SentMessage) -> None:
        chat = "ops group" if msg.chat_id == OPS_CHAT.id else f"chat {msg.chat_id}"
        label = {"sent": "", "edited": " (edited)", "document": " (file)"}[kind]
        lines = [f"── SunFlow Ops → {chat} · #{msg.message_id}{label} " + "─" * 12]
        if msg.document is not None:
            lines.append(f"📎 {msg.document.filename} ({len(msg.document.data)} bytes)")
        if msg.text:
            lines.append(msg.text)
        if isinstance(msg.reply_markup, dict) and msg.reply_markup.get("force_reply"):
            self.latest_question = msg
            lines.append("   ↳ answer with  :reply <text>")
        buttons = msg.buttons()
        if buttons:
            lines.append("  ".join(f"[{n}] {text}" for n, (text, _) in enumerate(buttons, 1)))
            self.latest_keyboard = msg
        self.say("\n".join(lines))

    # ---- input ----------------------------------------------------------------------------
    async def handle_line(self, line: str) -> bool:
        """Act on one line; False when the demo should end."""
        line = line.strip()
        if not line:
            return True
        user, chat = IDENTITIES[self.who]
        telegram = self.sandbox.telegram
        if line.startswith(":reply"):
            answer = line[len(":reply"):].strip()
            if self.latest_question is None or not answer:
                self.say("   (:reply <text> answers the bot's latest question; there is none yet)"
                         if self.latest_question is None else "   (:reply needs the answer text)")
                return True
            question = self.latest_question
            chat = next((c for _, c in IDENTITIES.values() if c.id == question.chat_id), chat)
            telegram.send_message(chat, user, answer, reply_to=question.message_id)
        elif line.startswith(":"):
            return self._control(line[1:])
        elif re.fullmatch(r"[0-9]{1,2}", line):
            if self.latest_keyboard is None:
                self.say("   (no message with buttons yet)")
                return True
            target = self.latest_keyboard
            chat = next((c for _, c in IDENTITIES.values() if c.id == target.chat_id), chat)
            try:
                telegram.press(chat, user, target.message_id, int(line) - 1)
            except IndexError as exc:
                self.say(f"   ({exc})")
                return True
        else:
            telegram.send_message(chat, user, line)
        update_id = telegram.last_update_id
        if not await self.runner.wait_handled(update_id, timeout=60):
            self.say("   (the bot did not finish within 60 s)")
        await asyncio.sleep(0.05)  # let the fake's last listener calls print first
        return True

    def _control(self, command: str) -> bool:
        try:
            words = shlex.split(command)
        except ValueError as exc:
            self.say(f"   ({exc})")
            return True
        if not words:
            return True
        verb, args = words[0], words[1:]
        if verb in ("quit", "exit", "q"):
            return False
        if verb == "help":
            self.say(HELP.format(who=self.who))
        elif verb == "as" and args and args[0] in IDENTITIES:
            self.who = args[0]
            user, chat = IDENTITIES[self.who]
            self.say(f"   you are now {user.first_name} (@{user.username}) in {chat.title or 'a private chat with the bot'}")
        elif verb == "newtoken":
            token = self.sandbox.instagram.issue_token()
            self.say(f"   a new token for @sunflow.daily, valid 60 days: {token}\n"
                     "   (:as private, /token rotate, then :reply <token>)")
        elif verb == "fault" and len(args) >= 2:
            self._set_fault(args[0], args[1], args[2:])
            self._world_changed()
        elif verb == "clear":
            targets = args or list(self.sandbox.fakes)
            for name in targets:
                if name in self.sandbox.fakes:
                    self.sandbox.fakes[name].clear_faults()
            self.say(f"   faults cleared: {', '.join(targets)}")
            self._world_changed()
        elif verb == "faults":
            for name, fake in self.sandbox.fakes.items():
                self.say(f"   {name:<11} {fake.faults.describe()}")
        elif verb == "stale" and args:
            try:
                hours = float(args[0])
            except ValueError:
                self.say(f"   :stale takes hours, e.g. :stale 30 (got {args[0]!r})")
                return True
            make_stats_stale(self.sandbox.home, hours)
            self.say(f"   instagram_stats.json last_updated is now {hours:g} h old")
        elif verb == "stats" and args and args[0] in ("missing", "corrupt", "fresh"):
            {"missing": remove_stats, "corrupt": corrupt_stats,
             "fresh": lambda home: make_stats_stale(home, 0.5)}[args[0]](self.sandbox.home)
            self.say(f"   statistics file: {args[0]}")
        else:
            self.say("   (unknown; :help lists what works)")
        return True

    def _world_changed(self) -> None:
        # /health shares a check for HEALTH_SHARE_S; the demo switches vendors in a second,
        # faster than any real outage starts, so the next /health looks again
        shared = self.runner.services.shared if self.runner.services else None
        if shared is not None:
            shared.forget()

    def _set_fault(self, service: str, mode: str, rest: list[str]) -> None:
        fake = self.sandbox.fakes.get(service)
        if fake is None:
            self.say(f"   unknown service {service!r}; one of {', '.join(self.sandbox.fakes)}")
            return
        params: dict[str, Any] = {}
        for item in rest:
            key, _, value = item.partition("=")
            if not value:
                key, value = FAULT_ARGUMENT.get(mode, "value"), item
            params[key] = int(value) if value.lstrip("-").isdigit() else value
        try:
            fake.set_fault(mode, **params)
        except (ValueError, TypeError) as exc:
            self.say(f"   {exc}")
            return
        self.say(f"   {service}: {fake.faults.describe()}")


def _read_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[str | None], stdin: TextIO) -> None:
    """A daemon thread: blocking reads never hold up the exit."""
    try:
        for line in iter(stdin.readline, ""):
            loop.call_soon_threadsafe(queue.put_nowait, line)
    finally:
        loop.call_soon_threadsafe(queue.put_nowait, None)


def _fresh_root(root: Path) -> None:
    """Start from nothing, but only ever delete a folder an earlier demo made."""
    if root.exists():
        if not (root / MARKER).exists():
            raise SystemExit(f"sunflow-ops demo: {root} exists and was not made by the demo; "
                             "move it away first")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / MARKER).write_text("made by `sunflow-ops demo`; deleted by the next demo run\n")


async def _main(lang: str | None, stdin: TextIO, out: TextIO, root: Path) -> int:
    _fresh_root(root)
    sandbox = Sandbox.start(root, git_history=git_available())
    try:
        settings = Settings.from_env(sandbox.env(lang=lang or "ko"), dotenv_path=None)
        configure_logging(settings.redactor(), level=logging.INFO, console=False,
                          log_file=root / "demo.log")
        async with BotRunner(settings) as runner:
            demo = Demo(sandbox, runner, out)
            sandbox.telegram.subscribe(demo.on_event)
            interactive = stdin.isatty()
            demo.say(f"🌻 SunFlow Ops demo — you are {ADMIN.first_name} (admin) in the ops group "
                     f"\"{OPS_CHAT.title}\". Try /health, then :fault instagram token_expired.\n"
                     "   :help lists everything; Ctrl-D or :quit ends it.")
            queue: asyncio.Queue[str | None] = asyncio.Queue()
            threading.Thread(target=_read_lines, args=(asyncio.get_running_loop(), queue, stdin),
                             daemon=True, name="demo-stdin").start()
            while True:
                if interactive:
                    print("you> ", end="", file=out, flush=True)
                line = await queue.get()
                if line is None or not await demo.handle_line(line):
                    break
            demo.say("bye.")
    finally:
        sandbox.stop()
    return 0


def run_demo(lang: str | None = None, *, stdin: TextIO | None = None, out: TextIO | None = None,
             root: Path = DEMO_ROOT) -> int:
    try:
        return asyncio.run(_main(lang, stdin or sys.stdin, out or sys.stdout, root))
    except KeyboardInterrupt:
        print("\nbye.", file=out or sys.stdout)
        return 0

