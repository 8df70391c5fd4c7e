"""Orders of remote components, over NATS request/reply to the hub's order actor.

The hub stays the only holder of API keys. At the hub, :class:`OrderService` (started by the
``nats-bridge`` plugin with ``[bridge] orders = true``) answers requests on
``_upbit_hub.orders.<account>.rpc`` by calling the hub's own
:class:`~upbit_hub.actors.trading.gateway.OrderGateway`, and publishes each remote
component's order updates on ``_upbit_hub.orders.<account>.updates.<component id>`` (outside
``upbit.>``, so they are not stored in the event stream). At a remote source,
:class:`RemoteOrderGateway` offers the same interface as the hub's gateway, so plugin code
(``ctx.buy_limit`` ...) does not change.

Exactly once: every call carries the order's ``client_id``; the remote resends a call until
the hub answered it (across a bridge or broker reconnect), and the hub's order manager treats
a known ``client_id`` as the same order (it answers with the order's state, never places it
twice). Calls are sent one at a time, in the order they were made.

Runs in: ``OrderService`` callbacks and ``RemoteOrderGateway``'s worker in the loop thread;
the gateway's public methods in any thread (they return at once, but ``attach``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import msgspec

from ..protocol.errors import HubError
from ..trading.ids import new_client_id
from ..trading.types import OrderRequest, OrderUpdate

log = logging.getLogger(__name__)

PREFIX = "_upbit_hub.orders"


class OrderCall(msgspec.Struct, frozen=True, kw_only=True):
    """One call of the gateway interface, remote -> hub."""

    op: str  # submit cancel cancel_all replace halt reset attach detach
    component_id: str | None = None
    request: OrderRequest | None = None
    client_id: str | None = None
    market: str | None = None
    side: str | None = None
    remain_only: bool = False
    reason: str | None = None


class OrderReply(msgspec.Struct, frozen=True, kw_only=True):
    """The hub's answer."""

    ok: bool
    error: str | None = None
    updates: list[OrderUpdate] = msgspec.field(default_factory=list)
    balances: dict[str, Decimal] = msgspec.field(default_factory=dict)


_enc = msgspec.msgpack.Encoder()
_call_dec = msgspec.msgpack.Decoder(OrderCall)
_reply_dec = msgspec.msgpack.Decoder(OrderReply)
_update_dec = msgspec.msgpack.Decoder(OrderUpdate)


def rpc_subject(account: str) -> str:
    return f"{PREFIX}.{account}.rpc"


def updates_subject(account: str, component_id: str) -> str:
    return f"{PREFIX}.{account}.updates.{component_id}"


class OrderService:
    """At the hub: answers remote components' order calls (see the module docstring)."""

    def __init__(self, loop: Any, nc: Any, hub: Any, account: str,
                 logger: logging.Logger | None = None) -> None:
        self.loop = loop
        self.nc = nc
        self.hub = hub
        self.account = account
        self.log = logger or log
        self.calls = 0
        self.errors = 0
        self._sub: Any = None
        self._attached: set[str] = set()

    def start(self) -> OrderService:
        """Subscribe to the request subject. Runs in: any thread but the loop's."""
        async def go() -> None:
            self._sub = await self.nc.subscribe(rpc_subject(self.account), cb=self._on_call)

        self.loop.run(go(), timeout=10.0)
        self.log.info("serving remote components' orders on %s", rpc_subject(self.account))
        return self

    async def _on_call(self, msg: Any) -> None:
        try:
            call = _call_dec.decode(msg.data)
        except Exception as exc:
            self.errors += 1
            self.log.warning("remote order call skipped: not an OrderCall (%s)", exc)
            if msg.reply:
                await self.nc.publish(msg.reply, _enc.encode(OrderReply(ok=False,
                                      error=f"malformed call: {exc}")))  # fmt: skip
            return
        self.calls += 1
        try:
            # the gateway's calls are tells; attach asks the order actor: off the loop
            reply = await asyncio.get_running_loop().run_in_executor(None, self._do, call)
        except Exception as exc:
            self.errors += 1
            reply = OrderReply(ok=False, error=f"{type(exc).__name__}: {exc}"[:300])
        if msg.reply:
            await self.nc.publish(msg.reply, _enc.encode(reply))

    def _do(self, call: OrderCall) -> OrderReply:
        """Carry out one call on the hub's gateway. Runs in: an executor thread."""
        gw = self.hub.order_gateway()
        updates: list[OrderUpdate] = []
        op = call.op
        if op == "submit" and call.request is not None:
            self._ensure_attached(gw, call.request.component_id)
            gw.submit(call.request)
        elif op == "cancel" and call.client_id:
            gw.cancel(call.client_id)
        elif op == "cancel_all":
            gw.cancel_all(call.component_id, call.market, call.side)
        elif op == "replace" and call.client_id and call.request is not None:
            self._ensure_attached(gw, call.request.component_id)
            gw.replace(call.client_id, call.request, call.remain_only)
        elif op == "halt":
            gw.halt(call.reason or "halted by a remote component")
        elif op == "reset":
            gw.reset()
        elif op == "attach" and call.component_id:
            updates = self._ensure_attached(gw, call.component_id, force=True)
        elif op == "detach" and call.component_id:
            self._attached.discard(call.component_id)
            gw.detach(call.component_id)
        else:
            return OrderReply(ok=False, error=f"unknown or incomplete call {op!r}")
        return OrderReply(ok=True, updates=updates, balances=dict(gw.balances))

    def _ensure_attached(self, gw: Any, component_id: str, force: bool = False
                         ) -> list[OrderUpdate]:
        if component_id in self._attached and not force:
            return []
        subject = updates_subject(self.account, component_id)
        nc, loop = self.nc, self.loop

        def sink(update: OrderUpdate) -> None:  # the order actor's thread
            data = _enc.encode(update)
            loop.call_soon(lambda: asyncio.ensure_future(nc.publish(subject, data)))

        self._attached.add(component_id)
        return gw.attach(component_id, sink)

    def stop(self) -> None:
        """Stop answering. Runs in: any thread but the loop's."""
        if self._sub is None:
            return

        async def go() -> None:
            try:
                await self._sub.unsubscribe()
            except Exception:
                pass

        try:
            self.loop.run(go(), timeout=2.0)
        except Exception:
            pass
        self._sub = None


