"""Settings: every problem listed at once, by name; secrets never shown."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot.config import DEFAULT_INSTAGRAM_GRAPH_URL, ConfigError, Settings
from bot.logging_setup import configure_logging
from bot.secrets import MASK, Redactor, Secret

TOKEN = "123456:TEST-token-for-unit-tests-000000"
GOOD = {
    "TELEGRAM_BOT_TOKEN": TOKEN,
    "OPS_CHAT_ID": "-1001234",
    "ADMIN_USER_IDS": "11, 12",
    "OPERATOR_USER_IDS": "21",
    "INSTAGRAM_ACCESS_TOKEN": "ig-access-token-secret-value",
    "INSTAGRAM_USER_ID": "17841400000000",
    "CLOUDINARY_URL": "cloudinary://key123:cl-secret-value@demo-cloud?upload_prefix=http://127.0.0.1:9",
    "FAL_KEY": "fal-key-id:fal-key-secret-value",
}


def test_good_settings_parse_with_defaults() -> None:
    s = Settings.from_env(GOOD, dotenv_path=None)
    assert s.ops_chat_id == -1001234
    assert s.admin_user_ids == {11, 12} and s.operator_user_ids == {21}
    assert s.instagram_graph_url == DEFAULT_INSTAGRAM_GRAPH_URL
    assert s.cloudinary.cloud_name == "demo-cloud" and s.cloudinary.api_key == "key123"
    assert s.cloudinary.upload_prefix == "http://127.0.0.1:9"
    assert (s.bot_lang, s.health_timeout_s, s.stats_max_age_h) == ("ko", 5.0, 26.0)
    assert s.timezone.utcoffset(None) in (None, timedelta(hours=9)) or str(s.timezone) == "Asia/Seoul"


def test_every_problem_is_listed_at_once_by_variable_name() -> None:
    bad = {
        "TELEGRAM_BOT_TOKEN": "nope",
        "OPS_CHAT_ID": "ops",
        "ADMIN_USER_IDS": "1,x",
        "INSTAGRAM_USER_ID": "@sunflow",
        "INSTAGRAM_APP_ID": "999",
        "CLOUDINARY_URL": "https://key:supersecretvalue@cloud",
        "FAL_QUEUE_URL": "queue.fal.run",
        "BOT_LANG": "jp",
        "HEALTH_TIMEOUT_S": "0",
        "STATS_MAX_AGE_H": "soon",
        "BOT_TIMEZONE": "Mars/Olympus",
    }
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(bad, dotenv_path=None)
    named = {p.split(":")[0] for p in caught.value.problems}
    assert named >= {
        "TELEGRAM_BOT_TOKEN", "OPS_CHAT_ID", "ADMIN_USER_IDS", "INSTAGRAM_USER_ID",
        "INSTAGRAM_APP_SECRET", "CLOUDINARY_URL", "FAL_QUEUE_URL", "BOT_LANG", "HEALTH_TIMEOUT_S",
        "STATS_MAX_AGE_H", "BOT_TIMEZONE", "INSTAGRAM_ACCESS_TOKEN", "FAL_KEY",
    }
    assert "supersecretvalue" not in str(caught.value)


def test_cli_mode_does_not_require_telegram() -> None:
    env = {k: v for k, v in GOOD.items() if k not in ("TELEGRAM_BOT_TOKEN", "OPS_CHAT_ID", "ADMIN_USER_IDS")}
    s = Settings.from_env(env, dotenv_path=None, require_telegram=False)
    assert s.telegram_bot_token is None
    with pytest.raises(ConfigError):
        Settings.from_env(env, dotenv_path=None)


def test_dotenv_file_is_read_and_environment_wins(tmp_path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("\n".join(f"{k}={v}" for k, v in GOOD.items()) + "\nBOT_LANG=en\n")
    s = Settings.from_env({"BOT_LANG": "ko"}, dotenv_path=dotenv)
    assert s.bot_lang == "ko" and s.fal_key.reveal() == GOOD["FAL_KEY"]


def test_secrets_are_masked_in_repr() -> None:
    s = Settings.from_env(GOOD, dotenv_path=None)
    text = repr(s) + str(s.fal_key) + repr(s.cloudinary)
    for value in ("ig-access-token-secret-value", "cl-secret-value", "fal-key-secret-value", TOKEN):
        assert value not in text
    assert MASK in text


def test_redactor_masks_every_secret_and_its_url_encoded_form() -> None:
    s = Settings.from_env({**GOOD, "INSTAGRAM_APP_ID": "4242", "INSTAGRAM_APP_SECRET": "app-secret-xyz"},
                          dotenv_path=None)
    redact = s.redactor()
    line = (f"GET https://api.telegram.org/bot{TOKEN}/getMe ?access_token=4242%7Capp-secret-xyz "
            "key=fal-key-secret-value cl-secret-value ig-access-token-secret-value")
    out = redact(line)
    for value in (TOKEN, "app-secret-xyz", "fal-key-secret-value", "cl-secret-value",
                  "ig-access-token-secret-value", "4242%7Capp"):
        assert value not in out
    assert Redactor([])("unchanged") == "unchanged"


def test_log_lines_and_tracebacks_are_redacted(tmp_path, restore_logging) -> None:
    import io

    stream = io.StringIO()
    configure_logging(Redactor(["very-secret-token"]), level=logging.DEBUG, stream=stream,
                      log_file=tmp_path / "bot.log")
    log = logging.getLogger("test.redaction")
    log.info("calling %s", "https://x/botvery-secret-token/getMe")
    try:
        raise RuntimeError("url had very-secret-token in it")
    except RuntimeError:
        log.exception("boom")
    for handler in logging.getLogger().handlers:
        handler.flush()
    written = stream.getvalue() + (tmp_path / "bot.log").read_text()
    assert "very-secret-token" not in written
    assert written.count(MASK) >= 4


def test_secret_type_only_reveals_on_request() -> None:
    secret = Secret("abc-def-ghi")
    assert "abc-def-ghi" not in f"{secret} {secret!r}"
    assert secret.reveal() == "abc-def-ghi" and secret == Secret("abc-def-ghi")


def test_redactor_masks_credential_shaped_text_it_was_not_told_about() -> None:
    redact = Redactor(["a&b<secret>"])
    lines = {
        "GET /me?access_token=EAAGm0PX4ZCpsBAKZD123456789": "access_token=" + MASK,
        "Authorization: Bearer IGQVJXabcdefghijklmnopqrstu": "Bearer " + MASK,
        "CLOUDINARY_URL=cloudinary://123456:abcDEF_secret@sunflow": "cloudinary://" + MASK + "@sunflow",
        "bot 7654321:AAF-ab_cdefghijklmnopqrstuvwxyz012345 rejected": "bot " + MASK + " rejected",
        "shown as a&amp;b&lt;secret&gt; in HTML": "shown as " + MASK + " in HTML",
    }
    for raw, expected in lines.items():
        assert expected in redact(raw), raw
    guide = "client_secret=<app secret>&fb_exchange_token=<short token>"
    assert redact(guide) == guide, "placeholders in the renewal guide stay readable"


@pytest.mark.parametrize(("extra", "problem"), [
    ({"INTAKE_ADDRESS": "127.0.0.1:8787"}, "INTAKE_SECRET: is required with INTAKE_ADDRESS"),
    ({"INTAKE_ADDRESS": "127.0.0.1:8787", "INTAKE_SECRET": "short"}, "at least 16 ASCII characters"),
    ({"INTAKE_ADDRESS": "127.0.0.1:8787", "INTAKE_SECRET": "비밀번호-비밀번호-비밀번호-0001"}, "ASCII"),
    ({"INTAKE_SECRET": "x" * 20}, "INTAKE_ADDRESS is not: the endpoint stays off"),
    ({"WATCHDOG_STALE": "30s"}, "WATCHDOG_STALE: must be from 120s to 1d"),
    ({"TELEGRAM_DOWN_AFTER": "2s"}, "TELEGRAM_DOWN_AFTER: must be from 10s to 1d"),
    ({"TOKEN_REPORT": "someday"}, "TOKEN_REPORT: must be a weekday and a time"),
    ({"TOKEN_REMINDER_DAYS": "14,x"}, "TOKEN_REMINDER_DAYS: must be whole days"),
    ({"SMTP_HOST": "mail.example", "SMTP_FROM": "a@b", "ALERT_EMAIL_TO": "c@d", "SMTP_PASSWORD": "pw-123456",
      "SMTP_STARTTLS": "false"}, "never a password in the clear"),
    ({"SMTP_HOST": "mail.example", "ALERT_EMAIL_TO": "c@d"}, "SMTP_FROM: is required with SMTP_HOST"),
    ({"FALLBACK_WEBHOOK_URL": "ftp://hooks.example/x"}, "FALLBACK_WEBHOOK_URL: must be an http(s) URL"),
    ({"INTAKE_ADDRESS": "localhost", "INTAKE_SECRET": "x" * 20}, "must be host:port"),
    ({"CHECK_EVERY": "5s"}, "CHECK_EVERY: must be 0 (off) or from 10s to 1d"),
    ({"CHECK_EVERY": "often"}, "CHECK_EVERY"),
])
def test_detection_settings_are_checked_at_start(extra, problem) -> None:
    with pytest.raises(ConfigError) as error:
        Settings.from_env({**GOOD, **extra}, dotenv_path=None)
    assert problem in str(error.value)


def test_detection_settings_parse_and_the_intake_secret_is_masked() -> None:
    s = Settings.from_env({**GOOD, "CHECK_EVERY": "90s", "INTAKE_ADDRESS": "127.0.0.1:8787",
                           "INTAKE_SECRET": "intake-secret-value-0001"}, dotenv_path=None)
    assert s.check_every == timedelta(seconds=90) and s.intake == ("127.0.0.1", 8787)
    assert s.redactor()("curl -H 'Authorization: Bearer intake-secret-value-0001'").count("intake-secret") == 0
    assert Settings.from_env({**GOOD, "CHECK_EVERY": "0"}, dotenv_path=None).check_every is None
    assert Settings.from_env(GOOD, dotenv_path=None).check_every == timedelta(minutes=5)
