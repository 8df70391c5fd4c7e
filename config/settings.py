"""The settings schema: frozen msgspec Structs read from TOML. Pure: no I/O, no pykka.

Every field has a default, so an empty file is valid and means *zero configuration*: the
live Upbit public endpoints, SIMPLE format, permessage-deflate on. A settings file looks like::

    [upbit]
    rest_url = "https://api.upbit.com"            # base, without /v1
    websocket_url = "wss://api.upbit.com/websocket/v1"
    format = "SIMPLE"                              # DEFAULT | SIMPLE | JSON_LIST | SIMPLE_LIST

    [auth]
    access_key_env = "UPBIT_ACCESS_KEY"            # the NAME of the variable, never the key

    [hub]
    ping_interval_s = 20

    [[components]]
    plugin = "ticker-logger"                       # entry-point name (group upbit_hub.plugins)
    id = "log-btc"
    [components.params]
    symbols = ["KRW-BTC"]

Load files with :func:`upbit_hub.config.loader.load_settings`, which collects every problem at
once. Constructing the Structs directly checks only the cross-field rules (URL schemes,
``reconnect_min_s <= reconnect_max_s``, unique component ids), not the per-field ``Meta``
constraints: msgspec validates those while converting, which the loader does.

Values are immutable after construction (``frozen=True``); derive changed copies with
:func:`msgspec.structs.replace` or :meth:`Settings.with_emulator`. Runs in: any thread.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

import msgspec

from upbit_hub.actors.protocol.errors import CredentialsError

__all__ = [
    "DEFAULT_MARKETS",
    "FORMATS",
    "AuthSettings",
    "BridgeSettings",
    "BrokerSettings",
    "ComponentSettings",
    "EmulatorSettings",
    "HubSettings",
    "MetricsSettings",
    "PrivateSettings",
    "Settings",
    "SourceSettings",
    "StatusSettings",
    "TradingSettings",
    "UpbitSettings",
    "check_url",
]

FORMATS: tuple[str, ...] = ("DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST")
DEFAULT_MARKETS: tuple[str, ...] = (
    "KRW-BTC", "KRW-ETH", "KRW-XRP", "KRW-SOL", "KRW-DOGE", "KRW-ADA",
)  # fmt: skip

# Reusable constrained types.
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0.0, le=86_400.0)]
NonNegativeSeconds = Annotated[float, msgspec.Meta(ge=0.0, le=86_400.0)]
EnvVarName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
MarketCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2,6}-[A-Z0-9]{1,20}$")]
ComponentId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]+$", max_length=128)]

# A cross-field rule: values (only the fields that passed their own checks) -> [(field, msg)].
Check = Callable[[Mapping[str, Any]], list[tuple[str, str]]]


def check_url(url: str, schemes: tuple[str, ...]) -> str | None:
    """Return why ``url`` is not an absolute URL with one of ``schemes``, or None if it is.

    Port 0 is accepted (``sim.toml`` uses it as "filled in when the emulator starts").
    Runs in: any thread.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in schemes:
        want = " or ".join(f"{s}://" for s in schemes)
        got = f"'{parts.scheme}://'" if parts.scheme else "no scheme"
        return f"must start with {want} (got {got})"
    if not parts.hostname:
        return "has no host name"
    if parts.query or parts.fragment:
        return "must not carry a query string or fragment"
    return None


