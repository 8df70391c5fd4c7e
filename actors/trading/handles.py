"""The component side of the order API: :class:`OrderHandle` and :class:`ComponentOrders`.

A component's orders are mirrored in its own thread: each :class:`~.types.OrderUpdate` is
posted to the component's inbox, applied to its :class:`OrderHandle`, then handed to
``Component.on_order_update``. So reading a handle, ``open_orders()`` or ``order()`` in a
handler needs no lock and always agrees with the updates the component has seen.

Arguments are checked at once (a clear :class:`RequestValidationError`, nothing sent);
everything a rule of the account decides (risk, Upbit's answer) arrives as an update.

Runs in: the component's thread (``ComponentOrders`` methods), except where noted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from upbit_hub.actors.protocol.errors import RequestValidationError
from upbit_hub.actors.protocol.requests import validate_market_code

from .types import FINAL_STATES, Fill, OrderRequest, OrderUpdate

__all__ = ["ComponentOrders", "OrderHandle"]

log = logging.getLogger(__name__)

_SIDES = ("bid", "ask")
_TYPES = ("limit", "price", "market", "best")
_TIF = (None, "ioc", "fok", "post_only")
_SMP = (None, "cancel_maker", "cancel_taker", "reduce", "none")


class OrderHandle:
    """One order as its component sees it. ``client_id`` is Upbit's ``identifier``; ``uuid``
    is known once Upbit accepted it. Updated in the component's thread before each
    ``on_order_update`` call."""

    __slots__ = ("fills", "last", "request")

    def __init__(self, request: OrderRequest) -> None:
        self.request = request
        self.last: OrderUpdate | None = None
        self.fills: list[Fill] = []

    @property
    def client_id(self) -> str:
        return self.request.client_id

    @property
    def uuid(self) -> str | None:
        return self.last.uuid if self.last is not None else None

    @property
    def market(self) -> str:
        return self.request.market

    @property
    def side(self) -> str:
        return self.request.side

    @property
    def state(self) -> str:
        """``new`` until the first update, then the latest update's state."""
        return self.last.state if self.last is not None else "new"

    @property
    def reason(self) -> str | None:
        return self.last.reason if self.last is not None else None

    @property
    def is_open(self) -> bool:
        return self.state not in FINAL_STATES

    @property
    def executed_volume(self) -> Decimal:
        return self.last.executed_volume if self.last is not None else Decimal(0)

    @property
    def remaining_volume(self) -> Decimal | None:
        return self.last.remaining_volume if self.last is not None else self.request.volume

    def _apply(self, update: OrderUpdate) -> None:
        self.last = update
        if update.fill is not None:
            self.fills.append(update.fill)

    def __repr__(self) -> str:
        r = self.request
        return (f"<OrderHandle {self.client_id} {r.side} {r.ord_type} {r.market} "
                f"{self.state}>")  # fmt: skip


