"""The built-in plugins: recorder (rotation, replay), spread-alert (hysteresis), ticker-board."""

from __future__ import annotations

import logging
from decimal import Decimal

import msgspec
import pytest

from upbit_hub.actors.protocol.events import (
    Asset,
    CandleEvent,
    MyAssetEvent,
    MyOrderEvent,
    OrderbookEvent,
    OrderbookUnit,
    TickerEvent,
    TradeEvent,
)
from upbit_hub.config.loader import validate_component_params
from upbit_hub.plugins.builtin.recorder import (
    Recorder,
    RecorderConfig,
    RecordingError,
    read_recording,
    read_recording_timed,
)
from upbit_hub.plugins.builtin.spread_alert import SpreadAlert, SpreadAlertConfig, spread_bps
from upbit_hub.plugins.builtin.ticker_board import (
    TickerBoard,
    TickerBoardConfig,
    format_board,
    format_line,
)
from upbit_hub.plugins.sdk_host import ComponentHost

# -- helpers ---------------------------------------------------------------------------------


def _events(n: int) -> list:
    """``n`` varied events of all six kinds, with values that must survive exactly."""
    out = []
    for i in range(n):
        kind = i % 6
        price = Decimal(f"1098470{i:02d}.10")  # trailing zero must be kept
        if kind == 0:
            out.append(TickerEvent(type="ticker", code="KRW-BTC", trade_price=price,
                                   signed_change_rate=Decimal("-0.0012"), timestamp=i))
        elif kind == 1:
            out.append(TradeEvent(type="trade", code="KRW-ETH", trade_price=price,
                                  trade_volume=Decimal("1.2E-5"), ask_bid="BID",
                                  sequential_id=17877285547970000 + i))
        elif kind == 2:
            units = tuple(OrderbookUnit(ask_price=price + j, bid_price=price - j,
                                        ask_size=Decimal("0.5"), bid_size=Decimal("0.25"))
                          for j in range(3))
            out.append(OrderbookEvent(type="orderbook", code="KRW-BTC", orderbook_units=units,
                                      total_ask_size=Decimal("1.5"), level=Decimal(0)))
        elif kind == 3:
            out.append(CandleEvent(type="candle.1m", code="KRW-XRP", trade_price=price,
                                   candle_date_time_utc="2026-08-26T07:15:00"))
        elif kind == 4:
            out.append(MyOrderEvent(type="myOrder", code="KRW-BTC", uuid=f"u-{i}",
                                    state="wait", price=price, is_maker=True))
        else:
            out.append(MyAssetEvent(type="myAsset", asset_uuid=f"a-{i}",
                                    assets=(Asset(currency="KRW", balance=price,
                                                  locked=Decimal("0.0")),)))
    return out


def _ob(code: str, ask: str, bid: str) -> OrderbookEvent:
    unit = OrderbookUnit(ask_price=Decimal(ask), bid_price=Decimal(bid),
                         ask_size=Decimal(1), bid_size=Decimal(1))
    return OrderbookEvent(type="orderbook", code=code, orderbook_units=(unit,))


class FakeContext:
    """Just enough Context for unit tests: records subscriptions, has a logger."""

    def __init__(self, name: str = "unit") -> None:
        self.id = name
        self.logger = logging.getLogger(f"upbit_hub.component.{name}")
        self.calls: list[tuple] = []

    def subscribe_orderbook(self, symbols, depth=None, level=None):
        self.calls.append(("orderbook", tuple(symbols), depth))

    def subscribe_ticker(self, symbols):
        self.calls.append(("ticker", tuple(symbols)))


# -- recorder --------------------------------------------------------------------------------


def test_the_recorder_rotates_by_size_and_replays_the_same_event_objects(tmp_path):
    path = tmp_path / "rec" / "events.jsonl"
    cfg = RecorderConfig(path=str(path), max_bytes=4096, backups=2, flush_interval_s=0)
    rec = Recorder(cfg)
    rec.path.parent.mkdir(parents=True)
    events = _events(120)
    for i, ev in enumerate(events):
        rec.write(ev, recv_ts=1_787_728_554.0 + i)
    rec.on_stop()

    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    assert all(p.stat().st_size <= 4096 for p in path.parent.iterdir())
    assert rec.rotations >= 3  # the oldest data was dropped, as configured

    replayed = list(read_recording_timed(path, include_backups=True))
    assert 0 < len(replayed) < len(events)
    tail = events[-len(replayed):]
    assert [ev for _ts, ev in replayed] == tail  # equal Structs, same classes, exact Decimals
    assert [type(ev) for _ts, ev in replayed] == [type(ev) for ev in tail]
    first = len(events) - len(replayed)
    assert [ts for ts, _ev in replayed] == [1_787_728_554.0 + i for i in range(first, 120)]
    newest_only = list(read_recording(path))
    assert newest_only == events[-len(newest_only):] and len(newest_only) < len(replayed)


