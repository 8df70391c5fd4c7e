"""OrderGateway: how a component reaches its account's order actor, from any thread.

Every method returns at once (a pykka ``tell``): a component thread never waits on the
network. ``attach`` is the one ask, made once when a component first uses the order API, to
learn the state of orders the journal kept for it across a restart. Balances are read from a
snapshot the order actor publishes after every change (a dict replaced whole).

The same interface is what a remote component's gateway implements over NATS, and what the
backtest offers with a simulated exchange, so plugin code never knows which it has.

Runs in: any thread.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pykka

from upbit_hub.actors.protocol.errors import HubError

from .actor import Attach, Cancel, CancelAll, Detach, Halt, Replace, ResetHalt, Submit
from .ids import new_client_id
from .types import OrderRequest, OrderUpdate

__all__ = ["OrderGateway"]


class OrderGateway:
    """Tells the order actor ``ref``; ``clock`` is the hub's (for ``created_at`` and ids)."""

    def __init__(self, ref: pykka.ActorRef[Any], clock: Any, *, ask_timeout_s: float = 5.0,
                 rng: random.Random | None = None) -> None:
        self.ref = ref
        self.clock = clock
        self.ask_timeout_s = ask_timeout_s
        self.balances: dict[str, Decimal] = {}
        self._rng = rng
        self._lock = threading.Lock()

    def publish(self, balances: dict[str, Decimal]) -> None:
        """The order actor's latest available balances. Runs in: the order actor's thread."""
        self.balances = balances

    def new_client_id(self) -> str:
        with self._lock:
            return new_client_id(int(self.clock.time() * 1000), self._rng)

    def submit(self, request: OrderRequest) -> None:
        self._tell(Submit(request))

    def cancel(self, client_id: str) -> None:
        self._tell(Cancel(client_id))

    def cancel_all(self, component_id: str | None, market: str | None = None,
                   side: str | None = None) -> None:
        self._tell(CancelAll(component_id, market, side))

    def replace(self, old_client_id: str, request: OrderRequest, remain_only: bool) -> None:
        self._tell(Replace(old_client_id, request, remain_only))

    def halt(self, reason: str) -> None:
        self._tell(Halt(reason))

    def reset(self) -> None:
        self._tell(ResetHalt())

    def attach(self, component_id: str, sink: Callable[[OrderUpdate], None]) -> list[OrderUpdate]:
        """Route ``component_id``'s updates to ``sink``; returns its orders' current state."""
        try:
            return self.ref.ask(Attach(component_id, sink), timeout=self.ask_timeout_s)
        except pykka.ActorDeadError as exc:
            raise HubError("the order actor is not running (the hub stopped?)") from exc

    def detach(self, component_id: str) -> None:
        try:
            self.ref.tell(Detach(component_id))
        except pykka.ActorDeadError:
            pass

    def balance(self, currency: str) -> Decimal:
        """Available balance of ``currency`` (what in-flight orders take already deducted)."""
        return self.balances.get(currency.upper(), Decimal(0))

    def _tell(self, message: Any) -> None:
        try:
            self.ref.tell(message)
        except pykka.ActorDeadError as exc:
            raise HubError("the order actor is not running (the hub stopped?)") from exc
