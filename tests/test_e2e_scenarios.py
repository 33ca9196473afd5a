"""Each playbook scenario walked from /incident to the post-mortem, with its fault injected.

The fault is on while the team diagnoses and responds, and cleared (the fix) before the verify
phase, so verification passes the way it would after a real recovery.
"""

from __future__ import annotations

import io
import json
import tarfile

from bot.sandbox import OPS_CHAT
from bot.sandbox.home import make_stats_stale
from tests.incident_walk import Walk, open_incident


def _clear_before_verify(sandbox, also=None):
    def hook(phase: str) -> None:
        if phase == "verify":
            sandbox.clear_faults()
            if also is not None:
                also()
    return hook


async def _finish(walk: Walk, sandbox) -> str:
    """Verify, resolve and write up; the post-mortem's text."""
    doc = await walk.resolve_and_write_up(root_cause="The token hit its 60-day limit | nobody was told",
                                          prevention="# Turn on the expiry alert 7 days ahead")
    incident = walk.incident
    assert incident["status"] == "resolved"
    assert incident["postmortem"]["written_at"] is not None
    assert doc.document.filename == f"{walk.ref}-postmortem.md"
    markdown = doc.document.data.decode("utf-8")
    assert walk.ref in markdown
    # what the team wrote is in it, escaped so it cannot turn into a heading or a table cell
    assert "The token hit its 60-day limit \\| nobody was told" in markdown
    assert "\\# Turn on the expiry alert 7 days ahead" in markdown
    assert not any(line.startswith("# Turn on") for line in markdown.splitlines())
    stored = walk.chat.store.find("postmortems", lambda d: d["ref"] == walk.ref)
    assert stored and stored[0]["markdown"] == markdown
    # the live message shows it is over and offers no step buttons any more
    live = walk.live()
    assert "Resolved" in live.text and not walk.has_button("run") and not walk.has_button("res")
    # the playbook's last step: the mistakes record in the pipeline's CLAUDE.md, said where
    record = (sandbox.home / "CLAUDE.md").read_text(encoding="utf-8")
    assert record.startswith("# CLAUDE.md") and record.count(f"· {walk.ref} ·") == 1
    assert "- Cause: The token hit its 60-day limit | nobody was told" in record
    assert any("mistakes record" in (m.text or "") and "CLAUDE.md" in (m.text or "")
               for m in walk.chat.tg.bot_messages(OPS_CHAT.id))
    return markdown


async def test_scenario_1_token_expired(chat, sandbox) -> None:
    sandbox.instagram.set_fault("token_expired")
    walk = await open_incident(chat, "/incident token autumn-cafe")
    incident = walk.incident
    assert incident["severity"] == "P0" and incident["topic"] == "autumn-cafe"
    await walk.walk(before_phase=_clear_before_verify(sandbox))
    diagnosed = walk.result("token.status")
    assert diagnosed["outcome"] == "fail" and "expired" in diagnosed["summary"].lower()
    assert walk.result("token.guide")["outcome"] == "ok"
    # set-expiry 60 is the admin's confirmed step, and it really registered the expiry
    assert walk.result("token.set_expiry")["outcome"] == "ok"
    assert chat.store.token_expiry_registration() is not None
    assert walk.results["token.status"][-1]["outcome"] == "ok"  # verify, after the fix
    # the playbook's log collection: one archive, a reply to the live message, traces inside
    bundles = [m for m in chat.tg.bot_messages(OPS_CHAT.id)
               if m.document and m.document.filename.endswith(".tar.gz")]
    assert len(bundles) == 1 and bundles[0].reply_to_message_id == walk.live().message_id
    with tarfile.open(fileobj=io.BytesIO(bundles[0].document.data)) as archive:
        names = archive.getnames()
    assert any(n.endswith(f"{sandbox.trace_id('SF-20261125-0001')}.json") for n in names)
    assert any(n.split("/")[-1].startswith("error_") and n.endswith(".log") for n in names)
    markdown = await _finish(walk, sandbox)
    assert "token.status" in markdown and "expired" in markdown.lower()


