"""ReplayMarket on its own, driven with explicit wall times: the recorded events come out in
recorded order on a clock scaled by ``speed``, a held clock loses no time, the end is logged
once and the last state stays, and a bad recording is refused naming the file."""

from __future__ import annotations

import logging
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from upbit_hub.actors.backtest.recording import RecordingError, read_timed
from upbit_hub.actors.emulator.quotation import QuotationError
from upbit_hub.actors.emulator.replay import ReplayMarket

RECORDING = Path(__file__).parent / "data" / "replay" / "sim_3s.jsonl"
T0 = 5_000_000  # an arbitrary wall-clock ms at which the first advance happens


def keys(events: list[dict]) -> list[tuple]:
    return [(e["type"], e["code"], e.get("timestamp"), e.get("sequential_id")) for e in events]


def windows(market: ReplayMarket, step_ms: int, n: int) -> list[list[tuple]]:
    """Advance at T0, T0+step, ... T0+n*step; the events of each call."""
    return [keys(market.advance(T0 + i * step_ms)) for i in range(n + 1)]


def test_the_markets_and_events_are_those_of_the_recording_without_the_private_ones():
    market = ReplayMarket([RECORDING])
    public = [(ts, ev) for ts, ev in read_timed(RECORDING) if ev.type != "myOrder"]
    assert market.markets == ("KRW-BTC", "KRW-ETH")
    assert market.total == len(public) == 353
    out = market.advance(T0) + market.advance(T0 + 10_000)
    assert keys(out) == [(ev.type, ev.code, ev.timestamp, getattr(ev, "sequential_id", None))
                         for _ts, ev in public]  # fmt: skip
    assert all("stream_type" not in e for e in out)
    assert market.finished


def test_ten_times_the_speed_plays_a_second_of_recording_per_tenth_of_a_second():
    at_1x = windows(ReplayMarket([RECORDING], speed=1.0), 1000, 4)
    at_10x = windows(ReplayMarket([RECORDING], speed=10.0), 100, 4)
    assert at_10x == at_1x
    assert [len(w) for w in at_1x[1:4]] == [len(w) for w in at_10x[1:4]]
    assert all(at_1x[1:4]), "each recorded second has events"
    assert sum(len(w) for w in at_10x) == 353


def test_a_paused_replay_starts_its_clock_at_play_and_a_held_clock_loses_no_time():
    reference = windows(ReplayMarket([RECORDING]), 500, 8)
    market = ReplayMarket([RECORDING], paused=True)
    assert market.advance(T0) == [] and market.advance(T0 + 60_000) == []
    market.play()
    late = T0 + 60_000
    got = [keys(market.advance(late + i * 500)) for i in range(3)]  # 0 .. 1.0 s played
    market.rate = 0  # held from 1.0 s (faults.set_rate(0)) ...
    assert market.advance(late + 1500) == [] and market.advance(late + 30_000) == []
    market.rate = 100  # ... for 30 s of wall time, which do not count
    got += [keys(market.advance(late + 30_000 + i * 500)) for i in range(1, 7)]
    assert got == reference[:3] + reference[3:]


def test_the_end_is_logged_once_and_the_last_state_stays(caplog):
    market = ReplayMarket([RECORDING], speed=100.0)
    last_trade = [ev for _ts, ev in read_timed(RECORDING)
                  if ev.type == "trade" and ev.code == "KRW-ETH"][-1]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="upbit_hub.actors.emulator.replay"):
        market.advance(T0)
        market.advance(T0 + 1000)
        assert market.advance(T0 + 2000) == []
    finished = [r.getMessage() for r in caplog.records if "replay finished" in r.getMessage()]
    assert finished == ["replay finished: 353 events"]
    assert market.progress() == {"replayed": 353, "total": 353, "finished": True,
                                 "position": pytest.approx(1_800_000_100.0, abs=1)}
    assert market.snapshot("trade", "KRW-ETH")["sequential_id"] == last_trade.sequential_id
    assert market.snapshot("orderbook", "KRW-BTC")["orderbook_units"]
    assert market.snapshot("candle.1m", "KRW-BTC")["type"] == "candle.1m"
    assert market.snapshot("ticker", "KRW-NOPE") is None


