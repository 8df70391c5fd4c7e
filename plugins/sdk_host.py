"""ComponentHost: starts configured plugin instances on a hub, reports on them, stops them.

>>> host = ComponentHost(hub)                                       # doctest: +SKIP
>>> reports = host.start(resolve_components(settings))              # doctest: +SKIP
>>> [(r.id, r.state, r.error) for r in reports]                     # doctest: +SKIP
[('board', 'running', None), ('broken', 'failed', "components[1].plugin: plugin ...")]
>>> host.stop()                                                     # doctest: +SKIP

Each instance gets its own :class:`~upbit_hub.actors.client.WebSocketClientProxy` (so its own
component actor and thread). ``on_start`` and ``on_stop`` run in that thread (posted to its
inbox), so they never overlap a handler, and all components start (and stop) side by side
under one deadline. A broken plugin (import error, bad params, a constructor or ``on_start``
that raises or hangs) gets a ``failed`` report, its subscriptions are removed, and the others
run on. A hook that hangs is abandoned at the deadline and never delays the others or the
shutdown. ``stop()`` calls every ``on_stop`` at once, then cleans each proxy up.

Runs in: the caller's thread (the ``run`` command's main thread, or a test).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from upbit_hub.plugins.discovery import ResolvedComponent
from upbit_hub.plugins.sdk import Context, HandlerCounters

__all__ = ["ComponentHost", "ComponentReport", "ComponentState"]

log = logging.getLogger(__name__)

ComponentState = Literal["starting", "running", "failed", "stopped", "disabled"]
_MAX_ERROR = 300


@dataclass(frozen=True, slots=True)
class ComponentReport:
    """One component's state and counters at the moment the report was made.

    ``handled`` counts events given to the plugin's handlers, ``handler_errors`` those that
    raised (``last_handler_error`` says what); ``queued``/``received``/``dropped``/
    ``conflated`` come from the component's inbox (``proxy.stats()``).
    """

    id: str
    plugin: str
    state: ComponentState
    error: str | None = None
    handled: int = 0
    handler_errors: int = 0
    last_handler_error: str | None = None
    queued: int = 0
    received: int = 0
    dropped: int = 0
    conflated: int = 0
    subscriptions: int = 0
    orders: dict[str, int] | None = None  # open/filled/cancelled/denied/rejected, if it trades


class _Instance:
    """Mutable bookkeeping of one started component (host thread only)."""

    __slots__ = ("component", "counters", "ctx", "error", "id", "plugin", "proxy", "state")

    def __init__(self, component_id: str, plugin: str) -> None:
        self.id = component_id
        self.plugin = plugin
        self.component: Any = None
        self.proxy: Any = None
        self.ctx: Context | None = None
        self.counters = HandlerCounters()
        self.state: ComponentState = "failed"
        self.error: str | None = None


class ComponentHost:
    """Runs plugin instances on ``hub`` (a started :class:`~upbit_hub.actors.hub.Hub`).

    Every component's ``on_start`` (and later ``on_stop``) runs in its own component thread,
    all of them at once, under one deadline: ``start_timeout_s`` for the starts,
    ``stop_timeout_s`` for the stops. A hook that overruns is reported (``failed``, or an
    error note on ``stopped``) and abandoned: its subscriptions are dropped, its actor is told
    to stop without waiting, and it never delays the others or the shutdown. (Its thread is a
    daemon thread; Python cannot kill a thread, so it is left to finish on its own.)
    """

    def __init__(
        self, hub: Any, *, start_timeout_s: float = 10.0, stop_timeout_s: float = 3.0,
        proxy_factory: Any = None,
    ) -> None:
        self.hub = hub
        self.proxy_factory = proxy_factory  # (component_id, hub) -> proxy; a backtest's own
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._instances: list[_Instance] = []
        self._static: list[ComponentReport] = []  # disabled / never started, in config order
        self._order: list[tuple[str, int]] = []  # ("static"|"instance", index) in config order

    # -- starting --------------------------------------------------------------------------

    def start(
        self, resolved: Iterable[ResolvedComponent], *, cancel: threading.Event | None = None
    ) -> list[ComponentReport]:
        """Start every usable entry side by side, report the others; one report per entry.

        Returns once every ``on_start`` returned or ``start_timeout_s`` passed (or ``cancel``
        was set: the starts still running are abandoned). Never raises because of a plugin.
        Runs in: the caller's thread.
        """
        launched: list[tuple[_Instance, Future[None]]] = []
        for rc in resolved:
            cid, plugin = rc.component.id, rc.component.plugin
            if rc.status.state == "disabled":
                self._add_static(ComponentReport(cid, plugin, "disabled"))
            elif not rc.ok:
                why = "; ".join(rc.problems) or rc.status.error or rc.status.state
                log.warning("component %s (%s) not started: %s", cid, plugin, why)
                self._add_static(ComponentReport(cid, plugin, "failed", _short(why)))
            else:
                item = self._launch(cid, rc.status.plugin, rc.config, plugin)
                if item is not None:
                    launched.append(item)
        self._await_starts(launched, cancel)
        return self.reports()

    def start_component(
        self, component_id: str, plugin_cls: Any, config: Any = None, plugin: str = ""
    ) -> ComponentReport:
        """Create ``plugin_cls(config)``, give it a component actor and run its ``on_start``.

        Returns its report (``running`` or ``failed``). Runs in: the caller's thread.
        """
        item = self._launch(component_id, plugin_cls, config, plugin)
        if item is not None:
            self._await_starts([item], None)
        return self._report(self._instances[-1])

    def _launch(
        self, component_id: str, plugin_cls: Any, config: Any, plugin: str
    ) -> tuple[_Instance, Future[None]] | None:
        """Construct the component and its actor, and tell its thread to run ``on_start``."""
        inst = _Instance(component_id, plugin or getattr(plugin_cls, "name", "") or "?")
        self._order.append(("instance", len(self._instances)))
        self._instances.append(inst)
        try:
            inst.component = plugin_cls(config)
        except Exception as exc:
            self._failed(inst, f"constructor raised {_describe(exc)}", exc)
            return None
        try:
            from upbit_hub.actors.client import WebSocketClientProxy

            factory = self.proxy_factory or (lambda cid, hub: WebSocketClientProxy(cid, hub=hub))
            inst.proxy = factory(component_id, self.hub)
        except Exception as exc:
            self._failed(inst, f"could not create its component actor: {_describe(exc)}", exc)
            return None
        inst.ctx = Context(component_id, inst.component, inst.proxy, inst.counters)
        inst.state = "starting"
        on_start = getattr(inst.component, "on_start", None)
        ctx = inst.ctx
        return inst, _run_in(inst, (lambda: on_start(ctx)) if callable(on_start) else None)

    def _await_starts(
        self, launched: list[tuple[_Instance, Future[None]]], cancel: threading.Event | None
    ) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        _wait_all([f for _, f in launched], deadline, cancel)
        for inst, fut in launched:
            if not fut.done():
                why = (f"on_start did not return within {self.start_timeout_s:g}s"
                       if not (cancel and cancel.is_set()) else "on_start was still running "
                       "when the hub was asked to stop")  # fmt: skip
                self._failed(inst, f"{why}; abandoned (it never delays the others)", None)
                continue
            exc = fut.exception()
            if exc is not None:
                self._failed(inst, f"on_start raised {_describe(exc)}", exc)
            else:
                inst.state = "running"
                log.info("component %s (%s) started", inst.id, inst.plugin)

    def _failed(self, inst: _Instance, why: str, exc: BaseException | None) -> ComponentReport:
        """Mark ``inst`` failed and drop whatever it subscribed. The traceback of a raising
        hook is logged here, once. Runs in: the caller's thread."""
        inst.state = "failed"
        inst.error = _short(why)
        exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
        log.error("component %s (%s) failed: %s", inst.id, inst.plugin, inst.error,
                  exc_info=exc_info)  # fmt: skip
        if inst.ctx is not None:
            inst.ctx.timers.cancel_all()
        if inst.proxy is not None:
            inst.proxy.abandon()  # never waits: its thread may be stuck in a hook
        return self._report(inst)

    def _add_static(self, report: ComponentReport) -> None:
        self._order.append(("static", len(self._static)))
        self._static.append(report)

    # -- reporting -------------------------------------------------------------------------

    def reports(self) -> list[ComponentReport]:
        """A fresh report per configured entry, in config order. Runs in: any thread."""
        return [
            self._static[i] if kind == "static" else self._report(self._instances[i])
            for kind, i in list(self._order)
        ]

    def panels(self, one_line: bool = False) -> list[tuple[str, list[str]]]:
        """``(component id, lines)`` of running components that offer ``status_lines()``
        (``one_line``: their ``status_line()``, for the plain log line).

        A panel that raises shows its error instead. Runs in: the status view's thread.
        """
        out: list[tuple[str, list[str]]] = []
        name = "status_line" if one_line else "status_lines"
        for inst in list(self._instances):
            fn = getattr(inst.component, name, None)
            if inst.state != "running" or not callable(fn):
                continue
            try:
                got = fn()
                if one_line:
                    got = [got] if got else []
                lines = [str(line) for line in (got or [])]
            except Exception as exc:
                lines = [f"({name} raised {_describe(exc)})"]
            if lines:
                out.append((inst.id, lines))
        return out

    def component(self, component_id: str) -> Any:
        """The plugin instance started under ``component_id`` (None if none). Runs in: any."""
        for inst in self._instances:
            if inst.id == component_id:
                return inst.component
        return None

    def _report(self, inst: _Instance) -> ComponentReport:
        stats: dict[str, int] = {}
        subs = 0
        state, error = inst.state, inst.error
        if inst.proxy is not None:
            stats = inst.proxy.stats()
            if state in ("running", "starting"):
                if inst.proxy.is_alive:
                    subs = len(inst.proxy.subscriptions)
                    if error is None and subs and not stats.get("received"):
                        error = self._waiting_note(inst.proxy)
                else:
                    state, error = "failed", "its component actor stopped unexpectedly"
        c = inst.counters
        return ComponentReport(
            id=inst.id,
            plugin=inst.plugin,
            state=state,
            error=error,
            handled=c.handled,
            handler_errors=c.errors,
            last_handler_error=c.last_error,
            queued=stats.get("queued", 0),
            received=stats.get("received", 0),
            dropped=stats.get("dropped", 0),
            conflated=stats.get("conflated", 0),
            subscriptions=subs,
            orders=_order_counts(inst.ctx),
        )

    def _waiting_note(self, proxy: Any) -> str:
        """"waiting for connection" (with the reason) until the first event arrives."""
        kinds = {s.kind for s in proxy.subscriptions}
        endpoints = sorted({"private" if k in ("myOrder", "myAsset") else "public" for k in kinds})
        status = getattr(self.hub, "connection_status", None)
        for ep in endpoints:
            info = status(ep) if status is not None else {}
            if info.get("state") != "connected":
                why = info.get("last_error") or info.get("state") or "not connected"
                return _short(f"waiting for connection ({ep}: {why})")
        return "waiting for data"

    # -- stopping --------------------------------------------------------------------------

    def stop(self) -> list[ComponentReport]:
        """Call ``on_stop`` of every running component side by side, under one deadline
        (``stop_timeout_s``), then clean each up; one that overruns is abandoned.

        Never raises because of a plugin; returns the final reports. Runs in: caller's thread.
        """
        stopping: list[tuple[_Instance, Future[None]]] = []
        for inst in reversed(self._instances):
            if inst.state != "running":
                continue
            on_stop = getattr(inst.component, "on_stop", None)
            if inst.ctx is not None:
                inst.ctx.timers.cancel_all()  # timers never fire once on_stop is due
            if inst.proxy.is_alive:
                stopping.append((inst, _run_in(inst, _muted(inst.proxy, on_stop))))
            inst.state = "stopped"
        _wait_all([f for _, f in stopping], time.monotonic() + self.stop_timeout_s, None)
        for inst, fut in stopping:
            if not fut.done():
                inst.error = (f"on_stop did not return within {self.stop_timeout_s:g}s; "
                              "abandoned")  # fmt: skip
                log.error("component %s: %s", inst.id, inst.error)
                inst.proxy.abandon()
                continue
            exc = fut.exception()
            if exc is not None:
                inst.error = _short(f"on_stop raised {_describe(exc)}")
                log.error("component %s: %s", inst.id, inst.error,
                          exc_info=(type(exc), exc, exc.__traceback__))  # fmt: skip
            if inst.ctx is not None:
                inst.ctx.detach_orders()
            inst.proxy.cleanup(timeout=1.0)
            log.info("component %s (%s) stopped", inst.id, inst.plugin)
        return self.reports()

    def __enter__(self) -> ComponentHost:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _run_in(inst: _Instance, fn: Any) -> Future[None]:
    """Run ``fn()`` in ``inst``'s component thread; the returned future tells how it ended.

    A tell, not an ask: nothing here waits on the component's actor. Runs in: any thread.
    """
    fut: Future[None] = Future()

    def run() -> None:
        try:
            if fn is not None:
                fn()
        except BaseException as exc:
            fut.set_exception(exc)
        else:
            fut.set_result(None)

    try:
        inst.proxy.post_to_component(run)
    except Exception as exc:
        fut.set_exception(exc)
    return fut