def test_each_recorded_line_is_the_event_json_with_recv_ts_first(tmp_path):
    path = tmp_path / "one.jsonl"
    rec = Recorder(RecorderConfig(path=str(path)))
    ev = _events(2)[1]
    rec.write(ev, recv_ts=12.5)
    rec.on_stop()
    line = path.read_bytes()
    assert line.startswith(b'{"recv_ts":12.5,"type":"trade","code":"KRW-ETH"')
    assert line.endswith(b"}\n") and line.count(b"\n") == 1
    decoded = msgspec.json.decode(line)
    assert decoded["trade_price"] == "109847001.10" and decoded["trade_volume"] == "0.000012"


def test_replay_skips_a_torn_last_line_but_rejects_a_corrupt_line_in_the_middle(tmp_path):
    path = tmp_path / "r.jsonl"
    rec = Recorder(RecorderConfig(path=str(path), flush_interval_s=0))
    for ev in _events(3):
        rec.write(ev)
    rec.on_stop()
    good = path.read_bytes()
    path.write_bytes(good + b'{"recv_ts":1.0,"type":"tick')  # killed mid-write
    assert len(list(read_recording(path))) == 3
    lines = good.splitlines(keepends=True)
    path.write_bytes(lines[0] + b'{"recv_ts":1.0,"type":"nonsense"}\n' + lines[1])
    with pytest.raises(RecordingError, match=r"r\.jsonl:2: .*unknown event type 'nonsense'"):
        list(read_recording(path))


def test_recorder_params_are_checked_with_the_key_named():
    value, problems = validate_component_params(
        RecorderConfig, {"pathh": "x.jsonl", "types": ["ticker", "quote"], "max_bytes": 10},
        "components[0].params",
    )
    assert value is None
    text = "\n".join(problems)
    assert "components[0].params.pathh" in text and "did you mean 'path'" in text
    assert "components[0].params.path: missing required key" in text
    assert "components[0].params.types[1]" in text
    assert "components[0].params.max_bytes" in text


def test_the_recorder_records_live_events_until_stopped(hub, tmp_path, eventually):
    path = tmp_path / "live.jsonl"
    cfg = RecorderConfig(path=str(path), types=["ticker", "trade", "orderbook"],
                         symbols=["KRW-BTC", "KRW-ETH"], flush_interval_s=0.05)
    host = ComponentHost(hub)
    assert host.start_component("rec", Recorder, cfg, "recorder").state == "running"
    rec = host.component("rec")
    eventually(lambda: rec.written >= 60, 15)
    host.stop()
    assert rec._fh is None  # closed by on_stop
    events = list(read_recording(path))
    assert len(events) == rec.written == host.reports()[0].handled
    assert {type(ev) for ev in events} == {TickerEvent, TradeEvent, OrderbookEvent}
    assert {ev.code for ev in events} == {"KRW-BTC", "KRW-ETH"}


# -- spread alert ----------------------------------------------------------------------------


def test_spread_is_measured_in_basis_points_of_the_mid():
    assert spread_bps(_ob("KRW-BTC", "100010000", "100000000")) == pytest.approx(1.0, abs=1e-3)
    assert spread_bps(_ob("KRW-BTC", "0", "100")) is None
    assert spread_bps(OrderbookEvent(type="orderbook", code="KRW-BTC")) is None


def test_spread_alert_warns_once_per_excursion_with_hysteresis_and_cooldown(caplog):
    now = [0.0]
    alert = SpreadAlert(SpreadAlertConfig(symbols=["KRW-BTC"], max_spread_bps=15,
                                          clear_spread_bps=10, cooldown_s=60),
                        clock=lambda: now[0])
    ctx = FakeContext("spreads")
    alert.on_start(ctx)
    assert ctx.calls == [("orderbook", ("KRW-BTC",), 1)]
    # spreads in bps of a 1,000,000 mid: ask - bid = bps * 100
    def book(bps: int) -> OrderbookEvent:
        half = bps * 50
        return _ob("KRW-BTC", str(1_000_000 + half), str(1_000_000 - half))

    caplog.set_level(logging.INFO, logger="upbit_hub.component.spreads")
    for bps in (5, 20, 18, 12, 16, 30):  # one excursion: above 15, never below 10
        alert.on_orderbook(book(bps))
    m = alert.markets["KRW-BTC"]
    assert (m.alerts, m.warnings, m.alerting) == (1, 1, True)
    for bps in (9, 25):  # cleared, then a new excursion within the cooldown: counted, quiet
        alert.on_orderbook(book(bps))
    assert (m.alerts, m.warnings, m.suppressed) == (2, 1, 1)
    now[0] = 61.0
    for bps in (8, 40):  # after the cooldown: warns again, mentioning the quiet one
        alert.on_orderbook(book(bps))
    assert (m.alerts, m.warnings, m.books) == (3, 2, 10)
    assert m.widest_bps == pytest.approx(40.0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].startswith("KRW-BTC spread 20.00 bps is above 15.00 bps (alert #1)")
    assert "alert #3; 1 more since the last warning" in warnings[1]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos == ["KRW-BTC spread back to 9.00 bps (below 10.00)"]
    assert alert.status_lines() == ["spreads (max 15 bps, 3 alert(s)): KRW-BTC 40.0bps!"]


