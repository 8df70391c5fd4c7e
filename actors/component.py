"""ComponentProxyActor: one per component; runs that component's callbacks in its own thread.

A slow or crashing component cannot stall the feed or other components: the reader thread only
drops events into the component's :class:`~upbit_hub.actors.inbox.ComponentInbox`, and this
actor drains it. Callbacks of one component never run concurrently.

Callback errors: by default (``error_policy="continue"``) an exception in a callback is logged
with the component id, counted (``errors`` in the status) and the component keeps running. With
``error_policy="stop"`` the first exception stops the component, which drops all its wishes.

Death means unsubscription: ``on_stop`` and ``on_failure`` tell the registry to drop every wish
of this component (pykka calls neither when ``on_start`` fails, so ``on_start`` does nothing that
can fail). The registry additionally notices a dead component when a delivery fails.

Runs in: the component's actor thread (all methods), unless a docstring says otherwise.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import msgspec
import pykka

from .inbox import DRAIN, ComponentInbox, InboxCall, SubEntry
from .messages import DropComponent, GetStatus, Ping, SubscriptionFailed

log = logging.getLogger(__name__)

_TRACEBACKS = 3  # callback errors logged with a full traceback before summarising
_ERROR_SUMMARY_S = 10.0


@dataclass(frozen=True, slots=True)
class RunInThread:
    """Run ``fn()`` in the component thread (the plugin SDK's lifecycle hooks use this)."""

    fn: Any


class ComponentProxyActor(pykka.ThreadingActor):
    """Holds one component's callbacks and runs them, one at a time, in its own thread."""

    use_daemon_thread = True  # see hub.py: a forgotten hub must not keep the process alive

    def __init__(
        self,
        inbox: ComponentInbox,
        registry: pykka.ActorRef[Any] | None,
        error_policy: str = "continue",
    ) -> None:
        super().__init__()
        if error_policy not in ("continue", "stop"):
            raise ValueError("error_policy must be 'continue' or 'stop'")
        self.inbox = inbox
        self.registry = registry
        self.error_policy = error_policy
        self._last_error_log = 0.0

    def on_start(self) -> None:
        self.inbox.thread_ident = threading.get_ident()

    def on_stop(self) -> None:
        self._drop("stopped")

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        log.error(
            "component %s stopped after an error: %r; its subscriptions are removed",
            self.inbox.component_id,
            exception_value,
        )
        self._drop(f"failed: {exception_value!r}")

    def _drop(self, reason: str) -> None:
        if self.registry is None:
            return
        try:
            self.registry.tell(DropComponent(self.inbox.component_key, reason))
        except pykka.ActorDeadError:
            pass  # the hub is stopping: nothing left to unsubscribe from

    def on_receive(self, message: Any) -> Any:
        if message == DRAIN:
            self._drain()
            return None
        if isinstance(message, RunInThread):
            return message.fn()
        if isinstance(message, SubscriptionFailed):
            self._fail(message)
            return None
        if isinstance(message, Ping):
            return True
        if isinstance(message, GetStatus):
            return self.inbox.stats()
        log.warning("component %s: unexpected message %r", self.inbox.component_id, message)
        return None

    # -- delivery --------------------------------------------------------------------------

    def _drain(self) -> None:
        events, more = self.inbox.drain()
        routes_of = self.inbox.table
        delivered = self.inbox.on_delivered
        for ev in events:
            if type(ev) is InboxCall:
                self._call(ev)
                continue
            self._deliver_all(routes_of.routes, ev)
            if delivered is not None:
                delivered(ev)
        if more:
            self.actor_ref.tell(DRAIN)

    def _deliver_all(self, routes: dict, ev: Any) -> None:
        entries = routes.get((ev.type, getattr(ev, "code", None)))
        if ev.type == "myOrder":
            wildcard = routes.get(("myOrder", None))
            if wildcard:
                entries = (*(entries or ()), *wildcard)
        for entry in entries or ():
            self._deliver(entry, ev)

    def _call(self, call: InboxCall) -> None:
        """A posted function (timer callback, order update): errors count like a handler's."""
        try:
            call.fn()
        except Exception:
            self.inbox.errors += 1
            n = self.inbox.errors
            if n <= _TRACEBACKS:
                log.exception("component %s: posted call %r raised (error #%d)",
                              self.inbox.component_id, call.fn, n)  # fmt: skip
            if self.error_policy == "stop":
                raise

    def _deliver(self, entry: SubEntry, ev: Any) -> None:
        if ev.type == "orderbook":
            if (entry.level or 0) != (ev.level or 0):
                return
            if entry.depth and ev.orderbook_units and len(ev.orderbook_units) > entry.depth:
                units = ev.orderbook_units[: entry.depth]
                ev = msgspec.structs.replace(
                    ev,
                    orderbook_units=units,
                    total_ask_size=sum((u.ask_size or 0) for u in units),
                    total_bid_size=sum((u.bid_size or 0) for u in units),
                )
        try:
            entry.callback(ev)
            entry.state.delivered += 1
        except Exception as exc:
            self.inbox.errors += 1
            self._log_callback_error(ev, exc)
            if self.error_policy == "stop":
                raise
            entry.state.error = exc

    def _log_callback_error(self, ev: Any, exc: Exception) -> None:
        """The first few errors with a traceback, then one summary line per 10 s."""
        n = self.inbox.errors
        if n <= _TRACEBACKS:
            log.exception(
                "component %s: callback for %s %s raised (error #%d)",
                self.inbox.component_id, ev.type, getattr(ev, "code", None), n,
            )
            return
        now = time.monotonic()
        if now - self._last_error_log >= _ERROR_SUMMARY_S:
            self._last_error_log = now
            log.error(
                "component %s: callbacks keep raising: %d errors so far, latest %s: %s",
                self.inbox.component_id, n, type(exc).__name__, exc,
            )

    def _fail(self, message: SubscriptionFailed) -> None:
        entries = (
            self.inbox.table.states(message.sub_id)
            if message.sub_id is not None
            else [e for sid in self.inbox.table.sub_ids() for e in self.inbox.table.states(sid)]
        )
        notified: set[int] = set()
        for entry in entries:
            entry.state.error = message.error
            if message.sub_id is not None:
                entry.state.active = False
            if entry.on_error is not None and id(entry.on_error) not in notified:
                notified.add(id(entry.on_error))
                try:
                    entry.on_error(message.error)
                except Exception:
                    self.inbox.errors += 1
                    log.exception("component %s: on_error raised", self.inbox.component_id)
        if message.sub_id is not None:
            self.inbox.table.remove(message.sub_id)
        log.warning(
            "component %s: subscription %s failed: %s",
            self.inbox.component_id,
            message.sub_id if message.sub_id is not None else "(all)",
            message.error,
        )
