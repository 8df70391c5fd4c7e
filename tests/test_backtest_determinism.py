"""The same inputs give the same ledger hash: run twice, and at ``--speed max`` against
``--speed 10x``; the hash covers the config, recording, seed and options, never the speed or
the output folder."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

from upbit_hub.actors.cli import build_parser

DATA = Path(__file__).parent / "data" / "backtest"

CONFIG = """
[trading]
price_band_pct = 10.0

[[components]]
plugin = "quote-trader"
id = "maker"
[components.params]
market = "KRW-BTC"
spread_bps = 5.0
order_krw = "20000"
refresh_s = 0.5
"""


def backtest(tmp_path: Path, out: str, *extra: str) -> tuple[int, str]:
    cfg = tmp_path / "hub.toml"
    cfg.write_text(CONFIG)
    args = build_parser().parse_args(
        ["backtest", "--config", str(cfg), "--recording", str(DATA / "resting_bid.jsonl"),
         "--balances", "KRW=1000000,BTC=0.01", "--out", str(tmp_path / out), "--no-progress",
         *extra])  # fmt: skip
    buf = io.StringIO()
    from upbit_hub.actors.backtest.cli import main

    code = main(args, buf)
    return code, buf.getvalue()


def hash_of(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("ledger hash: ")]
    assert len(lines) == 1, text
    (value,) = re.fullmatch(r"ledger hash: ([0-9a-f]{64})", lines[0]).groups()
    return value


def test_two_runs_with_the_same_inputs_print_the_same_ledger_hash(tmp_path):
    code1, out1 = backtest(tmp_path, "a")
    code2, out2 = backtest(tmp_path, "b")
    assert code1 == code2 == 0
    assert hash_of(out1) == hash_of(out2)
    assert (tmp_path / "a" / "ledger.jsonl").read_bytes() == \
        (tmp_path / "b" / "ledger.jsonl").read_bytes()  # fmt: skip
    assert b'"fill"' in (tmp_path / "a" / "ledger.jsonl").read_bytes()


def test_speed_max_and_speed_10x_print_the_same_ledger_hash(tmp_path):
    _, fast = backtest(tmp_path, "max", "--speed", "max")
    _, paced = backtest(tmp_path, "10x", "--speed", "10x")  # 4 s of recording: 0.4 s
    assert hash_of(fast) == hash_of(paced)


def test_the_hash_changes_with_the_seed_the_fee_and_the_recording(tmp_path):
    _, base = backtest(tmp_path, "a")
    _, seed = backtest(tmp_path, "b", "--seed", "2")
    _, fee = backtest(tmp_path, "c", "--fee-bps", "4")
    copy = tmp_path / "copy.jsonl"
    shutil.copy(DATA / "resting_bid.jsonl", copy)
    with open(copy, "a") as fh:  # one more (late) event
        fh.write(open(DATA / "resting_bid.jsonl").readlines()[-1]
                 .replace("1800000004.0", "1800000009.0"))
    cfg = tmp_path / "hub.toml"
    args = build_parser().parse_args(
        ["backtest", "--config", str(cfg), "--recording", str(copy), "--balances",
         "KRW=1000000,BTC=0.01", "--out", str(tmp_path / "d"), "--no-progress"])
    buf = io.StringIO()
    from upbit_hub.actors.backtest.cli import main

    assert main(args, buf) == 0
    hashes = {hash_of(base), hash_of(seed), hash_of(fee), hash_of(buf.getvalue())}
    assert len(hashes) == 4
