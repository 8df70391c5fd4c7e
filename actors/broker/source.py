"""RemoteHub: ``upbit-hub run --source nats://HOST:PORT`` feeds components from JetStream.

It stands where the :class:`~upbit_hub.actors.hub.Hub` stands for
:class:`~upbit_hub.actors.client.WebSocketClientProxy`, the plugin host and the status view,
so components run unchanged through the same ``Component``/``Context`` API, each in its own
component actor with its own inbox. Instead of Upbit connections and the registry, each
component id gets a durable JetStream consumer (:class:`~.consumer.RemoteConsumer`) whose
subjects follow that component's subscriptions. No Upbit URL is contacted (REST snapshot
helpers reach ``[upbit] rest_url`` only if a component calls them). Orders go to the hub that
holds the keys, over request/reply (:mod:`.orders`).

Runs in: ``start``/``stop``/``status`` and the proxy-facing methods in the caller's thread;
the consumers in the loop thread (:class:`~.loop.LoopThread`).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

import pykka

from ..component import ComponentProxyActor
from ..inbox import ComponentInbox
from ..messages import ComponentDied, DropComponent, GetStatus, Ping, Subscribe, Unsubscribe
from ..protocol.errors import HubError
from .connect import LinkState, connect
from .consumer import RemoteConsumer
from .loop import LoopThread

log = logging.getLogger(__name__)

_seq = itertools.count(1)


class _RegistryPort:
    """What components tell "the registry": handled by the source in the loop thread."""

    def __init__(self, source: RemoteHub) -> None:
        self._source = source

    def tell(self, message: Any) -> None:
        """Runs in: any thread. Raises ``ActorDeadError`` once the source stopped."""
        if not self._source.running:
            raise pykka.ActorDeadError("the remote source is stopped")
        self._source.loop.call_soon(self._source._handle, message)

    def ask(self, message: Any, timeout: float | None = None) -> Any:
        if isinstance(message, Ping):
            return True
        if isinstance(message, GetStatus):
            return self._source.source_status()
        return None


class RemoteHub:
    """Components fed from JetStream; see the module docstring."""

    def __init__(self, settings: Any, *, environ: Mapping[str, str] | None = None) -> None:
        import os

        from ..rest import RestClient

        self.settings = settings
        env = dict(os.environ if environ is None else environ)
        for name in (settings.auth.access_key_env, settings.auth.secret_key_env):
            # the keys stay at the hub: a placeholder lets private subscriptions through
            if not env.get(name):
                env[name] = "held-by-the-hub"
        self.environ: Mapping[str, str] = env
        src = settings.source
        self.cfg = src
        self.stream = src.stream
        self.account = src.account or "default"  # unset: the hub's bridge says (hello)
        self.account_guessed = False  # True: no hub told us yet (see settle_account)
        self.deliver = src.deliver
        self.ack_wait_s = src.ack_wait_s
        self.reorder_wait_s = src.reorder_wait_s
        self.coalesce_s = settings.hub.coalesce_ms / 1000.0
        self.loop = LoopThread("upbit-hub-nats-source")
        self.link = LinkState()
        self.nc: Any = None
        self.js: Any = None
        self.registry = _RegistryPort(self)
        self.markets = None
        self.timers: Any = None
        self.clock: Any = None
        self.rest = RestClient(settings.upbit.rest_url, timeout=settings.hub.request_timeout_s,
                               token_factory=_no_keys)  # fmt: skip
        self.components: dict[str, pykka.ActorRef[Any]] = {}
        self.consumers: dict[str, RemoteConsumer] = {}
        self._lock = threading.Lock()
        self._orders: Any = None
        self.running = False

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> RemoteHub:
        """Connect to NATS (``BrokerConnectError`` if it cannot) and check the stream."""
        from ..timers import TimerService
        from ..trading.clock import LiveClock

        self.loop.start()
        try:
            self.loop.run(self._connect(), timeout=self.cfg.connect_timeout_s * 4 + 10.0)
        except BaseException:
            self.loop.stop()
            raise
        self.timers = TimerService()
        self.clock = LiveClock(self.timers.call_later)
        self.running = True
        log.info("remote source: components fed from %s stream %s",
                 ",".join(self.cfg.servers), self.stream)  # fmt: skip
        return self

    async def _connect(self) -> None:
        from nats.js.errors import NotFoundError

        from ..protocol.errors import BrokerConfigError

        self.nc = await connect(self.cfg, self.environ, self.link, "upbit-hub-source")
        self.js = self.nc.jetstream(timeout=5.0)
        self.link.listeners.append(self._rebind_all)
        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.nc.close()
            raise BrokerConfigError(
                f"JetStream stream {self.stream!r} does not exist on {self.link.url}: start "
                "the hub with the nats-bridge plugin first (it creates the stream), or set "
                "[source] stream") from None
        if not self.cfg.account:
            self.account = await self._discover_account()

    async def settle_account(self) -> str:
        """The account label, asked again if no hub had answered at start (it may have been
        down): the first private subscription or order call settles it. Runs in: the loop
        thread."""
        if self.account_guessed:
            label = await self._discover_account(quiet=True)
            if label != "default":
                self.account = label
                self.account_guessed = False
        return self.account

    async def _discover_account(self, quiet: bool = False) -> str:
        """The account label of the hub publishing to our stream: asked of the bridges
        (hello), else read off the stream's private subjects, else ``default``."""
        from ..protocol.errors import BrokerConfigError
        from . import hello

        url = self.link.url or ",".join(self.cfg.servers)
        label = hello.choose(await hello.gather(self.nc), self.stream, url)
        if label is not None:
            log.info("remote source: account %s (as the hub's bridge labels it)", label)
            return label
        info = await self.js.stream_info(self.stream, subjects_filter="upbit.account.>")
        labels = sorted({s.split(".")[2] for s in (info.state.subjects or {})
                         if s.count(".") >= 3})  # fmt: skip
        if len(labels) > 1:
            raise BrokerConfigError(
                f"stream {self.stream!r} holds private events of several accounts "
                f"({', '.join(labels)}) and no hub answered: set [source] account")
        if labels:
            log.info("remote source: account %s (read off the stream; no hub answered)",
                     labels[0])  # fmt: skip
            return labels[0]
        self.account_guessed = True
        if quiet:
            return "default"
        # info: a component that reads private events under it is warned at bind time
        log.info("remote source: no hub answered and the stream holds no private events: "
                 "private events and orders use account 'default' (set [source] account to "
                 "the label the hub's bridge logs if that is not its label)")
        return "default"

    async def _rebind_all(self) -> None:
        for consumer in list(self.consumers.values()):
            consumer.request_bind()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop components, then the consumers and the client. Idempotent."""
        if not self.running and self.nc is None:
            return
        with self._lock:
            components = list(self.components.values())
            self.components.clear()
        for ref in components:
            try:
                ref.stop(block=True, timeout=timeout)
            except (pykka.Timeout, pykka.ActorDeadError):
                pass
        self.running = False
        if self._orders is not None:
            self._orders.stop()
        try:
            self.loop.run(self._close(), timeout=timeout)
        except Exception:
            log.debug("closing the remote source", exc_info=True)
        self.loop.stop()
        if self.timers is not None:
            self.timers.stop()
        self.nc = None

    async def _close(self) -> None:
        for consumer in list(self.consumers.values()):
            await consumer.close()
        if self.nc is not None:
            try:
                await self.nc.flush(1.0)
            except Exception:
                pass
            self.link.closing = True
            await self.nc.close()

    # -- what proxies use ------------------------------------------------------------------

    def create_component(
        self, component_id: str, *, error_policy: str = "continue", capacity: int | None = None
    ) -> tuple[ComponentInbox, pykka.ActorRef[Any]]:
        """A component actor whose inbox is fed by this component id's durable consumer."""
        if not self.running:
            raise HubError("the remote source is not running")
        key = f"{component_id}#{next(_seq)}"
        inbox = ComponentInbox(key, component_id,
                               capacity or self.settings.hub.trade_queue_size)  # fmt: skip
        consumer = RemoteConsumer(self, component_id, inbox)
        ref = ComponentProxyActor.start(inbox, self.registry, error_policy)  # type: ignore[arg-type]
        inbox.actor_ref = ref
        with self._lock:
            self.components[key] = ref
            self.consumers[key] = consumer
        return inbox, ref

    def max_ack_pending(self, inbox: ComponentInbox) -> int:
        """Never more unacknowledged messages than the inbox's trade queue holds."""
        return max(1, min(self.cfg.max_ack_pending, inbox.capacity))

    def forget_component(self, key: str) -> None:
        with self._lock:
            self.components.pop(key, None)

    def connection_status(self, endpoint: str, timeout: float = 2.0) -> dict[str, Any]:
        """The NATS link as a "connection" (the waiting note of the plugin host uses it)."""
        link = self.link
        return {"state": "connected" if link.connected else "reconnecting",
                "url": link.url or ",".join(self.cfg.servers), "last_error": link.last_error}

    def order_gateway(self) -> Any:
        """Orders of remote components go to the hub over NATS request/reply."""
        with self._lock:
            if self._orders is None:
                if not self.running:
                    raise HubError("the remote source is not running")
                from .remote_orders import RemoteOrderGateway

                self._orders = RemoteOrderGateway(self)
            return self._orders

    def market_problem(self, market: str) -> str | None:
        return None

    # -- loop thread -------------------------------------------------------------------------

    def _handle(self, message: Any) -> None:
        """Subscribe / Unsubscribe / DropComponent from proxies. Runs in: the loop thread."""
        if isinstance(message, Subscribe):
            consumer = self.consumers.get(message.inbox.component_key)
            if consumer is not None:
                consumer.wishes[message.sub_id] = tuple(
                    (w.key.type, w.key.code) for w in message.wishes)
                consumer.request_bind()
            _resolve(message.done)
        elif isinstance(message, Unsubscribe):
            consumer = self.consumers.get(message.component_key)
            if consumer is not None and consumer.wishes.pop(message.sub_id, None) is not None:
                consumer.request_bind()
            _resolve(message.done)
        elif isinstance(message, (DropComponent, ComponentDied)):
            consumer = self.consumers.pop(message.component_key, None)
            if consumer is not None:
                import asyncio

                asyncio.get_running_loop().create_task(consumer.close())

    # -- introspection -----------------------------------------------------------------------

    def source_status(self) -> dict[str, Any]:
        """Per component: received, acked, pending, redelivered, gaps, lag. Runs in: any."""
        out: dict[str, Any] = {}
        for consumer in list(self.consumers.values()):
            out[consumer.component_id] = consumer.snapshot()
        return out

    def status(self, timeout: float = 2.0) -> dict[str, Any]:
        """Hub-shaped status: the NATS link as the one connection, plus ``source``."""
        if not self.running:
            return {"running": False}
        comps = self.source_status()
        by_type: dict[str, int] = {}
        events = sum(int(c.get("received") or 0) for c in comps.values())
        link = self.link
        conn = {"state": "connected" if link.connected else "reconnecting",
                "url": link.url, "sessions": 1 + link.reconnects, "events": events,
                "events_by_type": by_type, "last_error": link.last_error,
                "connect_failures": link.disconnects}  # fmt: skip
        out: dict[str, Any] = {"running": True, "connections": {"nats": conn},
                               "components": {}, "source": comps}  # fmt: skip
        with self._lock:
            refs = dict(self.components)
        for key, ref in refs.items():
            try:
                out["components"][key] = ref.ask(GetStatus(), timeout=timeout)
            except (pykka.ActorDeadError, pykka.Timeout) as exc:
                out["components"][key] = {"error": type(exc).__name__}
        return out


def _resolve(done: Future[Any] | None) -> None:
    if done is not None and not done.done():
        done.set_result(None)


def _no_keys(query: str) -> str:
    raise HubError("a remote source holds no API keys: private REST calls go through the hub")
