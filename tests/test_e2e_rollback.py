"""/rollback end to end: the last commits, a commit's files, the diff (secrets masked), an
admin's restore and its undo from the group, and the refusals."""

from __future__ import annotations

import subprocess

from bot.sandbox import IG_TOKEN, OPERATOR, OPS_CHAT
from bot.sandbox.git_history import CAPTION, make_history
from handlers import callbacks as cb


def git(home, *args: str) -> str:
    return subprocess.run(["git", "-C", str(home), *args], capture_output=True, text=True,
                          check=True).stdout


async def test_pick_a_commit_and_a_file_see_the_diff_restore_and_undo(chat, sandbox) -> None:
    make_history(sandbox.home)
    caption = sandbox.home / CAPTION
    before = caption.read_bytes()

    [listing] = await chat.send("/rollback")
    assert listing.text.startswith("⏪ Code rollback · the last 4 commits")
    assert "Shorter captions" in listing.text and "Kim Bujang" in listing.text
    labels = [label for label, _ in listing.buttons()]
    assert labels[0].endswith("· Shorter captions") and len(labels) == 4
    hashtag = next(data for label, data in listing.buttons() if label.endswith("Add the daily-mood hashtag"))

    await chat.press(listing, data=hashtag)
    files = chat.tg.message(OPS_CHAT.id, listing.message_id)
    assert "Files this commit changed" in files.text
    [(label, file_data), (_, back)] = files.buttons()
    assert label == f"changed · {CAPTION}" and back == cb.ROLLBACK_LIST

    await chat.press(files, data=file_data)
    shown = chat.tg.message(OPS_CHAT.id, listing.message_id)
    assert f"{CAPTION} as it was at" in shown.text
    assert "-MAX_CAPTION = 300" in shown.text and "+MAX_CAPTION = 2200" in shown.text
    assert any(e["type"] == "pre" for e in shown.entities)
    [(_, restore), (_, _back)] = shown.buttons()

    refused = await chat.press(shown, data=restore, user=OPERATOR)
    assert refused["show_alert"] and "only an admin" in refused["text"].lower()
    assert caption.read_bytes() == before

    done = await chat.press(shown, data=restore)
    assert done["text"] == "⏳ Working on it…"  # answered at once; the result is on the message
    assert chat.tg.message(OPS_CHAT.id, listing.message_id).text.startswith(f"⏪ {CAPTION} restored to")
    assert "MAX_CAPTION = 2200" in caption.read_text()
    assert git(sandbox.home, "status", "--porcelain") == f" M {CAPTION}\n"
    after = chat.tg.message(OPS_CHAT.id, listing.message_id)
    assert "backed up first as RB-" in after.text
    [(undo_label, undo)] = after.buttons()
    assert "Undo" in undo_label

    await chat.press(after, data=undo)
    assert caption.read_bytes() == before
    assert "is back as it was before RB-" in chat.tg.message(OPS_CHAT.id, listing.message_id).text


async def test_a_secret_in_a_diff_is_masked_before_the_diff_is_cut(chat, sandbox) -> None:
    make_history(sandbox.home)
    notes = sandbox.home / "core" / "notes.txt"
    # a line longer than a diff line may be shown, with the token across the cut
    secret_line = "x" * 140 + f" token={IG_TOKEN}\n"
    notes.write_text("".join(f"line {n}\n" for n in range(5)) + secret_line
                     + "".join(f"line {n}\n" for n in range(5, 60)))
    git(sandbox.home, "add", "core/notes.txt")
    git(sandbox.home, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "Notes")
    first = next(c.sha for c in await chat.services.rollback.commits() if c.subject == "Shorter captions")
    notes.unlink()  # the work tree lost it: restoring the commit brings it back, secret and all
    git(sandbox.home, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qam", "Drop notes")
    notes_commit = next(c.sha for c in await chat.services.rollback.commits() if c.subject == "Notes")

    [listing] = await chat.send("/rollback")
    await chat.press(listing, data=cb.rollback_file(notes_commit, 0))
    shown = chat.tg.message(OPS_CHAT.id, listing.message_id)
    assert IG_TOKEN not in shown.text
    assert "sandbox-instagram" not in shown.text and "x" * 140 + " token=•••" in shown.text
    assert "… and 22 more lines" in shown.text  # the hunk's head and 61 lines: 40 shown
    assert "new file mode" not in shown.text and first != notes_commit


async def test_usage_unknown_ids_and_an_expired_button(chat, sandbox) -> None:
    make_history(sandbox.home)
    [usage] = await chat.send("/rollback now please")
    assert usage.text.startswith("Usage: /rollback")
    [unknown] = await chat.send("/rollback undo RB-20260101-0001")
    assert unknown.text == "RB-20260101-0001 is not a restore this bot made."
    [listing] = await chat.send("/rollback")
    newest = (await chat.services.rollback.commits())[1]
    old_button = cb.rollback_restore(newest.sha, 0, int(chat.services.clock().timestamp()) - 600)
    await chat.press(listing, data=old_button)
    shown = chat.tg.message(OPS_CHAT.id, listing.message_id)
    assert "older than 5 minutes" in shown.text
    assert [data for _, data in shown.buttons()] == [cb.ROLLBACK_LIST]  # the way back
    await chat.press(shown, data="v1:r:c:ffffffffffff")
    assert "not one of the last 10 commits" in chat.tg.message(OPS_CHAT.id, listing.message_id).text


async def test_without_a_repository_it_says_why(chat) -> None:
    [reply] = await chat.send("/rollback")
    assert reply.text.startswith("git could not answer: fatal: not a git repository")


async def test_a_diff_of_long_lines_still_fits_one_message(chat, sandbox) -> None:
    make_history(sandbox.home)
    wide = sandbox.home / "core" / "wide.txt"
    wide.write_text("".join(f"{n:03d} " + "<&>" * 60 + "\n" for n in range(45)))
    git(sandbox.home, "add", "core/wide.txt")
    git(sandbox.home, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-q", "-m", "Wide")
    wide_commit = next(c.sha for c in await chat.services.rollback.commits() if c.subject == "Wide")
    wide.unlink()
    git(sandbox.home, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qam", "Narrow")
    [listing] = await chat.send("/rollback")
    await chat.press(listing, data=cb.rollback_file(wide_commit, 0))
    shown = chat.tg.message(OPS_CHAT.id, listing.message_id)
    assert "wide.txt as it was at" in shown.text and "more lines" in shown.text
    assert "<&><&>" in shown.text  # escaped for HTML, shown as written
    assert len(shown.text) <= 4096