async def test_scenario_2_cloudinary_upload(chat, sandbox) -> None:
    sandbox.cloudinary.set_fault("auth")
    walk = await open_incident(chat, "/incident cloudinary autumn-cafe")
    assert walk.incident["severity"] == "P0"
    await walk.walk(before_phase=_clear_before_verify(sandbox))
    health = walk.results["health.check"]
    diagnose = [s for s in health if s["outcome"] != "ok"]
    assert diagnose and "cloudinary" in " ".join(diagnose[0]["lines"]).lower()
    assert walk.result("cloudinary.usage")["outcome"] == "fail"
    images = walk.result("images.local")
    assert images["outcome"] == "ok" and "png" in " ".join(images["lines"])
    assert health[-1]["outcome"] == "ok"  # the common verify health check, after the fix
    await _finish(walk, sandbox)


async def test_scenario_3_image_generation(chat, sandbox) -> None:
    sandbox.fal.set_fault("key_invalid")
    walk = await open_incident(chat, "/incident 3 autumn-cafe")
    assert walk.incident["severity"] == "P1"
    await walk.walk(before_phase=_clear_before_verify(sandbox))
    detect = walk.results["health.check"][0]
    assert detect["outcome"] == "fail" and "fal" in " ".join(detect["lines"]).lower()
    traces = walk.result("traces.list")
    assert traces["outcome"] == "warn"  # the sample traces hold failed runs
    assert walk.incident["trace_ids"] and all(t.startswith("SF-") for t in walk.incident["trace_ids"])
    assert walk.result("logs.tail")["outcome"] == "warn"  # ERROR lines in the stderr logs
    tails = [m.document for m in chat.tg.bot_messages(OPS_CHAT.id)
             if m.document and m.document.filename.startswith(f"{walk.ref}-tail-")]
    assert tails, "50 lines of 5 logs go out as a file"
    assert "generate_images_stderr.log" in tails[0].data.decode("utf-8")
    archive = walk.result("images.local")
    archived = sorted(p.name for p in (sandbox.home / "content/images/autumn-cafe/archive").iterdir())
    assert archive["outcome"] == "ok" and archived[0] in " ".join(archive["lines"])
    markdown = await _finish(walk, sandbox)
    assert walk.incident["trace_ids"][0] in markdown


async def test_scenario_4_rate_limit_greps_the_429_lines(chat, sandbox) -> None:
    sandbox.instagram.set_fault("rate_limited")
    walk = await open_incident(chat, "/incident 429 seoul-night")
    assert walk.incident["severity"] == "P1"

    def limit_lifts_before_responding(phase: str) -> None:  # what waiting out the limit does
        if phase == "respond":
            sandbox.clear_faults()

    await walk.walk(before_phase=limit_lifts_before_responding)
    grep = walk.result("logs.grep")
    expected = sum(line.count("429") > 0 for path in (sandbox.home / "config" / "logs").glob("*.log")
                   for line in path.read_text(encoding="utf-8").splitlines())
    assert expected > 0
    assert grep["outcome"] == "warn" and str(expected) in grep["summary"]
    assert walk.result("instagram.quota")["outcome"] in ("fail", "warn")
    assert walk.result("publish.retry")["outcome"] == "ok" and len(sandbox.instagram.published) == 1
    # fewer posts a day: the schedule changed, backed up first (so /backups can undo it)
    assert walk.result("publish.reschedule")["outcome"] == "ok"
    schedule = json.loads((sandbox.home / "config" / "publishing.json").read_text())
    assert schedule["posts_per_day"] == 1 and schedule["post_times"] == ["09:00"]
    [backup] = chat.store.backups()
    before = chat.services.backups.files_of(backup.backup_id)["config/publishing.json"]
    assert json.loads(before)["posts_per_day"] == 2
    await _finish(walk, sandbox)


