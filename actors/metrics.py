"""The optional Prometheus endpoint: ``GET http://HOST:PORT/metrics`` (``[metrics] port``).

Nothing is counted twice: a custom collector (:class:`HubCollector`, on its own
``CollectorRegistry``, never the process-global one) reads the hub's own counters at scrape
time and turns them into Prometheus families. Sources, each read once per scrape:

- ``hub.status()``: per connection ``state``, ``sessions``, ``connect_failures``,
  ``events_by_type``, ``frames``, ``bad_frames``, ``server_errors``, ``stale_reconnects`` and
  the trade ``gapfill`` stats; the private REST fallback's mode;
- ``hub.rest.counters()``: REST calls per rate-limit group, answers per HTTP status, 429/418;
- ``reports()``: one :class:`~upbit_hub.plugins.ComponentReport` per configured component.

Metrics (all prefixed ``upbit_hub_``; counters end in ``_total``)::

    upbit_hub_up                                      1 while the hub runs
    upbit_hub_build_info{version}                     1
    upbit_hub_events_total{endpoint,type}             events decoded, by stream type
    upbit_hub_frames_total{endpoint}                  WebSocket frames received
    upbit_hub_bad_frames_total{endpoint}              frames that did not decode
    upbit_hub_server_errors_total{endpoint}           {"error": ...} frames from Upbit
    upbit_hub_reconnects_total{endpoint}              sessions beyond the first
    upbit_hub_stale_reconnects_total{endpoint}        of those, forced by the staleness watchdog
    upbit_hub_connect_failures_total{endpoint}        connects that failed
    upbit_hub_connection_state{endpoint,state}        1 for the current state, 0 for the others
    upbit_hub_trade_gaps_total{endpoint}              trade gaps detected after a drop/silence
    upbit_hub_backfilled_trades_total{endpoint}       trades fetched over REST for those gaps
    upbit_hub_unfilled_gaps_total{endpoint}           gaps REST could not fill
    upbit_hub_private_fallback_active                 1 while the REST fallback polls
    upbit_hub_component_up{component,plugin,state}    1 when running, 0 otherwise
    upbit_hub_component_handled_total{component,plugin}
    upbit_hub_component_received_total{component,plugin}
    upbit_hub_component_errors_total{component,plugin}    handler errors
    upbit_hub_component_dropped_total{component,plugin}   lost on a full lossless queue
    upbit_hub_component_conflated_total{component,plugin} superseded (latest-wins)
    upbit_hub_component_queue{component,plugin}       events waiting in its inbox
    upbit_hub_rest_calls_total{group}                 REST calls per rate-limit group
    upbit_hub_rest_responses_total{status}            REST answers per HTTP status
    upbit_hub_rest_rate_limited_total{status}         429 and 418 answers
    upbit_hub_rest_transport_errors_total{kind}       REST calls with no usable answer
    upbit_hub_orders_total{outcome}                   orders submitted/denied/rejected/unknown/...
    upbit_hub_order_fills_total                       fills delivered (each trade once)
    upbit_hub_orders_open                             orders not final yet
    upbit_hub_kill_switch                             1 while the kill switch is on
    upbit_hub_scrape_errors_total{source}             a source that could not be read

A source that fails (an actor that does not answer, a hub that is stopping) never breaks the
scrape: the others are still exported and ``upbit_hub_scrape_errors_total{source}`` counts it.

Use (the CLI's ``run`` does this)::

    server = start_metrics(settings.metrics, hub, host.reports)   # None when port is unset
    ...
    if server is not None:
        server.stop()

Runs in: :func:`start_metrics` and :meth:`MetricsServer.stop` in the caller's thread;
:meth:`HubCollector.collect` in prometheus_client's HTTP server threads (one per request).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .protocol.errors import ConfigError

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from upbit_hub.config.settings import MetricsSettings
    from upbit_hub.plugins.sdk_host import ComponentReport

    from .hub import Hub

__all__ = ["CONNECTION_STATES", "HubCollector", "MetricsServer", "start_metrics"]

log = logging.getLogger(__name__)

#: States a connection reports (actors/reader.py), always exported so a dashboard can show 0.
CONNECTION_STATES: tuple[str, ...] = (
    "idle", "connecting", "connected", "disconnected", "backing-off", "crashed", "stopped",
)  # fmt: skip

Reports = Callable[[], Sequence["ComponentReport"]]

# connection status key -> (metric name without _total, help)
_CONNECTION_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("frames", "upbit_hub_frames", "WebSocket frames received"),
    ("bad_frames", "upbit_hub_bad_frames", "WebSocket frames that did not decode"),
    ("server_errors", "upbit_hub_server_errors", "error frames Upbit sent"),
    ("connect_failures", "upbit_hub_connect_failures", "connection attempts that failed"),
    ("stale_reconnects", "upbit_hub_stale_reconnects",
     "reconnects forced by the staleness watchdog (a subscribed socket went silent)"),
)  # fmt: skip
_GAPFILL_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("gaps", "upbit_hub_trade_gaps", "trade gaps detected after a drop or a silence"),
    ("backfilled", "upbit_hub_backfilled_trades", "trades fetched over REST to fill gaps"),
    ("unfilled", "upbit_hub_unfilled_gaps", "trade gaps REST could not fill"),
)
_COMPONENT_COUNTERS: tuple[tuple[str, str, str], ...] = (
    ("handled", "upbit_hub_component_handled", "events given to the component's handlers"),
    ("received", "upbit_hub_component_received", "events that reached the component's inbox"),
    ("handler_errors", "upbit_hub_component_errors", "handler calls that raised"),
    ("dropped", "upbit_hub_component_dropped",
     "events lost because the component's lossless queue was full"),
    ("conflated", "upbit_hub_component_conflated",
     "ticker/orderbook events superseded by a newer one before the handler ran"),
)  # fmt: skip


class HubCollector(Collector):
    """Reads ``hub`` (and ``reports``) at every scrape. Register it on a CollectorRegistry.

    ``status_timeout`` bounds each actor ask of ``hub.status()``.
    """

    def __init__(self, hub: Hub, reports: Reports | None = None,
                 status_timeout: float = 2.0) -> None:  # fmt: skip
        self.hub = hub
        self.reports = reports
        self.status_timeout = status_timeout
        self._errors: dict[str, int] = {}
        self._lock = threading.Lock()

    def describe(self) -> Iterable[Metric]:
        """Nothing up front, so registering never scrapes the hub. Runs in: the caller's."""
        return []

    def collect(self) -> Iterable[Metric]:
        """Every family, read from the hub now. Runs in: an HTTP server thread."""
        failed: list[str] = []
        status = self._read("status", lambda: self.hub.status(self.status_timeout), failed)
        running = bool(getattr(self.hub, "running", False))
        yield from _hub_families(running, status if isinstance(status, Mapping) else {}, failed)
        counters = self._read("rest", self.hub.rest.counters, failed)
        yield from _rest_families(counters if isinstance(counters, Mapping) else {})
        if self.reports is not None:
            reports = self._read("components", self.reports, failed)
            yield from _component_families(reports or [])
        with self._lock:
            for source in ("status", "rest", *(("components",) if self.reports else ())):
                self._errors.setdefault(source, 0)  # exported as 0 until it fails
            for source in failed:
                self._errors[source] = self._errors.get(source, 0) + 1
            errors = dict(self._errors)
        family = CounterMetricFamily("upbit_hub_scrape_errors",
                                     "metric sources that could not be read during a scrape",
                                     labels=["source"])  # fmt: skip
        for source in sorted(errors):
            family.add_metric([source], errors[source])
        yield family

    @staticmethod
    def _read(source: str, fn: Callable[[], Any], failed: list[str]) -> Any:
        try:
            return fn()
        except Exception as exc:
            log.warning("metrics: cannot read %s: %s: %s", source, type(exc).__name__, exc)
            failed.append(source)
            return None


