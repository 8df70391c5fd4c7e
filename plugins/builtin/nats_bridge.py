"""``nats-bridge``: publish the hub's events to NATS JetStream for components elsewhere.

Config (``[components.params]``; unset connection fields come from ``[bridge]``)::

    [[components]]
    plugin = "nats-bridge"
    id = "bridge"
    [components.params]
    servers = ["nats://127.0.0.1:4222"]
    types = ["ticker", "trade"]         # ticker trade orderbook candle myOrder myAsset
    symbols = ["KRW-BTC", "KRW-ETH"]   # or all_markets = true: every market Upbit lists
    stream = "UPBIT"                    # created at start, or checked if it exists
    max_age_s = 86400                   # retention (0 = unlimited)
    max_bytes = 1073741824              # retention (-1 = unlimited)
    batch_wait_ms = 5                   # hybrid batching wait (0 = publish at once)
    orders = false                      # true: serve remote components' orders
    # tls_ca_file / tls_cert_file / tls_key_file, and secrets by variable NAME only:
    # creds_file_env / user_env / password_env / token_env

Subjects ``upbit.<type>.<market>`` (private events ``upbit.account.<account>.<type>...``),
msgpack payloads, ``Nats-Msg-Id`` per event: see :mod:`upbit_hub.actors.broker.codec`.

Every event once: the bridge taps its proxy (``WebSocketClientProxy.tap``), so events go
from the connection's reader thread straight into the publisher's bounded spill buffer (no
ticker conflation, not behind the inbox's bounded trade queue). BACKFILL trades (re-fetched
after a socket drop by :mod:`upbit_hub.actors.gapfill`) arrive the same way and are published
like live ones, in order, with their ``stream_type``. Publishing never blocks the hub; see
:mod:`upbit_hub.actors.broker.publisher`. With ``[bridge] orders = true`` the bridge also
serves remote components' orders (:mod:`upbit_hub.actors.broker.orders`).

An unreachable server or an incompatible stream fails ``on_start`` with a clear error: the
component is reported failed and the hub (and the other components) keep running.

Runs in: ``on_start``/``on_stop`` in the component's thread; publishing in the bridge's own
asyncio thread (:class:`~upbit_hub.actors.broker.loop.LoopThread`); ``status_lines`` in the
status view's thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Annotated, Any, Literal

import msgspec

from upbit_hub.actors.broker import hello
from upbit_hub.actors.broker.connect import LinkState, connect
from upbit_hub.actors.broker.loop import LoopThread
from upbit_hub.actors.broker.publisher import Publisher
from upbit_hub.actors.broker.stream import StreamSpec, ensure_stream
from upbit_hub.plugins.sdk import Component, Context

__all__ = ["NatsBridge", "NatsBridgeConfig"]

StreamKind = Literal["ticker", "trade", "orderbook", "candle", "myOrder", "myAsset"]
MarketCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2,6}-[A-Z0-9]{1,20}$")]
EnvVarName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]

_CONNECTION = ("servers", "stream", "tls_ca_file", "tls_cert_file", "tls_key_file",
               "creds_file_env", "user_env", "password_env", "token_env", "account",
               "connect_timeout_s", "max_age_s", "max_bytes", "batch_wait_ms", "spill_size",
               "publish_timeout_s", "orders")  # fmt: skip


class NatsBridgeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[components.params]`` of the bridge (None: take ``[bridge]``'s value)."""

    servers: Annotated[list[str], msgspec.Meta(min_length=1)] | None = None
    types: Annotated[list[StreamKind], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["ticker", "trade"]
    )
    symbols: list[MarketCode] = msgspec.field(default_factory=lambda: ["KRW-BTC"])
    candle_interval: Literal["1s", "1m", "3m", "5m", "10m", "15m", "30m", "60m", "240m"] = "1m"
    stream: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    max_age_s: Annotated[float, msgspec.Meta(ge=0.0)] | None = None
    max_bytes: Annotated[int, msgspec.Meta(ge=-1)] | None = None
    batch_wait_ms: Annotated[float, msgspec.Meta(ge=0.0, le=1000.0)] | None = None
    spill_size: Annotated[int, msgspec.Meta(ge=1)] | None = None
    publish_timeout_s: Annotated[float, msgspec.Meta(gt=0.0)] | None = None
    connect_timeout_s: Annotated[float, msgspec.Meta(gt=0.0)] | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    creds_file_env: EnvVarName | None = None
    user_env: EnvVarName | None = None
    password_env: EnvVarName | None = None
    token_env: EnvVarName | None = None
    account: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$")] | None = None
    orders: bool | None = None  # serve remote components' orders (needs the hub's keys)
    all_markets: bool = False  # every market Upbit lists (symbols is then ignored)

    def __post_init__(self) -> None:
        from upbit_hub.config.settings import check_url

        for url in self.servers or ():
            why = check_url(url, ("nats", "tls"))
            if why:
                raise ValueError(f"servers: {url!r} {why}")
        market = {"ticker", "trade", "orderbook", "candle"}
        if market & set(self.types) and not self.symbols and not self.all_markets:
            raise ValueError("symbols: name at least one market for the market types (or "
                             "all_markets = true)")


