"""/backups in the group: the list, what a restore would change (secrets masked), an admin's
confirmed restore, its undo, and the refusals."""

from __future__ import annotations

import asyncio

from bot.sandbox import OPERATOR, OPS_CHAT


async def test_list_show_confirm_restore_and_undo_from_the_group(chat, sandbox) -> None:
    env_file = sandbox.home / ".env"
    original = env_file.read_bytes()
    backup = await asyncio.to_thread(chat.services.backups.take, actor="tg:1001", reason="before a test")
    env_file.write_text("INSTAGRAM_ACCESS_TOKEN=EAAGchangedbyhand\nLOG_LEVEL=DEBUG\n")

    [listing] = await chat.send("/backups")
    assert backup.backup_id in listing.text and "before a test" in listing.text
    await chat.press(listing, data=f"v1:b:s:{backup.backup_id}")
    shown = chat.tg.message(OPS_CHAT.id, listing.message_id)
    assert "INSTAGRAM_ACCESS_TOKEN: ••• → •••" in shown.text and "EAAG" not in shown.text
    assert "LOG_LEVEL: DEBUG → INFO" in shown.text  # not a secret: shown

    refused = await chat.press(shown, data=f"v1:b:r:{backup.backup_id}", user=OPERATOR)
    assert refused["show_alert"] and "admin" in refused["text"].lower()
    await chat.press(shown, data=f"v1:b:r:{backup.backup_id}")
    asking = chat.tg.message(OPS_CHAT.id, listing.message_id)
    assert "Restore " in asking.text and env_file.read_text().startswith("INSTAGRAM_ACCESS_TOKEN=EAAG")
    [(_, confirm), _] = asking.buttons()
    stale = confirm.rsplit(":", 1)[0] + f":{int(confirm.rsplit(':', 1)[1]) - 600}"
    expired = await chat.press(asking, data=stale)
    assert expired["show_alert"] and "older than 5 minutes" in expired["text"]
    assert env_file.read_text().startswith("INSTAGRAM_ACCESS_TOKEN=EAAG")  # nothing happened

    done = await chat.press(asking, data=confirm)
    assert "Restored" in done["text"]
    assert env_file.read_bytes() == original
    after = chat.tg.message(OPS_CHAT.id, listing.message_id)
    [(undo_label, undo)] = after.buttons()
    assert "Undo" in undo_label
    await chat.press(after, data=undo)
    [(_, confirm_undo), _] = chat.tg.message(OPS_CHAT.id, listing.message_id).buttons()
    await chat.press(after, data=confirm_undo)
    assert env_file.read_text() == "INSTAGRAM_ACCESS_TOKEN=EAAGchangedbyhand\nLOG_LEVEL=DEBUG\n"
    events = [r.event for r in chat.store.audit_records(event="backup.restored")]
    assert len(events) == 2


async def test_no_backups_yet_says_so(chat) -> None:
    [reply] = await chat.send("/backups")
    assert "No backups yet" in reply.text
