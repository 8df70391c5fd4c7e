"""Orders of remote components, over NATS request/reply to the hub's order actor: the hub side.

The hub stays the only holder of API keys. At the hub, :class:`OrderService` (started by the
``nats-bridge`` plugin with ``[bridge] orders = true``) answers requests on
``_upbit_hub.orders.<account>.rpc`` by calling the hub's own
:class:`~upbit_hub.actors.trading.gateway.OrderGateway`, and publishes each remote
component's order updates on ``_upbit_hub.orders.<account>.updates.<component id>`` (outside
``upbit.>``, so they are not stored in the event stream). At a remote source,
:class:`~.remote_orders.RemoteOrderGateway` offers the same interface as the hub's gateway,
so plugin code (``ctx.buy_limit`` ...) does not change.

Exactly once: every call carries the order's ``client_id``; the remote resends a call until
the hub answered it (across a bridge or broker reconnect), and the hub's order manager treats
a known ``client_id`` as the same order (it answers with the order's state, never places it
twice). Calls are sent one at a time, in the order they were made.

None lost track of: updates travel over plain NATS, which does not keep what a disconnected
subscriber missed. So each component's updates are numbered (``seq``, under the service's
random ``epoch``) and kept in an :class:`UpdateLog` of the last ``LOG_SIZE``. A remote that
sees a hole in the numbers, or that has just reconnected, or hears a new service announce
itself on ``_upbit_hub.orders.<account>.up``, asks ``resume`` with the last number it
delivered and gets the rest, in order. When the log no longer holds that far back,
or the hub restarted (a new epoch), the answer is ``reset`` with the current state of every
order of the component (the remote hands on only what changed).

Runs in: ``OrderService`` callbacks in the loop thread, its calls in executor threads, the
update sinks in the order actor's thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from decimal import Decimal
from typing import Any

import msgspec

from ..trading.types import OrderRequest, OrderUpdate

log = logging.getLogger(__name__)

PREFIX = "_upbit_hub.orders"
LOG_SIZE = 10_000  # updates kept per component for a remote's resume


class OrderCall(msgspec.Struct, frozen=True, kw_only=True):
    """One call of the gateway interface, remote -> hub."""

    op: str  # submit cancel cancel_all replace halt reset attach detach resume
    component_id: str | None = None
    request: OrderRequest | None = None
    client_id: str | None = None
    market: str | None = None
    side: str | None = None
    remain_only: bool = False
    reason: str | None = None
    epoch: str | None = None  # resume: the epoch and last seq the remote delivered
    after: int = 0


class UpdateEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """One order update of one component, numbered (hub -> remote)."""

    epoch: str
    seq: int
    update: OrderUpdate


class OrderReply(msgspec.Struct, frozen=True, kw_only=True):
    """The hub's answer. ``attach``/``resume`` also carry the component's update numbering:
    ``epoch``, ``base`` (the last seq the answer covers), ``logged`` (resume: the updates
    after ``after``) or ``reset`` with the orders' current state in ``updates``."""

    ok: bool
    error: str | None = None
    updates: list[OrderUpdate] = msgspec.field(default_factory=list)
    balances: dict[str, Decimal] = msgspec.field(default_factory=dict)
    epoch: str = ""
    base: int = 0
    logged: list[UpdateEnvelope] = msgspec.field(default_factory=list)
    reset: bool = False


enc = msgspec.msgpack.Encoder()
call_decoder = msgspec.msgpack.Decoder(OrderCall)
reply_decoder = msgspec.msgpack.Decoder(OrderReply)
envelope_decoder = msgspec.msgpack.Decoder(UpdateEnvelope)


def rpc_subject(account: str) -> str:
    return f"{PREFIX}.{account}.rpc"


def updates_subject(account: str, component_id: str) -> str:
    return f"{PREFIX}.{account}.updates.{component_id}"


def up_subject(account: str) -> str:
    """Where a starting order service says so (its epoch), so remotes catch up at once."""
    return f"{PREFIX}.{account}.up"


class UpdateLog:
    """The last ``size`` numbered updates of one component. Runs in: any thread (locked)."""

    def __init__(self, epoch: str, size: int = LOG_SIZE) -> None:
        self.epoch = epoch
        self.seq = 0
        self._items: deque[UpdateEnvelope] = deque(maxlen=max(1, size))
        self._lock = threading.Lock()

    def append(self, update: OrderUpdate) -> UpdateEnvelope:
        with self._lock:
            self.seq += 1
            env = UpdateEnvelope(epoch=self.epoch, seq=self.seq, update=update)
            self._items.append(env)
            return env

    def since(self, after: int) -> tuple[int, list[UpdateEnvelope] | None]:
        """``(last seq, the updates after after)``; None when the log no longer reaches back
        to ``after + 1`` (or ``after`` is ahead of it)."""
        with self._lock:
            last = self.seq
            if after > last:
                return last, None
            if after == last:
                return last, []
            first = self._items[0].seq if self._items else last + 1
            if after + 1 < first:
                return last, None
            return last, [e for e in self._items if e.seq > after]