def effective_settings(params: NatsBridgeConfig | None, bridge: Any) -> Any:
    """``[bridge]`` with the plugin's non-None params laid over it. Runs in: any thread."""
    from upbit_hub.config.settings import BridgeSettings

    base = bridge if bridge is not None else BridgeSettings()
    if params is None:
        return base
    changes = {k: getattr(params, k) for k in _CONNECTION if getattr(params, k) is not None}
    return msgspec.structs.replace(base, **changes)


def account_label(cfg: Any, hub: Any) -> str:
    """``account`` from the settings, else a short hash of the access key (never the key),
    else ``default``. Runs in: any thread."""
    if cfg.account:
        return cfg.account
    try:
        access, _ = hub.settings.auth.read_keys(hub.environ)
    except Exception:
        return "default"
    return hashlib.sha256(access.encode()).hexdigest()[:12]


class NatsBridge(Component):
    """Publishes the configured events to JetStream; see the module docstring."""

    name = "nats-bridge"
    Config = NatsBridgeConfig

    def __init__(self, config: NatsBridgeConfig | None = None) -> None:
        super().__init__(config if config is not None else NatsBridgeConfig())
        self.loop: LoopThread | None = None
        self.publisher: Publisher | None = None
        self.link = LinkState()
        self.orders: Any = None  # broker.orders.OrderService with [bridge] orders = true
        self._nc: Any = None
        self._last: tuple[float, dict[str, Any]] | None = None
        self._rates: dict[str, float] = {}
        self._accepting = True

    def on_start(self, ctx: Context) -> None:
        """Connect, create/check the stream, tap the inbox, subscribe. Raises a
        ``BrokerConnectError``/``BrokerConfigError`` (the component fails, the hub runs on)."""
        params: NatsBridgeConfig = self.config
        hub = ctx.proxy.hub
        cfg = effective_settings(params, getattr(hub.settings, "bridge", None))
        symbols = self._symbols(params, hub)
        self.account = account_label(cfg, hub)
        self.loop = LoopThread(f"upbit-hub-nats-{ctx.id}").start()
        spec = StreamSpec(cfg.stream, cfg.max_age_s, cfg.max_bytes)
        self.publisher = Publisher(
            self.loop, stream=cfg.stream, account=self.account, spill_size=cfg.spill_size,
            batch_wait_s=cfg.batch_wait_ms / 1000.0, publish_timeout_s=cfg.publish_timeout_s,
        )  # fmt: skip
        try:
            self.loop.run(self._start(cfg, spec, hub.environ, ctx.id),
                          timeout=cfg.connect_timeout_s * 2 + 10.0)  # fmt: skip
        except BaseException:
            self._teardown(0.5)
            raise
        if cfg.orders:
            from upbit_hub.actors.broker.orders import OrderService

            self.orders = OrderService(self.loop, self._nc, hub, self.account,
                                       logger=ctx.logger).start()  # fmt: skip
        self._tap(ctx)
        types = set(params.types)
        handler = self._never
        if "ticker" in types:
            ctx.subscribe_ticker(symbols, handler=handler)
        if "trade" in types:
            ctx.subscribe_trade(symbols, handler=handler)
        if "orderbook" in types:
            ctx.subscribe_orderbook(symbols, handler=handler)
        if "candle" in types:
            ctx.subscribe_candle(symbols, interval=params.candle_interval,
                                 handler=handler)  # fmt: skip
        if "myOrder" in types:
            ctx.subscribe_my_order(None if params.all_markets else (symbols or None),
                                   handler=handler)  # fmt: skip
        if "myAsset" in types:
            ctx.subscribe_my_asset(handler=handler)
        ctx.logger.info("bridging %s of %s to %s stream %s (batching %gms, account %s)",
                        ",".join(params.types),
                        f"{len(symbols)} markets" if params.all_markets else ",".join(symbols),
                        ",".join(cfg.servers), cfg.stream, cfg.batch_wait_ms,
                        self.account)  # fmt: skip

    @staticmethod
    def _symbols(params: NatsBridgeConfig, hub: Any) -> list[str]:
        """``symbols``, or with ``all_markets`` every market the hub's catalogue lists."""
        if not params.all_markets:
            return list(params.symbols)
        markets = getattr(hub, "markets", None)
        if markets is not None and not markets.loaded:
            markets.first_attempt.wait(10.0)
        codes = sorted(markets.codes) if markets is not None else []
        if not codes:
            from upbit_hub.actors.protocol.errors import BrokerConfigError

            raise BrokerConfigError("all_markets: the hub could not load Upbit's market list; "
                                    "name the markets in symbols instead")
        return codes

    async def _start(self, cfg: Any, spec: StreamSpec, environ: Any, cid: str) -> None:
        self._nc = await connect(cfg, environ, self.link, f"upbit-hub-bridge-{cid}")
        js = self._nc.jetstream(timeout=cfg.publish_timeout_s)
        await ensure_stream(js, spec)
        me = hello.Hello(account=self.account, stream=cfg.stream, orders=bool(cfg.orders),
                         name=cid)  # fmt: skip
        await hello.check_unique(self._nc, me, self.link.url or ",".join(cfg.servers))
        await hello.serve(self._nc, me)
        assert self.publisher is not None
        await self.publisher.start(self._nc, js)

    def _tap(self, ctx: Context) -> None:
        """Route this component's events from the reader thread straight to the publisher
        (``WebSocketClientProxy.tap``: posted functions still go through the inbox)."""
        offer = self.publisher.offer  # type: ignore[union-attr]

        def take(ev: Any) -> None:
            if self._accepting:  # until on_stop: then the subscriptions are being removed
                offer(ev)

        ctx.proxy.tap(take)

    def _never(self, ev: Any) -> None:
        """Not called: the tap hands events to the publisher before the inbox."""

    def on_stop(self) -> None:
        """Publish what is buffered (briefly), then close the client and the loop thread."""
        self._accepting = False
        self._teardown(1.5)

    def _teardown(self, flush_s: float) -> None:
        loop = self.loop
        if loop is None:
            return
        if self.orders is not None:
            self.orders.stop()
        try:
            loop.run(self._close(flush_s), timeout=flush_s + 2.0)
        except Exception:
            pass
        loop.stop()
        self.loop = None

    async def _close(self, flush_s: float) -> None:
        if self.publisher is not None:
            deadline = time.monotonic() + flush_s
            while self._nc is not None and not self._nc.is_connected and \
                    time.monotonic() < deadline:  # fmt: skip
                await asyncio.sleep(0.02)  # a reconnect under way: let it publish the rest
            if self._nc is not None and self._nc.is_connected:
                await self.publisher.flush(max(0.1, deadline - time.monotonic()))
            await self.publisher.close()
        if self._nc is not None:
            self.link.closing = True
            try:
                await self._nc.close()
            except Exception:
                pass

    def stats(self) -> dict[str, Any]:
        """Publisher counters plus the link state. Runs in: any thread."""
        out = self.publisher.snapshot() if self.publisher is not None else {}
        out["connected"] = self.link.connected
        out["reconnects"] = self.link.reconnects
        return out

    def status_line(self) -> str | None:
        """The same, for the plain log line. Runs in: the status view's thread."""
        lines = self.status_lines()
        return lines[0] if lines else None

    def status_lines(self) -> list[str]:
        """Published/acked/pending/dropped per second. Runs in: the status view's thread."""
        if self.publisher is None:
            return []
        now, snap = time.monotonic(), self.publisher.snapshot()
        if self._last is not None and now > self._last[0]:
            dt = now - self._last[0]
            self._rates = {k: (snap[k] - self._last[1][k]) / dt
                           for k in ("published", "acked", "dropped")}  # fmt: skip
        self._last = (now, snap)
        r = self._rates
        link = "connected" if self.link.connected else "RECONNECTING"
        return [
            f"nats {link} ({self.link.url}): published {snap['published']} "
            f"({r.get('published', 0):.0f}/s), acked {snap['acked']} ({r.get('acked', 0):.0f}/s), "
            f"pending {snap['pending']}, dropped {snap['dropped']} ({r.get('dropped', 0):.0f}/s)"
            + (f", resent {snap['resent']}" if snap["resent"] else "")
        ]
