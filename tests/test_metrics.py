"""The Prometheus endpoint against a real hub and emulator, scraped over HTTP."""

from __future__ import annotations

import socket
import threading

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from upbit_hub.actors import WebSocketClientProxy
from upbit_hub.actors.metrics import start_metrics
from upbit_hub.actors.protocol.errors import ConfigError, RestError
from upbit_hub.config.settings import MetricsSettings
from upbit_hub.plugins import ComponentReport


def scrape(server) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``{(sample name, sorted labels): value}`` of one ``GET /metrics``."""
    resp = requests.get(server.url, timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def value(samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
def metrics():
    servers = []

    def start(hub, reports=None, **kw):
        server = start_metrics(MetricsSettings(port=0, **kw), hub, reports)
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server is not None:
            server.stop()


def test_no_port_means_no_endpoint(hub):
    assert start_metrics(MetricsSettings(), hub, lambda: []) is None


def test_port_0_binds_a_free_port_on_loopback_and_says_where(hub, metrics):
    server = metrics(hub)
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}/metrics"
    samples = scrape(server)
    assert value(samples, "upbit_hub_up") == 1
    import upbit_hub

    assert value(samples, "upbit_hub_build_info", version=upbit_hub.__version__) == 1


def test_events_are_counted_by_endpoint_and_type_after_data_arrives(hub, metrics, eventually):
    server = metrics(hub)
    before = scrape(server)
    assert value(before, "upbit_hub_events_total", endpoint="public", type="trade") is None
    got: list = []
    enough = threading.Event()

    def on_trade(ev):
        got.append(ev)
        if len(got) >= 5:
            enough.set()

    with WebSocketClientProxy("metrics-test", hub=hub) as proxy:
        proxy.subscribe_trade(["KRW-BTC"], on_trade)
        assert enough.wait(10)
        seen = len(got)
        samples = scrape(server)
    counted = value(samples, "upbit_hub_events_total", endpoint="public", type="trade")
    assert counted is not None and counted >= seen
    assert value(samples, "upbit_hub_frames_total", endpoint="public") >= counted
    assert value(samples, "upbit_hub_connection_state", endpoint="public", state="connected") == 1
    assert value(samples, "upbit_hub_connection_state", endpoint="public", state="idle") == 0
    assert value(samples, "upbit_hub_connection_state", endpoint="private", state="idle") == 1


def test_a_dropped_connection_shows_up_as_a_reconnect(emulator, hub, metrics, eventually):
    server = metrics(hub)
    first = threading.Event()
    with WebSocketClientProxy("metrics-drop", hub=hub) as proxy:
        proxy.subscribe_ticker(["KRW-BTC"], lambda ev: first.set())
        assert first.wait(10)
        assert value(scrape(server), "upbit_hub_reconnects_total", endpoint="public") == 0
        assert emulator.faults.drop_all() >= 1
        eventually(
            lambda: (value(scrape(server), "upbit_hub_reconnects_total", endpoint="public") or 0)
            >= 1,
            timeout=10,
        )
        eventually(lambda: value(scrape(server), "upbit_hub_connection_state",
                                 endpoint="public", state="connected") == 1, timeout=10)


def test_rest_calls_answers_and_429s_are_counted(emulator, hub, metrics):
    server = metrics(hub)
    with WebSocketClientProxy("metrics-rest", hub=hub) as proxy:
        assert proxy.get_ticker_snapshot(["KRW-BTC"])
        samples = scrape(server)
        assert value(samples, "upbit_hub_rest_calls_total", group="ticker") >= 1
        assert value(samples, "upbit_hub_rest_responses_total", status="200") >= 1
        assert value(samples, "upbit_hub_rest_rate_limited_total", status="429") == 0
        emulator.faults.rest_throttle(5.0)
        with pytest.raises(RestError):
            proxy.get_ticker_snapshot(["KRW-BTC"])
        emulator.faults.clear()
    samples = scrape(server)
    assert value(samples, "upbit_hub_rest_rate_limited_total", status="429") >= 1
    assert value(samples, "upbit_hub_rest_responses_total", status="429") >= 1


def test_component_reports_become_per_component_series(hub, metrics):
    reports = [
        ComponentReport(id="board", plugin="ticker-board", state="running", handled=120,
                        handler_errors=2, queued=3, received=125, dropped=0, conflated=4),
        ComponentReport(id="rec", plugin="recorder", state="failed", error="disk full",
                        handled=7, dropped=5),
    ]  # fmt: skip
    samples = scrape(metrics(hub, lambda: reports))
    board = {"component": "board", "plugin": "ticker-board"}
    rec = {"component": "rec", "plugin": "recorder"}
    assert value(samples, "upbit_hub_component_up", **board, state="running") == 1
    assert value(samples, "upbit_hub_component_up", **rec, state="failed") == 0
    assert value(samples, "upbit_hub_component_handled_total", **board) == 120
    assert value(samples, "upbit_hub_component_errors_total", **board) == 2
    assert value(samples, "upbit_hub_component_queue", **board) == 3
    assert value(samples, "upbit_hub_component_received_total", **board) == 125
    assert value(samples, "upbit_hub_component_conflated_total", **board) == 4
    assert value(samples, "upbit_hub_component_dropped_total", **rec) == 5
    assert value(samples, "upbit_hub_scrape_errors_total", source="components") == 0


class _BrokenStatusHub:
    """A hub whose status() raises: the REST counters must still be exported."""

    running = True

    def __init__(self, rest):
        self.rest = rest

    def status(self, timeout=2.0):
        raise RuntimeError("registry is stopping")


def test_a_failing_status_does_not_break_the_scrape_and_is_counted(hub, metrics):
    server = metrics(_BrokenStatusHub(hub.rest), lambda: 1 / 0)
    samples = scrape(server)
    assert value(samples, "upbit_hub_scrape_errors_total", source="status") == 1
    assert value(samples, "upbit_hub_scrape_errors_total", source="components") == 1
    assert value(samples, "upbit_hub_scrape_errors_total", source="rest") == 0
    assert ("upbit_hub_rest_calls_total", (("group", "market"),)) in samples
    samples = scrape(server)
    assert value(samples, "upbit_hub_scrape_errors_total", source="status") == 2


class _SilentConnectionHub(_BrokenStatusHub):
    def status(self, timeout=2.0):
        return {"running": True, "components": {},
                "connections": {"public": {"error": "Timeout"},
                                "private": {"state": "idle", "sessions": 0}}}  # fmt: skip


def test_a_connection_that_does_not_answer_is_left_out_and_counted(hub, metrics):
    samples = scrape(metrics(_SilentConnectionHub(hub.rest)))
    assert value(samples, "upbit_hub_scrape_errors_total", source="connection:public") == 1
    assert value(samples, "upbit_hub_connection_state", endpoint="private", state="idle") == 1
    assert value(samples, "upbit_hub_connection_state", endpoint="public", state="idle") is None


def test_a_stopped_hub_reports_down_without_failing(emulator, make_hub, metrics):
    stopped = make_hub(emulator)
    stopped.stop()
    samples = scrape(metrics(stopped))
    assert value(samples, "upbit_hub_up") == 0
    assert value(samples, "upbit_hub_scrape_errors_total", source="status") == 0


def test_stop_closes_the_port_and_can_be_called_twice(hub):
    server = start_metrics(MetricsSettings(port=0), hub)
    assert requests.get(server.url, timeout=5).status_code == 200
    server.stop()
    server.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=5)


def test_a_port_in_use_is_a_config_error_naming_the_key(hub):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            start_metrics(MetricsSettings(port=port), hub)
    (problem,) = info.value.problems
    assert problem.startswith(f"metrics.port: cannot listen on 127.0.0.1:{port} (")
    assert "choose a free port" in problem


def test_the_endpoint_uses_its_own_registry_not_the_global_one(hub, metrics):
    from prometheus_client import REGISTRY, generate_latest

    metrics(hub)
    assert b"upbit_hub_" not in generate_latest(REGISTRY)
