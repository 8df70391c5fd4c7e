"""The replay emulator over real loopback sockets: SNAPSHOT of the replayed state then
REALTIME in the format asked, REST quotation from the replayed state, and fault control and
private endpoints as in the live emulator."""

from __future__ import annotations

from pathlib import Path

import requests

from upbit_hub.actors.backtest.recording import read_timed
from upbit_hub.actors.emulator.replay import ReplayMarket

RECORDING = Path(__file__).parent / "data" / "replay" / "sim_3s.jsonl"


def recorded(kind: str, code: str) -> list:
    return [ev for _ts, ev in read_timed(RECORDING) if ev.type == kind and ev.code == code]


def played(emu, eventually, fraction: float | None = None) -> None:
    """Play and wait until the whole recording (or ``fraction`` of it) was replayed."""
    market = emu.market
    market.play()
    if fraction is None:
        eventually(lambda: market.finished, timeout=10)
    else:
        eventually(lambda: market.replayed >= fraction * market.total, timeout=10)


def test_snapshot_then_realtime_in_the_format_the_client_asks(make_emulator, open_ws,
                                                              eventually):
    emu = make_emulator(market=ReplayMarket([RECORDING], speed=1.0, paused=True))
    trades = recorded("trade", "KRW-BTC")
    played(emu, eventually, 0.3)
    simple = open_ws(emu.ws_url)
    simple.send_json([{"ticket": "s"}, {"type": "trade", "codes": ["KRW-BTC"]},
                      {"format": "SIMPLE"}])
    default = open_ws(emu.ws_url)
    default.send_json([{"ticket": "d"}, {"type": "orderbook", "codes": ["KRW-ETH.5"]}])
    first = simple.recv_json(timeout=5)
    assert first["ty"] == "trade" and first["st"] == "SNAPSHOT"
    sids = [t.sequential_id for t in trades]
    at = sids.index(first["sid"])
    frames = [simple.recv_json(timeout=5) for _ in range(5)]
    assert [f["sid"] for f in frames] == sids[at + 1:at + 6]
    assert {f["st"] for f in frames} == {"REALTIME"}
    assert frames[0]["tp"] == trades[at + 1].trade_price
    book = default.recv_json(timeout=5)
    assert book["type"] == "orderbook" and book["stream_type"] == "SNAPSHOT"
    assert book["code"] == "KRW-ETH" and len(book["orderbook_units"]) == 5
    assert default.recv_json(timeout=5)["stream_type"] == "REALTIME"


def test_rest_quotation_answers_from_the_replayed_recording(make_emulator, eventually):
    emu = make_emulator(market=ReplayMarket([RECORDING], speed=50.0, paused=True))
    played(emu, eventually)
    base = f"{emu.base_url}/v1"
    listed = requests.get(f"{base}/market/all", timeout=5).json()
    assert [m["market"] for m in listed] == ["KRW-BTC", "KRW-ETH"]
    trades = recorded("trade", "KRW-ETH")
    ticks = requests.get(f"{base}/trades/ticks", params={"market": "KRW-ETH", "count": 500},
                         timeout=5).json()  # fmt: skip
    assert [t["sequential_id"] for t in ticks] == [t.sequential_id for t in reversed(trades)]
    ticker = requests.get(f"{base}/ticker", params={"markets": "KRW-ETH"}, timeout=5).json()
    assert ticker[0]["trade_price"] == float(recorded("ticker", "KRW-ETH")[-1].trade_price)
    book = requests.get(f"{base}/orderbook", params={"markets": "KRW-BTC"}, timeout=5).json()
    last_book = recorded("orderbook", "KRW-BTC")[-1]
    assert book[0]["timestamp"] == last_book.timestamp
    candles = requests.get(f"{base}/candles/minutes/1", params={"market": "KRW-BTC"},
                           timeout=5).json()  # fmt: skip
    assert candles[0]["trade_price"] == float(recorded("trade", "KRW-BTC")[-1].trade_price)
    unknown = requests.get(f"{base}/ticker", params={"markets": "KRW-XRP"}, timeout=5)
    assert unknown.status_code == 404  # not in the recording: not a market of this replay


def test_fault_control_and_the_private_account_work_as_in_the_live_emulator(
    make_emulator, exchange_rest, eventually, open_ws
):
    emu = make_emulator(market=ReplayMarket([RECORDING], speed=1.0, paused=True))
    accounts = exchange_rest(emu).get("/v1/accounts")
    assert accounts.status_code == 200
    assert "KRW" in {a["currency"] for a in accounts.json()}
    probe = open_ws(emu.ws_url)
    probe.send_json([{"ticket": "t"}, {"type": "ticker", "codes": ["KRW-BTC"]}])
    eventually(lambda: emu.connections(), timeout=5)
    played(emu, eventually, 0.05)
    assert emu.market.rate > 0
    held = requests.post(f"{emu.base_url}/_emulator/faults/rate", params={"value": "0"},
                         timeout=5)  # fmt: skip
    assert held.status_code == 200 and emu.market.rate == 0  # the replay clock is held
    dropped = requests.post(f"{emu.base_url}/_emulator/faults/drop", timeout=5)
    assert dropped.status_code == 200
    assert probe.wait_closed(timeout=5) == 1006
