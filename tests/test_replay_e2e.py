"""A recording served by the emulator (``Emulator(market=ReplayMarket(...))``) to the live
stack over real loopback WebSockets and REST: a hub client gets exactly the recorded trades in
order with their sequential_ids, at any speed, and a socket dropped mid-replay is gap-filled
from the recording so that every trade still arrives exactly once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from upbit_hub.actors import WebSocketClientProxy
from upbit_hub.actors.backtest.recording import read_timed
from upbit_hub.actors.emulator.replay import ReplayMarket

RECORDING = Path(__file__).parent / "data" / "replay" / "sim_3s.jsonl"
MARKETS = ("KRW-BTC", "KRW-ETH")


def recorded_trades() -> list[tuple[str, int]]:
    """``(code, sequential_id)`` of every recorded trade, in recorded order."""
    return [(ev.code, ev.sequential_id) for _ts, ev in read_timed(RECORDING)
            if ev.type == "trade"]  # fmt: skip


class Trades:
    """A trade callback that records events and lets the test wait for a count."""

    def __init__(self) -> None:
        self.events: list = []
        self.cond = threading.Condition()

    def __call__(self, ev) -> None:
        with self.cond:
            self.events.append(ev)
            self.cond.notify_all()

    def wait_count(self, n: int, timeout: float = 15.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.events) >= n, timeout)

    def pairs(self) -> list[tuple[str, int]]:
        with self.cond:
            return [(e.code, e.sequential_id) for e in self.events]


@pytest.fixture
def replay(make_emulator):
    """``replay(speed)`` -> a started emulator serving the recording, its clock held until
    ``emu.market.play()``."""

    def start(speed: float = 1.0):
        return make_emulator(market=ReplayMarket([RECORDING], speed=speed, paused=True))

    return start


def subscribed(emu, eventually) -> None:
    """Wait until the emulator holds a public trade subscription for both markets."""
    def ready() -> bool:
        for conn in emu.connections():
            for sub in conn.subscriptions:
                if sub[0] == "trade" and set(MARKETS) <= set(sub[1] or ()):
                    return True
        return False

    eventually(ready, timeout=10)


def by_market(pairs: list[tuple[str, int]]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {code: [] for code in MARKETS}
    for code, sid in pairs:
        out[code].append(sid)
    return out


@pytest.mark.parametrize("speed", [1.0, 10.0], ids=["1x", "10x"])
def test_a_hub_client_gets_exactly_the_recorded_trades_in_order(
    replay, make_hub, eventually, speed
):
    expected = recorded_trades()
    emu = replay(speed)
    hub = make_hub(emu)
    got = Trades()
    proxy = WebSocketClientProxy("tape", hub=hub)
    proxy.subscribe_trade(list(MARKETS), got)
    subscribed(emu, eventually)
    emu.market.play()
    assert got.wait_count(len(expected)), f"{len(got.events)} of {len(expected)} trades"
    eventually(lambda: emu.market.finished, timeout=10)
    proxy.cleanup()
    assert got.pairs() == expected
    assert {e.stream_type for e in got.events} == {"REALTIME"}
    assert emu.market.progress()["replayed"] == emu.market.total


def test_a_socket_dropped_mid_replay_still_gives_every_trade_exactly_once(
    replay, make_hub, eventually
):
    expected = recorded_trades()
    emu = replay(1.0)
    hub = make_hub(emu)
    got = Trades()
    proxy = WebSocketClientProxy("tape", hub=hub)
    proxy.subscribe_trade(list(MARKETS), got)
    subscribed(emu, eventually)
    emu.market.play()
    assert got.wait_count(15)
    sessions = hub.status()["connections"]["public"]["sessions"]
    emu.faults.refuse_connections(0.6)  # the replay goes on while the socket is down
    emu.faults.drop_all()
    eventually(lambda: hub.status()["connections"]["public"]["sessions"] > sessions,
               timeout=15)
    assert got.wait_count(len(expected)), f"{len(got.events)} of {len(expected)} trades"
    eventually(lambda: emu.market.finished, timeout=10)
    proxy.cleanup()

    received = got.pairs()
    assert len(received) == len(set(received)), "a trade was delivered twice"
    assert by_market(received) == by_market(expected), "missing or out-of-order trades"
    backfilled = [e for e in got.events if e.stream_type == "BACKFILL"]
    assert backfilled, "the gap should have been filled from the recording over REST"
    stats = hub.status()["connections"]["public"]["gapfill"]
    assert stats["gaps"] >= 1 and stats["unfilled"] == 0