def test_rest_views_answer_from_what_was_replayed_so_far():
    market = ReplayMarket([RECORDING])
    with pytest.raises(KeyError) as early:  # REST: 404, as for a market Upbit does not list
        market.ticker_rest("KRW-BTC")
    assert isinstance(early.value, QuotationError) and early.value.status == 404
    assert market.orderbook_rest("KRW-BTC")["orderbook_units"] == []
    from upbit_hub.actors.emulator.quotation import orderbook_instruments

    with pytest.raises(QuotationError) as no_price:  # neither a book nor a price yet: a 404
        orderbook_instruments(market, "KRW-BTC")
    assert no_price.value.status == 404
    trades = [ev for _ts, ev in read_timed(RECORDING) if ev.type == "trade"
              and ev.code == "KRW-BTC"]  # fmt: skip
    assert market.trades("KRW-BTC", 500) == []
    market.advance(T0)
    market.advance(T0 + 1000)
    so_far = market.trades("KRW-BTC", 500)
    assert 0 < len(so_far) < len(trades)
    (inst,) = msgspec.json.decode(orderbook_instruments(market, "KRW-BTC"))
    assert inst["market"] == "KRW-BTC" and Decimal(inst["tick_size"]) > 0
    market.advance(T0 + 5000)
    page, cursor, sids = True, None, []
    while page:  # page back by cursor, 7 at a time, as the hub's gap-fill does
        page = market.trades("KRW-BTC", 7, cursor)
        sids += [t["sequential_id"] for t in page]
        cursor = page[-1]["sequential_id"] if page else None
    assert sids == [ev.sequential_id for ev in reversed(trades)]
    newest = market.trades("KRW-BTC", 1)[0]
    assert newest["trade_price"] == trades[-1].trade_price
    assert newest["timestamp"] == trades[-1].trade_timestamp
    ticker = market.ticker_rest("KRW-BTC")
    assert ticker["market"] == "KRW-BTC" and "trade_date_kst" in ticker
    book = market.orderbook_rest("KRW-BTC", 5)
    assert len(book["orderbook_units"]) == 5
    assert market.book("KRW-BTC")[0][0] == book["orderbook_units"][0]["ask_price"]
    candle = market.candles_minutes("KRW-BTC", 1, 10)
    assert len(candle) == 1
    assert candle[0]["trade_price"] == trades[-1].trade_price
    assert candle[0]["high_price"] == max(ev.trade_price for ev in trades)
    with pytest.raises(KeyError):
        market.ticker_rest("KRW-NOPE")


def test_a_trade_recorded_twice_is_served_and_taped_once(tmp_path):
    lines = [line for line in RECORDING.read_bytes().splitlines(keepends=True)
             if b'"type":"trade"' in line][:3]  # fmt: skip
    rec = tmp_path / "dup.jsonl"
    rec.write_bytes(lines[0] + lines[1] + lines[1] + lines[2])
    market = ReplayMarket([rec])
    out = market.advance(T0) + market.advance(T0 + 10_000)
    assert len(out) == 3 and market.duplicates == 1
    tape = market.trades("KRW-BTC", 10) + market.trades("KRW-ETH", 10)
    assert len(tape) == 3


def test_two_recordings_are_merged_by_receive_time(tmp_path):
    lines = RECORDING.read_bytes().splitlines(keepends=True)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b"".join(line for line in lines if b'"code":"KRW-BTC"' in line))
    b.write_bytes(b"".join(line for line in lines if b'"code":"KRW-ETH"' in line))
    merged = ReplayMarket([a, b])
    single = ReplayMarket([RECORDING])
    assert merged.markets == single.markets
    out = keys(merged.advance(T0) + merged.advance(T0 + 10_000))
    assert sorted(out, key=str) == sorted(keys(single.advance(T0) + single.advance(T0 + 10_000)),
                                          key=str)


@pytest.mark.parametrize("content", [b"", b"\n", b'{"recv_ts":1.0,"type":"myOrder","code":'
                                     b'"KRW-BTC","uuid":"u","state":"wait"}\n'],
                         ids=["empty", "blank", "private-only"])
def test_a_recording_without_market_events_is_refused_naming_it(tmp_path, content):
    rec = tmp_path / "rec.jsonl"
    rec.write_bytes(content)
    with pytest.raises(RecordingError, match="no market events") as info:
        ReplayMarket([rec])
    assert str(rec) in str(info.value)


def test_a_missing_or_undecodable_recording_is_refused_naming_it(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(RecordingError, match="no such recording file") as info:
        ReplayMarket([RECORDING, missing])
    assert str(missing) in str(info.value)
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"recv_ts":1.0,"type":"trade","code":"KRW-BTC"}\nnot json\n')
    with pytest.raises(RecordingError, match=r"bad\.jsonl:2"):
        ReplayMarket([bad])
    with pytest.raises(ValueError, match="speed"):
        ReplayMarket([RECORDING], speed=0)