class RemoteOrderGateway:
    """At a remote source: the order gateway interface over NATS (see the module docstring)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.clock = source.clock
        self.account = source.account
        self.timeout_s = source.cfg.order_timeout_s
        self.balances: dict[str, Decimal] = {}
        self.sent = 0
        self.retries = 0
        self._queue: asyncio.Queue[OrderCall] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._sinks: dict[str, Callable[[OrderUpdate], None]] = {}
        self._subs: dict[str, Any] = {}

    # -- the gateway interface (any thread) -------------------------------------------------

    def new_client_id(self) -> str:
        return new_client_id(int(self.clock.time() * 1000), None)

    def submit(self, request: OrderRequest) -> None:
        self._send(OrderCall(op="submit", request=request))

    def cancel(self, client_id: str) -> None:
        self._send(OrderCall(op="cancel", client_id=client_id))

    def cancel_all(self, component_id: str | None, market: str | None = None,
                   side: str | None = None) -> None:
        self._send(OrderCall(op="cancel_all", component_id=component_id, market=market,
                             side=side))  # fmt: skip

    def replace(self, old_client_id: str, request: OrderRequest, remain_only: bool) -> None:
        self._send(OrderCall(op="replace", client_id=old_client_id, request=request,
                             remain_only=remain_only))  # fmt: skip

    def halt(self, reason: str) -> None:
        self._send(OrderCall(op="halt", reason=reason))

    def reset(self) -> None:
        self._send(OrderCall(op="reset"))

    def attach(self, component_id: str, sink: Callable[[OrderUpdate], None]) -> list[OrderUpdate]:
        """Hear ``component_id``'s updates; returns its orders' state at the hub (an ask, the
        one call that waits). Runs in: the component's thread."""
        self._sinks[component_id] = sink
        try:
            return self.source.loop.run(self._attach(component_id), timeout=self.timeout_s + 1)
        except Exception as exc:
            raise HubError(f"remote orders: the hub did not answer attach ({exc}); is its "
                           "nats-bridge running with [bridge] orders = true?") from exc

    def detach(self, component_id: str) -> None:
        self._sinks.pop(component_id, None)
        self._send(OrderCall(op="detach", component_id=component_id))

    def balance(self, currency: str) -> Decimal:
        return self.balances.get(currency.upper(), Decimal(0))

    def stop(self) -> None:
        """Stop the worker (calls not yet answered are abandoned). Runs in: any thread."""
        if self._worker is not None:
            self.source.loop.call_soon(self._worker.cancel)

    # -- loop thread ----------------------------------------------------------------------

    def _send(self, call: OrderCall) -> None:
        self.source.loop.call_soon(self._enqueue, call)

    def _enqueue(self, call: OrderCall) -> None:
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._work())
        self._queue.put_nowait(call)

    async def _work(self) -> None:
        assert self._queue is not None
        while True:
            call = await self._queue.get()
            await self._until_answered(call)

    async def _until_answered(self, call: OrderCall) -> OrderReply:
        """Send ``call`` until the hub answers (the hub's idempotency makes resends safe)."""
        data = _enc.encode(call)
        attempt = 0
        while True:
            attempt += 1
            try:
                msg = await self.source.nc.request(rpc_subject(self.account), data,
                                                   timeout=self.timeout_s)  # fmt: skip
                reply = _reply_dec.decode(msg.data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.retries += 1
                if attempt == 1 or attempt % 10 == 0:
                    log.warning("remote order %s %s: no answer from the hub yet (%s: %s); "
                                "resending", call.op, _cid(call), type(exc).__name__,
                                exc)  # fmt: skip
                await asyncio.sleep(min(1.0, 0.1 * attempt))
                continue
            self.sent += 1
            if reply.balances:
                self.balances = dict(reply.balances)
            if not reply.ok:
                log.error("remote order %s %s refused by the hub: %s", call.op, _cid(call),
                          reply.error)  # fmt: skip
            return reply

    async def _attach(self, component_id: str) -> list[OrderUpdate]:
        nc = self.source.nc
        if component_id not in self._subs:
            async def on_update(msg: Any) -> None:
                sink = self._sinks.get(component_id)
                if sink is None:
                    return
                try:
                    sink(_update_dec.decode(msg.data))
                except Exception:
                    log.exception("remote order update for %s could not be delivered",
                                  component_id)  # fmt: skip

            self._subs[component_id] = await nc.subscribe(
                updates_subject(self.account, component_id), cb=on_update)
        msg = await nc.request(rpc_subject(self.account),
                               _enc.encode(OrderCall(op="attach", component_id=component_id)),
                               timeout=self.timeout_s)  # fmt: skip
        reply = _reply_dec.decode(msg.data)
        if not reply.ok:
            raise HubError(f"remote orders: {reply.error}")
        if reply.balances:
            self.balances = dict(reply.balances)
        return list(reply.updates)


def _cid(call: OrderCall) -> str:
    if call.request is not None:
        return call.request.client_id
    return call.client_id or call.component_id or ""
