"""A component's inbox: where the reader thread drops events and the component drains them.

Backpressure is explicit, per event type:

- ``ticker`` and ``orderbook``: latest wins per (type, code, level). A slow component sees the
  newest state, never a backlog of stale ones (``conflated`` counts replaced events).
- ``trade`` and ``candle.*``: a bounded FIFO (``capacity``). When full, the new event is dropped,
  ``dropped`` is incremented and a warning is logged (at most once per second per component):
  never silent.
- ``myOrder`` / ``myAsset``: an unbounded FIFO. Private events are rare and must not be lost.
- :class:`InboxCall` (``post(fn)``): a function to run in the component's thread, in order with
  its events, never dropped: timer callbacks and order updates arrive this way, so they never
  run at the same time as a handler.

Two optional hooks serve a source that must confirm what a component consumed (the broker's
remote source acknowledges each message only after the handler returned): ``on_delivered(ev)``
runs in the component thread after ``ev`` went to every callback, ``on_superseded(ev)`` in the
putting thread when a latest-wins slot replaces ``ev`` unseen.

One wake-up message per burst (not per event) is told to the component actor, which drains in
batches. The callback table (who wants what, and which callback) is copy-on-write: writers take
a lock and swap the dict, the component thread reads it without locking.

Runs in: ``put`` in a connection's reader thread; ``drain`` in the component actor's thread;
``CallbackTable`` writers in any thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import pykka

log = logging.getLogger(__name__)

DRAIN = "drain"  # the wake-up message told to the component actor

_CONFLATED = frozenset({"ticker", "orderbook"})
_UNBOUNDED = frozenset({"myOrder", "myAsset", "call"})


@dataclass(frozen=True, slots=True)
class InboxCall:
    """``fn()`` to run in the component's thread, in arrival order with its events."""

    fn: Any
    type: str = "call"


@dataclass(slots=True)
class SubscriptionState:
    """Mutable state of one subscription, shared by its handle and the component thread."""

    active: bool = True
    error: Exception | None = None
    delivered: int = 0


@dataclass(frozen=True, slots=True)
class SubEntry:
    """One subscription's interest in one (type, code)."""

    sub_id: int
    callback: Any
    level: int | None = None
    depth: int | None = None
    on_error: Any = None
    state: SubscriptionState = field(default_factory=SubscriptionState)