async def test_the_common_config_rollback_undoes_the_incidents_changes(chat, sandbox) -> None:
    """Scenario 4 made fewer posts a day; the common rollback step puts the schedule back as it
    was when the incident opened, after backing up what it overwrites."""
    schedule_file = sandbox.home / "config" / "publishing.json"
    original = schedule_file.read_bytes()
    walk = await open_incident(chat, "/incident 429 seoul-night")
    walk.skip = frozenset()
    await walk.walk(until_phase="verify")
    assert walk.result("publish.reschedule")["outcome"] == "ok"
    rollback = walk.result("backup.restore")
    assert rollback["outcome"] == "ok" and "Configuration put back as BK-" in rollback["summary"]
    assert schedule_file.read_bytes() == original
    # each run is a trace of the bot's, with its stage
    actions = {t.detail.get("action"): t for t in chat.store.traces(limit=50)}
    assert actions["publish.reschedule"].status == "ok" and actions["backup.restore"].status == "ok"
    assert [s["stage"] for s in actions["backup.restore"].detail["stages"]] == ["restore"]
    undo, first = chat.store.backups()  # the reschedule's backup, then the rollback's own
    assert json.loads(chat.services.backups.files_of(undo.backup_id)["config/publishing.json"]
                      )["posts_per_day"] == 1  # /backups can undo the rollback


async def test_the_config_rollback_with_nothing_changed_says_so(chat, sandbox) -> None:
    walk = await open_incident(chat, "/incident stats")
    walk.skip = frozenset()
    await walk.walk(until_phase="verify")
    assert walk.result("backup.restore")["summary"].startswith(
        "The configuration was not changed during this incident")
    assert chat.store.backups() == []


async def test_scenario_5_stale_statistics(chat, sandbox) -> None:
    make_stats_stale(sandbox.home, 40)
    walk = await open_incident(chat, "/incident stats")
    assert walk.incident["severity"] == "P2"
    await walk.walk(before_phase=_clear_before_verify(
        sandbox, also=lambda: make_stats_stale(sandbox.home, 0.5)))
    freshness = walk.results["stats.freshness"]
    assert freshness[0]["outcome"] in ("warn", "fail") and "40" in freshness[0]["summary"]
    assert freshness[-1]["outcome"] == "ok"
    assert walk.result("stats.collect")["outcome"] == "ok"  # collected from Graph, written whole
    # the daemon restart is the team's own script (sunflow-ops.scripts.toml), run in the home
    assert walk.result("stats.daemon_restart")["outcome"] == "ok"
    assert (sandbox.home / "config" / "data" / "stats_daemon.started").exists()
    await _finish(walk, sandbox)


async def test_scenario_6_telegram_notifications(chat, sandbox) -> None:
    # the Bot API's getMe fails (what the health check asks); polling keeps working
    sandbox.telegram.set_fault("unauthorized", methods=["getMe"])
    walk = await open_incident(chat, "/incident telegram")
    assert walk.incident["severity"] == "P2"
    await walk.walk(before_phase=_clear_before_verify(sandbox))
    diagnose = walk.results["health.check"][0]
    assert diagnose["outcome"] == "fail" and "telegram" in " ".join(diagnose["lines"]).lower()
    test_message = walk.result("telegram.test_message")
    assert test_message["outcome"] == "ok"
    restarted = walk.result("telegram.restart")  # the team's script
    assert restarted["outcome"] == "ok" and any("restarted" in line for line in restarted["lines"])
    assert any(walk.ref in (m.text or "") and "test" in (m.text or "").lower()
               for m in chat.tg.bot_messages(OPS_CHAT.id))
    await _finish(walk, sandbox)


async def test_scenario_4_a_publish_retry_waits_visibly_and_can_be_stopped(chat, sandbox) -> None:
    sandbox.instagram.set_fault("rate_limited", retry_after=600)
    walk = await open_incident(chat, "/incident 429 seoul-night")
    while walk.incident["steps"][walk.incident["current"]]["action"] != "publish.retry":
        await walk.press("skip")
    index = walk.incident["current"]
    labels = [text for text, _ in walk.live().buttons()]
    assert "⏰ Retry in 1 h" in labels
    await walk.press("run")
    state = walk.incident["step_state"][index]
    assert state["status"] == "waiting" and state["failures"] == 1
    live = walk.live()
    assert "Tries again by itself at" in live.text and "(try 2 of 4)" in live.text
    labels = [text for text, _ in live.buttons()]
    assert "🔁 Retry now" in labels and "✖️ Stop retrying" in labels
    await walk.press("no")
    assert walk.incident["step_state"][index]["status"] == "pending"
    assert "Tries again" not in walk.live().text
    assert not sandbox.instagram.published
