"""Run every benchmark, each in its own clean process, and summarise them in one table.

Each script runs via ``subprocess`` (so no benchmark inherits another's threads, imports or
heap) one after the other (never in parallel: they would measure each other). Its output is
echoed, its final ``key=value`` line parsed, and the summary table shows per metric: value,
the baseline measured in the same run, ratio, target and whether it is met. The last line is
ONE ``key=value ...`` line:

``e2e_1`` (hub 1 component / bare loop, frames/s), ``e2e_10``, ``p99_1k_ms``, ``p99_5k_ms``,
``fullmarket_cpu_pct``, ``bandwidth_simple_deflate_pct`` (wire bytes of SIMPLE+deflate as % of
DEFAULT uncompressed), ``decode_<kind>_<fmt>`` (decode / json.loads events/s),
``mem_per_component_kib``, ``mem_ratio``, ``recv_b_a``, ``recv_c_a``, ``backtest_ratio``
(backtest events/s with a trivial strategy / a bare ``read_recording`` loop),
``bridge_cpu_us`` (NATS bridge CPU per event), ``bridge_p99_ms_batch``, ``failed``.

Usage: ``python bench/run.py [--quick | --smoke] [--only e2e,latency,...]``. ``--quick`` is
passed through to every script (the whole quick run takes under two minutes on 2 cores);
``--smoke`` passes ``--smoke`` to the scripts that have it and ``--quick`` to the others.
Exit status 1 if any benchmark failed to produce its key line.
Runs in: the main thread; every benchmark in a subprocess.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as C

HERE = Path(__file__).resolve().parent

#: name -> (script, has --smoke)
BENCHMARKS: dict[str, tuple[str, bool]] = {
    "decode": ("bench_decode.py", False),
    "recv": ("bench_recv.py", False),
    "bandwidth": ("bench_bandwidth.py", False),
    "e2e": ("bench_e2e.py", True),
    "latency": ("bench_latency.py", True),
    "fullmarket": ("bench_fullmarket.py", True),
    "memory": ("bench_memory.py", True),
    "orders": ("bench_orders.py", True),
    "backtest": ("bench_backtest.py", True),
    "bridge": ("bench_bridge.py", True),
}

Row = tuple[str, str, Any, Any, Any, str, str]


def _f(kv: dict[str, str], key: str) -> float:
    try:
        return float(kv[key])
    except (KeyError, ValueError):
        return float("nan")


def _met(value: float, op: str, bound: float) -> str:
    if value != value:
        return "?"
    return "yes" if (value >= bound if op == ">=" else value < bound) else "NO"


def rows_decode(kv: dict[str, str]) -> list[Row]:
    rows = []
    for kind in ("ticker", "trade", "orderbook"):
        for fmt in ("simple", "default"):
            eps, ratio = _f(kv, f"decode_eps_{kind}_{fmt}"), _f(kv, f"decode_vs_json_{kind}_{fmt}")
            rows.append(("decode", f"{kind} {fmt.upper()} events/s", eps,
                         eps / ratio if ratio else float("nan"), ratio, "vs json.loads", ""))
    return rows


def rows_recv(kv: dict[str, str]) -> list[Row]:
    a = _f(kv, "fps_a")
    return [("recv", "open_websocket frames/s", _f(kv, "fps_b"), a, _f(kv, "ratio_b_a"), "", ""),
            ("recv", "open_websocket+deflate frames/s", _f(kv, "fps_c"), a,
             _f(kv, "ratio_c_a"), "", "")]


def bandwidth_pct(kv: dict[str, str]) -> float:
    """SIMPLE+deflate wire bytes as % of DEFAULT raw, whatever the script calls it."""
    for key in ("bandwidth_simple_deflate_pct", "simple_deflate_pct"):
        if key in kv:
            return _f(kv, key)
    for key, value in kv.items():
        k = key.lower()
        if "simple" in k and "deflate" in k and ("pct" in k or "percent" in k):
            return float(value)
    return float("nan")


def rows_bandwidth(kv: dict[str, str]) -> list[Row]:
    pct = bandwidth_pct(kv)
    return [("bandwidth", "SIMPLE+deflate wire bytes, % of DEFAULT raw", pct, 100.0,
             pct / 100, "", "")]


def rows_e2e(kv: dict[str, str]) -> list[Row]:
    rows: list[Row] = []
    for suffix, tag in (("", ""), ("_deflate", " deflate")):
        if f"e2e_1{suffix}" not in kv:
            continue
        a = _f(kv, f"fps_a{suffix}")
        r1, r10 = _f(kv, f"e2e_1{suffix}"), _f(kv, f"e2e_10{suffix}")
        rows.append(("e2e", f"hub 1 component frames/s{tag}", _f(kv, f"fps_b{suffix}"), a, r1,
                     ">= 0.5", _met(r1, ">=", 0.5)))
        rows.append(("e2e", f"hub 10 components frames/s{tag}", _f(kv, f"fps_c{suffix}"), a,
                     r10, "", ""))
    return rows


def rows_latency(kv: dict[str, str]) -> list[Row]:
    rows = []
    for tag, bound in (("1k", 2.0), ("5k", 5.0)):
        p99 = _f(kv, f"p99_{tag}_ms")
        rows.append(("latency", f"hub p99 ms @ {tag}/s", p99, _f(kv, f"bare_p99_{tag}_ms"),
                     _f(kv, f"p99_ratio_{tag}"), f"< {bound:g} ms", _met(p99, "<", bound)))
    return rows


def rows_fullmarket(kv: dict[str, str]) -> list[Row]:
    cpu = _f(kv, "fullmarket_cpu_pct")
    return [("fullmarket", f"hub CPU % of a core @ {_f(kv, 'events_per_s'):,.0f} ev/s", cpu,
             _f(kv, "bare_cpu_pct"), _f(kv, "cpu_ratio"), "< 25 %", _met(cpu, "<", 25.0))]


def rows_memory(kv: dict[str, str]) -> list[Row]:
    return [("memory", "KiB per component", _f(kv, "mem_per_component_kib"),
             _f(kv, "mem_per_actor_kib"), _f(kv, "mem_ratio"), "", "")]


def rows_orders(kv: dict[str, str]) -> list[Row]:
    frac = _f(kv, "order_rate_fraction")
    return [("orders", "submit->wait p50 ms", _f(kv, "submit_wait_p50_ms"),
             "", "", "", ""),
            ("orders", "submit->wait p99 ms", _f(kv, "submit_wait_p99_ms"), "", "", "", ""),
            ("orders", f"order rate / 12/s limit (429s: {kv.get('n429', '?')})", frac, "", "",
             ">= 0.9, 0 x 429", _met(frac, ">=", 0.9) if kv.get("n429") == "0" else "NO")]


def rows_backtest(kv: dict[str, str]) -> list[Row]:
    ratio = _f(kv, "backtest_ratio")
    return [("backtest", "replayed events/s, trivial strategy", _f(kv, "backtest_eps"),
             _f(kv, "bare_eps"), ratio, ">= 0.5 of read_recording", _met(ratio, ">=", 0.5))]


def rows_bridge(kv: dict[str, str]) -> list[Row]:
    cpu, on, off = (_f(kv, k) for k in ("bridge_cpu_us", "lat_p99_ms_batch",
                                        "lat_p99_ms_nobatch"))  # fmt: skip
    return [("bridge", "NATS bridge CPU us/event", cpu, _f(kv, "inproc_cpu_us"),
             _f(kv, "bridge_cpu_ratio"), "<= 50 us", _met(cpu, "<", 50.0)),
            ("bridge", "receipt->remote p99 ms, 5 ms batching", on, "", "", "<= 15",
             _met(on, "<", 15.0)),
            ("bridge", "receipt->remote p99 ms, no batching", off, "", "", "<= 5",
             _met(off, "<", 5.0))]


ROWS: dict[str, Callable[[dict[str, str]], list[Row]]] = {
    "decode": rows_decode, "recv": rows_recv, "bandwidth": rows_bandwidth, "e2e": rows_e2e,
    "latency": rows_latency, "fullmarket": rows_fullmarket, "memory": rows_memory,
    "orders": rows_orders, "backtest": rows_backtest, "bridge": rows_bridge,
}


def final_keys(results: dict[str, dict[str, str]], failed: list[str]) -> dict[str, Any]:
    """The summary ``key=value`` values from every script's own key line."""
    g = {name: kv for name, kv in results.items()}
    out: dict[str, Any] = {}
    e2e, lat, full = g.get("e2e", {}), g.get("latency", {}), g.get("fullmarket", {})
    mem, dec, rcv = g.get("memory", {}), g.get("decode", {}), g.get("recv", {})
    if e2e:
        out["e2e_1"] = _f(e2e, "e2e_1")
        out["e2e_10"] = _f(e2e, "e2e_10")
        if "e2e_1_deflate" in e2e:
            out["e2e_1_deflate"] = _f(e2e, "e2e_1_deflate")
            out["e2e_10_deflate"] = _f(e2e, "e2e_10_deflate")
    if lat:
        out["p99_1k_ms"] = _f(lat, "p99_1k_ms")
        out["p99_5k_ms"] = _f(lat, "p99_5k_ms")
    if full:
        out["fullmarket_cpu_pct"] = _f(full, "fullmarket_cpu_pct")
    if "bandwidth" in g:
        out["bandwidth_simple_deflate_pct"] = bandwidth_pct(g["bandwidth"])
    for kind in ("ticker", "trade", "orderbook"):
        for fmt in ("simple", "default"):
            key = f"decode_vs_json_{kind}_{fmt}"
            if key in dec:
                out[f"decode_{kind}_{fmt}"] = _f(dec, key)
    if mem:
        out["mem_per_component_kib"] = _f(mem, "mem_per_component_kib")
        out["mem_ratio"] = _f(mem, "mem_ratio")
    if rcv:
        out["recv_b_a"] = _f(rcv, "ratio_b_a")
        out["recv_c_a"] = _f(rcv, "ratio_c_a")
    if g.get("backtest"):
        out["backtest_ratio"] = _f(g["backtest"], "backtest_ratio")
    if g.get("bridge"):
        out["bridge_cpu_us"] = _f(g["bridge"], "bridge_cpu_us")
        out["bridge_p99_ms_batch"] = _f(g["bridge"], "lat_p99_ms_batch")
    out["failed"] = ",".join(failed) or "none"
    return out