class CallbackTable:
    """(type, code) -> subscriptions of one component. Copy-on-write."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.routes: dict[tuple[str, str | None], tuple[SubEntry, ...]] = {}
        self.by_sub: dict[int, tuple[tuple[tuple[str, str | None], SubEntry], ...]] = {}

    def add(self, sub_id: int, items: list[tuple[tuple[str, str | None], SubEntry]]) -> None:
        with self._lock:
            routes = dict(self.routes)
            for key, entry in items:
                routes[key] = (*routes.get(key, ()), entry)
            by_sub = dict(self.by_sub)
            by_sub[sub_id] = tuple(items)
            self.routes, self.by_sub = routes, by_sub

    def remove(self, sub_id: int) -> bool:
        with self._lock:
            items = self.by_sub.get(sub_id)
            if items is None:
                return False
            routes = dict(self.routes)
            for key, _entry in items:
                left = tuple(e for e in routes.get(key, ()) if e.sub_id != sub_id)
                if left:
                    routes[key] = left
                else:
                    routes.pop(key, None)
            by_sub = dict(self.by_sub)
            del by_sub[sub_id]
            self.routes, self.by_sub = routes, by_sub
            return True

    def states(self, sub_id: int) -> list[SubEntry]:
        return [entry for _key, entry in self.by_sub.get(sub_id, ())]

    def sub_ids(self) -> list[int]:
        return list(self.by_sub)


class ComponentInbox:
    """Events waiting for one component, plus its callback table and counters."""

    def __init__(self, component_key: str, component_id: str, capacity: int = 10_000) -> None:
        self.component_key = component_key
        self.component_id = component_id
        self.capacity = max(1, capacity)
        self.table = CallbackTable()
        self.actor_ref: pykka.ActorRef[Any] | None = None
        self.thread_ident: int | None = None
        self._lock = threading.Lock()
        self._order: deque[Any] = deque()  # events, or (type, code, level) keys of conflated slots
        self._latest: dict[tuple[str, str | None, Any], Any] = {}
        self._bounded = 0
        self._scheduled = False
        self._last_warn = 0.0
        self.received = 0
        self.conflated = 0
        self.dropped = 0
        self.errors = 0
        self.on_delivered: Any = None  # Callable[[event], None], component thread
        self.on_superseded: Any = None  # Callable[[event], None], putting thread
        # Callable[[event], None]: when set, events (not posted calls) go to it in the putting
        # thread instead of the queues (no conflation, no drop); see WebSocketClientProxy.tap
        self.tap: Any = None

    # -- reader thread ---------------------------------------------------------------------

    def put(self, ev: Any) -> bool:
        """Queue one event; returns True when the component must be woken (call
        :meth:`wake`, now or after a batch: the reader wakes once per socket read).

        Runs in: a connection's reader thread (or the REST fallback's).
        """
        t = ev.type
        tap = self.tap
        if tap is not None and t != "call":
            with self._lock:
                self.received += 1
            tap(ev)
            return False
        with self._lock:
            if t != "call":  # posted functions are not events
                self.received += 1
            if t in _CONFLATED:
                key = (t, ev.code, getattr(ev, "level", None))
                if key in self._latest:
                    old = self._latest[key]
                    self._latest[key] = ev
                    self.conflated += 1
                    if self.on_superseded is not None:
                        self.on_superseded(old)
                    return False
                self._latest[key] = ev
                self._order.append(key)
            elif t in _UNBOUNDED:
                self._order.append(ev)
            else:
                if self._bounded >= self.capacity:
                    self.dropped += 1
                    now = time.monotonic()
                    if now - self._last_warn >= 1.0:
                        self._last_warn = now
                        log.warning(
                            "component %s is too slow: queue full (%d), %d %s events dropped "
                            "so far",
                            self.component_id,
                            self.capacity,
                            self.dropped,
                            "trade/candle",
                        )
                    return False
                self._bounded += 1
                self._order.append(ev)
            if self._scheduled:
                return False
            self._scheduled = True
            return True

    def post(self, fn: Any) -> bool:
        """Run ``fn()`` in the component's thread after what is queued now (never dropped).

        False when the component's actor is dead. Runs in: any thread.
        """
        if self.put(InboxCall(fn)):
            return self.wake()
        return self.actor_ref is not None and self.actor_ref.is_alive()

    def wake(self) -> bool:
        """Tell the component to drain; False when its actor is dead."""
        ref = self.actor_ref
        if ref is None:
            return False
        try:
            ref.tell(DRAIN)
        except pykka.ActorDeadError:
            return False
        return True

    # -- component thread ------------------------------------------------------------------

    def drain(self, max_items: int = 1000) -> tuple[list[Any], bool]:
        """Take up to ``max_items`` events in arrival order; returns (events, more_left).

        Runs in: the component actor's thread.
        """
        out: list[Any] = []
        with self._lock:
            order = self._order
            latest = self._latest
            while order and len(out) < max_items:
                item = order.popleft()
                if type(item) is tuple:
                    out.append(latest.pop(item))
                else:
                    if item.type not in _UNBOUNDED:
                        self._bounded -= 1
                    out.append(item)
            more = bool(order)
            if not more:
                self._scheduled = False
        return out, more

    def depth(self) -> int:
        """Events waiting now."""
        with self._lock:
            return len(self._order)

    def stats(self) -> dict[str, int]:
        """Counters for the status view."""
        return {
            "queued": self.depth(),
            "received": self.received,
            "conflated": self.conflated,
            "dropped": self.dropped,
            "errors": self.errors,
        }
