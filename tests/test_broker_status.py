"""Status view lines for the broker: the remote source's lag per component, the bridge's
published/acked/pending/dropped per second; ``run --source`` with bad input."""

from __future__ import annotations

import subprocess
import sys
import time

from upbit_hub.actors.status_view import Rates, StatusSnapshot, render_line, render_table


def _snapshot(source: dict) -> StatusSnapshot:
    hub = {"running": True, "connections": {"nats": {"state": "connected", "events": 10}},
           "components": {}, "source": source}
    return StatusSnapshot(at=time.monotonic(), hub=hub, components=(), panels=(),
                          started_at=None, interval_s=1.0)


def test_remote_source_lag_per_component_in_table_and_line():
    snap = _snapshot({"tape": {"received": 12, "acked": 11, "pending": 1, "redelivered": 3,
                               "duplicates": 0, "gaps": 1, "malformed": 0, "lag_ms": 4.25}})
    rates = Rates({}, {}, 0.0, 1.0)
    table = render_table(snap, rates)
    assert "REMOTE" in table and "REDELIVERED" in table
    row = next(line for line in table.splitlines() if line.startswith("tape"))
    assert row.split()[:8] == ["tape", "12", "11", "1", "3", "0", "1", "0"]
    assert "4.2 ms" in row
    line = render_line(snap, rates)
    assert "remote[tape]=lag:4.2ms" in line and "redelivered:3" in line and "gaps:1" in line


def test_bridge_status_line_has_rates():
    from upbit_hub.plugins.builtin.nats_bridge import NatsBridge

    class FakePublisher:  # the counters only: status_lines reads nothing else
        def __init__(self) -> None:
            self.n = 0

        def snapshot(self) -> dict:
            self.n += 100
            return {"published": self.n, "acked": self.n, "pending": 2, "dropped": 0,
                    "resent": 0}

    bridge = NatsBridge()
    bridge.publisher = FakePublisher()  # type: ignore[assignment]
    bridge.status_lines()
    line = bridge.status_lines()[0]
    assert "published 200" in line and "acked 200" in line and "pending 2" in line
    assert "dropped 0" in line and "/s)" in line
    # the plain log line (no terminal) carries the bridge's panel too
    hub = {"running": True, "connections": {"public": {"state": "connected", "events": 1}}}
    one = bridge.status_line()
    assert one is not None and one.startswith("nats ") and "published 300" in one
    snap = StatusSnapshot(at=time.monotonic(), hub=hub, panels=(("bridge", [one]),))
    plain = render_line(snap, Rates())
    assert plain.endswith("| bridge: " + one)


def test_run_source_unreachable_server_exits_1_with_a_clear_message(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "remote.toml"
    cfg.write_text("[source]\nconnect_timeout_s = 0.5\n")
    done = subprocess.run(
        [sys.executable, "-m", "upbit_hub.actors.cli", "run", "--source",
         f"nats://127.0.0.1:{port}", "--config", str(cfg)],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "cannot reach NATS" in done.stderr


def test_run_source_rejects_a_non_nats_url(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "upbit_hub.actors.cli", "run", "--source", "http://x:1"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert "nats://" in done.stderr


def test_source_settings_unknown_key_is_a_clear_error():
    import pytest

    from upbit_hub.actors.protocol.errors import ConfigError
    from upbit_hub.config.loader import parse_settings

    with pytest.raises(ConfigError) as err:
        parse_settings('[source]\nservrs = ["nats://127.0.0.1:4222"]\n')
    assert "source.servrs" in str(err.value) and "servers" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_settings('[bridge]\nservers = ["http://127.0.0.1:4222"]\n')
    assert "bridge.servers[0]" in str(err.value)


def test_the_plain_status_line_takes_each_running_plugins_status_line(make_emulator, make_hub):
    from upbit_hub.plugins import Component
    from upbit_hub.plugins.sdk_host import ComponentHost

    class Talker(Component):
        def status_line(self):
            return "talking"

        def status_lines(self):
            return ["a", "panel", "of", "lines"]

    class Quiet(Component):
        pass

    host = ComponentHost(make_hub(make_emulator(rate=0)))
    try:
        assert host.start_component("talker", Talker).state == "running"
        assert host.start_component("quiet", Quiet).state == "running"
        assert host.panels(one_line=True) == [("talker", ["talking"])]
        assert host.panels() == [("talker", ["a", "panel", "of", "lines"])]
    finally:
        host.stop()
