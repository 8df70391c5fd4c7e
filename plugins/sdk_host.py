"""ComponentHost: starts configured plugin instances on a hub, reports on them, stops them.

>>> host = ComponentHost(hub)                                       # doctest: +SKIP
>>> reports = host.start(resolve_components(settings))              # doctest: +SKIP
>>> [(r.id, r.state, r.error) for r in reports]                     # doctest: +SKIP
[('board', 'running', None), ('broken', 'failed', "components[1].plugin: plugin ...")]
>>> host.stop()                                                     # doctest: +SKIP

Each instance gets its own :class:`~upbit_hub.actors.client.WebSocketClientProxy` (so its own
component actor and thread). ``on_start`` and ``on_stop`` run in that thread through
``proxy.run_in_component``, so they never overlap a handler. A broken plugin (import error,
bad params, a constructor or ``on_start`` that raises or hangs) gets a ``failed`` report, its
subscriptions are removed, and the others run on. ``stop()`` calls ``on_stop`` in reverse start
order, then cleans each proxy up.

Runs in: the caller's thread (the ``run`` command's main thread, or a test).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import pykka

from upbit_hub.plugins.discovery import ResolvedComponent
from upbit_hub.plugins.sdk import Context, HandlerCounters

__all__ = ["ComponentHost", "ComponentReport", "ComponentState"]

log = logging.getLogger(__name__)

ComponentState = Literal["running", "failed", "stopped", "disabled"]
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

    ``start_timeout_s`` bounds each ``on_start`` (subscriptions wait for the wire, which is
    rate-limited: give it a few seconds), ``stop_timeout_s`` each ``on_stop``.
    """

    def __init__(
        self, hub: Any, *, start_timeout_s: float = 30.0, stop_timeout_s: float = 10.0
    ) -> None:
        self.hub = hub
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._instances: list[_Instance] = []
        self._static: list[ComponentReport] = []  # disabled / never started, in config order
        self._order: list[tuple[str, int]] = []  # ("static"|"instance", index) in config order

    # -- starting --------------------------------------------------------------------------

    def start(self, resolved: Iterable[ResolvedComponent]) -> list[ComponentReport]:
        """Start every usable entry, report the others; returns one report per entry.

        Never raises because of a plugin. Runs in: the caller's thread.
        """
        for rc in resolved:
            cid, plugin = rc.component.id, rc.component.plugin
            if rc.status.state == "disabled":
                self._add_static(ComponentReport(cid, plugin, "disabled"))
            elif not rc.ok:
                why = "; ".join(rc.problems) or rc.status.error or rc.status.state
                log.warning("component %s (%s) not started: %s", cid, plugin, why)
                self._add_static(ComponentReport(cid, plugin, "failed", _short(why)))
            else:
                self.start_component(cid, rc.status.plugin, rc.config, plugin)
        return self.reports()

    def start_component(
        self, component_id: str, plugin_cls: Any, config: Any = None, plugin: str = ""
    ) -> ComponentReport:
        """Create ``plugin_cls(config)``, give it a component actor and run its ``on_start``.

        Returns its report (``running`` or ``failed``). Runs in: the caller's thread.
        """
        inst = _Instance(component_id, plugin or getattr(plugin_cls, "name", "") or "?")
        self._order.append(("instance", len(self._instances)))
        self._instances.append(inst)
        try:
            inst.component = plugin_cls(config)
        except Exception as exc:
            return self._failed(inst, f"constructor raised {_describe(exc)}", exc)
        try:
            from upbit_hub.actors.client import WebSocketClientProxy

            inst.proxy = WebSocketClientProxy(component_id, hub=self.hub)
        except Exception as exc:
            return self._failed(inst, f"could not create its component actor: {_describe(exc)}",
                                exc)  # fmt: skip
        inst.ctx = Context(component_id, inst.component, inst.proxy, inst.counters)
        on_start = getattr(inst.component, "on_start", None)
        try:
            if callable(on_start):
                ctx = inst.ctx
                inst.proxy.run_in_component(lambda: on_start(ctx), timeout=self.start_timeout_s)
        except pykka.Timeout as exc:
            return self._failed(
                inst, f"on_start did not return within {self.start_timeout_s:g}s", exc
            )
        except Exception as exc:
            return self._failed(inst, f"on_start raised {_describe(exc)}", exc)
        inst.state = "running"
        log.info("component %s (%s) started", component_id, inst.plugin)
        return self._report(inst)

    def _failed(self, inst: _Instance, why: str, exc: BaseException) -> ComponentReport:
        inst.state = "failed"
        inst.error = _short(why)
        log.error("component %s (%s) failed: %s", inst.id, inst.plugin, inst.error,
                  exc_info=(type(exc), exc, exc.__traceback__))  # fmt: skip
        if inst.proxy is not None:
            inst.proxy.cleanup(timeout=self.stop_timeout_s)  # drops whatever it subscribed
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

    def panels(self) -> list[tuple[str, list[str]]]:
        """``(component id, lines)`` of running components that offer ``status_lines()``.

        A panel that raises shows its error instead. Runs in: the status view's thread.
        """
        out: list[tuple[str, list[str]]] = []
        for inst in list(self._instances):
            fn = getattr(inst.component, "status_lines", None)
            if inst.state != "running" or not callable(fn):
                continue
            try:
                lines = [str(line) for line in (fn() or [])]
            except Exception as exc:
                lines = [f"(status_lines raised {_describe(exc)})"]
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
            if state == "running":
                if inst.proxy.is_alive:
                    subs = len(inst.proxy.subscriptions)
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
        )

    # -- stopping --------------------------------------------------------------------------

    def stop(self) -> list[ComponentReport]:
        """Call ``on_stop`` of running components in reverse start order, then clean each up.

        Never raises because of a plugin; returns the final reports. Runs in: caller's thread.
        """
        for inst in reversed(self._instances):
            if inst.state != "running":
                continue
            on_stop = getattr(inst.component, "on_stop", None)
            try:
                if callable(on_stop) and inst.proxy.is_alive:
                    inst.proxy.run_in_component(on_stop, timeout=self.stop_timeout_s)
            except pykka.Timeout:
                inst.error = f"on_stop did not return within {self.stop_timeout_s:g}s"
                log.error("component %s: %s", inst.id, inst.error)
            except Exception as exc:
                inst.error = _short(f"on_stop raised {_describe(exc)}")
                log.error("component %s: %s", inst.id, inst.error, exc_info=True)
            finally:
                inst.state = "stopped"
                inst.proxy.cleanup(timeout=self.stop_timeout_s)
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


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _short(text: str) -> str:
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"