class OrderService:
    """At the hub: answers remote components' order calls (see the module docstring)."""

    def __init__(self, loop: Any, nc: Any, hub: Any, account: str,
                 logger: logging.Logger | None = None, log_size: int = LOG_SIZE) -> None:
        self.loop = loop
        self.nc = nc
        self.hub = hub
        self.account = account
        self.log = logger or log
        self.epoch = os.urandom(6).hex()
        self.log_size = log_size
        self.calls = 0
        self.errors = 0
        self.resumes = 0
        self.resets = 0
        self._sub: Any = None
        self._logs: dict[str, UpdateLog] = {}  # kept across a detach: the numbering goes on
        self._attached: set[str] = set()
        self._lock = threading.Lock()

    def start(self) -> OrderService:
        """Subscribe to the request subject. Runs in: any thread but the loop's."""
        async def go() -> None:
            self._sub = await self.nc.subscribe(rpc_subject(self.account), cb=self._on_call)
            await self.nc.publish(up_subject(self.account), self.epoch.encode())

        self.loop.run(go(), timeout=10.0)
        self.log.info("serving remote components' orders on %s", rpc_subject(self.account))
        return self

    def update_log(self, component_id: str) -> UpdateLog | None:
        """The numbered updates kept for ``component_id`` (None before its first call)."""
        return self._logs.get(component_id)

    async def _on_call(self, msg: Any) -> None:
        try:
            call = call_decoder.decode(msg.data)
        except Exception as exc:
            self.errors += 1
            self.log.warning("remote order call skipped: not an OrderCall (%s)", exc)
            if msg.reply:
                await self.nc.publish(msg.reply, enc.encode(OrderReply(ok=False,
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
            await self.nc.publish(msg.reply, enc.encode(reply))

    def _do(self, call: OrderCall) -> OrderReply:
        """Carry out one call on the hub's gateway. Runs in: an executor thread."""
        gw = self.hub.order_gateway()
        op = call.op
        if op == "submit" and call.request is not None:
            self._attach(gw, call.request.component_id)
            gw.submit(call.request)
        elif op == "cancel" and call.client_id:
            gw.cancel(call.client_id)
        elif op == "cancel_all":
            gw.cancel_all(call.component_id, call.market, call.side)
        elif op == "replace" and call.client_id and call.request is not None:
            self._attach(gw, call.request.component_id)
            gw.replace(call.client_id, call.request, call.remain_only)
        elif op == "halt":
            gw.halt(call.reason or "halted by a remote component")
        elif op == "reset":
            gw.reset()
        elif op == "attach" and call.component_id:
            base, current = self._attach(gw, call.component_id, force=True)
            return OrderReply(ok=True, updates=current, balances=dict(gw.balances),
                              epoch=self.epoch, base=base)  # fmt: skip
        elif op == "resume" and call.component_id:
            return self._resume(gw, call)
        elif op == "detach" and call.component_id:
            with self._lock:
                self._attached.discard(call.component_id)
            gw.detach(call.component_id)
        else:
            return OrderReply(ok=False, error=f"unknown or incomplete call {op!r}")
        return OrderReply(ok=True, balances=dict(gw.balances))

    def _resume(self, gw: Any, call: OrderCall) -> OrderReply:
        """The updates after ``call.after``, or (another epoch, or too far back) a reset."""
        self.resumes += 1
        assert call.component_id is not None
        book = self._logs.get(call.component_id)
        if book is not None and call.epoch == self.epoch:
            last, logged = book.since(call.after)
            if logged is not None:
                return OrderReply(ok=True, balances=dict(gw.balances), epoch=self.epoch,
                                  base=last, logged=logged)  # fmt: skip
        self.resets += 1
        base, current = self._attach(gw, call.component_id, force=True)
        return OrderReply(ok=True, updates=current, balances=dict(gw.balances),
                          epoch=self.epoch, base=base, reset=True)  # fmt: skip

    def _attach(self, gw: Any, component_id: str, force: bool = False
                ) -> tuple[int, list[OrderUpdate]]:
        """Route ``component_id``'s updates into its log and onto its subject. Returns the
        last seq before (re)attaching and, when (re)attached now, its orders' current
        state; updates the order actor kept for it come through the sink (numbered)."""
        with self._lock:
            book = self._logs.get(component_id)
            if book is not None and component_id in self._attached and not force:
                return book.seq, []
            if book is None:
                book = self._logs[component_id] = UpdateLog(self.epoch, self.log_size)
            self._attached.add(component_id)
            base = book.seq
        subject = updates_subject(self.account, component_id)
        nc, loop = self.nc, self.loop

        def sink(update: OrderUpdate) -> None:  # the order actor's thread
            data = enc.encode(book.append(update))
            loop.call_soon(lambda: asyncio.ensure_future(nc.publish(subject, data)))

        return base, list(gw.attach(component_id, sink))

    def stop(self) -> None:
        """Stop answering; the order actor keeps the components' updates until a new service
        (or the components) attach again. Runs in: any thread but the loop's."""
        if self._sub is None:
            return
        with self._lock:
            attached, self._attached = list(self._attached), set()
        if attached:
            try:
                gw = self.hub.order_gateway()
                for cid in attached:
                    gw.detach(cid)
            except Exception:
                self.log.debug("detaching remote components' orders", exc_info=True)

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