class ComponentOrders:
    """The order API of one component (what its Context offers). ``gateway`` reaches the
    account's order actor; ``post(fn)`` runs ``fn`` in the component's thread; ``handler`` is
    the component's ``on_order_update`` (wrapped for counting)."""

    def __init__(self, component_id: str, gateway: Any, post: Callable[[Callable[[], None]], Any],
                 handler: Callable[[OrderUpdate], object] | None) -> None:
        self.component_id = component_id
        self.gateway = gateway
        self._post = post
        self._handler = handler
        self._handles: dict[str, OrderHandle] = {}
        self._attached = False

    # -- placing -------------------------------------------------------------------------

    def submit(self, market: str, side: str, ord_type: str, *, price: Any = None,
               volume: Any = None, time_in_force: str | None = None,
               smp_type: str | None = None, client_id: str | None = None) -> OrderHandle:
        """Check the arguments, send the order on its way, return its handle at once."""
        handle = self._new(market, side, ord_type, price=price, volume=volume,
                           time_in_force=time_in_force, smp_type=smp_type,
                           client_id=client_id)  # fmt: skip
        self.gateway.submit(handle.request)
        return handle

    def _new(self, market: str, side: str, ord_type: str, *, price: Any = None,
             volume: Any = None, time_in_force: str | None = None,
             smp_type: str | None = None, client_id: str | None = None,
             replaces: str | None = None) -> OrderHandle:
        """A checked request and its handle (not sent yet)."""
        market = _market(market)
        if side not in _SIDES:
            raise RequestValidationError(f"side must be 'bid' (buy) or 'ask' (sell), not {side!r}")
        if ord_type not in _TYPES:
            raise RequestValidationError(
                f"ord_type must be one of {', '.join(_TYPES)}, not {ord_type!r}")
        if time_in_force not in _TIF:
            raise RequestValidationError(
                f"time_in_force must be ioc, fok, post_only or None, not {time_in_force!r}")
        if smp_type not in _SMP:
            raise RequestValidationError(f"smp_type must be cancel_maker, cancel_taker, reduce, "
                                         f"none or None, not {smp_type!r}")  # fmt: skip
        p, v = _amount(price, "price"), _amount(volume, "volume")
        self._attach()
        if client_id is None:
            client_id = self.gateway.new_client_id()
        elif not isinstance(client_id, str) or not client_id or len(client_id) > 64:
            raise RequestValidationError(f"client_id must be a non-empty string of at most 64 "
                                         f"characters, not {client_id!r}")  # fmt: skip
        if client_id in self._handles:
            raise RequestValidationError(
                f"client_id {client_id!r} is already used by an order of this component; Upbit "
                "refuses an identifier twice")
        request = OrderRequest(
            client_id=client_id, component_id=self.component_id, market=market, side=side,
            ord_type=ord_type, price=p, volume=v, time_in_force=time_in_force,
            smp_type=smp_type, created_at=self.gateway.clock.time(), replaces=replaces,
        )  # type: ignore[arg-type]  # fmt: skip
        handle = self._handles[client_id] = OrderHandle(request)
        return handle

    def replace(self, old: OrderHandle | str, *, price: Any, volume: Any = "remain_only",
                client_id: str | None = None) -> OrderHandle:
        """Upbit's ``cancel_and_new`` for a limit order: a new handle for the new order."""
        handle = self._handle(old)
        remain_only = isinstance(volume, str) and volume == "remain_only"
        new = self._new(handle.market, handle.side, "limit", price=price,
                          volume=handle.remaining_volume if remain_only else volume,
                          time_in_force=handle.request.time_in_force,
                          smp_type=handle.request.smp_type, client_id=client_id,
                          replaces=handle.client_id)  # fmt: skip
        self.gateway.replace(handle.client_id, new.request, remain_only)
        return new

    def cancel(self, handle_or_client_id: OrderHandle | str) -> None:
        self._attach()
        self.gateway.cancel(self._handle(handle_or_client_id).client_id)

    def cancel_all(self, market: str | None = None, side: str | None = None) -> None:
        if side not in (None, *_SIDES):
            raise RequestValidationError(f"side must be 'bid', 'ask' or None, not {side!r}")
        self._attach()
        self.gateway.cancel_all(self.component_id, _market(market) if market else None, side)

    # -- views -----------------------------------------------------------------------------

    def open_orders(self, market: str | None = None) -> list[OrderHandle]:
        self._attach()
        return [h for h in self._handles.values()
                if h.is_open and (market is None or h.market == market)]  # fmt: skip

    def order(self, client_id: str) -> OrderHandle | None:
        self._attach()
        return self._handles.get(client_id)

    def balance(self, currency: str) -> Decimal:
        self._attach()
        return self.gateway.balance(currency)

    # -- updates -----------------------------------------------------------------------------

    def _attach(self) -> None:
        """Hear this component's updates (once); adopt orders kept across a restart."""
        if self._attached:
            return
        self._attached = True
        for update in self.gateway.attach(self.component_id, self._sink):
            if update.client_id not in self._handles:
                handle = OrderHandle(_request_of(update))
                handle._apply(update)
                self._handles[update.client_id] = handle

    def _sink(self, update: OrderUpdate) -> None:
        """Runs in: the order actor's thread: hand the update to the component's thread."""
        self._post(lambda: self._on_update(update))

    def _on_update(self, update: OrderUpdate) -> None:
        handle = self._handles.get(update.client_id)
        if handle is None:
            handle = self._handles[update.client_id] = OrderHandle(_request_of(update))
        handle._apply(update)
        if self._handler is not None:
            self._handler(update)

    def detach(self) -> None:
        if self._attached:
            self.gateway.detach(self.component_id)

    def _handle(self, ref: OrderHandle | str) -> OrderHandle:
        client_id = ref.client_id if isinstance(ref, OrderHandle) else ref
        handle = self._handles.get(client_id) if isinstance(client_id, str) else None
        if handle is None:
            raise RequestValidationError(f"no order {client_id!r} in this component")
        return handle


def _market(market: Any) -> str:
    try:
        return validate_market_code(market)
    except TypeError as exc:
        raise RequestValidationError(f"market must be a code like 'KRW-BTC': {exc}") from exc


def _amount(value: Any, name: str) -> Decimal | None:
    """Decimal, str or int; a float is refused (not exact: ``0.1 + 0.2``)."""
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, float):
        raise RequestValidationError(
            f"{name} must be a Decimal, str or int, not the float {value!r} (floats are not "
            f"exact: pass Decimal({str(value)!r}) or {str(value)!r})")
    try:
        number = Decimal(value) if isinstance(value, Decimal | int) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError, TypeError):
        raise RequestValidationError(f"{name} must be a number, not {value!r}") from None
    if not number.is_finite() or number <= 0:
        raise RequestValidationError(f"{name} must be a positive number, not {value!r}")
    return number


def _request_of(update: OrderUpdate) -> OrderRequest:
    return OrderRequest(client_id=update.client_id, component_id=update.component_id,
                        market=update.market, side=update.side, ord_type=update.ord_type,
                        price=update.price, volume=update.volume)  # fmt: skip
