"""Each benchmark script's smallest mode runs to completion and ends with its key=value line.

Smoke only: no timing is asserted, just that the script ran, measured something (counts are
positive) and printed the keys ``bench/run.py`` parses. Each script runs in a subprocess, as
``bench/run.py`` runs it, with its servers in further processes.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"

CASES = {
    "bench_e2e.py": (["--smoke"], ["e2e_1", "e2e_10", "fps_a", "fps_b", "fps_c", "eps_c"]),
    "bench_latency.py": (["--smoke"], ["p99_1k_ms", "p99_5k_ms", "bare_p99_1k_ms"]),
    "bench_fullmarket.py": (["--smoke"], ["fullmarket_cpu_pct", "events_per_s", "stream_rate"]),
    "bench_memory.py": (["--smoke"], ["mem_per_component_kib", "mem_per_actor_kib"]),
    "bench_orders.py": (["--smoke"], ["submit_wait_p50_ms", "order_rate_fraction", "orders"]),
    "bench_bridge.py": (["--smoke"], ["bridge_cpu_us", "inproc_cpu_us", "lat_p50_ms_batch",
                                      "lat_p99_ms_batch", "lat_p99_ms_nobatch"]),
    "run.py": (["--smoke", "--only", "memory"], ["mem_per_component_kib", "mem_ratio"]),
}


def _key_line(stdout: str) -> dict[str, str]:
    last = stdout.strip().splitlines()[-1]
    pairs = [item.split("=", 1) for item in last.split()]
    assert all(len(p) == 2 for p in pairs), f"last line is not key=value: {last!r}"
    return dict(pairs)


@pytest.mark.parametrize("script", list(CASES))
def test_benchmark_smallest_mode_runs_and_prints_its_key_value_line(script):
    args, keys = CASES[script]
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True, text=True, timeout=100, cwd=BENCH.parent,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    values = _key_line(proc.stdout)
    missing = [k for k in keys if k not in values]
    assert not missing, f"{script}: missing keys {missing} in {values}"
    for key in keys:
        number = float(values[key])
        assert math.isfinite(number) and number > 0, f"{script}: {key}={values[key]}"
