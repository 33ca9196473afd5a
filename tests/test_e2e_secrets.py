"""No secret reaches the group, a document or the store: redacted whole, before any clipping or
escaping, in the shapes the pipeline's logs really hold, and in what people type."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import timedelta

from bot.clock import utc_now
from bot.sandbox import BOT_TOKEN, CLOUD_KEY, CLOUD_SECRET, FAL_KEY, IG_TOKEN, OPS_CHAT
from bot.sandbox.home import LOGS_DIR, TRACES_DIR
from tests.fake_credentials import APP_SECRET, DB_PASSWORD, META_TOKEN, OTHER_BOT_TOKEN
from tests.incident_walk import open_incident

# another bot's token in a Bot API URL, a Graph token, an app secret: none of them configured
FOREIGN_BOT, META = OTHER_BOT_TOKEN, META_TOKEN
CONFIGURED = [BOT_TOKEN, CLOUD_SECRET, IG_TOKEN, FAL_KEY.split(":")[1]]
FOREIGN = [FOREIGN_BOT, META, APP_SECRET, DB_PASSWORD]
FRAGMENT = 10  # no run of this many characters of any secret may show anywhere


def _pieces(secret: str) -> set[str]:
    """Every FRAGMENT-long run of the secret's own characters (the id part of a bot token is
    public: only the part after the colon counts)."""
    body = secret.split(":", 1)[1] if secret[0].isdigit() and ":" in secret else secret
    return {body[i:i + FRAGMENT] for i in range(len(body) - FRAGMENT + 1)}


def assert_no_secret(where: str, text: str) -> None:
    escaped = text.replace("\\_", "_").replace("\\-", "-")  # Markdown's escapes undone
    for secret in CONFIGURED + FOREIGN:
        for piece in _pieces(secret):
            assert piece not in text and piece not in escaped, f"{piece!r} of a secret in {where}:\n{text}"


def everything_the_group_saw(chat) -> list[tuple[str, str]]:
    """(where, text) for every bot message in the ops group, every earlier version of an edited
    one, and every document (a .tar.gz opened member by member)."""
    seen = []
    for message in chat.tg.bot_messages(OPS_CHAT.id, include_deleted=True):
        where = f"message {message.message_id}"
        seen += [(where, message.text or ""), (where, message.html or "")]
        seen += [(f"{where} before an edit", old or "") for old, _ in message.history]
        seen += [(f"{where} button", label) for label, _ in message.buttons()]
        if message.document is not None:
            data = message.document.data
            if message.document.filename.endswith(".tar.gz"):
                with tarfile.open(fileobj=io.BytesIO(data)) as archive:
                    for member in archive.getmembers():
                        body = archive.extractfile(member).read().decode("utf-8")
                        seen.append((f"{message.document.filename}/{member.name}", body))
            else:
                seen.append((message.document.filename, data.decode("utf-8")))
    return seen


def the_store_on_disk(chat) -> str:
    data_dir = chat.runner.settings.data_dir
    return "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in sorted(data_dir.glob("store.*")) if p.suffix in (".json", ".journal"))


def _log_time(minutes_ago: int) -> str:
    at = (utc_now() - timedelta(minutes=minutes_ago)).astimezone()  # the pipeline's local time
    return at.strftime("%Y-%m-%d %H:%M:%S,") + f"{at.microsecond // 1000:03d}"


def plant_secrets_in_the_pipeline(home) -> str:
    """Error lines and a trace that quote credentials the way real services log them; the
    trace's id."""
    lines = [
        # the newest error line: its token starts before /health's 80-character cut and ends after
        f"{_log_time(3)} ERROR [publish_content] notify failed: POST https://api.telegram.org/"
        f"bot{FOREIGN_BOT}/sendMessage timed out",
        f"{_log_time(4)} ERROR [instagram_stats_collector] 429 from Graph: "
        f'{{"client_secret": "{APP_SECRET}", "access_token": "{META}"}}',
        f"{_log_time(5)} ERROR [upload_cloudinary] upload failed via "
        f"cloudinary://{CLOUD_KEY}:{CLOUD_SECRET}@sunflow-sandbox (429 rate limited)",
        f"{_log_time(6)} ERROR [instagram_stats_collector] stats db postgresql://stats:"
        f"{DB_PASSWORD}@127.0.0.1/sunflow refused; token={IG_TOKEN}",
    ]
    with (home / LOGS_DIR / "publish_content_stderr.log").open("a", encoding="utf-8") as log:
        log.write("\n".join(lines) + "\n")
    trace_id = "SF-" + utc_now().astimezone().strftime("%Y%m%d") + "-0999"
    started = (utc_now() - timedelta(minutes=7)).isoformat()
    (home / TRACES_DIR / f"{trace_id}.json").write_text(json.dumps({
        "trace_id": trace_id, "topic": "autumn-cafe", "stage": "publish", "status": "failed",
        "started_at": started, "ended_at": started, "attempts": 3,
        "error": {"type": "TelegramError", "message": f"https://api.telegram.org/bot{FOREIGN_BOT}/"
                                                      f"sendMessage: 502; access_token={META}"},
    }), encoding="utf-8")
    return trace_id


