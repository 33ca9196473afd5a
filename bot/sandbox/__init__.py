"""The whole outside world on loopback: four fake vendors, a sample pipeline home, an ops group.

`Sandbox.start(root)` is what the demo, the end-to-end tests and the benchmarks share: it starts
every fake, seeds a SunFlow home under `root`, and `env()` gives the settings that point the real
bot (and its real SDKs) at them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from bot.backups.env_file import set_value
from bot.sandbox.base import FakeServer
from bot.sandbox.cloudinary import FakeCloudinary
from bot.sandbox.fal import FakeFal
from bot.clock import utc_now
from bot.sandbox.git_history import make_history
from bot.sandbox.home import make_stats_stale, seed_home, trace_ids
from bot.sandbox.instagram import FakeInstagram
from bot.sandbox.telegram import FakeTelegram, TgChat, TgUser

# Obviously fake credentials. Like real ones, the bot token and the Cloudinary secret hold `_`,
# the character Markdown escapes: a secret must be masked before any escaping.
BOT_TOKEN = "700000001:SANDBOX_bot-token_not-real_000000000"
IG_TOKEN = "sandbox-instagram-access-token-0001"
IG_USER_ID = "17840000000000001"
IG_APP_ID = "700000000000001"
IG_APP_SECRET = "sandbox-app-secret-0001"
CLOUD_NAME, CLOUD_KEY, CLOUD_SECRET = "sunflow-sandbox", "400000000000001", "sandbox_cld_secret_q7X_0001"
FAL_KEY = "sandbox-fal-key-id:sandbox-fal-key-secret-0001"

OPS_CHAT = TgChat(id=-1001000000001, type="supergroup", title="SunFlow Ops")
ADMIN = TgUser(id=1001, first_name="Mina", username="mina_admin", language_code="ko")
OPERATOR = TgUser(id=1002, first_name="Joon", username="joon_ops", language_code="ko")
VIEWER = TgUser(id=1003, first_name="Hana", username="hana_member", language_code="ko")
STRANGER = TgUser(id=1999, first_name="Stranger", username="random_person", language_code="en")
STRANGER_CHAT = TgChat(id=-1009999999999, type="supergroup", title="Some other group")


def _use_the_sandbox_token(home: Path) -> None:
    """The pipeline's .env holds the token the bot is given, as it does in a real home."""
    env = home / ".env"
    env.write_bytes(set_value(env.read_bytes(), "INSTAGRAM_ACCESS_TOKEN", IG_TOKEN))


def private_chat(user: TgUser) -> TgChat:
    return TgChat(id=user.id, type="private", username=user.username)


@dataclass
class Sandbox:
    telegram: FakeTelegram
    instagram: FakeInstagram
    cloudinary: FakeCloudinary
    fal: FakeFal
    root: Path
    home: Path
    data_dir: Path

    @classmethod
    def start(cls, root: Path, *, token_days_left: float = 54, stats_age_h: float = 1.0,
              history_age_h: float = 25.0, now: datetime | None = None,
              git_history: bool = False) -> Sandbox:
        """Start every fake and seed `root/home`; the store goes to `root/data`.

        The sample logs tell of past incidents; `history_age_h` is how long ago they ended. The
        default puts them just outside the 24-hour window of the `logs` probe, so a fresh
        sandbox is all green; 0 makes them current. `now` (default: `bot.clock.utc_now()`, the
        clock the bot reads too) is the moment everything is seeded relative to. `git_history`
        makes the home a git repository with a few commits (`/rollback`; needs git).
        """
        root.mkdir(parents=True, exist_ok=True)
        now = now or utc_now()
        expires = now + timedelta(days=token_days_left)
        fakes = (
            FakeTelegram(BOT_TOKEN),
            FakeInstagram(IG_TOKEN, IG_USER_ID, app_id=IG_APP_ID, app_secret=IG_APP_SECRET,
                          token_expires_at=expires),
            FakeCloudinary(CLOUD_NAME, CLOUD_KEY, CLOUD_SECRET),
            FakeFal(FAL_KEY),
        )
        started: list[FakeServer] = []
        try:
            for fake in fakes:
                started.append(fake.start())
            home = seed_home(root / "home", now=now - timedelta(hours=history_age_h))
            make_stats_stale(home, stats_age_h, now=now)
            _use_the_sandbox_token(home)
            if git_history:
                make_history(home, now=now)
        except BaseException:
            for server in started:
                server.stop()
            raise
        telegram, instagram, cloudinary, fal = fakes
        for chat in (OPS_CHAT, *(private_chat(u) for u in (ADMIN, OPERATOR, VIEWER, STRANGER))):
            telegram.add_chat(chat)
        return cls(telegram, instagram, cloudinary, fal, root, home, root / "data")

    def trace_id(self, sample_id: str) -> str:
        """The seeded home's id for the sample's trace `sample_id` (they follow the dates)."""
        return trace_ids(self.home)[sample_id]

    def env(self, *, lang: str = "ko", debug_token: bool = True, **overrides: str) -> dict[str, str]:
        """Settings for the real bot, pointed at the fakes."""
        env = {
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_API_BASE_URL": self.telegram.base_url,
            "OPS_CHAT_ID": str(OPS_CHAT.id),
            "ADMIN_USER_IDS": str(ADMIN.id),
            "OPERATOR_USER_IDS": str(OPERATOR.id),
            "INSTAGRAM_ACCESS_TOKEN": IG_TOKEN,
            "INSTAGRAM_USER_ID": IG_USER_ID,
            "INSTAGRAM_GRAPH_URL": self.instagram.graph_url,
            "CLOUDINARY_URL": f"cloudinary://{CLOUD_KEY}:{CLOUD_SECRET}@{CLOUD_NAME}"
                              f"?upload_prefix={self.cloudinary.url}",
            "FAL_KEY": FAL_KEY,
            "FAL_QUEUE_URL": self.fal.url,
            "SUNFLOW_HOME": str(self.home),
            "DATA_DIR": str(self.data_dir),
            "BOT_LANG": lang,
            "HEALTH_TIMEOUT_S": "5",
            # the fake Telegram does not throttle groups; the real one allows about 20 a minute
            "TELEGRAM_GROUP_MAX_RATE": "6000",
        }
        if debug_token:
            env |= {"INSTAGRAM_APP_ID": IG_APP_ID, "INSTAGRAM_APP_SECRET": IG_APP_SECRET}
        env.update(overrides)
        return env

    @property
    def fakes(self) -> dict[str, FakeServer]:
        return {"telegram": self.telegram, "instagram": self.instagram,
                "cloudinary": self.cloudinary, "fal": self.fal}

    def clear_faults(self) -> None:
        for fake in self.fakes.values():
            fake.clear_faults()

    def stop(self, *, remove: bool = False) -> None:
        for fake in self.fakes.values():
            fake.stop()
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)
