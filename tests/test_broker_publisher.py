"""The bridge's Publisher against a real nats-server that is SIGKILLed while publishes are
in flight: after a restart on the same port and store the stream holds every offered event
exactly once (the server de-duplicates the republished ones by ``Nats-Msg-Id``), nothing is
dropped, and the timeout/resend path was taken.

How "in flight" is made certain (not left to timing): the server is frozen with SIGSTOP. Its
socket still takes the publisher's bytes, but nothing is acknowledged, so the batch being
published times out (``publish_timeout_s`` = 1 s, counted in ``timeouts``) and is requeued
and published again into the frozen server; the test waits for exactly that (``timeouts``
grew and a batch awaits its acks again: ``inflight > 0``). First the server is thawed
(SIGCONT): it reads both copies of that batch, so the de-duplication path is taken for sure.
Then it is frozen again the same way and SIGKILLed with the resent batch in flight: what it
had not acknowledged is lost with the process and published once more after the restart.
Events keep being offered throughout (while the server is frozen, dead and restarted) and
wait in the spill buffer.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from decimal import Decimal

import msgspec

from upbit_hub.actors.broker import codec
from upbit_hub.actors.broker.connect import LinkState, connect
from upbit_hub.actors.broker.loop import LoopThread
from upbit_hub.actors.broker.publisher import Publisher
from upbit_hub.actors.broker.stream import StreamSpec, ensure_stream
from upbit_hub.actors.protocol.events import TradeEvent
from upbit_hub.config.settings import BridgeSettings

STREAM = "PUBKILL"
MARKETS = [f"KRW-M{i:02d}" for i in range(20)]
SID0 = 17_000_000_000_000_000
PER_TICK = 40  # events offered every 10 ms: 4,000/s
TOTAL = 32_000  # events offered in all (the offering thread stops there)


def trade(i: int) -> TradeEvent:
    return TradeEvent(type="trade", code=MARKETS[i % len(MARKETS)], timestamp=1_787_728_554_853 + i,
                      trade_price=Decimal("109847000.0"), trade_volume=Decimal("0.00509799"),
                      ask_bid="ASK", sequential_id=SID0 + i, stream_type="REALTIME",
                      trade_date="2026-08-26", trade_time="07:15:54",
                      trade_timestamp=1_787_728_554_797 + i,
                      prev_closing_price=Decimal("109165000.0"), change="RISE",
                      change_price=Decimal("682000.0"), best_ask_price=Decimal("109867000"),
                      best_ask_size=Decimal("0.0099545"), best_bid_price=Decimal("109847000"),
                      best_bid_size=Decimal("0.1583673"))  # fmt: skip


class Offerer(threading.Thread):
    """Offers ``TOTAL`` trades (unique sequential ids) in bursts every 10 ms."""

    def __init__(self, pub: Publisher) -> None:
        super().__init__(name="offerer", daemon=True)
        self.pub = pub
        self.stop = threading.Event()
        self.offered: list[str] = []

    def run(self) -> None:
        i = 0
        while i < TOTAL and not self.stop.is_set():
            for _ in range(PER_TICK):
                ev = trade(i)
                self.pub.offer(ev)
                self.offered.append(str(ev.sequential_id))
                i += 1
            self.stop.wait(0.01)  # pacing, not a wait for a condition


def stored_ids(url: str) -> tuple[int, list[str], list[int]]:
    """(messages in the stream, every Nats-Msg-Id, every payload's sequential_id)."""
    import nats

    async def read() -> tuple[int, list[str], list[int]]:
        nc = await nats.connect(url)
        js = nc.jetstream()
        n = (await js.stream_info(STREAM)).state.messages
        ids: list[str] = []
        sids: list[int] = []
        sub = await js.subscribe("upbit.>", ordered_consumer=True, stream=STREAM,
                                 pending_msgs_limit=-1, pending_bytes_limit=-1)
        while len(ids) < n:
            m = await sub.next_msg(timeout=5)
            ids.append((m.headers or {}).get(codec.MSG_ID, ""))
            sids.append(msgspec.msgpack.decode(m.data)["sequential_id"])
        await nc.close()
        return n, ids, sids

    return asyncio.run(read())


def test_sigkill_with_publishes_in_flight_keeps_every_event_exactly_once(nats_server,
                                                                         eventually):
    loop = LoopThread("test-publisher").start()
    pub = Publisher(loop, stream=STREAM, account="test", batch_wait_s=0.005,
                    publish_timeout_s=1.0)
    cfg = msgspec.structs.replace(BridgeSettings(), servers=[nats_server.url], stream=STREAM)
    link = LinkState()

    async def setup():
        nc = await connect(cfg, {}, link, "test-publisher")
        js = nc.jetstream()
        await ensure_stream(js, StreamSpec(STREAM, 0, -1))
        await pub.start(nc, js)
        return nc

    nc = loop.run(setup(), 20)
    offerer = Offerer(pub)
    offerer.start()
    st = pub.stats
    try:
        eventually(lambda: st.acked >= 2_000, timeout=10)

        # 1. freeze the server: the batch in flight is not acknowledged, times out and is
        # published again into the frozen socket; thawed, the server reads both copies and
        # stores each event once (the second copy is a duplicate by Nats-Msg-Id)
        os.kill(nats_server.proc.pid, signal.SIGSTOP)
        eventually(lambda: st.timeouts > 0 and st.inflight > 0, timeout=8)
        first_timeouts = st.timeouts
        os.kill(nats_server.proc.pid, signal.SIGCONT)
        acked = st.acked
        eventually(lambda: st.acked >= acked + 2_000, timeout=10)

        # 2. freeze it again, wait for the resend to be in flight, and SIGKILL it
        os.kill(nats_server.proc.pid, signal.SIGSTOP)
        eventually(lambda: st.timeouts > first_timeouts and st.inflight > 0, timeout=8)
        in_flight = st.inflight  # publishes of the batch awaiting its acks
        assert in_flight > 0
        published_at_kill = st.published

        nats_server.kill()  # SIGKILL (works on a stopped process)
        eventually(lambda: not nc.is_connected, timeout=10)
        offered_at_kill = st.offered
        eventually(lambda: st.offered >= offered_at_kill + 2 * PER_TICK, timeout=5)

        nats_server.start()  # same port, same store
        eventually(lambda: nc.is_connected, timeout=10)
        eventually(lambda: st.acked > published_at_kill, timeout=10)

        offerer.join(20)
        assert not offerer.is_alive()
        assert loop.run(pub.flush(10.0), 12.0), pub.snapshot()
    finally:
        offerer.stop.set()
        offerer.join(5)

        async def close():
            await pub.close()
            link.closing = True
            await nc.close()

        try:
            loop.run(close(), 10)
        finally:
            loop.stop()

    snap = pub.snapshot()
    print(f"batch in flight at the kill: {in_flight}; {snap}; reconnects {link.reconnects}")
    assert snap["offered"] == TOTAL == len(offerer.offered)
    assert snap["dropped"] == 0 and snap["gap_markers"] == 0, snap
    assert snap["timeouts"] > 0 and snap["resent"] > 0, snap  # the in-flight path was taken
    assert snap["pending"] == 0, snap
    assert link.reconnects >= 1

    n, ids, sids = stored_ids(nats_server.url)
    assert n == TOTAL, f"stream holds {n} messages, {TOTAL} offered; {snap}"
    assert len(set(ids)) == len(ids) == TOTAL, "a message id is stored twice"
    assert set(ids) == set(offerer.offered)
    assert sorted(sids) == [SID0 + i for i in range(TOTAL)]
    assert [str(s) for s in sids] == ids  # header and payload agree
