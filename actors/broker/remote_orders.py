"""Orders of remote components, over NATS request/reply to the hub: the remote side.

:class:`RemoteOrderGateway` offers the interface of the hub's
:class:`~upbit_hub.actors.trading.gateway.OrderGateway`, so plugin code (``ctx.buy_limit``
...) runs unchanged under ``upbit-hub run --source``. The hub side and the wire types are in
:mod:`.orders`.

- Calls: every call carries the order's ``client_id`` and is resent until the hub answers
  (across a bridge or broker reconnect); the hub's order manager never places a known
  ``client_id`` twice. Calls go one at a time, in the order they were made.
- Updates (:class:`_Feed`, one per component): numbered by the hub. The feed hands each
  number on once, in order. A hole in the numbers, a reconnect of this client, or a new hub
  epoch, or a restarted order service announcing itself makes it ask ``resume`` with the
  last number it handed on, and the hub sends the rest (or, from too far back or after a hub
  restart, the current state of every order, of which the feed hands on only what differs
  from what the component last heard; an update equal to the last one heard for its order is
  not handed on twice). So an update made while this process was cut off from NATS, or
  while the hub's bridge was down, is not lost to the component.

Runs in: the public gateway methods in any thread (they return at once, but ``attach``);
the worker and the feeds in the loop thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ..protocol.errors import HubError
from ..trading.ids import new_client_id
from ..trading.types import OrderRequest, OrderUpdate
from .orders import (
    OrderCall,
    OrderReply,
    UpdateEnvelope,
    enc,
    envelope_decoder,
    reply_decoder,
    rpc_subject,
    up_subject,
    updates_subject,
)

log = logging.getLogger(__name__)


class RemoteOrderGateway:
    """At a remote source: the order gateway interface over NATS (see the module docstring)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.clock = source.clock
        self.timeout_s = source.cfg.order_timeout_s
        self.balances: dict[str, Decimal] = {}
        self.sent = 0
        self.retries = 0
        self.stats: dict[str, int] = {"updates": 0, "duplicates": 0, "resumes": 0,
                                      "replayed": 0, "resets": 0}  # fmt: skip
        self._queue: asyncio.Queue[OrderCall] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._feeds: dict[str, _Feed] = {}
        self._up_sub: Any = None
        source.link.listeners.append(self._after_reconnect)

    @property
    def account(self) -> str:
        """The account label of the hub (settled by the first attach if it was a guess)."""
        return str(self.source.account)

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
        try:
            return self.source.loop.run(self._attach(component_id, sink),
                                        timeout=self.timeout_s + 1)  # fmt: skip
        except Exception as exc:
            raise HubError(f"remote orders: the hub did not answer attach ({exc}); is its "
                           "nats-bridge running with [bridge] orders = true?") from exc

    def detach(self, component_id: str) -> None:
        feed = self._feeds.get(component_id)
        if feed is not None:
            feed.sink = None
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
            await self.until_answered(call)

    async def until_answered(self, call: OrderCall, quiet: bool = False) -> OrderReply:
        """Send ``call`` until the hub answers (the hub's idempotency makes resends safe)."""
        data = enc.encode(call)
        attempt = 0
        while True:
            attempt += 1
            try:
                msg = await self.source.nc.request(rpc_subject(self.account), data,
                                                   timeout=self.timeout_s)  # fmt: skip
                reply = reply_decoder.decode(msg.data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.retries += 1
                if not quiet and (attempt == 1 or attempt % 10 == 0):
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

    async def _attach(self, component_id: str, sink: Callable[[OrderUpdate], None]
                      ) -> list[OrderUpdate]:
        await self.source.settle_account()
        feed = self._feeds.get(component_id)
        if feed is None:
            if self._up_sub is None:
                async def on_up(msg: Any) -> None:
                    await self._catch_up_all("the hub's order service restarted")

                self._up_sub = await self.source.nc.subscribe(up_subject(self.account),
                                                              cb=on_up)  # fmt: skip
            feed = self._feeds[component_id] = _Feed(self, component_id)
            await feed.subscribe()
        feed.sink = sink
        msg = await self.source.nc.request(
            rpc_subject(self.account), enc.encode(OrderCall(op="attach",
                                                            component_id=component_id)),
            timeout=self.timeout_s)  # fmt: skip
        reply = reply_decoder.decode(msg.data)
        if not reply.ok:
            raise HubError(f"remote orders: {reply.error}")
        if reply.balances:
            self.balances = dict(reply.balances)
        current = list(reply.updates)
        await feed.attached(reply, current)
        return current

    async def _after_reconnect(self) -> None:
        """Ask every feed to catch up on what it may have missed while cut off."""
        await self._catch_up_all("reconnect")

    async def _catch_up_all(self, why: str) -> None:
        for feed in list(self._feeds.values()):
            asyncio.get_running_loop().create_task(feed.catch_up(why))


class _Feed:
    """One component's numbered updates, handed on once and in order (loop thread)."""

    def __init__(self, gateway: RemoteOrderGateway, component_id: str) -> None:
        self.gw = gateway
        self.component_id = component_id
        self.sink: Callable[[OrderUpdate], None] | None = None
        self.epoch: str | None = None  # None until the attach answer came
        self.last = 0
        self.early: list[UpdateEnvelope] = []
        self.heard: dict[str, tuple[Any, ...]] = {}  # client_id -> what it last heard
        self.lock = asyncio.Lock()
        self.sub: Any = None

    async def subscribe(self) -> None:
        nc = self.gw.source.nc
        self.sub = await nc.subscribe(updates_subject(self.gw.account, self.component_id),
                                      cb=self._on_msg)  # fmt: skip

    async def attached(self, reply: OrderReply, current: list[OrderUpdate]) -> None:
        """The attach answer: numbering starts after ``reply.base``; what came early and
        is newer is handed on now."""
        async with self.lock:
            for u in current:
                self.heard[u.client_id] = _state(u)
            if self.epoch is not None and self.epoch == reply.epoch:
                return  # a second attach of the same feed: keep its place
            self.epoch, self.last = reply.epoch, reply.base
            early, self.early = self.early, []
            for env in sorted(early, key=lambda e: e.seq):
                if await self._take(env):
                    break

    async def _on_msg(self, msg: Any) -> None:
        try:
            env = envelope_decoder.decode(msg.data)
        except Exception as exc:
            log.error("remote orders %s: skipped an update that is not ours (%s)",
                      self.component_id, exc)  # fmt: skip
            return
        async with self.lock:
            if self.epoch is None:
                self.early.append(env)
                return
            await self._take(env)

    async def _take(self, env: UpdateEnvelope) -> bool:
        """Hand ``env`` on if it is the next; catch up on a hole or a new epoch (lock held).
        Returns True when it caught up (the rest of a batch is then stale)."""
        if env.epoch == self.epoch:
            if env.seq <= self.last:
                self.gw.stats["duplicates"] += 1
                return False
            if env.seq == self.last + 1:
                self.last = env.seq
                if self.heard.get(env.update.client_id) == _state(env.update):
                    self.gw.stats["duplicates"] += 1  # already heard (after a reset)
                else:
                    self._deliver(env.update)
                return False
        why = "hole" if env.epoch == self.epoch else "the hub restarted"
        await self._resume(why)
        return True

    async def catch_up(self, why: str) -> None:
        async with self.lock:
            if self.epoch is not None:
                await self._resume(why)

    async def _resume(self, why: str) -> None:
        """Ask the hub for everything after ``last`` (lock held)."""
        gw = self.gw
        gw.stats["resumes"] += 1
        reply = await gw.until_answered(OrderCall(
            op="resume", component_id=self.component_id, epoch=self.epoch, after=self.last),
            quiet=True)  # fmt: skip
        if not reply.ok:
            return
        if reply.reset:
            gw.stats["resets"] += 1
            changed = [u for u in reply.updates if self.heard.get(u.client_id) != _state(u)]
            log.warning("remote orders %s: caught up from the orders' current state (%s): "
                        "%d changed", self.component_id, why, len(changed))  # fmt: skip
            for u in changed:
                self._deliver(u)
            gw.stats["replayed"] += len(changed)
            self.epoch, self.last = reply.epoch, reply.base
            return
        n = 0
        for env in reply.logged:
            if env.seq > self.last:
                self._deliver(env.update)
                self.last = env.seq
                n += 1
        self.last = max(self.last, reply.base)
        gw.stats["replayed"] += n
        if n:
            log.info("remote orders %s: %d update(s) caught up after a %s", self.component_id,
                     n, why)  # fmt: skip

    def _deliver(self, update: OrderUpdate) -> None:
        self.gw.stats["updates"] += 1
        self.heard[update.client_id] = _state(update)
        sink = self.sink
        if sink is None:
            return
        try:
            sink(update)
        except Exception:
            log.exception("remote order update for %s could not be delivered",
                          self.component_id)  # fmt: skip


def _state(u: OrderUpdate) -> tuple[Any, ...]:
    """What a component hears of an order: an update equal in all of it is a repeat."""
    return (u.state, u.uuid, u.reason, u.fill, u.remaining_volume, u.executed_volume,
            u.paid_fee)


def _cid(call: OrderCall) -> str:
    if call.request is not None:
        return call.request.client_id
    return call.client_id or call.component_id or ""
