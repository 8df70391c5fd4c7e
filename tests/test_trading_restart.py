"""The hub process killed between sending an order and its answer, then restarted with the same
journal: the order is found by its identifier and nothing is sent again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from upbit_hub.plugins import Component
from upbit_hub.plugins.sdk_host import ComponentHost

SCRIPT = textwrap.dedent("""
    import sys, threading
    from upbit_hub.actors.hub import Hub
    from upbit_hub.config.settings import Settings, TradingSettings
    from upbit_hub.plugins import Component
    from upbit_hub.plugins.sdk_host import ComponentHost
    import msgspec

    base, journal, price = sys.argv[1], sys.argv[2], sys.argv[3]
    s = Settings().with_emulator(base)
    trading = TradingSettings(journal_path=journal, price_band_pct=None, request_timeout_s=30.0)
    s = msgspec.structs.replace(s, trading=trading)

    class Once(Component):
        def on_start(self, ctx):
            h = ctx.buy_limit("KRW-BTC", price, "0.0001", client_id="restart-probe-1")
            print("placed", h.client_id, flush=True)

    hub = Hub(s).start()
    ComponentHost(hub).start_component("strategy", Once)
    threading.Event().wait()  # until killed
""")


class Watcher(Component):
    def on_start(self, ctx):
        self.ctx = ctx
        self.updates = []

    def on_order_update(self, update):
        self.updates.append(update)


def test_an_order_in_flight_when_the_hub_died_is_found_after_a_restart_and_not_resent(
    make_emulator, make_hub, tmp_path, eventually
):
    emu = make_emulator(rate=100)
    rows = emu.call(lambda core: core.market.book("KRW-BTC"))
    price = str(max(r[1] for r in rows) - 1_000_000)  # rests
    journal = tmp_path / "journal.jsonl"
    emu.faults.order_faults("delay", count=1, delay_s=30.0)  # accepted, answer held back
    emu.faults.stall(30.0)  # and the private stream says nothing either
    env = {**os.environ, "UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY,
           "UPBIT_SECRET_KEY": DEFAULT_SECRET_KEY}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, emu.base_url, str(journal), price],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        eventually(lambda: any(r.method == "POST" and r.identifier == "restart-probe-1"
                               for r in emu.stats().rest_log), timeout=20)
    finally:
        proc.send_signal(signal.SIGKILL)  # between sending the order and its answer
        proc.wait(10)
    emu.faults.clear()
    text = journal.read_text()
    assert "restart-probe-1" in text and '"wait"' not in text  # only the intent was known

    keys = {"UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY, "UPBIT_SECRET_KEY": DEFAULT_SECRET_KEY}
    hub = make_hub(emu, environ=keys, trading_journal_path=str(journal))
    host = ComponentHost(hub)
    assert host.start_component("strategy", Watcher).state == "running"
    watcher = host.component("strategy")
    handle = eventually(lambda: watcher.ctx.proxy.run_in_component(
        lambda: watcher.ctx.order("restart-probe-1")), timeout=10)

    def looked_up():
        return [r for r in emu.stats().rest_log if r.method == "GET" and r.path == "/v1/order"
                and r.identifier == "restart-probe-1" and r.status == 200]

    eventually(looked_up, timeout=15)  # the journal's open entry is checked with Upbit
    eventually(lambda: handle.state == "wait" and handle.uuid, timeout=15)
    held = emu.call(lambda core: core.exchange.get_order(identifier="restart-probe-1"))
    assert handle.uuid == held.uuid
    posts = [r for r in emu.stats().rest_log
             if r.method == "POST" and r.identifier == "restart-probe-1"]
    assert len(posts) == 1, "the order was sent again after the restart"
    assert [o.identifier for o in emu.call(lambda core: core.exchange.orders())] == \
        ["restart-probe-1"]
    host.stop()
