"""Settings of one emulator instance and the read-only records its API hands out.

Pure data. Runs in: any thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

__all__ = [
    "ConnectionInfo",
    "EmulatorConfig",
    "EmulatorStats",
    "RequestRecord",
    "RestRecord",
]


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything an :class:`~upbit_hub.actors.emulator.server.Emulator` is built from.

    Timers are configurable so tests can use short, realistic values.
    """

    host: str = "127.0.0.1"
    port: int = 0
    markets: tuple[str, ...] | None = None  # None: market.DEFAULT_MARKETS
    rate: float = 100.0
    seed: int = 7
    access_key: str | None = None  # None: exchange/auth default pair (public, emulator only)
    secret_key: str | None = field(default=None, repr=False)
    balances: Mapping[str, Decimal] | None = None
    idle_timeout: float = 60.0  # no frame either way for this long -> TCP dropped, no close
    spelling: str = "java"  # number spelling of frames: "java" or "plain"
    binary_frames: bool = True  # server frames as opcode 2 (Upbit) or text (opcode 1)
    tick_ms: int = 10  # market step period
    up_period: float = 10.0  # {"status":"UP"} period after a text PING
    error_close_delay: float = 0.15  # error frame -> close 1000 this much later
    close_timeout: float = 2.0  # wait for the client's close frame at most this long
    accept_camel_case: bool = True  # honour isOnlySnapshot / isOnlyRealtime
    auth_fails_upgrade: bool = False  # bad JWT on /private: HTTP 401 instead of INVALID_AUTH
    connect_limit: int = 5  # upgrades per second per IP; over -> HTTP 429
    message_limit_per_s: int = 5
    message_limit_per_min: int = 100
    teapot_seconds: float = 60.0  # upgrades refused (418) after repeated message offences
    # group -> per second, or (requests, window s), laid over Upbit's (trading_rules)
    rest_limits: Mapping[str, int | tuple[int, float]] | None = None
    rest_block_seconds: float = 10.0  # first 418 block after continuing past a 429
    rest_max_block_seconds: float = 600.0  # repeated blocks double up to this
    maker_fee_rate: Decimal | None = None  # None: 0.0005
    taker_fee_rate: Decimal | None = None  # None: 0.0005
    market_warnings: tuple[str, ...] = ()  # market/all?is_details=true: market_event.warning
    delisting_dates: Mapping[str, str] | None = None  # code -> "YYYY-MM-DD" in the ticker
    max_buffer_bytes: int = 64 * 1024 * 1024  # unsent bytes per socket before it is dropped
    request_log_size: int = 10_000  # client requests kept for stats()
    drop_every: float | None = None  # drop every socket (no close frame) this often
    control: bool = True  # serve the /_emulator/... control REST


@dataclass(frozen=True)
class RequestRecord:
    """One client message as the server saw it.

    ``kind``: ``subscribe``, ``list`` (LIST_SUBSCRIPTIONS), ``ping`` (text PING), ``rejected``
    (answered with an error; ``error`` names it) or ``limited`` (over the message limit).
    ``subscriptions``: the parsed set as ``(type, codes, level, only_snapshot,
    only_realtime)`` tuples exactly as requested.
    """

    connection_id: int
    endpoint: str
    at: float  # time.monotonic()
    kind: str
    raw: str
    ticket: str | None = None
    format: str | None = None
    subscriptions: tuple[tuple, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class RestRecord:
    """One REST call under ``/v1/`` as the server answered it (control routes are not logged).

    ``group``: the rate-limit group (``not_found`` for an unknown route). ``status``: the HTTP
    status sent, 0 when the connection was reset without an answer (``accept_then_drop``).
    ``identifier`` / ``uuid``: the order the call was about, for order calls: the body's
    ``identifier`` (``new_identifier`` for cancel_and_new) or the query's, and the uuid the
    answer named (``new_order_uuid`` for cancel_and_new) or the query's. ``previous``: the
    ``prev_order_uuid`` / ``prev_order_identifier`` of cancel_and_new. ``fault``: the order
    fault applied, if any.
    """

    at: float  # time.monotonic() when the call arrived
    method: str
    path: str
    group: str
    status: int
    identifier: str | None = None
    uuid: str | None = None
    previous: str | None = None
    fault: str | None = None


@dataclass(frozen=True)
class ConnectionInfo:
    """An open WebSocket connection."""

    id: int
    endpoint: str  # "public" or "private"
    format: str
    subscriptions: tuple[tuple, ...]
    opened_at: float  # time.monotonic()
    remote: str
    compressed: bool
    authenticated: bool


@dataclass(frozen=True)
class EmulatorStats:
    """A consistent snapshot of the emulator's counters (taken on the loop thread)."""

    open_connections: dict[str, int]  # endpoint -> open sockets
    requests: tuple[RequestRecord, ...]
    frames_sent: dict[str, int]  # message type ("ticker", "status", "error", ...) -> frames
    bytes_sent: int
    connects_accepted: int
    connects_refused: int
    refused_by_status: dict[int, int]
    rest_requests: dict[str, int]  # REST group (or "control"/"not_found") -> requests
    rest_status: dict[int, int]  # HTTP status -> responses
    dropped_slow: int  # sockets dropped for not reading
    ticks: int
    rest_log: tuple[RestRecord, ...] = ()  # every /v1 call, oldest first (bounded)

    def requests_of(self, connection_id: int) -> tuple[RequestRecord, ...]:
        """The requests one connection sent, oldest first."""
        return tuple(r for r in self.requests if r.connection_id == connection_id)

    def rest_calls(self, method: str | None = None, path: str | None = None, *,
                   identifier: str | None = None) -> tuple[RestRecord, ...]:
        """The REST log filtered: ``stats.rest_calls("POST", "/v1/orders", identifier="x")``."""
        return tuple(
            r for r in self.rest_log
            if (method is None or r.method == method) and (path is None or r.path == path)
            and (identifier is None or r.identifier == identifier)
        )  # fmt: skip