class MetricsServer:
    """The running endpoint: ``port`` (the bound one, useful with 0), ``url``, ``stop()``."""

    def __init__(self, server: Any, thread: threading.Thread, host: str,
                 registry: CollectorRegistry) -> None:  # fmt: skip
        self._server = server
        self._thread = thread
        self.host = host
        self.port: int = int(server.server_address[1])
        self.registry = registry
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{self.port}/metrics"

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close the socket and join the server thread; idempotent.

        Runs in: the caller's thread (not an HTTP server thread).
        """
        if self._server is None:
            return
        server, self._server = self._server, None
        server.shutdown()
        server.server_close()
        self._thread.join(timeout)

    def __repr__(self) -> str:
        return f"MetricsServer({self.url!r})"


def start_metrics(
    settings: MetricsSettings, hub: Hub, reports: Reports | None = None
) -> MetricsServer | None:
    """Serve ``/metrics`` on ``settings.host:settings.port`` on a daemon thread.

    Returns None when ``settings.port`` is None (the endpoint is off). ``reports`` gives the
    configured components' reports (``ComponentHost.reports``); without it no component
    metrics are exported. Raises :class:`ConfigError` naming ``metrics.port`` when the
    address cannot be bound. Runs in: the caller's thread.
    """
    if settings.port is None:
        return None
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HubCollector(hub, reports))
    try:
        server, thread = start_http_server(settings.port, addr=settings.host, registry=registry)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError([
            f"metrics.port: cannot listen on {settings.host}:{settings.port} ({reason}); "
            "choose a free port, 0 for any, or remove [metrics] port to turn it off"
        ]) from None  # fmt: skip
    metrics = MetricsServer(server, thread, settings.host, registry)
    log.info("metrics: serving %s", metrics.url)
    return metrics


# -- families ------------------------------------------------------------------------------


def _hub_families(
    running: bool, status: Mapping[str, Any], failed: list[str]
) -> Iterable[Metric]:
    yield GaugeMetricFamily("upbit_hub_up", "1 while the hub is running", value=int(running))
    import upbit_hub

    info = GaugeMetricFamily("upbit_hub_build_info", "the upbit-hub version", labels=["version"])
    info.add_metric([upbit_hub.__version__], 1)
    yield info

    connections = status.get("connections") or {}
    readable: dict[str, Mapping[str, Any]] = {}
    for endpoint, conn in connections.items():
        if isinstance(conn, Mapping) and "error" not in conn:
            readable[endpoint] = conn
        else:  # the actor did not answer in time, or is gone
            failed.append(f"connection:{endpoint}")

    events = CounterMetricFamily("upbit_hub_events", "events decoded, by stream type",
                                 labels=["endpoint", "type"])  # fmt: skip
    reconnects = CounterMetricFamily("upbit_hub_reconnects",
                                     "WebSocket sessions opened beyond the first",
                                     labels=["endpoint"])  # fmt: skip
    state = GaugeMetricFamily("upbit_hub_connection_state",
                              "1 for the connection's current state, 0 for the others",
                              labels=["endpoint", "state"])  # fmt: skip
    simple = {name: CounterMetricFamily(name, doc, labels=["endpoint"])
              for _, name, doc in _CONNECTION_COUNTERS + _GAPFILL_COUNTERS}  # fmt: skip
    for endpoint, conn in sorted(readable.items()):
        for kind, count in sorted((conn.get("events_by_type") or {}).items()):
            events.add_metric([endpoint, str(kind)], count)
        reconnects.add_metric([endpoint], max(0, int(conn.get("sessions", 0)) - 1))
        current = str(conn.get("state", "stopped"))
        for name in (*CONNECTION_STATES, *([current] if current not in CONNECTION_STATES else [])):
            state.add_metric([endpoint, name], 1 if name == current else 0)
        for key, name, _ in _CONNECTION_COUNTERS:
            simple[name].add_metric([endpoint], conn.get(key, 0) or 0)
        gapfill = conn.get("gapfill") or {}
        if gapfill:
            for key, name, _ in _GAPFILL_COUNTERS:
                simple[name].add_metric([endpoint], gapfill.get(key, 0) or 0)
    yield events
    yield reconnects
    yield state
    yield from simple.values()

    desk = status.get("orders")
    if isinstance(desk, Mapping) and "error" not in desk:
        yield from _order_families(desk)
    elif desk is not None:
        failed.append("orders")

    fallback = status.get("private_fallback")
    if isinstance(fallback, Mapping) and "error" not in fallback:
        yield GaugeMetricFamily("upbit_hub_private_fallback_active",
                                "1 while the private REST fallback is polling",
                                value=1 if fallback.get("mode") == "polling" else 0)  # fmt: skip
    elif fallback is not None:
        failed.append("private_fallback")


def _order_families(desk: Mapping[str, Any]) -> Iterable[Metric]:
    """The order desk (only once a component used the order API)."""
    orders = CounterMetricFamily("upbit_hub_orders", "orders by what became of them",
                                 labels=["outcome"])  # fmt: skip
    for key in ("submitted", "denied", "rejected", "unknown", "resent", "cancelled"):
        orders.add_metric([key], int(desk.get(key, 0) or 0))
    yield orders
    yield CounterMetricFamily("upbit_hub_order_fills", "fills delivered (each trade once)",
                              value=int(desk.get("filled", 0) or 0))  # fmt: skip
    yield GaugeMetricFamily("upbit_hub_orders_open", "orders not final yet",
                            value=int(desk.get("open", 0) or 0))
    yield GaugeMetricFamily("upbit_hub_kill_switch", "1 while the kill switch is on",
                            value=1 if desk.get("halted") else 0)


def _rest_families(counters: Mapping[str, Any]) -> Iterable[Metric]:
    specs = (
        ("calls", "upbit_hub_rest_calls", "REST calls per Upbit rate-limit group", "group"),
        ("statuses", "upbit_hub_rest_responses", "REST answers per HTTP status", "status"),
        ("rate_limited", "upbit_hub_rest_rate_limited",
         "REST answers 429 (too many requests) and 418 (banned for a while)", "status"),
        ("transport_errors", "upbit_hub_rest_transport_errors",
         "REST calls without a usable answer, by kind", "kind"),
    )  # fmt: skip
    for key, name, doc, label in specs:
        family = CounterMetricFamily(name, doc, labels=[label])
        for value, count in sorted((counters.get(key) or {}).items(), key=lambda kv: str(kv[0])):
            family.add_metric([str(value)], count)
        yield family


def _component_families(reports: Iterable[ComponentReport]) -> Iterable[Metric]:
    labels = ["component", "plugin"]
    up = GaugeMetricFamily("upbit_hub_component_up",
                           "1 when the component runs, 0 when it failed, stopped or is disabled",
                           labels=[*labels, "state"])  # fmt: skip
    queue = GaugeMetricFamily("upbit_hub_component_queue", "events waiting in its inbox",
                              labels=labels)  # fmt: skip
    counters = {name: CounterMetricFamily(name, doc, labels=labels)
                for _, name, doc in _COMPONENT_COUNTERS}  # fmt: skip
    for r in reports:
        ids = [r.id, r.plugin]
        up.add_metric([*ids, r.state], 1 if r.state == "running" else 0)
        queue.add_metric(ids, r.queued)
        for key, name, _ in _COMPONENT_COUNTERS:
            counters[name].add_metric(ids, getattr(r, key, 0) or 0)
    yield up
    yield queue
    yield from counters.values()
