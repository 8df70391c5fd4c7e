"""One plugin class, three modes, unchanged: the built-in quote-trader quotes under
``upbit-hub run --sim`` (orders on the emulator's exchange), under ``run --sim --paper``
(orders filled in-process on the live books; the recorder hears the paper account's myOrder
events) and under ``upbit-hub backtest`` of the first run's recording, from one config file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

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
types = ["ticker", "trade", "orderbook", "myOrder"]
symbols = ["KRW-BTC"]
flush_interval_s = 0.0
"""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "upbit_hub.actors.cli", *args]


def _run_until(tmp_path, name: str, extra: list[str], my_orders: int, books: int,
               timeout: float = 60.0):
    """``upbit-hub run --sim [extra]`` with the config recording to ``<name>.jsonl`` until the
    recording holds ``my_orders`` myOrder events and ``books`` order books; then Ctrl-C."""
    rec = tmp_path / name / "rec.jsonl"
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(CONFIG.format(path=rec))
    proc = subprocess.Popen(_cli("run", "--sim", *extra, "--config", str(cfg)), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = rec.read_bytes() if rec.exists() else b""
            if data.count(b'"type":"myOrder"') >= my_orders and \
                    data.count(b'"type":"orderbook"') >= books:  # fmt: skip
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
        else:
            raise AssertionError(f"{name}: the recording did not reach {my_orders} myOrder "
                                 f"events and {books} books")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    log = proc.stderr.read()
    assert proc.returncode == 0, log
    return cfg, rec, log


def _my_orders(rec):
    rows = [json.loads(line) for line in rec.read_text().splitlines()]
    return [r for r in rows if r.get("type") == "myOrder"]


def test_quote_trader_runs_unchanged_live_on_paper_and_in_a_backtest(tmp_path):
    # 1. run --sim: the emulator's exchange fills the quotes and streams myOrder events
    cfg, live_rec, _log = _run_until(tmp_path, "live", [], my_orders=2, books=40)
    live = _my_orders(live_rec)
    assert live and all(ev["identifier"] for ev in live)

    # 2. run --sim --paper: same config, same plugin; the paper desk fills the quotes
    _cfg, paper_rec, log = _run_until(tmp_path, "paper",
                                      ["--paper", "--balances", "KRW=1000000,BTC=0.002"],
                                      my_orders=2, books=5)
    assert "paper trading" in log
    paper = _my_orders(paper_rec)
    assert paper and {ev["code"] for ev in paper} == {"KRW-BTC"}
    assert {ev["identifier"] for ev in paper}.isdisjoint({ev["identifier"] for ev in live})

    # 3. backtest of the live run's recording: same config, same plugin
    out = tmp_path / "report"
    proc = subprocess.run(
        _cli("backtest", "--config", str(cfg), "--recording", str(live_rec), "--out",
             str(out), "--balances", "KRW=1000000,BTC=0.002"),
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONWARNINGS": "ignore"})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert {c["id"]: c["state"] for c in summary["components"]}["maker"] == "stopped"
    assert summary["orders"] > 0
