"""DirectGateway: the :class:`~upbit_hub.actors.trading.gateway.OrderGateway` interface over an
:class:`~upbit_hub.actors.trading.manager.OrderManager` called directly, in one thread.

Live, a component's :class:`~upbit_hub.actors.trading.handles.ComponentOrders` tells the order
actor; in a backtest there is no actor: the same ``ComponentOrders`` (so the same argument
checks, handles and ``on_order_update``) calls this gateway, which calls the manager at once.
The manager only changes state and hands out calls; the backtest driver sends them to the
simulated exchange later (``on_change`` tells it that the manager has something to look at).
Client ids are drawn from a seeded ``random.Random`` on the simulated clock, so the same
inputs give the same ids.

Updates reach a component through the sink it attached (which posts them to its queue, in
order with its events); updates for a component not attached wait for it, as live.

Runs in: the backtest's thread (every method).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from upbit_hub.actors.trading.ids import new_client_id
from upbit_hub.actors.trading.types import OrderRequest, OrderUpdate

__all__ = ["DirectGateway"]

log = logging.getLogger(__name__)


class DirectGateway:
    """OrderGateway for a backtest (see the module docstring). ``manager`` may be set after
    construction (the manager's ``deliver`` is this gateway's :meth:`deliver`)."""

    def __init__(self, clock: Any, *, rng: random.Random, on_change: Callable[[], None],
                 manager: Any = None) -> None:
        self.clock = clock
        self.manager = manager
        self._rng = rng
        self._on_change = on_change
        self.sinks: dict[str, Callable[[OrderUpdate], None]] = {}
        self.waiting: dict[str, list[OrderUpdate]] = {}

    # -- what ComponentOrders calls ----------------------------------------------------------

    def new_client_id(self) -> str:
        return new_client_id(round(self.clock.time() * 1000), self._rng)

    def submit(self, request: OrderRequest) -> None:
        self.manager.submit(request)
        self._on_change()

    def cancel(self, client_id: str) -> None:
        self.manager.cancel(client_id)
        self._on_change()

    def cancel_all(self, component_id: str | None, market: str | None = None,
                   side: str | None = None) -> None:
        self.manager.cancel_all(component_id, market, side)
        self._on_change()

    def replace(self, old_client_id: str, request: OrderRequest, remain_only: bool) -> None:
        self.manager.replace(old_client_id, request, remain_only)
        self._on_change()

    def halt(self, reason: str) -> None:
        """The kill switch, for this backtest only (no file is written)."""
        self.manager.halt(reason)
        self._on_change()

    def reset(self) -> None:
        self.manager.reset()
        self._on_change()

    def attach(self, component_id: str, sink: Callable[[OrderUpdate], None]) -> list[OrderUpdate]:
        """Route ``component_id``'s updates to ``sink``; returns its orders' current state."""
        self.sinks[component_id] = sink
        current = self.manager.orders_of(component_id)
        for update in self.waiting.pop(component_id, []):
            self._hand(component_id, sink, update)
        return current

    def detach(self, component_id: str) -> None:
        self.sinks.pop(component_id, None)

    def balance(self, currency: str) -> Decimal:
        """Available ``currency`` (what in-flight orders take already deducted)."""
        return self.manager.available(currency.upper())

    # -- what the manager calls ----------------------------------------------------------------

    def deliver(self, component_id: str, update: OrderUpdate) -> None:
        """The manager's ``deliver``: hand ``update`` to its component's sink (or keep it)."""
        sink = self.sinks.get(component_id)
        if sink is None:
            self.waiting.setdefault(component_id, []).append(update)
            return
        self._hand(component_id, sink, update)

    def _hand(self, component_id: str, sink: Callable[[OrderUpdate], None],
              update: OrderUpdate) -> None:
        try:
            sink(update)
        except Exception as exc:  # the component is gone: keep its updates
            log.debug("order update for %s not delivered: %s", component_id, exc)
            self.sinks.pop(component_id, None)
            self.waiting.setdefault(component_id, []).append(update)