def _url_checks(rules: Mapping[str, tuple[str, ...]]) -> Check:
    def check(values: Mapping[str, Any]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for name, schemes in rules.items():
            url = values.get(name)
            if isinstance(url, str):
                why = check_url(url, schemes)
                if why:
                    found.append((name, f"{url!r} {why}"))
        return found

    return check


class _Section(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every settings Struct: runs the class's cross-field ``_checks`` after init."""

    _checks: ClassVar[tuple[Check, ...]] = ()

    @classmethod
    def cross_field_problems(cls, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Problems spanning fields, as ``(field, message)``; ``values`` may lack failed fields.

        Runs in: any thread.
        """
        return [p for check in cls._checks for p in check(values)]

    def __post_init__(self) -> None:
        values = {f: getattr(self, f) for f in self.__struct_fields__}
        problems = type(self).cross_field_problems(values)
        if problems:
            raise ValueError("; ".join(f"{name}: {msg}" for name, msg in problems))


def _rest_url_shape(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    url = values.get("rest_url")
    if isinstance(url, str) and urlsplit(url).path.rstrip("/").endswith("/v1"):
        return [("rest_url", f"{url!r} must be the base URL without /v1 (e.g. "
                             "'https://api.upbit.com')")]  # fmt: skip
    return []


class UpbitSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[upbit]``: where Upbit is and how its WebSocket frames are shaped."""

    rest_url: str = "https://api.upbit.com"
    websocket_url: str = "wss://api.upbit.com/websocket/v1"
    private_websocket_url: str = "wss://api.upbit.com/websocket/v1/private"
    format: Literal["DEFAULT", "SIMPLE", "JSON_LIST", "SIMPLE_LIST"] = "SIMPLE"
    compression: bool = True

    _checks: ClassVar[tuple[Check, ...]] = (
        _url_checks({
            "rest_url": ("http", "https"),
            "websocket_url": ("ws", "wss"),
            "private_websocket_url": ("ws", "wss"),
        }),
        _rest_url_shape,
    )  # fmt: skip

    def __post_init__(self) -> None:
        if self.rest_url.endswith("/"):  # "https://api.upbit.com/" + "/v1/..." would double up
            msgspec.structs.force_setattr(self, "rest_url", self.rest_url.rstrip("/"))
        super().__post_init__()


class AuthSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[auth]``: the NAMES of the environment variables holding the API keys, never the keys.

    Upbit tokens carry no expiry claim; ``token_lifetime_s`` is local policy (the JWT actor
    re-mints at 80 % of it).
    """

    access_key_env: EnvVarName = "UPBIT_ACCESS_KEY"
    secret_key_env: EnvVarName = "UPBIT_SECRET_KEY"
    jwt_algorithm: Literal["HS512", "HS256"] = "HS512"
    token_lifetime_s: Annotated[float, msgspec.Meta(ge=1.0, le=86_400.0)] = 60.0

    def read_keys(self, environ: Mapping[str, str] = os.environ) -> tuple[str, str]:
        """Return ``(access_key, secret_key)`` from ``environ``.

        Raises :class:`CredentialsError` naming every missing (or empty) variable; the message
        never contains a value. Runs in: the caller's thread.
        """
        access = environ.get(self.access_key_env, "")
        secret = environ.get(self.secret_key_env, "")
        missing = [n for n, v in ((self.access_key_env, access), (self.secret_key_env, secret))
                   if not v]  # fmt: skip
        if missing:
            names = " and ".join(missing)
            raise CredentialsError(
                f"Upbit API keys needed but {names} {'is' if len(missing) == 1 else 'are'} not "
                f"set: export {' and '.join(m + '=...' for m in missing)}, or name other "
                "variables in [auth] access_key_env / secret_key_env"
            )
        return access, secret


class PrivateSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[private]``: the private stream (myOrder, myAsset) and its REST fallback."""

    rest_fallback_after_s: NonNegativeSeconds = 10.0
    poll_interval_s: Annotated[float, msgspec.Meta(ge=0.1, le=3600.0)] = 1.0
    enabled: bool = True


def _reconnect_order(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    lo, hi = values.get("reconnect_min_s"), values.get("reconnect_max_s")
    if isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
        return [("reconnect_min_s", f"{lo} must not exceed reconnect_max_s ({hi})")]
    return []


class HubSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[hub]``: connection keepalive, reconnect backoff, rate limits and queues.

    Rate limits stay below Upbit's (5 connects/s per process; 5 messages/s and 100/min per
    connection), so the upper bounds here are Upbit's own.
    """

    ping_interval_s: Annotated[float, msgspec.Meta(gt=0.0, le=60.0)] = 20.0
    stale_after_s: PositiveSeconds = 15.0
    reconnect_min_s: PositiveSeconds = 0.5
    reconnect_max_s: PositiveSeconds = 30.0
    stable_after_s: NonNegativeSeconds = 60.0
    connects_per_s: Annotated[float, msgspec.Meta(gt=0.0, le=5.0)] = 4.0
    messages_per_s: Annotated[float, msgspec.Meta(gt=0.0, le=5.0)] = 4.0
    messages_per_min: Annotated[int, msgspec.Meta(ge=1, le=100)] = 90
    coalesce_ms: Annotated[int, msgspec.Meta(ge=0, le=10_000)] = 50
    trade_queue_size: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 10_000
    request_timeout_s: PositiveSeconds = 10.0
    component_start_timeout_s: Annotated[float, msgspec.Meta(gt=0.0, le=3600.0)] = 10.0
    component_stop_timeout_s: Annotated[float, msgspec.Meta(gt=0.0, le=4.0)] = 3.0

    _checks: ClassVar[tuple[Check, ...]] = (_reconnect_order,)


class StatusSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[status]``: the periodic status log line."""

    interval_s: Annotated[float, msgspec.Meta(ge=0.1, le=86_400.0)] = 5.0
    enabled: bool = True


def _unique_markets(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    markets = values.get("markets")
    if isinstance(markets, list):
        dups = sorted({m for m in markets if markets.count(m) > 1})
        if dups:
            return [("markets", f"lists {', '.join(dups)} more than once")]
    return []


class EmulatorSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[emulator]``: the built-in emulator started by ``upbit-hub run --sim``."""

    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65_535)] = 0
    markets: Annotated[list[MarketCode], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: list(DEFAULT_MARKETS)
    )
    rate: Annotated[float, msgspec.Meta(gt=0.0, le=1_000_000.0)] = 200.0
    seed: int = 7

    _checks: ClassVar[tuple[Check, ...]] = (_unique_markets,)


class MetricsSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[metrics]``: the optional Prometheus endpoint (``GET http://host:port/metrics``).

    ``port`` unset (the default) means off; 0 binds a free port (the log says which).
    ``host`` stays on loopback unless you want the endpoint reachable from other machines.
    """

    port: Annotated[int, msgspec.Meta(ge=0, le=65_535)] | None = None
    host: Annotated[str, msgspec.Meta(min_length=1)] = "127.0.0.1"


def _per_market_not_above_total(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    per, total = values.get("max_open_orders_per_market"), values.get("max_open_orders")
    if isinstance(per, int) and isinstance(total, int) and per > total:
        return [("max_open_orders_per_market",
                 f"{per} must not exceed max_open_orders ({total})")]  # fmt: skip
    return []


class TradingSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[trading]``: the order API's journal, pacing and pre-trade risk limits.

    Every key is optional. A risk rule that denies an order names its key in the denial's
    reason (``max_order_krw: ...``). Amounts are KRW; ``None`` (key left out) means no such
    limit where a limit can be absent.
    """

    journal_path: str | None = None  # None: a per-user state file (see the README)
    max_order_krw: Annotated[float, msgspec.Meta(gt=0)] | None = None
    max_open_orders: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 50
    max_open_orders_per_market: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 20
    orders_per_minute: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 120
    price_band_pct: Annotated[float, msgspec.Meta(gt=0, le=1000)] | None = 10.0
    daily_loss_limit_krw: Annotated[float, msgspec.Meta(gt=0)] | None = None
    max_queue_delay_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0
    order_rate_per_s: Annotated[float, msgspec.Meta(gt=0, le=100)] = 12.0
    default_rate_per_s: Annotated[float, msgspec.Meta(gt=0, le=100)] = 25.0
    request_timeout_s: Annotated[float, msgspec.Meta(gt=0, le=120)] = 5.0
    halted: bool = False  # start with the kill switch on
    paper: bool = False  # orders never reach an exchange: the emulator's engine fills them
    paper_balances: dict[str, str] = msgspec.field(
        default_factory=lambda: {"KRW": "10000000"})  # the paper account at start

    _checks: ClassVar[tuple[Check, ...]] = (_per_market_not_above_total,)


class ComponentSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One ``[[components]]`` entry: a plugin (by entry-point name) and its params.

    ``params`` is checked later against the plugin's own ``Config`` Struct
    (:func:`upbit_hub.config.loader.validate_component_params`).
    """

    plugin: Annotated[str, msgspec.Meta(min_length=1)]
    id: ComponentId
    enabled: bool = True
    params: dict[str, Any] = msgspec.field(default_factory=dict)


def _unique_ids(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    comps = values.get("components")
    if not isinstance(comps, list):
        return []
    first: dict[str, int] = {}
    found: list[tuple[str, str]] = []
    for i, comp in enumerate(comps):
        cid = getattr(comp, "id", None)
        if not isinstance(cid, str):
            continue
        if cid in first:
            found.append((f"components[{i}].id",
                          f"duplicate component id {cid!r} (also components[{first[cid]}].id); "
                          "ids must be unique"))  # fmt: skip
        else:
            first[cid] = i
    return found


def _nats_urls(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for i, url in enumerate(values.get("servers") or ()):
        why = check_url(url, ("nats", "tls")) if isinstance(url, str) else "is not a string"
        if why:
            found.append((f"servers[{i}]", f"{url!r} {why}"))
    tls = (values.get("tls_cert_file"), values.get("tls_key_file"))
    if (tls[0] is None) != (tls[1] is None):
        found.append(("tls_cert_file", "tls_cert_file and tls_key_file go together"))
    return found


StreamName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$", max_length=64)]


class BrokerSettings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What ``[bridge]`` and ``[source]`` share: how to reach NATS JetStream.

    Secrets are never in the file: ``creds_file_env`` names the variable holding the path of
    a ``.creds`` file; ``user_env``/``password_env``/``token_env`` name variables holding them.
    ``account`` labels private events (``upbit.account.<account>.myOrder.<market>``) and
    order calls; unset, the bridge uses a short hash of the access key and a remote source
    asks the bridges on the broker for theirs (:mod:`upbit_hub.actors.broker.hello`).
    """

    servers: Annotated[list[str], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["nats://127.0.0.1:4222"]
    )
    stream: StreamName = "UPBIT"
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    creds_file_env: EnvVarName | None = None
    user_env: EnvVarName | None = None
    password_env: EnvVarName | None = None
    token_env: EnvVarName | None = None
    account: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    connect_timeout_s: Annotated[float, msgspec.Meta(gt=0.0, le=60.0)] = 2.0

    _checks: ClassVar[tuple[Check, ...]] = (_nats_urls,)


class BridgeSettings(BrokerSettings, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[bridge]``: defaults of the ``nats-bridge`` plugin (its ``[components.params]`` win)
    and the hub's order service for remote components (``orders = true``)."""

    max_age_s: Annotated[float, msgspec.Meta(ge=0.0)] = 86_400.0  # 0 = unlimited
    max_bytes: Annotated[int, msgspec.Meta(ge=-1)] = 1 << 30  # -1 = unlimited
    batch_wait_ms: Annotated[float, msgspec.Meta(ge=0.0, le=1000.0)] = 5.0  # 0 = no wait
    spill_size: Annotated[int, msgspec.Meta(ge=1, le=10_000_000)] = 500_000
    publish_timeout_s: Annotated[float, msgspec.Meta(gt=0.0, le=600.0)] = 5.0
    orders: bool = False


class SourceSettings(BrokerSettings, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[source]``: components fed from JetStream (``upbit-hub run --source``).

    ``deliver`` is where a component id that never ran starts: ``new`` (from now) or ``all``
    (everything the stream holds). Later runs resume after the last acknowledged event.
    """

    enabled: bool = False
    deliver: Literal["new", "all"] = "new"
    ack_wait_s: Annotated[float, msgspec.Meta(ge=1.0, le=3600.0)] = 30.0
    max_ack_pending: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 5_000
    reorder_wait_s: Annotated[float, msgspec.Meta(ge=0.0, le=60.0)] = 2.0
    order_timeout_s: Annotated[float, msgspec.Meta(gt=0.0, le=120.0)] = 10.0


class Settings(_Section, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The whole settings file. ``Settings()`` is the zero-configuration default."""

    upbit: UpbitSettings = msgspec.field(default_factory=UpbitSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    private: PrivateSettings = msgspec.field(default_factory=PrivateSettings)
    hub: HubSettings = msgspec.field(default_factory=HubSettings)
    status: StatusSettings = msgspec.field(default_factory=StatusSettings)
    emulator: EmulatorSettings = msgspec.field(default_factory=EmulatorSettings)
    components: list[ComponentSettings] = msgspec.field(default_factory=list)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    trading: TradingSettings = msgspec.field(default_factory=TradingSettings)
    bridge: BridgeSettings = msgspec.field(default_factory=BridgeSettings)
    source: SourceSettings = msgspec.field(default_factory=SourceSettings)

    _checks: ClassVar[tuple[Check, ...]] = (_unique_ids,)

    def with_emulator(self, base_url: str) -> Settings:
        """Return a copy whose three URLs point at an emulator serving on ``base_url``.

        ``with_emulator("http://127.0.0.1:50123")`` gives ``rest_url="http://127.0.0.1:50123"``,
        ``websocket_url="ws://127.0.0.1:50123/websocket/v1"`` and
        ``private_websocket_url="ws://127.0.0.1:50123/websocket/v1/private"``
        (``https://`` maps to ``wss://``). Runs in: any thread.
        """
        why = check_url(base_url, ("http", "https"))
        if why:
            raise ValueError(f"emulator base URL {base_url!r} {why}")
        base = base_url.rstrip("/")
        parts = urlsplit(base)
        if parts.path not in ("", "/"):
            raise ValueError(f"emulator base URL {base_url!r} must be http://HOST:PORT, no path")
        ws = ("wss" if parts.scheme == "https" else "ws") + "://" + parts.netloc
        upbit = msgspec.structs.replace(
            self.upbit,
            rest_url=base,
            websocket_url=f"{ws}/websocket/v1",
            private_websocket_url=f"{ws}/websocket/v1/private",
        )
        return msgspec.structs.replace(self, upbit=upbit)
