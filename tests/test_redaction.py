"""Redaction of credentials in the shapes the pipeline's logs really contain, and its order.

Every line here is a shape seen in Python services' logs: httpx's request line with a Bot API
URL (the token sits right after "bot", where `\\b` does not match), requests' urllib3 line with a
Graph query string, JSON bodies and dict reprs, headers, connection URLs.
"""

from __future__ import annotations

import pytest

from bot.secrets import MASK, Redactor

from tests.fake_credentials import FAL_STYLE_KEY, GENERIC_SECRET as SECRET, IG_LOGIN_TOKEN as IG_LOGIN
from tests.fake_credentials import META_TOKEN as META, OTHER_BOT_TOKEN as OTHER_BOT

FAL_SECRET = FAL_STYLE_KEY.split(":")[1]

LINES = [
    f'INFO HTTP Request: POST https://api.telegram.org/bot{OTHER_BOT}/sendMessage "HTTP/1.1 200 OK"',
    f"telegram.error.InvalidToken: https://api.telegram.org/bot{OTHER_BOT}/getMe",
    f'{{"client_secret": "{SECRET}", "grant_type": "fb_exchange_token"}}',
    f'{{"access_token": "{META}", "token_type": "bearer"}}',
    f"{{'access_token': '{IG_LOGIN}', 'user_id': 17841400000000}}",
    f'https://graph.facebook.com:443 "GET /v21.0/me?fields=id&access_token={META} HTTP/1.1" 401',
    f"token refresh failed for {META}",
    f"ig login token {IG_LOGIN} rejected",
    f"Authorization: Bearer {SECRET}",
    f"headers={{'Authorization': 'Key {FAL_STYLE_KEY}'}}",
    f"Authorization: Basic {SECRET}==",
    f"CLOUDINARY_URL=cloudinary://123456789012345:{SECRET}@sunflow",
    f"upload failed: https://api_key:{SECRET}@api.cloudinary.com/v1_1/sunflow/image/upload",
    f"db at postgresql://stats:{SECRET}@127.0.0.1:5432/sunflow",
    f"password={SECRET} user=stats",
    f"INSTAGRAM_ACCESS_TOKEN={META}",
    f'TELEGRAM_BOT_TOKEN="{OTHER_BOT}"',
    f"api_secret: {SECRET}",
    f"fal_key = {FAL_STYLE_KEY}",
    f"submit with {FAL_STYLE_KEY} refused",
]


@pytest.mark.parametrize("line", LINES)
def test_credentials_the_bot_was_not_told_about_are_masked(line: str) -> None:
    out = Redactor()(line)
    for secret in (OTHER_BOT, OTHER_BOT.split(":")[1], META, IG_LOGIN, SECRET, FAL_SECRET):
        assert secret not in out, out
    assert MASK in out


def test_what_names_a_credential_stays_readable() -> None:
    redact = Redactor()
    assert redact(f'{{"access_token": "{META}"}}') == f'{{"access_token": "{MASK}"}}'
    assert redact(f"Authorization: Bearer {SECRET}") == f"Authorization: Bearer {MASK}"
    assert redact(f"https://api.telegram.org/bot{OTHER_BOT}/getMe") == \
        f"https://api.telegram.org/bot{MASK}/getMe"
    assert redact(f"cloudinary://123456789012345:{SECRET}@sunflow") == f"cloudinary://{MASK}@sunflow"


@pytest.mark.parametrize("line", [
    "publish failed: 401 Unauthorized (token expired, code=190 subcode=463)",
    "Error validating access token: Session has expired on Wednesday, 25-Nov-26 09:00:00 PST.",
    '{"token_type": "bearer", "expires_in": 5183944}',
    "max_tokens: 1024, token_expires_at=2026-12-01T00:00:00+09:00",
    "client_secret=<app secret>&fb_exchange_token=<short token>",
    "trace=SF-20261126-0002 status=token_expired at 2026-11-26 03:05:02,118",
    "cloudinary.exceptions.AuthorizationRequired: Invalid Signature 9a4c2e0f7b1d83e5a6c0f2b9d4e1a7c3",
])
def test_ordinary_log_text_is_left_alone(line: str) -> None:
    assert Redactor()(line) == line


def test_configured_secrets_are_masked_in_every_encoding() -> None:
    value = "a_b&c\"d/e+f"
    redact = Redactor([value])
    for form in (value, "a_b%26c%22d%2Fe%2Bf", "a_b&amp;c&quot;d/e+f", 'a_b&c\\"d/e+f'):
        assert redact(f"x {form} y") == f"x {MASK} y", form


def test_deep_redacts_every_string_of_a_record() -> None:
    record = {"detail": {"error": f"token={SECRET}", "attempts": 3},
              "lines": [f"bot{OTHER_BOT}", None], f"access_token={SECRET}": True}
    out = Redactor().deep(record)
    assert SECRET not in repr(out) and OTHER_BOT not in repr(out)
    assert out["detail"]["attempts"] == 3 and out["lines"][1] is None
