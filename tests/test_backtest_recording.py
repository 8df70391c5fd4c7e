"""Recordings for a replay: several files merged in the order their events were received
(stable for ties), rotated backups played first, --start/--end, private kinds skipped."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import pytest

from upbit_hub.actors.backtest.recording import (
    PRIVATE_TYPES,
    RecordingError,
    encode_record,
    merged,
    scan,
)
from upbit_hub.actors.protocol.events import MyAssetEvent, TickerEvent, TradeEvent


def ticker(code: str, price: int) -> TickerEvent:
    return TickerEvent(type="ticker", code=code, trade_price=Decimal(price))


def write(path, rows):
    with open(path, "wb") as fh:
        for ts, ev in rows:
            fh.write(encode_record(ev, ts))


def test_recordings_merge_by_receive_time_and_ties_keep_the_order_they_were_named(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write(a, [(1.0, ticker("KRW-BTC", 1)), (3.0, ticker("KRW-BTC", 3)),
              (3.0, ticker("KRW-BTC", 4))])
    write(b, [(2.0, ticker("KRW-ETH", 2)), (3.0, ticker("KRW-ETH", 5)),
              (4.0, ticker("KRW-ETH", 6))])
    info = scan([a, b])
    got = [(ts, int(ev.trade_price)) for ts, ev in merged(info.groups)]
    assert got == [(1.0, 1), (2.0, 2), (3.0, 3), (3.0, 4), (3.0, 5), (4.0, 6)]
    again = [(ts, int(ev.trade_price)) for ts, ev in merged(scan([b, a]).groups)]
    assert again == [(1.0, 1), (2.0, 2), (3.0, 5), (3.0, 3), (3.0, 4), (4.0, 6)]


def test_rotated_backups_play_first_and_a_file_named_twice_plays_once(tmp_path):
    base = tmp_path / "rec.jsonl"
    write(tmp_path / "rec.jsonl.2", [(1.0, ticker("KRW-BTC", 1))])
    write(tmp_path / "rec.jsonl.1", [(2.0, ticker("KRW-BTC", 2))])
    write(base, [(3.0, ticker("KRW-BTC", 3))])
    info = scan([base, tmp_path / "rec.jsonl.1"])
    assert [p.name for p in info.files] == ["rec.jsonl.2", "rec.jsonl.1", "rec.jsonl"]
    assert [int(ev.trade_price) for _, ev in merged(info.groups)] == [1, 2, 3]


def test_start_and_end_filter_and_private_kinds_are_counted_not_replayed(tmp_path):
    rec = tmp_path / "rec.jsonl"
    asset = MyAssetEvent(type="myAsset", assets=())
    trade = TradeEvent(type="trade", code="KRW-BTC", trade_price=Decimal(7))
    write(rec, [(1.0, ticker("KRW-BTC", 1)), (2.0, asset), (2.5, trade),
                (3.0, ticker("KRW-BTC", 3))])
    skipped: dict = {}
    got = list(merged(scan([rec]).groups, start=2.0, end=2.9, skip=PRIVATE_TYPES,
                      skipped=skipped))  # fmt: skip
    assert [(ts, ev.type) for ts, ev in got] == [(2.5, "trade")]
    assert skipped == {"myAsset": 1}


def test_scan_hashes_every_file_in_play_order_and_counts_lines(tmp_path):
    rec = tmp_path / "rec.jsonl"
    write(rec, [(1.0, ticker("KRW-BTC", 1)), (2.0, ticker("KRW-XRP", 2))])
    digest = hashlib.sha256()
    info = scan([rec], digest, count_lines=True, markets=["KRW-XRP", "KRW-DOGE"])
    assert info.lines == 2 and info.found == {"KRW-XRP"}
    expected = hashlib.sha256(b"file %d\n" % rec.stat().st_size + rec.read_bytes())
    assert digest.hexdigest() == expected.hexdigest()


def test_a_bad_line_names_file_and_line_and_a_missing_file_says_how_to_record(tmp_path):
    rec = tmp_path / "rec.jsonl"
    rec.write_bytes(encode_record(ticker("KRW-BTC", 1), 1.0) + b'{"recv_ts":2,"type":"x"}\n')
    with pytest.raises(RecordingError, match=r"rec\.jsonl:2: .*unknown event type 'x'"):
        list(merged(scan([rec]).groups))
    with pytest.raises(RecordingError, match=r"no such recording file .*recorder plugin"):
        scan([tmp_path / "missing.jsonl"])
