"""CPU time to take in the pipeline's new log lines: 10,000 lines appended to a stderr log
(a third of them failures), read by the follower and sorted into signals, against the same
lines only read (the baseline, measured in the same run). Prints figures; asserts nothing.

    .venv/bin/python bench/detect_files.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.adapters.log_follow import LogFollower  # noqa: E402
from bot.clock import utc_now  # noqa: E402
from bot.detection.pipeline_files import findings  # noqa: E402

LINES = 10_000
RUNS = 7


def _lines() -> str:
    kinds = ("INFO [publish_content] container 1791 status_code=FINISHED",
             "WARNING [publish_content] POST /v21.0/1784/media -> 429 Too Many Requests (code=80002)",
             "ERROR [upload_cloudinary] 401 Invalid Signature for sunflow/seoul-night/x",
             "INFO [generate_images] saved content/images/x.png (768x1024, 412 KB)")
    return "".join(f"2026-12-05 09:{n // 60 % 60:02d}:{n % 60:02d},{n % 1000:03d} {kinds[n % 4]} "
                   f"trace=SF-20261205-{n % 50 + 1:04d}\n" for n in range(LINES))


def main() -> None:
    body = _lines()
    took, baseline, signals = [], [], 0
    with tempfile.TemporaryDirectory() as tmp:
        logs = Path(tmp) / "logs"
        (logs / "traces").mkdir(parents=True)
        log = logs / "publish_content_stderr.log"
        log.write_text("")
        follower = LogFollower(logs, logs / "traces")
        for _ in range(RUNS):
            positions = follower.look({}).positions
            with log.open("a", encoding="utf-8") as f:
                f.write(body)
            began = time.process_time()
            looked = follower.look(positions)
            found = findings(looked.lines, looked.traces)
            signals = len(found.signals(at=utc_now()))
            took.append(time.process_time() - began)
            began = time.process_time()  # the baseline: the same bytes, only read and split
            log.read_bytes().decode("utf-8").splitlines()[-LINES:]
            baseline.append(time.process_time() - began)
            log.write_text("")
    median, base = statistics.median(took), statistics.median(baseline)
    print(f"{LINES} new log lines -> {signals} signals: CPU {median * 1000:.1f} ms per 10,000 lines "
          f"(runs: {', '.join(f'{t * 1000:.1f}' for t in took)}); reading alone {base * 1000:.1f} ms; "
          f"ratio {median / base:.1f}")


if __name__ == "__main__":
    main()
