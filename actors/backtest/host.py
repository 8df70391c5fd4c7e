"""SyncHost: starts and stops a backtest's components in its one thread, by the plugin rules.

The live :class:`~upbit_hub.plugins.sdk_host.ComponentHost` runs every ``on_start`` in its
component's own thread under a deadline, waiting on futures. A backtest has one thread and no
deadlines, so this host calls the hooks directly, keeping the rules a plugin relies on:

- each component is created as ``PluginClass(config)`` and gets the same
  :class:`~upbit_hub.plugins.sdk.Context` as live (on a :class:`~.proxy.BacktestProxy` and the
  simulated clock);
- an ``on_start`` that raises marks it ``failed``: its timers are cancelled, its
  subscriptions dropped, and the others run on;
- ``stop()`` cancels every timer first, then calls ``on_stop`` once for each component whose
  ``on_start`` succeeded (no event reaches it once ``on_stop`` began), then detaches its
  orders.

Components come from the settings' ``[[components]]`` (:func:`specs_from_settings`: the
plugins are discovered and their params validated as ``upbit-hub run`` does) or are given
directly (tests, benchmarks). ``recorder`` entries are skipped: a backtest would only write
the recording it reads back into a file.

This module is the backtest's edge to the plugin SDK (like the ``run`` command's): it imports
``upbit_hub.plugins`` inside its functions, never at import time.

Runs in: the backtest's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ComponentSpec", "ComponentState", "SyncHost", "specs_from_settings"]

log = logging.getLogger(__name__)

#: Plugins a backtest does not start (they would write where the recording came from).
SKIPPED_PLUGINS = frozenset({"recorder"})


@dataclass(frozen=True)
class ComponentSpec:
    """One component to run: its id, plugin class and validated config. ``problem`` set:
    not startable (reported as ``failed`` or ``skipped``)."""

    id: str
    plugin_cls: Any = None
    config: Any = None
    plugin: str = ""
    problem: str | None = None
    state: str = "running"  # what it becomes if not startable: "failed", "skipped", "disabled"


@dataclass
class ComponentState:
    """One component's state in the backtest."""

    id: str
    plugin: str
    state: str = "starting"
    error: str | None = None
    component: Any = None
    ctx: Any = None
    proxy: Any = None
    counters: Any = None

    def report(self) -> dict[str, Any]:
        handled = self.counters.handled if self.counters is not None else 0
        errors = self.counters.errors if self.counters is not None else 0
        out: dict[str, Any] = {"id": self.id, "plugin": self.plugin, "state": self.state,
                               "handled": handled, "errors": errors}  # fmt: skip
        if self.error:
            out["error"] = self.error
        if self.counters is not None and self.counters.last_error:
            out["last_error"] = self.counters.last_error
        return out


def specs_from_settings(settings: Any) -> list[ComponentSpec]:
    """The ``[[components]]`` of ``settings`` as specs (discovered, params validated).

    Runs in: the caller's thread.
    """
    from upbit_hub.plugins.discovery import resolve_components

    specs: list[ComponentSpec] = []
    for rc in resolve_components(settings):
        cid, plugin = rc.component.id, rc.component.plugin
        if rc.status.state == "disabled":
            specs.append(ComponentSpec(cid, plugin=plugin, state="disabled",
                                       problem="disabled in the settings"))
        elif plugin in SKIPPED_PLUGINS:
            specs.append(ComponentSpec(cid, plugin=plugin, state="skipped",
                                       problem=f"{plugin} is not run in a backtest (it would "
                                               "record the replay)"))  # fmt: skip
        elif not rc.ok:
            why = "; ".join(rc.problems) or rc.status.error or rc.status.state
            specs.append(ComponentSpec(cid, plugin=plugin, state="failed", problem=why))
        else:
            specs.append(ComponentSpec(cid, rc.status.plugin, rc.config, plugin))
    return specs


class SyncHost:
    """Runs components in the caller's thread (see the module docstring).
    ``make_proxy(component_id)`` gives each its :class:`~.proxy.BacktestProxy`."""

    def __init__(self, make_proxy: Callable[[str], Any], clock: Any) -> None:
        self.make_proxy = make_proxy
        self.clock = clock
        self.components: list[ComponentState] = []

    def start(self, specs: Iterable[ComponentSpec]) -> list[ComponentState]:
        """Create each component and call its ``on_start``; never raises because of one."""
        from upbit_hub.plugins.sdk import Context, HandlerCounters

        for spec in specs:
            name = spec.plugin or getattr(spec.plugin_cls, "name", "") or "?"
            st = ComponentState(spec.id, name)
            self.components.append(st)
            if spec.problem is not None:
                st.state, st.error = spec.state, spec.problem
                if spec.state == "failed":
                    log.warning("component %s (%s) not started: %s", spec.id, name, spec.problem)
                continue
            try:
                st.component = spec.plugin_cls(spec.config)
            except Exception as exc:
                self._failed(st, f"constructor raised {_describe(exc)}", exc)
                continue
            st.counters = HandlerCounters()
            st.proxy = self.make_proxy(spec.id)
            st.ctx = Context(spec.id, st.component, st.proxy, st.counters, clock=self.clock)
            on_start = getattr(st.component, "on_start", None)
            try:
                if callable(on_start):
                    on_start(st.ctx)
            except Exception as exc:
                self._failed(st, f"on_start raised {_describe(exc)}", exc)
                continue
            st.state = "running"
            log.info("component %s (%s) started", spec.id, name)
        return self.components

    def stop(self) -> None:
        """Cancel every timer, then ``on_stop`` each running component once (newest first),
        then detach its orders. Never raises because of a plugin."""
        running = [st for st in self.components if st.state == "running"]
        for st in running:
            st.ctx.timers.cancel_all()
        for st in reversed(running):
            st.state = "stopped"
            st.proxy.mute()
            on_stop = getattr(st.component, "on_stop", None)
            try:
                if callable(on_stop):
                    on_stop()
            except Exception as exc:
                st.error = f"on_stop raised {_describe(exc)}"
                log.error("component %s: %s", st.id, st.error, exc_info=exc)

    def close(self) -> None:
        """After the last updates were delivered: detach orders and close the proxies."""
        for st in self.components:
            if st.ctx is not None:
                st.ctx.detach_orders()
            if st.proxy is not None:
                st.proxy.cleanup()

    @property
    def all_failed(self) -> bool:
        live = [st for st in self.components if st.state not in ("disabled", "skipped")]
        return bool(live) and all(st.state == "failed" for st in live)

    def _failed(self, st: ComponentState, why: str, exc: BaseException) -> None:
        st.state, st.error = "failed", why
        log.error("component %s (%s) failed: %s", st.id, st.plugin, why, exc_info=exc)
        if st.ctx is not None:
            st.ctx.timers.cancel_all()
        if st.proxy is not None:
            st.proxy.cleanup()


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
