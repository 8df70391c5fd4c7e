"""The status view: rates from counter deltas, table and line rendering, the refresh loop."""

from __future__ import annotations

import io
import logging
import threading

from upbit_hub.actors import WebSocketClientProxy
from upbit_hub.actors.status_view import (
    CLEAR,
    Rates,
    StatusSnapshot,
    StatusView,
    compute_rates,
    render_line,
    render_table,
)
from upbit_hub.plugins.sdk_host import ComponentReport


def _conn(state="connected", sessions=1, by_type=None, wire=(), **extra):
    by_type = by_type or {}
    return {"endpoint": "public", "state": state, "sessions": sessions, "connect_failures": 0,
            "events": sum(by_type.values()), "events_by_type": dict(by_type),
            "last_error": "", "compression": True, "wire_bytes": 1000,
            "payload_bytes": 8200, "wire": list(wire), **extra}


def _hub(public=None, private=None):
    return {"running": True,
            "connections": {"public": public or _conn(), "private": private or _conn("idle", 0)},
            "registry": {}, "components": {}}


REPORTS = (
    ComponentReport("board", "ticker-board", "running", handled=1200, received=1210, queued=3),
    ComponentReport("raiser", "my-plugin", "running", handled=50, received=50,
                    handler_errors=7, last_handler_error="on_ticker: ValueError: bad tick"),
    ComponentReport("broken", "boom", "failed",
                    error="components[2].plugin: plugin 'boom' load_error: import failed"),
    ComponentReport("slow", "recorder", "running", handled=10, received=40, dropped=30),
)


def test_rates_are_counter_deltas_per_second_by_type_and_endpoint():
    prev = StatusSnapshot(at=100.0, hub=_hub(_conn(by_type={"ticker": 1000, "trade": 500})))
    cur = StatusSnapshot(at=102.5, hub=_hub(
        _conn(by_type={"ticker": 1250, "trade": 600, "orderbook": 50}),
        _conn("connected", 1, {"myOrder": 5}),
    ))
    rates = compute_rates(prev, cur)
    assert rates.by_type == {"ticker": 100.0, "trade": 40.0, "orderbook": 20.0, "myOrder": 2.0}
    assert rates.by_endpoint == {"public": 160.0, "private": 2.0}
    assert rates.total == 162.0 and rates.seconds == 2.5
    assert compute_rates(None, cur).total == 0.0


def test_a_counter_that_went_down_counts_from_zero():
    prev = StatusSnapshot(at=0.0, hub=_hub(_conn(by_type={"ticker": 9000})))
    cur = StatusSnapshot(at=2.0, hub=_hub(_conn(by_type={"ticker": 40})))
    assert compute_rates(prev, cur).by_type["ticker"] == 20.0


def test_the_status_line_summarises_connections_rates_and_components():
    prev = StatusSnapshot(at=0.0, hub=_hub(_conn(by_type={"ticker": 0, "trade": 0})))
    cur = StatusSnapshot(at=2.0, hub=_hub(_conn(by_type={"ticker": 240, "trade": 160})),
                         components=REPORTS)
    line = render_line(cur, compute_rates(prev, cur))
    assert line == (
        "status: public=connected private=idle 200 ev/s ticker=120/s trade=80/s components=4 "
        "running=3 failed=1 handled=1260 errors=7 dropped=30 queued=3"
    )
    stopped = StatusSnapshot(at=3.0, hub={"running": False})
    assert render_line(stopped, compute_rates(cur, stopped)).startswith("status: hub=stopped ")


def test_the_table_shows_connections_wire_rates_components_and_panels():
    wire = ["ticker:KRW-BTC", "ticker:KRW-ETH", "trade:KRW-BTC", "orderbook:KRW-BTC"]
    prev = StatusSnapshot(at=10.0, hub=_hub(_conn(by_type={"ticker": 0})))
    cur = StatusSnapshot(
        at=15.0,
        hub=_hub(_conn(sessions=3, by_type={"ticker": 500}, wire=wire),
                 _conn("backing-off", 0, last_error="ConnectionRefusedError: [Errno 111]",
                       compression=False, wire_bytes=0, payload_bytes=0)),
        components=REPORTS, panels=[("board", ["MARKET  PRICE", "KRW-BTC  1"])],
        started_at=10.0 - 3600, interval_s=5.0,
    )
    text = render_table(cur, compute_rates(prev, cur))
    lines = text.splitlines()
    assert lines[0] == "upbit-hub  up 1:00:05  refresh 5s  Ctrl-C to stop"
    public = next(line for line in lines if line.startswith("public "))
    assert public.split() == ["public", "connected", "3", "2", "0", "on", "(8.2x)",
                              "1000", "B", "8.0", "KiB", "100.0", "-"]
    private = next(line for line in lines if line.startswith("private "))
    assert "backing-off" in private and private.endswith("ConnectionRefusedError: [Errno 111]")
    assert "ON THE WIRE  public: ticker(2) trade(1) orderbook(1)   private: -" in lines
    assert any(line.startswith("EVENTS/S     ticker 100.0") for line in lines)
    raiser = next(line for line in lines if line.startswith("raiser "))
    assert raiser.split()[:8] == ["raiser", "my-plugin", "running", "50", "50", "0", "0", "7"]
    assert raiser.endswith("on_ticker: ValueError: bad tick")
    assert any(line.startswith("broken") and "load_error: import failed" in line
               for line in lines)
    assert lines[-3:] == ["[board]", "MARKET  PRICE", "KRW-BTC  1"]
    narrow = render_table(cur, compute_rates(prev, cur), width=40)
    assert max(len(line) for line in narrow.splitlines()) <= 40


