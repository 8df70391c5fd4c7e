"""SubscriptionRegistryActor: the single source of truth of who wants what.

Wishes are ref-counted per :class:`~upbit_hub.actors.messages.WishKey` (endpoint, type, code,
level). Any change marks the endpoint dirty; after ``coalesce_s`` the registry sends the
connection the FULL union as one :class:`SetRequest` (Upbit replaces the whole subscription set
on every request, so a partial request would silence everybody else), preceded by a fresh
routing table. Bursts of changes therefore cost one request, and the connection's own limiter
keeps requests under Upbit's 5/s and 100/min. When the last wish for a key goes, the key leaves
the wire request; when the last wish of an endpoint goes, the connection closes its socket
(Upbit has no unsubscribe).

Snapshot-only wishes ride along in the next request once and are then dropped from the wire
request (their subscription stays routed until cancelled).

Runs in: the registry's actor thread (all methods).
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pykka

from .inbox import ComponentInbox
from .messages import (
    ComponentDied,
    DropComponent,
    EndpointError,
    GetStatus,
    MarketsKnown,
    Ping,
    RequestEntry,
    RequestRejected,
    RequestSent,
    SetRequest,
    SetRoutes,
    Subscribe,
    SubscriptionFailed,
    Unsubscribe,
    Wish,
    WishKey,
)
from .timers import CallLater, tell_later

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Flush:
    endpoint: str


@dataclass(frozen=True, slots=True)
class _Sweep:
    pass


@dataclass(slots=True)
class _Sub:
    inbox: ComponentInbox
    sub_id: int
    wishes: tuple[Wish, ...]


@dataclass(slots=True)
class _EndpointState:
    counts: Counter[WishKey]
    snapshot_pending: dict[WishKey, int | None]
    fresh: set[WishKey]
    waiters: list[Future[Any]]
    generation: int = 0
    flush_scheduled: bool = False
    last_entries: tuple[RequestEntry, ...] | None = None
    last_routes: dict[tuple[str, str | None], tuple[ComponentInbox, ...]] | None = None
    requests_sent: int = 0


class SubscriptionRegistryActor(pykka.ThreadingActor):
    """Ref-counted wishes -> one merged request per endpoint; (type, code) -> inboxes."""

    use_daemon_thread = True  # see hub.py: a forgotten hub must not keep the process alive

    def __init__(
        self,
        connections: dict[str, pykka.ActorRef[Any]],
        call_later: CallLater,
        coalesce_s: float = 0.05,
        sweep_s: float = 1.0,
    ) -> None:
        super().__init__()
        self.connections = connections
        self.call_later = call_later
        self.coalesce_s = coalesce_s
        self.sweep_s = sweep_s
        self.subs: dict[tuple[str, int], _Sub] = {}
        self.by_component: dict[str, set[int]] = {}
        self.inboxes: dict[str, ComponentInbox] = {}
        self.endpoints: dict[str, _EndpointState] = {
            name: _EndpointState(Counter(), {}, set(), []) for name in connections
        }
        self.rejected = 0

    def on_start(self) -> None:
        self._schedule_sweep()

    def _schedule_sweep(self) -> None:
        tell_later(self.call_later, self.sweep_s, self.actor_ref, _Sweep())

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, Subscribe):
            self._subscribe(message)
        elif isinstance(message, Unsubscribe):
            self._unsubscribe(message.component_key, message.sub_id, message.done)
        elif isinstance(message, (DropComponent, ComponentDied)):
            self._drop_component(message.component_key)
        elif isinstance(message, _Flush):
            self._flush(message.endpoint)
        elif isinstance(message, RequestSent):
            self.endpoints[message.endpoint].requests_sent += 1
        elif isinstance(message, RequestRejected):
            self._rejected(message)
        elif isinstance(message, EndpointError):
            self._notify_endpoint(message.endpoint, message.error)
        elif isinstance(message, MarketsKnown):
            self._markets_known(message.codes)
        elif isinstance(message, _Sweep):
            self._sweep()
        elif isinstance(message, Ping):
            return True
        elif isinstance(message, GetStatus):
            return self._status()
        else:
            log.warning("registry: unexpected message %r", message)
        return None

    # -- changes ---------------------------------------------------------------------------

    def _subscribe(self, msg: Subscribe) -> None:
        inbox = msg.inbox
        ref = inbox.actor_ref
        if ref is None or not ref.is_alive():
            if msg.done is not None and not msg.done.done():
                msg.done.set_exception(RuntimeError("component is not running"))
            return
        key = inbox.component_key
        self.inboxes[key] = inbox
        self.subs[(key, msg.sub_id)] = _Sub(inbox, msg.sub_id, msg.wishes)
        self.by_component.setdefault(key, set()).add(msg.sub_id)
        touched: set[str] = set()
        for wish in msg.wishes:
            state = self.endpoints[wish.key.endpoint]
            touched.add(wish.key.endpoint)
            if wish.snapshot_only:
                state.snapshot_pending[wish.key] = _max_depth(
                    state.snapshot_pending.get(wish.key), wish.depth
                )
            else:
                state.counts[wish.key] += 1
            state.fresh.add(wish.key)
        for i, endpoint in enumerate(sorted(touched)):
            self._mark_dirty(endpoint, msg.done if i == 0 else None)
        if not touched and msg.done is not None:
            msg.done.set_result(None)

    def _remove_sub(self, component_key: str, sub_id: int) -> set[str]:
        sub = self.subs.pop((component_key, sub_id), None)
        if sub is None:
            return set()
        ids = self.by_component.get(component_key)
        if ids is not None:
            ids.discard(sub_id)
            if not ids:
                del self.by_component[component_key]
                self.inboxes.pop(component_key, None)
        touched: set[str] = set()
        for wish in sub.wishes:
            if wish.snapshot_only:
                continue
            state = self.endpoints[wish.key.endpoint]
            state.counts[wish.key] -= 1
            if state.counts[wish.key] <= 0:
                del state.counts[wish.key]
            touched.add(wish.key.endpoint)
        return touched

    def _unsubscribe(self, component_key: str, sub_id: int, done: Future[Any] | None) -> None:
        touched = self._remove_sub(component_key, sub_id)
        if not touched:
            if done is not None and not done.done():
                done.set_result(None)
            return
        for i, endpoint in enumerate(sorted(touched)):
            self._mark_dirty(endpoint, done if i == 0 else None)

    def _drop_component(self, component_key: str) -> None:
        ids = list(self.by_component.get(component_key, ()))
        touched: set[str] = set()
        for sub_id in ids:
            touched |= self._remove_sub(component_key, sub_id)
        if ids:
            log.info(
                "registry: dropped %d subscription(s) of component %s",
                len(ids),
                component_key,
            )
        for endpoint in touched:
            self._mark_dirty(endpoint, None)

    def _mark_dirty(self, endpoint: str, done: Future[Any] | None) -> None:
        state = self.endpoints[endpoint]
        if done is not None:
            state.waiters.append(done)
        if state.flush_scheduled:
            return
        state.flush_scheduled = True
        tell_later(self.call_later, self.coalesce_s, self.actor_ref, _Flush(endpoint))

    # -- the merged request ------------------------------------------------------------------

    def _entries(self, endpoint: str) -> tuple[RequestEntry, ...]:
        state = self.endpoints[endpoint]
        depth: dict[WishKey, int | None] = {}
        for sub in self.subs.values():
            for wish in sub.wishes:
                if wish.key.endpoint == endpoint and not wish.snapshot_only:
                    depth[wish.key] = _max_depth(depth.get(wish.key, 0), wish.depth)
        entries = [RequestEntry(key, depth.get(key) or None) for key in state.counts]
        entries += [
            RequestEntry(key, d or None, snapshot_only=True)
            for key, d in state.snapshot_pending.items()
            if key not in state.counts
        ]
        entries.sort(key=_entry_sort_key)
        return tuple(entries)

    def _routes(self, endpoint: str) -> dict[tuple[str, str | None], tuple[ComponentInbox, ...]]:
        routes: dict[tuple[str, str | None], dict[str, ComponentInbox]] = {}
        for sub in self.subs.values():
            for wish in sub.wishes:
                if wish.key.endpoint == endpoint:
                    slot = routes.setdefault((wish.key.type, wish.key.code), {})
                    slot[sub.inbox.component_key] = sub.inbox
        return {k: tuple(v.values()) for k, v in routes.items()}

    def _flush(self, endpoint: str) -> None:
        state = self.endpoints[endpoint]
        state.flush_scheduled = False
        conn = self.connections[endpoint]
        routes = self._routes(endpoint)
        if routes != state.last_routes:
            state.last_routes = routes
            conn.tell(SetRoutes(routes))
        entries = self._entries(endpoint)
        waiters = tuple(state.waiters)
        state.waiters.clear()
        fresh = frozenset(k for k in state.fresh if any(e.key == k for e in entries))
        state.fresh.clear()
        if entries == state.last_entries and not fresh:
            for fut in waiters:
                if not fut.done():
                    fut.set_result(state.generation)
            return
        state.generation += 1
        state.last_entries = entries
        state.snapshot_pending.clear()
        conn.tell(SetRequest(state.generation, entries, fresh, waiters))

    # -- errors ----------------------------------------------------------------------------

    def _rejected(self, msg: RequestRejected) -> None:
        self.rejected += 1
        culprits = [
            sub
            for sub in self.subs.values()
            if any(w.key in msg.suspects for w in sub.wishes)
        ]
        if not culprits:
            self._notify_endpoint(msg.endpoint, msg.error)
            return
        log.warning(
            "registry: Upbit rejected request %d on %s (%s); removing %d subscription(s) "
            "that added %s",
            msg.generation,
            msg.endpoint,
            msg.error,
            len(culprits),
            sorted(f"{k.type}:{k.code}" for k in msg.suspects),
        )
        for sub in culprits:
            self._tell_component(sub.inbox, SubscriptionFailed(sub.sub_id, msg.error))
            self._remove_sub(sub.inbox.component_key, sub.sub_id)
        self._mark_dirty(msg.endpoint, None)

    def _markets_known(self, codes: frozenset[str]) -> None:
        """Refuse the subscriptions naming a code Upbit does not list (accepted while the list
        was not known yet, or delisted since): the component hears it through on_error."""
        from .markets import unknown_market_error

        touched: set[str] = set()
        for (key, sub_id), sub in list(self.subs.items()):
            bad = sorted({w.key.code for w in sub.wishes
                          if w.key.code is not None and w.key.code not in codes})
            if not bad:
                continue
            error = unknown_market_error(bad[0], codes)
            log.warning("registry: refusing subscription %d of %s: %s", sub_id,
                        sub.inbox.component_id, error)  # fmt: skip
            self._tell_component(sub.inbox, SubscriptionFailed(sub_id, error))
            touched |= self._remove_sub(key, sub_id)
        for endpoint in touched:
            self._mark_dirty(endpoint, None)

    def _notify_endpoint(self, endpoint: str, error: Exception) -> None:
        notified: set[str] = set()
        for sub in self.subs.values():
            if sub.inbox.component_key in notified:
                continue
            if any(w.key.endpoint == endpoint for w in sub.wishes):
                notified.add(sub.inbox.component_key)
                self._tell_component(sub.inbox, SubscriptionFailed(None, error))

    def _tell_component(self, inbox: ComponentInbox, message: Any) -> None:
        ref = inbox.actor_ref
        if ref is None:
            return
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            self._drop_component(inbox.component_key)

    def _sweep(self) -> None:
        for key, inbox in list(self.inboxes.items()):
            ref = inbox.actor_ref
            if ref is None or not ref.is_alive():
                log.info("registry: component %s is dead; dropping its wishes", key)
                self._drop_component(key)
        self._schedule_sweep()

    def _status(self) -> dict[str, Any]:
        return {
            "components": len(self.by_component),
            "subscriptions": len(self.subs),
            "rejected_requests": self.rejected,
            "endpoints": {
                name: {
                    "keys": len(state.counts),
                    "generation": state.generation,
                    "requests_sent": state.requests_sent,
                    "wire": [
                        f"{e.key.type}:{e.key.code}" for e in (state.last_entries or ())
                    ],
                }
                for name, state in self.endpoints.items()
            },
        }


def _max_depth(a: int | None, b: int | None) -> int | None:
    """Largest requested depth; None (Upbit's default, 30) beats every explicit depth."""
    if a is None or b is None:
        return None
    return max(a, b)


def _entry_sort_key(entry: RequestEntry) -> tuple[str, str, int, bool]:
    k = entry.key
    return (k.type, k.code or "", k.level or 0, entry.snapshot_only)