def run_one(name: str, mode: str, timeout: float) -> tuple[dict[str, str], str]:
    """Run one script; returns (its key=value pairs, '' or why it failed)."""
    script, has_smoke = BENCHMARKS[name]
    path = HERE / script
    if not path.exists():
        return {}, f"{script} not found"
    args = [] if mode == "full" else ["--smoke" if mode == "smoke" and has_smoke else "--quick"]
    cmd = [sys.executable, str(path), *args]
    print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE.parent)
    except subprocess.TimeoutExpired:
        return {}, f"timed out after {timeout:.0f} s"
    print(proc.stdout.rstrip())
    took = time.monotonic() - t0
    if proc.returncode != 0:
        print(proc.stderr.rstrip()[-3000:], file=sys.stderr)
        return {}, f"exit status {proc.returncode}"
    kv = C.parse_key_line(proc.stdout)
    if not kv:
        return {}, "no key=value line"
    print(f"=== {name}: {took:.1f} s", flush=True)
    return kv, ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="pass --quick to every script")
    mode.add_argument("--smoke", action="store_true", help="the smallest runs")
    ap.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    args = ap.parse_args(argv)
    run_mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    timeout = 1800.0 if run_mode == "full" else 300.0
    t0 = time.monotonic()
    results: dict[str, dict[str, str]] = {}
    failed: list[str] = []
    rows: list[Row] = []
    for name in names:
        kv, why = run_one(name, run_mode, timeout)
        if why:
            failed.append(name)
            rows.append((name, f"FAILED: {why}", float("nan"), float("nan"), float("nan"), "",
                         "?"))
            continue
        results[name] = kv
        rows.extend(ROWS[name](kv))
    print(f"\n=== summary ({run_mode} mode, {time.monotonic() - t0:.0f} s)")
    print(C.table(("benchmark", "metric", "value", "baseline", "ratio", "target", "met?"), rows))
    print(C.key_line(final_keys(results, failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
