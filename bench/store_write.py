"""Store write cost at 100 vs 10,000 records (target: 10k/100 ratio <= 3).

Each measured write is one acknowledged ``Store.audit`` call (~300 bytes, journal append + fsync).
Pre-filling is not measured. The "cycle" line times enough writes to pass one compaction at each
size, so the amortized cost of rewriting the snapshot is in the figure too.

    .venv/bin/python bench/store_write.py [--writes 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.store import Store  # noqa: E402

DETAIL = {"note": "x" * 170, "step": "diagnose", "incident": 12345}


def timed_writes(store: Store, n: int) -> list[float]:
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        store.audit("bench.write", actor="bench", chat_id=-100123456789, detail={**DETAIL, "i": i})
        times.append((time.perf_counter() - t0) * 1000)
    return times


def measure(records: int, writes: int) -> tuple[list[float], int, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        with Store.open(data_dir) as store:
            for i in range(records):
                store.audit("bench.fill", actor="bench", chat_id=-100123456789, detail={**DETAIL, "i": i})
            store.compact()  # every run starts from a folded snapshot and an empty journal
        with Store.open(data_dir) as store:
            times = timed_writes(store, writes)
            line = (data_dir / "store.journal").stat().st_size // writes
            snapshot = (data_dir / "store.json").stat().st_size
            # Writes needed to pass one compaction (threshold: max(1 MiB, snapshot size)).
            cycle_n = max(1 << 20, snapshot) // line + 10
            t0 = time.perf_counter()
            timed_writes(store, cycle_n)
            cycle_ms = (time.perf_counter() - t0) * 1000 / cycle_n
        return times, cycle_n, cycle_ms, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()

    small, small_cycle_n, small_cycle, line = measure(100, args.writes)
    big, big_cycle_n, big_cycle, _ = measure(10_000, args.writes)

    def p50(xs: list[float]) -> float:
        return statistics.median(xs)

    def p99(xs: list[float]) -> float:
        return statistics.quantiles(xs, n=100)[98]

    print(f"{args.writes} acknowledged audit writes ({line} B journal line each, fsync per write)")
    for name, xs in (("100 recs", small), ("10000 recs", big)):
        print(f"  {name:>10}: mean {statistics.fmean(xs):.3f} ms, p50 {p50(xs):.3f} ms, "
              f"p99 {p99(xs):.3f} ms, max {max(xs):.3f} ms")
    print(f"store write p50: 100 recs {p50(small):.3f} ms, 10000 recs {p50(big):.3f} ms, "
          f"ratio {p50(big) / p50(small):.2f} (target <= 3)")
    print(f"store write mean: 100 recs {statistics.fmean(small):.3f} ms, 10000 recs "
          f"{statistics.fmean(big):.3f} ms, ratio {statistics.fmean(big) / statistics.fmean(small):.2f} "
          f"(target <= 3)")
    print(f"amortized over one compaction cycle: 100 recs {small_cycle:.3f} ms/write "
          f"({small_cycle_n} writes), 10000 recs {big_cycle:.3f} ms/write ({big_cycle_n} writes), "
          f"ratio {big_cycle / small_cycle:.2f}")


if __name__ == "__main__":
    main()
