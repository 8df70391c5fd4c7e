"""End to end: a recording made by ``upbit-hub run --sim`` with the recorder enabled backtests
with the built-in quote-trader, unchanged and with the same config file; the report files
exist and agree with each other and with what the command printed."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal

CONFIG = """
[private]
enabled = true

[emulator]
markets = ["KRW-BTC", "KRW-ETH"]
rate = 120.0
seed = 11

[[components]]
plugin = "quote-trader"
id = "maker"
[components.params]
market = "KRW-BTC"
spread_bps = 1.0
requote_bps = 2.0
order_krw = "20000"
refresh_s = 0.5

[[components]]
plugin = "recorder"
id = "rec"
[components.params]
path = "{path}"
types = ["ticker", "trade", "orderbook"]
symbols = ["KRW-BTC"]
flush_interval_s = 0.0
"""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "upbit_hub.actors.cli", *args]


def record(tmp_path, books: int = 40, timeout: float = 60.0):
    rec = tmp_path / "rec" / "sim.jsonl"
    cfg = tmp_path / "hub.toml"
    cfg.write_text(CONFIG.format(path=rec))
    proc = subprocess.Popen(_cli("run", "--sim", "--config", str(cfg)), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rec.exists() and rec.read_bytes().count(b'"type":"orderbook"') >= books:
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        else:
            raise AssertionError(f"the recording did not reach {books} order books")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0, proc.stderr.read()
    return cfg, rec


def test_a_run_sim_recording_backtests_end_to_end_with_quote_trader(tmp_path):
    cfg, rec = record(tmp_path)
    out = tmp_path / "report"
    proc = subprocess.run(
        _cli("backtest", "--config", str(cfg), "--recording", str(rec), "--out", str(out),
             "--balances", "KRW=1000000,BTC=0.002"),
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": "ignore"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for name in ("ledger.jsonl", "equity.csv", "summary.json", "equity.png"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "summary.json").read_text())
    ledger = [json.loads(line) for line in (out / "ledger.jsonl").read_text().splitlines()]
    with open(out / "equity.csv") as fh:
        equity = list(csv.DictReader(fh))

    # the command printed the summary's hash on a line of its own
    printed = [line for line in proc.stdout.splitlines() if line.startswith("ledger hash: ")]
    assert printed == [f"ledger hash: {summary['ledger_hash']}"]
    # the strategy ran, unchanged, and traded; the recorder was not run again
    states = {c["id"]: c["state"] for c in summary["components"]}
    assert states == {"maker": "stopped", "rec": "skipped"}
    assert summary["orders"] > 0 and summary["events"] > 0
    # ledger, equity curve and summary agree
    fills = [row for row in ledger if row["type"] == "fill"]
    assert len(fills) == summary["fills"]
    assert {row["client_id"] for row in ledger} == \
        {row["client_id"] for row in ledger if row["type"] == "order"}  # fmt: skip
    assert len({row["client_id"] for row in ledger}) == summary["orders"]
    assert sum(Decimal(f["fee"]) for f in fills) == Decimal(summary["fees"])
    assert sum(Decimal(f["realized_pnl"]) for f in fills) == Decimal(summary["realized_pnl"])
    assert equity[-1]["equity_krw"] == summary["equity_end"]
    assert equity[0]["equity_krw"] == summary["equity_start"]
    assert max(Decimal(r["drawdown_krw"]) for r in equity) == Decimal(summary["max_drawdown"])
    total = Decimal(summary["realized_pnl"]) + Decimal(summary["unrealized_pnl"])
    assert Decimal(summary["equity_end"]) - Decimal(summary["equity_start"]) == total
    # every fill is a maker fill at its order's own limit price, or a taker fill
    prices = {row["client_id"]: row["price"] for row in ledger if row["type"] == "order"}
    assert all(f["price"] == prices[f["client_id"]] for f in fills if f["is_maker"])