async def test_pipeline_log_secrets_never_show_cut_or_whole(chat, sandbox) -> None:
    trace_id = plant_secrets_in_the_pipeline(sandbox.home)
    (report,) = await chat.send("/health logs")
    assert "errors in 24 h" in report.text and "•••" in report.text, report.text
    # scenario 3 looks at traces and tails the stderr logs; scenario 4 greps for 429; both
    # collect the log bundle
    for command in ("/incident image autumn-cafe", "/incident 429 autumn-cafe"):
        walk = await open_incident(chat, command)
        await walk.walk(until_phase="respond")
    ran = {a for a in walk.results}
    assert {"logs.grep", "logs.collect"} <= ran, ran
    bundles = [m for m in chat.tg.bot_messages(OPS_CHAT.id)
               if m.document and m.document.filename.endswith(".tar.gz")]
    assert len(bundles) == 2
    seen = everything_the_group_saw(chat)
    assert any(trace_id in text for _, text in seen), "the planted trace was listed"
    bundled = [text for where, text in seen if "/error_" in where]
    assert bundled and "notify failed: POST https://api.telegram.org/bot•••/sendMessage" in bundled[0]
    for where, text in seen:
        assert_no_secret(where, text)
    assert_no_secret("the store", the_store_on_disk(chat))


async def test_secrets_typed_into_answers_are_masked_before_they_are_stored(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident stats")
    await walk.press("res")  # unverified: the admin is asked for a reason
    answers = [
        f"rotated the key {CLOUD_SECRET} and restarted with bot {BOT_TOKEN}",
        f"someone pasted CLOUDINARY_URL=cloudinary://{CLOUD_KEY}:{CLOUD_SECRET}@x and "
        f"https://api.telegram.org/bot{FOREIGN_BOT}/getMe in the channel",
        f'never log {{"access_token": "{META}", "client_secret": "{APP_SECRET}"}} again',
    ]
    sent = []
    for answer in answers:
        question = walk.incident["pending_reply"]["message_id"]
        sent += await chat.send(answer, reply_to=question)
    documents = [m for m in sent if m.document is not None]
    assert [d.document.filename for d in documents] == [f"{walk.ref}-postmortem.md"]
    markdown = documents[0].document.data.decode("utf-8")
    assert "rotated the key ••• and restarted with bot •••" in markdown
    assert "pasted CLOUDINARY\\_URL=cloudinary://•••@x" in markdown
    incident = walk.incident
    assert incident["resolve_override"].startswith("rotated the key •••")
    for where, text in everything_the_group_saw(chat):
        assert_no_secret(where, text)
    assert_no_secret("the store", the_store_on_disk(chat))
    assert_no_secret("the record", json.dumps(incident, ensure_ascii=False))
