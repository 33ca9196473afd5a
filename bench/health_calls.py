"""What /health costs the team's vendor quotas: 10 concurrent /health vs the same checks unshared.

Any group member may send /health, and each check calls the Graph API (3 calls), Cloudinary (2)
and fal (1). Measured in one run against the sandbox's fakes (which count the calls they get):

- shared: 10 `/health` sent to the running bot at once by ten group members, then 10 more one
  after another within HEALTH_SHARE_S (the default, 15 s): vendor calls and group messages;
- baseline: the same 10 concurrent checks, each its own round (`run_health_check` on the bot's
  probes, what every /health ran before), vendor calls.

Target (the hardening issue): concurrent and back-to-back requests share one round of probes.

    .venv/bin/python bench/health_calls.py [--requests 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.config import Settings  # noqa: E402
from bot.health import run_health_check  # noqa: E402
from bot.sandbox import OPS_CHAT, Sandbox  # noqa: E402
from bot.sandbox.runner import BotRunner  # noqa: E402
from bot.sandbox.telegram import TgUser  # noqa: E402

VENDORS = ("instagram", "cloudinary", "fal")


def calls(sandbox: Sandbox) -> dict[str, int]:
    return {name: len(sandbox.fakes[name].calls) for name in VENDORS}


def spent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in VENDORS}


async def measure(requests: int) -> None:
    members = [TgUser(3001 + n, f"Member{n}", f"member_{n}", language_code="en") for n in range(requests)]
    with tempfile.TemporaryDirectory(prefix="sunflow-health-") as tmp:
        sandbox = Sandbox.start(Path(tmp))
        sandbox.telegram.add_chat(OPS_CHAT, *members)
        settings = Settings.from_env(sandbox.env(lang="en"), dotenv_path=None)
        try:
            async with BotRunner(settings) as runner:
                tg = sandbox.telegram
                before, messages = calls(sandbox), len(tg.bot_messages(OPS_CHAT.id))
                sent = [tg.send_message(OPS_CHAT, member, "/health") for member in members]
                for message in sent:
                    await runner.wait_handled(message.update_id, 30)
                concurrent = spent(before, calls(sandbox))
                concurrent_messages = len(tg.bot_messages(OPS_CHAT.id)) - messages
                before, messages = calls(sandbox), len(tg.bot_messages(OPS_CHAT.id))
                for member in members:
                    message = tg.send_message(OPS_CHAT, member, "/health")
                    await runner.wait_handled(message.update_id, 30)
                back_to_back = spent(before, calls(sandbox))
                back_messages = len(tg.bot_messages(OPS_CHAT.id)) - messages

                before = calls(sandbox)
                await asyncio.gather(*(run_health_check(runner.services.probes, tr=runner.services.tr,
                                                        timeout_s=settings.health_timeout_s)
                                       for _ in range(requests)))
                unshared = spent(before, calls(sandbox))
        finally:
            sandbox.stop()
    total = sum(concurrent.values()) or 1
    print(f"{requests} concurrent /health (shared):   vendor calls {concurrent}, "
          f"group messages {concurrent_messages}")
    print(f"{requests} back-to-back /health (shared): vendor calls {back_to_back}, "
          f"group messages {back_messages}")
    print(f"{requests} concurrent checks unshared (baseline, as before): vendor calls {unshared}")
    print(f"ratio unshared / shared vendor calls: {sum(unshared.values()) / total:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10)
    asyncio.run(measure(parser.parse_args().requests))


if __name__ == "__main__":
    main()