def test_spread_alert_config_rejects_a_clear_level_above_the_alert_level():
    value, problems = validate_component_params(
        SpreadAlertConfig, {"max_spread_bps": 5, "clear_spread_bps": 8}, "components[1].params"
    )
    assert value is None
    assert problems and "clear_spread_bps (8.0) must not exceed max_spread_bps (5.0)" in problems[0]


# -- ticker board ----------------------------------------------------------------------------


def test_the_board_formats_price_change_and_volume():
    btc = TickerEvent(type="ticker", code="KRW-BTC", trade_price=Decimal("109847000.0"),
                      signed_change_rate=Decimal("0.0062"),
                      acc_trade_volume_24h=Decimal("1234.5678"))
    doge = TickerEvent(type="ticker", code="KRW-DOGE", trade_price=Decimal("0.07150"),
                       signed_change_rate=Decimal("-0.012"))
    rows = [("KRW-BTC", btc), ("KRW-DOGE", doge), ("KRW-ETH", None)]
    assert format_line(rows) == (
        "KRW-BTC 109,847,000 +0.62% vol 1,234.6 | KRW-DOGE 0.0715 -1.20% vol - | KRW-ETH -"
    )
    assert format_board(rows) == [
        "MARKET          PRICE  CHANGE  VOLUME 24H",
        "KRW-BTC   109,847,000  +0.62%     1,234.6",
        "KRW-DOGE       0.0715  -1.20%           -",
        "KRW-ETH             -       -           -",
    ]


def test_the_board_follows_live_tickers_and_logs_at_most_every_refresh(hub, eventually, caplog):
    caplog.set_level(logging.INFO, logger="upbit_hub.component.board")
    host = ComponentHost(hub)
    cfg = TickerBoardConfig(symbols=["KRW-BTC", "KRW-ETH"], refresh_s=0.3)
    assert host.start_component("board", TickerBoard, cfg, "ticker-board").state == "running"
    board = host.component("board")
    eventually(lambda: board.lines_logged >= 2 and set(board.latest) == {"KRW-BTC", "KRW-ETH"},
               10)
    lines = board.status_lines()
    assert lines[0].split() == ["MARKET", "PRICE", "CHANGE", "VOLUME", "24H"]
    assert [line.split()[0] for line in lines[1:]] == ["KRW-BTC", "KRW-ETH"]
    assert all("-" != line.split()[1] for line in lines[1:])
    handled = host.reports()[0].handled
    host.stop()
    logged = [r for r in caplog.records if r.name == "upbit_hub.component.board"]
    assert 2 <= len(logged) == board.lines_logged < handled
    assert logged[-1].getMessage().startswith("KRW-BTC ")


def test_the_quote_trader_quotes_both_sides_on_the_tick_and_cancels_them_on_stop(
    make_emulator, make_hub, tmp_path, eventually
):
    from decimal import Decimal

    from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
    from upbit_hub.actors.protocol.trading_rules import on_tick
    from upbit_hub.plugins.builtin.quote_trader import QuoteTrader, QuoteTraderConfig

    emu = make_emulator(rate=200)
    keys = {"UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY, "UPBIT_SECRET_KEY": DEFAULT_SECRET_KEY}
    hub = make_hub(emu, environ=keys, trading_journal_path=str(tmp_path / "j.jsonl"))
    host = ComponentHost(hub)
    cfg = QuoteTraderConfig(market="KRW-BTC", spread_bps=30.0, order_krw=Decimal(20_000),
                            refresh_s=0.2)
    assert host.start_component("maker", QuoteTrader, cfg, "quote-trader").state == "running"
    maker = host.component("maker")
    eventually(lambda: {s: h.state for s, h in maker.quotes.items()} == {"bid": "wait",
                                                                         "ask": "wait"},
               timeout=15)
    bid, ask = maker.quotes["bid"].request, maker.quotes["ask"].request
    assert on_tick("KRW-BTC", bid.price) and on_tick("KRW-BTC", ask.price)
    assert bid.price < maker.mid < ask.price
    assert bid.price * bid.volume >= 20_000
    assert emu.call(lambda core: len(core.exchange.orders(states=("wait",)))) >= 2
    host.stop()
    hub.stop()  # on_stop's cancels go out before the order actor stops
    assert not emu.call(lambda core: core.exchange.orders(states=("wait",)))