def test_the_table_says_when_nothing_is_configured_or_the_hub_is_down():
    text = render_table(StatusSnapshot(at=1.0, hub={"running": False}), Rates())
    assert "hub: not running" in text
    assert "no components configured or none usable" in text


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_view_redraws_in_place_and_otherwise_logs_one_line(caplog):
    counter = {"n": 0}

    def source():
        counter["n"] += 1
        return StatusSnapshot(at=float(counter["n"]),
                              hub=_hub(_conn(by_type={"ticker": 100 * counter["n"]})))

    tty = _Tty()
    view = StatusView(source, tty)
    assert view.tty
    view.refresh()
    view.refresh()
    out = tty.getvalue()
    assert out.count(CLEAR) == 2 and out.startswith(CLEAR + "upbit-hub")
    assert "EVENTS/S     ticker 100.0" in out.split(CLEAR)[-1]

    caplog.set_level(logging.INFO, logger="test.status")
    plain = io.StringIO()
    view = StatusView(source, plain, logger=logging.getLogger("test.status"))
    assert not view.tty
    view.refresh()
    view.refresh()
    assert plain.getvalue() == ""
    messages = [r.getMessage() for r in caplog.records if r.name == "test.status"]
    assert len(messages) == 2 and messages[1].startswith("status: public=connected")
    assert "ticker=100/s" in messages[1]


def test_the_refresh_loop_runs_until_stopped_and_survives_a_failing_snapshot(caplog):
    stop = threading.Event()
    calls = {"n": 0}

    def source():
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("hub did not answer")
        if calls["n"] >= 5:
            stop.set()
        return StatusSnapshot(at=float(calls["n"]), hub=_hub())

    caplog.set_level(logging.INFO, logger="test.loop")
    view = StatusView(source, io.StringIO(), interval_s=0.02, first_after_s=0.01,
                      logger=logging.getLogger("test.loop"))
    view.run(stop)
    assert calls["n"] == 5
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "status refresh failed" in errors[0].getMessage()


def test_a_real_hub_status_renders_its_connection_and_wire(hub, eventually):
    proxy = WebSocketClientProxy("status-probe", hub=hub)
    try:
        proxy.subscribe_ticker(["KRW-BTC", "KRW-ETH"], lambda ev: None)
        first = StatusSnapshot(at=0.0, hub=hub.status())
        eventually(lambda: hub.status()["connections"]["public"]["events"] > 20, 10)
        second = StatusSnapshot(at=1.0, hub=hub.status())
    finally:
        proxy.cleanup()
    rates = compute_rates(first, second)
    assert rates.by_type.get("ticker", 0) > 0
    text = render_table(second, rates)
    assert "ON THE WIRE  public: ticker(2)   private: -" in text
    public = next(line for line in text.splitlines() if line.startswith("public "))
    assert public.split()[1] == "connected"
    assert render_line(second, rates).startswith("status: public=connected private=")


def test_the_table_shows_each_components_orders_and_the_kill_switch():
    hub = {**_hub(), "orders": {"open": 3, "queued": 1, "unknown": 0, "halted": "maker: runaway",
                                "daily_pnl_krw": "-1250.5"}}
    trader = ComponentReport("maker", "quote-trader", "running", handled=10, received=10,
                             orders={"open": 3, "filled": 12, "cancelled": 4, "denied": 2,
                                     "rejected": 1})
    snap = StatusSnapshot(at=10.0, hub=hub, components=(*REPORTS, trader), interval_s=5.0)
    table = render_table(snap, Rates())
    maker = next(line for line in table.splitlines() if line.startswith("maker"))
    assert "3/12/4/2/1" in maker
    board = next(line for line in table.splitlines() if line.startswith("board"))
    assert " - " in board  # a component that never traded
    assert "KILL SWITCH  ON: maker: runaway" in table
    assert "P&L today -1250.5 KRW" in table
    line = render_line(snap, Rates())
    assert "orders_open=3" in line and "kill_switch=ON" in line
