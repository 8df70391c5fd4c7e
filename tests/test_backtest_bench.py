"""The backtest benchmark's smallest mode runs and prints its key=value line (no timing is
asserted: bench/run.py reports the ratio), alone and through bench/run.py."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _keys(stdout: str) -> dict[str, str]:
    last = stdout.strip().splitlines()[-1]
    return dict(item.split("=", 1) for item in last.split())


def test_the_backtest_benchmark_smoke_mode_prints_its_ratio():
    proc = subprocess.run([sys.executable, str(BENCH / "bench_backtest.py"), "--smoke"],
                          capture_output=True, text=True, timeout=100, cwd=BENCH.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    values = _keys(proc.stdout)
    for key in ("backtest_ratio", "backtest_eps", "bare_eps", "events"):
        assert math.isfinite(float(values[key])) and float(values[key]) > 0, key


def test_bench_run_reports_the_backtest_ratio():
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--smoke", "--only",
                           "backtest"], capture_output=True, text=True, timeout=100,
                          cwd=BENCH.parent)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    values = _keys(proc.stdout)
    assert float(values["backtest_ratio"]) > 0 and values["failed"] == "none"
