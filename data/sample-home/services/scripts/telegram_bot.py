"""The sample pipeline's notification bot, as far as `restart` goes (a stand-in for the real
`telegram_bot.py`): it records when it (re)started and says so."""

import datetime
import pathlib
import sys

if sys.argv[1:] != ["restart"]:
    print("usage: telegram_bot.py restart", file=sys.stderr)
    sys.exit(64)
now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
pathlib.Path("config/data/notifier.started").write_text(now + "\n", encoding="utf-8")
print(f"notification bot restarted at {now}")
