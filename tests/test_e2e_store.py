"""The store under damage, as the team sees it: ids and refs never come back, a full disk heals
without a restart, one bad record is set aside instead of stopping the bot."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import bot.durable_files as durable_files
import bot.store.store as store_module
from bot.sandbox import ADMIN, OPS_CHAT
from bot.sandbox.runner import BotRunner
from bot.store import Store
from conftest import Chat
from tests.incident_walk import open_incident


def _drop_the_record(data_dir: Path, how: str, doc_id: int) -> None:
    """Lose incident `doc_id` the two ways seen: a damaged journal line, a cut snapshot."""
    journal = data_dir / "store.journal"
    if how == "journal line":
        lines = journal.read_bytes().splitlines(keepends=True)
        created = next(i for i, line in enumerate(lines)
                       if any(op[0] == "incidents" and op[1] == doc_id and op[2]["_v"] == 1
                              for op in json.loads(line.split(b" ", 1)[1])))
        lines[created] = lines[created][:40] + b"#" + lines[created][41:]  # a bad checksum
        journal.write_bytes(b"".join(lines))
    else:
        with Store.open(data_dir) as store:
            store.compact()  # everything in the snapshot, the journal empty
        snapshot = data_dir / "store.json"
        snapshot.write_bytes(snapshot.read_bytes()[:len(snapshot.read_bytes()) // 2])


@pytest.mark.parametrize("how", ["journal line", "snapshot cut"])
async def test_a_lost_record_never_gives_its_id_or_ref_to_the_next_incident(
        sandbox, make_settings, how) -> None:
    settings = make_settings()
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        walks = [await open_incident(chat, f"/incident {n}") for n in (5, 6, 3)]
        lost = walks[-1].incident
    old_live = chat.tg.message(OPS_CHAT.id, lost["message"]["message_id"])
    _drop_the_record(settings.data_dir, how, lost["id"])
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        assert runner.store.get("incidents", lost["id"]) is None
        assert runner.store.recovered, "the damage was found and reported"
        new = (await open_incident(chat, "/incident 1")).incident
        assert new["id"] > lost["id"] and new["ref"] != lost["ref"]
        assert int(new["ref"].rsplit("-", 1)[1]) > int(lost["ref"].rsplit("-", 1)[1])
        # 👋 on the lost incident's old message does not acknowledge the new one
        answer = await chat.press(old_live, data=f"v1:i:{lost['id']}:0:ack", user=ADMIN)
        assert answer["show_alert"]
        assert runner.store.get("incidents", new["id"])["status"] == "open"


async def test_a_full_disk_refuses_writes_says_why_and_heals_without_a_restart(
        chat, sandbox, monkeypatch) -> None:
    monkeypatch.setattr(store_module, "HEAL_EVERY_S", 0.3)
    walk = await open_incident(chat, "/incident stats")

    def no_room(fd: int, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as disk:
        disk.setattr(durable_files, "write_all", no_room)
        disk.setattr(store_module, "write_all", no_room)
        refused = await walk.press("ack")
        assert refused["show_alert"] and "No space left on device" in refused["text"]
        assert walk.incident["status"] == "open"
        (report,) = await chat.send("/health store")
        line = report.text.splitlines()[1]
        assert line.startswith("🔴") and "cannot be written" in line and "No space left" in line
    await asyncio.sleep(0.4)  # the disk has room again; the next check retries
    (report,) = await chat.send("/health store")
    assert report.text.splitlines()[1].startswith("🟢"), report.text
    answer = await walk.press("ack")
    assert not answer["show_alert"] and walk.incident["status"] == "acknowledged"


async def test_a_record_that_is_json_but_not_an_incident_is_set_aside(sandbox, make_settings) -> None:
    settings = make_settings()
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        bad = (await open_incident(chat, "/incident 5")).incident
        good = (await open_incident(chat, "/incident 6")).incident
    with Store.open(settings.data_dir) as store:  # valid JSON, but no walkable incident
        store.update("incidents", bad["id"], {"escalation": "soon", "steps": None})
    async with BotRunner(settings) as runner:
        chat = Chat(sandbox, runner)
        notices = [m.text for m in chat.bot_messages() if "set aside" in (m.text or "")]
        assert notices and f"incidents #{bad['id']}" in notices[0]
        kept = list(settings.data_dir.glob(f"incidents-{bad['id']}.quarantined-*.json"))
        assert len(kept) == 1 and json.loads(kept[0].read_text())["escalation"] == "soon"
        assert runner.store.get("incidents", bad["id"]) is None
        (report,) = await chat.send("/health store")
        assert report.text.splitlines()[1].startswith("🟡") and kept[0].name in report.text
        sent = await chat.send(f"/incident {good['ref']}")  # the rest works as before
        assert any(good["ref"] in (m.text or "") for m in sent)
