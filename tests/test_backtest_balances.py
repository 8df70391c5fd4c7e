"""``--balances`` sets the starting account, and may name currencies the recording never
trades: they are kept, and left out of the KRW equity (listed as unpriced)."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pytest

from upbit_hub.actors.backtest.cli import main, parse_balances
from upbit_hub.actors.cli import build_parser
from upbit_hub.actors.cli import main as cli_main

DATA = Path(__file__).parent / "data" / "backtest"


def test_balances_may_name_a_currency_the_recording_never_trades(tmp_path):
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    args = build_parser().parse_args(
        ["backtest", "--config", str(cfg), "--recording", str(DATA / "resting_bid.jsonl"),
         "--balances", "KRW=500000,BTC=0.01,DOGE=1234.5", "--out", str(tmp_path / "out"),
         "--no-progress"])  # fmt: skip
    buf = io.StringIO()
    assert main(args, buf) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["balances_start"] == {"BTC": "0.01", "DOGE": "1234.5", "KRW": "500000"}
    assert summary["balances_end"]["DOGE"] == {"balance": "1234.5", "locked": "0"}
    assert summary["unpriced"] == ["DOGE"]
    # BTC is valued at the first mid (100,050,000), DOGE not at all
    assert summary["equity_start"] == "1500500"
    assert "unpriced    DOGE" in buf.getvalue()


def test_the_default_account_is_trading_paper_balances(tmp_path):
    cfg = tmp_path / "paper.toml"
    cfg.write_text('[trading]\npaper_balances = { KRW = "2500000" }\n')
    args = build_parser().parse_args(
        ["backtest", "--config", str(cfg), "--recording", str(DATA / "resting_bid.jsonl"),
         "--out", str(tmp_path / "out"), "--no-progress"])
    assert main(args, io.StringIO()) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["balances_start"] == {"KRW": "2500000"}


@pytest.mark.parametrize("text", ["KRW", "KRW=-1", "krw=abc", "KRW=1,=2", ","])
def test_malformed_balances_are_refused_with_exit_status_2(text, capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        cli_main(["backtest", "--config", "x.toml", "--recording", "r.jsonl",
                  "--balances", text])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --balances:" in err and ("KRW=1000000" in err), err


def test_balances_parse_to_exact_decimals_in_upper_case():
    assert parse_balances("krw=1000000, btc=0.00000001") == {
        "KRW": Decimal("1000000"), "BTC": Decimal("0.00000001")}


def test_a_missing_recording_is_one_line_and_exit_status_1(tmp_path, capsys):
    cfg = tmp_path / "empty.toml"
    cfg.write_text("")
    assert cli_main(["backtest", "--config", str(cfg), "--recording",
                     str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "nope.jsonl: no such recording file" in err