def _order_counts(ctx: Any) -> dict[str, int] | None:
    """A component's orders by outcome, None when it never used the order API. Runs in: any
    thread (reads a copy; the handles are the component thread's)."""
    api = getattr(ctx.proxy, "_order_api", None) if ctx is not None else None
    if api is None:
        return None
    for _ in range(3):
        try:
            handles = list(api._handles.values())
            break
        except RuntimeError:  # changed size while copied: the component placed one meanwhile
            continue
    else:
        return None
    counts = {"open": 0, "filled": 0, "cancelled": 0, "denied": 0, "rejected": 0}
    key = {"done": "filled", "cancel": "cancelled", "denied": "denied", "rejected": "rejected"}
    for h in handles:
        counts[key.get(h.state, "open")] += 1
    return counts


def _muted(proxy: Any, on_stop: Any) -> Any:
    """``on_stop`` preceded, in the component thread, by muting its callbacks: no handler
    runs once ``on_stop`` has begun (events still queued are dropped)."""

    def run() -> None:
        proxy.mute()
        if callable(on_stop):
            on_stop()

    return run


def _wait_all(futures: list[Future[None]], deadline: float, cancel: threading.Event | None
              ) -> None:
    """Until every future is done, ``deadline`` passes or ``cancel`` is set."""
    pending = [f for f in futures if not f.done()]
    while pending:
        left = deadline - time.monotonic()
        if left <= 0 or (cancel is not None and cancel.is_set()):
            return
        wait(pending, timeout=min(left, 0.1 if cancel is not None else left))
        pending = [f for f in pending if not f.done()]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _short(text: str) -> str:
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"
