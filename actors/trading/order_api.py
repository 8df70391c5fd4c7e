"""The order API's calls, shared by the plugin :class:`~upbit_hub.plugins.Context` and the
script-facing :class:`~upbit_hub.actors.client.WebSocketClientProxy`, so both offer exactly the
same methods. A class mixing it in provides ``_orders()`` (its
:class:`~.handles.ComponentOrders`) and ``_halt_reason(reason)``.

Every call returns at once; what the account's rules and Upbit decide arrives as an
:class:`~.types.OrderUpdate`: ``Component.on_order_update`` for a plugin, the callback given
to ``proxy.on_order_update(fn)`` for a script (run in the proxy's component thread).

Runs in: the component's thread for a plugin; any thread of a script.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .handles import ComponentOrders, OrderHandle

__all__ = ["OrderAPI"]


class OrderAPI:
    """Order methods (see the module docstring)."""

    def _orders(self) -> ComponentOrders:
        raise NotImplementedError

    def _halt_reason(self, reason: str) -> str:
        return reason

    def submit_order(
        self, market: str, side: str, ord_type: str, *, price: Any = None, volume: Any = None,
        time_in_force: str | None = None, smp_type: str | None = None,
        client_id: str | None = None,
    ) -> OrderHandle:
        """Place an order (Upbit's ``POST /v1/orders`` terms: side ``bid``/``ask``, ord_type
        ``limit``/``price``/``market``/``best``). ``client_id`` is sent as Upbit's
        ``identifier``; a unique one is made when not given. Returns its handle."""
        return self._orders().submit(market, side, ord_type, price=price, volume=volume,
                                     time_in_force=time_in_force, smp_type=smp_type,
                                     client_id=client_id)  # fmt: skip

    def buy_limit(self, market: str, price: Any, volume: Any, *,
                  client_id: str | None = None) -> OrderHandle:
        """A limit buy of ``volume`` at ``price``."""
        return self.submit_order(market, "bid", "limit", price=price, volume=volume,
                                 client_id=client_id)

    def sell_limit(self, market: str, price: Any, volume: Any, *,
                   client_id: str | None = None) -> OrderHandle:
        """A limit sell of ``volume`` at ``price``."""
        return self.submit_order(market, "ask", "limit", price=price, volume=volume,
                                 client_id=client_id)

    def buy_market(self, market: str, funds: Any, *, client_id: str | None = None
                   ) -> OrderHandle:
        """A market buy spending ``funds`` of the quote currency (KRW)."""
        return self.submit_order(market, "bid", "price", price=funds, client_id=client_id)

    def sell_market(self, market: str, volume: Any, *, client_id: str | None = None
                    ) -> OrderHandle:
        """A market sell of ``volume``."""
        return self.submit_order(market, "ask", "market", volume=volume, client_id=client_id)

    def cancel_order(self, handle_or_client_id: OrderHandle | str) -> None:
        """Cancel one order of this component."""
        self._orders().cancel(handle_or_client_id)

    def cancel_all(self, market: str | None = None, side: str | None = None) -> None:
        """Cancel this component's open orders (of one market / side when given)."""
        self._orders().cancel_all(market, side)

    def replace_order(self, handle: OrderHandle | str, *, price: Any,
                      volume: Any = "remain_only") -> OrderHandle:
        """Cancel a limit order and place a new one in one step (Upbit's ``cancel_and_new``);
        ``volume="remain_only"`` keeps what was left of it. Returns the new order's handle."""
        return self._orders().replace(handle, price=price, volume=volume)

    def open_orders(self, market: str | None = None) -> list[OrderHandle]:
        """This component's orders not final yet (as of the updates it has seen)."""
        return self._orders().open_orders(market)

    def order(self, client_id: str) -> OrderHandle | None:
        """This component's order with ``client_id``, or None."""
        return self._orders().order(client_id)

    def balance(self, currency: str) -> Decimal:
        """The account's available ``currency`` (in-flight orders already deducted)."""
        return self._orders().balance(currency)

    def halt(self, reason: str) -> None:
        """The kill switch for the whole account: new orders are denied and every open one
        is cancelled, until it is reset (``upbit-hub halt --reset``)."""
        self._orders().gateway.halt(self._halt_reason(reason))
