"""The pipeline's logs and traces as a source: only what is new, across restarts, through
rotation and truncation; a 429 line opens scenario 4 with its trace id linked; what cannot be
read is skipped and counted, never fatal."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest

from bot.adapters.log_follow import LogFollower
from bot.clock import utc_now
from bot.detection.pipeline_files import component_of_line, component_of_trace, findings
from bot.detection.scheduled import POSITIONS_KEY, signal_from_files
from tests.test_detection import World, world  # noqa: F401  (the fixture)

LOG = "publish_content_stderr.log"


def follower(tmp_path: Path) -> LogFollower:
    (tmp_path / "logs" / "traces").mkdir(parents=True, exist_ok=True)
    return LogFollower(tmp_path / "logs", tmp_path / "logs" / "traces")


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def test_only_new_whole_lines_across_looks_rotation_and_truncation(tmp_path) -> None:
    f = follower(tmp_path)
    log = tmp_path / "logs" / LOG
    log.write_text("2026-12-05 09:00:00,000 ERROR [publish_content] old news\n")
    first = f.look({})
    assert first.lines == [] and first.positions["files"][LOG]["offset"] == log.stat().st_size

    append(log, "line one\nline two\npartial")
    second = f.look(first.positions)
    assert [line for _, line in second.lines] == ["line one", "line two"]
    append(log, " and done\n")
    third = f.look(second.positions)
    assert [line for _, line in third.lines] == ["partial and done"]

    log.write_text("after truncation\n")  # shorter than where we were: from the start
    fourth = f.look(third.positions)
    assert [line for _, line in fourth.lines] == ["after truncation"]

    os.rename(log, log.with_suffix(".log.1"))  # rotated: a new file under the same name
    log.write_text("in the new file\n")
    fifth = f.look(fourth.positions)
    assert [line for _, line in fifth.lines] == ["in the new file"]
    assert f.look(fifth.positions).lines == []


def test_new_traces_are_read_once_and_unreadable_ones_counted(tmp_path) -> None:
    f = follower(tmp_path)
    traces = tmp_path / "logs" / "traces"
    (traces / "SF-20261205-0001.json").write_text(json.dumps({"trace_id": "SF-20261205-0001"}))
    first = f.look({}, today=date(2026, 12, 5))
    assert first.traces == []  # there before the first look: history
    (traces / "SF-20261205-0002.json").write_text(json.dumps({"trace_id": "SF-20261205-0002",
                                                               "status": "error", "stage": "upload"}))
    broken = traces / "SF-20261205-0003.json"
    broken.write_text("{not json")  # perhaps half written: looked at again while it is new
    second = f.look(first.positions, today=date(2026, 12, 5))
    assert [name for name, _ in second.traces] == ["SF-20261205-0002.json"] and second.skipped == 0
    third = f.look(second.positions, today=date(2026, 12, 5))  # still broken: skipped, counted once
    assert third.traces == [] and third.skipped == 1
    assert f.look(third.positions, today=date(2026, 12, 5)).skipped == 0


def test_a_line_longer_than_a_whole_look_is_skipped_not_stuck_on(tmp_path, monkeypatch) -> None:
    from bot.adapters import log_follow
    monkeypatch.setattr(log_follow, "MAX_BYTES_PER_LOOK", 1024)
    f = follower(tmp_path)
    log = tmp_path / "logs" / LOG
    log.write_text("")
    positions = f.look({}).positions
    append(log, "x" * 3000 + "\nafter the long one\n")
    lines, skipped = [], 0
    for _ in range(5):
        looked = f.look(positions)
        positions, skipped = looked.positions, skipped + looked.skipped
        lines += [line for _, line in looked.lines]
    assert lines[-1] == "after the long one" and skipped >= 1


@pytest.mark.parametrize(("file", "line", "component"), [
    (LOG, "2026-12-05 09:02:06,880 WARNING [publish_content] POST /media -> 429 Too Many Requests", "instagram"),
    (LOG, "2026-12-05 09:02:06,880 ERROR [publish_content] Error validating access token (code=190)", "token"),
    ("upload_cloudinary_stderr.log", "2026-12-05 09:00:45,201 ERROR [upload_cloudinary] 401 Invalid Signature", "cloudinary"),
    ("generate_images_stderr.log", "2026-12-05 09:00:45,201 ERROR [generate_images] request timed out after 3 tries", "fal"),
    ("telegram_bot_stderr.log", "2026-12-05 09:00:45,201 CRITICAL [telegram_bot] Traceback (most recent call last):", "telegram"),
    (LOG, "2026-12-05 09:02:06,880 ERROR [publish_content] -2/2207003 fetching https://res.cloudinary.com/x.png", "instagram"),
    ("upload_cloudinary_stderr.log", "2026-12-05 11:15:30,018 WARNING [upload_cloudinary] usage check: credits 81.6% of plan", None),
    (LOG, "2026-12-05 09:01:12,003 INFO [publish_content] container status_code=FINISHED", None),
    (LOG, '  File "publish_content.py", line 88, in publish', None),
])
def test_a_line_is_about_what_it_says_then_who_said_it(file, line, component) -> None:
    assert component_of_line(file, line) == component


def test_a_failed_trace_names_its_component_and_a_good_one_nothing() -> None:
    failed = {"trace_id": "SF-20261126-0002", "stage": "publish", "status": "error",
              "error": {"message": "401 Unauthorized: Error validating access token (code=190)"}}
    assert component_of_trace(failed) == "token"
    assert component_of_trace({**failed, "error": {"message": "boom"}}) == "instagram"
    assert component_of_trace({**failed, "stage": "upload", "error": "x"}) == "cloudinary"
    assert component_of_trace({"trace_id": "SF-20261126-0001", "status": "ok"}) is None


def test_a_burst_is_one_signal_per_component() -> None:
    lines = [(LOG, f"2026-12-05 09:02:{n % 60:02d},000 WARNING [publish_content] 429 Too Many Requests "
                   f"trace=SF-20261205-{n % 3 + 1:04d}") for n in range(10_000)]
    found = findings(lines, [])
    [signal] = found.signals(at=utc_now())
    assert signal.component == "instagram" and signal.details.startswith("10000 lines, the first:")
    assert signal.trace_ids == ("SF-20261205-0001", "SF-20261205-0002", "SF-20261205-0003")


async def test_a_429_in_the_log_opens_scenario_4_with_its_trace_linked(world: World, sandbox) -> None:
    follower = world.services.follower
    assert follower is not None
    first = await signal_from_files(follower, world.detector, world.services.store, now=world.clock)
    assert first.received == [] and world.services.store.get_setting(POSITIONS_KEY)
    append(sandbox.home / "config" / "logs" / LOG,
           "2026-12-05 09:02:06,880 WARNING [publish_content] POST /v21.0/1784/media -> 429 Too Many "
           "Requests (code=80002) trace=SF-20261205-0007\n")
    second = await signal_from_files(follower, world.detector, world.services.store, now=world.clock)
    assert [r.kind for r in second.received] == ["opened"] and second.lines == 1
    [incident] = world.open_incidents()
    assert incident.scenario == "rate-limit" and incident.trace_ids == ("SF-20261205-0007",)
    # a restart: a new follower, the same store: nothing read twice
    again = await signal_from_files(type(follower)(sandbox.home / "config" / "logs",
                                                   sandbox.home / "config" / "logs" / "traces"),
                                    world.detector, world.services.store, now=world.clock)
    assert again.received == [] and again.lines == 0
