"""Credentials for the redaction tests: the shapes real ones have, the words of fakes.

Each is built from parts, so no secret scanner (nor a person) takes the source for a leak, and
each says FAKE; what the redactor must recognise is only the shape.
"""

from __future__ import annotations

# another bot's token, as a Bot API URL carries it: <digits>:<35 characters>, with '_' and '-'
OTHER_BOT_TOKEN = "5123456789" + ":" + "AA" + "FAKE_not-a-real-bot-token_Qz8Wv3K"
# a Graph (Facebook Login) token and an Instagram Login token
META_TOKEN = "EAA" + "G" + "FAKEnotArealGraphTokenQz8Wv3Kp5"
IG_LOGIN_TOKEN = "IGAA" + "FAKEnotArealLoginTokQz8Wv3"
# a fal key: <uuid>:<32 hex>
FAL_STYLE_KEY = "0fa1ce00-fa4e-4000-8000-00000000fa4e" + ":" + "fa4e" * 8
# secrets with no shape of their own: found by what names them
GENERIC_SECRET = "FAKE" + "-generic-Secret7-Qz8Wv3"
APP_SECRET = "FAKE" + "_app_secret_not_real_Qz8"
DB_PASSWORD = "FAKE" + "_db_Passw0rd_not_real"
