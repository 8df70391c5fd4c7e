"""Done means: a remote component in another process (``upbit-hub run --source``) receives
every trade of its markets exactly once, in order per market, compared with the emulator's
own trade record, while (a) the NATS server is SIGKILLed and restarted with its store,
(b) the remote process is SIGKILLed and restarted (what its handlers finished but had not
acknowledged comes once more, first, and is counted as redelivered), and (c) the hub's Upbit
socket drops (BACKFILL trades flow through the bridge)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from upbit_hub.plugins.builtin.nats_bridge import NatsBridge, NatsBridgeConfig
from upbit_hub.plugins.builtin.recorder import read_recording
from upbit_hub.plugins.sdk_host import ComponentHost

MARKETS = ["KRW-BTC", "KRW-ETH"]


CONFIG = """
[hub]
coalesce_ms = 20
[status]
interval_s = 0.5
[source]
deliver = "all"
ack_wait_s = 2.0
reorder_wait_s = 1.0

[[components]]
plugin = "recorder"
id = "tape"
[components.params]
path = "{path}"
types = ["trade"]
symbols = {markets}
flush_interval_s = 0
"""


class Remote:
    """``upbit-hub run --source URL --config ...`` with a recorder writing ``path``."""

    def __init__(self, tmp: Path, url: str, name: str) -> None:
        self.path = tmp / f"{name}.jsonl"
        self.cfg = tmp / f"{name}.toml"
        self.cfg.write_text(CONFIG.format(path=self.path, markets=str(MARKETS).replace("'", '"')))
        self.err = tmp / f"{name}.err"
        env = {k: v for k, v in os.environ.items() if not k.startswith("UPBIT_HUB")}
        with open(self.err, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "upbit_hub.actors.cli", "run", "--source", url,
                 "--config", str(self.cfg), "--log-level", "INFO"],
                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL, env=env,
            )

    def sids(self) -> list[tuple[str, int, str]]:
        if not self.path.exists():
            return []
        return [(e.code, e.sequential_id, e.stream_type) for e in read_recording(self.path)]

    def wait_for(self, pred, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not pred(self.sids()):
            assert self.proc.poll() is None, self.err.read_text()[-3000:]
            assert time.monotonic() < deadline, f"timed out; log:\n{self.err.read_text()[-3000:]}"
            time.sleep(0.05)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.err.read_text()


def test_every_trade_once_in_order_across_broker_kill_remote_kill_and_socket_drop(
        make_emulator, make_hub, nats_server, tmp_path, eventually):
    emu = make_emulator(rate=300, markets=MARKETS)
    truth: list[tuple[str, int]] = []
    lock = threading.Lock()

    def on_trade(t: dict) -> None:
        with lock:
            truth.append((t["code"], t["sequential_id"]))

    emu.call(lambda core: core.market.add_trade_listener(on_trade))
    hub = make_hub(emu)
    bhost = ComponentHost(hub)
    cfg = NatsBridgeConfig(servers=[nats_server.url], types=["trade"], symbols=MARKETS,
                           publish_timeout_s=1.0)
    assert bhost.start_component("bridge", NatsBridge, cfg, "nats-bridge").state == "running"
    bridge = bhost.component("bridge")
    remotes: list[Remote] = []
    try:
        r1 = Remote(tmp_path, nats_server.url, "run1")
        remotes.append(r1)
        r1.wait_for(lambda s: len(s) >= 30)

        # (a) the broker dies (SIGKILL) and comes back with its store
        nats_server.kill()
        n = len(truth)
        eventually(lambda: len(truth) >= n + 40, timeout=10)  # trades pile up at the bridge
        nats_server.start()
        eventually(lambda: bridge.stats()["resent"] + bridge.stats()["acked"] > 0, timeout=10)
        seen = len(r1.sids())
        r1.wait_for(lambda s: len(s) >= seen + 60)

        # (b) the remote process dies (SIGKILL) and a new one takes the same component id
        r1.kill()
        r2 = Remote(tmp_path, nats_server.url, "run2")
        remotes.append(r2)
        r2.wait_for(lambda s: len(s) >= 30)

        # (c) the hub's Upbit socket drops: the missed trades come as BACKFILL
        sessions = hub.status()["connections"]["public"]["sessions"]
        emu.faults.refuse_connections(0.5)
        emu.faults.drop_all()
        eventually(lambda: hub.status()["connections"]["public"]["sessions"] > sessions,
                   timeout=15)
        r2.wait_for(lambda s: any(st == "BACKFILL" for _, _, st in s))
        with lock:
            targets = {m: [sid for c, sid in truth if c == m][-1] for m in MARKETS}
        r2.wait_for(lambda s: all((m, targets[m]) in {(c, i) for c, i, _ in s}
                                  for m in MARKETS))
        log2 = r2.stop()
    finally:
        for r in remotes:
            r.stop()
        bhost.stop()

    stats = bridge.stats()
    assert stats["dropped"] == 0, stats
    run1, run2 = r1.sids(), r2.sids()
    m = re.search(r"remote component tape: received \d+, acked \d+, redelivered (\d+), "
                  r"duplicates \d+, malformed (\d+), gaps (\d+)", log2)
    assert m, log2[-3000:]
    redelivered, malformed, gaps = map(int, m.groups())
    assert malformed == 0 and gaps == 0
    overlap_total = 0
    for market in MARKETS:
        a = [sid for c, sid, _ in run1 if c == market]
        b = [sid for c, sid, _ in run2 if c == market]
        assert len(a) == len(set(a)) and len(b) == len(set(b)), "a trade came twice in one run"
        # run 2 may start with what run 1 handled but had not acknowledged: in order, once
        overlap = 0
        while overlap < len(b) and b[overlap] in set(a):
            overlap += 1
        assert b[:overlap] == a[len(a) - overlap:], "redelivered trades out of order"
        assert not set(b[overlap:]) & set(a), "a trade came twice"
        overlap_total += overlap
        got = a + b[overlap:]
        with lock:
            want = [sid for c, sid in truth if c == market]
        tail = got[1:] if got[0] not in want else got  # the SNAPSHOT trade may predate it
        start = want.index(tail[0])
        assert tail == want[start:start + len(tail)], f"{market}: missing or out of order"
    assert overlap_total <= redelivered
    assert any(st == "BACKFILL" for _, _, st in run2)
