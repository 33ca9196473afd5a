"""The bench scripts are not run by the tests (they time things on a shared machine) and not
type-checked; this at least loads each one, so a name they import from the bot cannot vanish
without a test going red (the typed incident record once broke two of them silently)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_a_bench_script_loads(script: str) -> None:
    names = runpy.run_path(str(BENCH / script), run_name="loaded_by_the_tests")  # not "__main__"
    assert "main" in names or script.startswith("_"), f"{script} has no main()"
