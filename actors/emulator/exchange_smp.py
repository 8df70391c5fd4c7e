"""Self-match prevention (SMP) of the emulated exchange.

Sources: Upbit's guide "자전거래 체결 방지 (SMP)" and the changelog of 2026-11-09. Our
resting limit orders are not in the simulated book, so a new order meets them here: it walks
the crossing price levels best first, our resting opposite orders sitting at their own
prices (ahead of the simulated size at the same price, oldest first). The new (taker) order's
``smp_type`` decides, as on Upbit (a resting order's own smp_type no longer matters):

- ``cancel_maker`` (the default): the resting order is cancelled, the taker walks on;
- ``cancel_taker``: the taker's remaining volume is cancelled, the resting order stays;
- ``reduce``: both lose the overlapping volume; whichever still has volume stays;
- ``none``: our own orders are ignored and both trade against the simulated book.

What SMP takes away is counted in ``prevented_volume`` (volume) and ``prevented_locked`` (the
lock it released) and taken out of ``remaining_volume``. The myOrder event is ``prevented``
when some volume remains and ``cancel`` when nothing does: that is how Upbit's SMP guide
defines the two states, and protocol.md 3.6 lists ``prevented`` without more detail. The REST
state of an order cancelled this way is ``cancel`` (REST knows wait/watch/done/cancel only).

Runs in: the emulator loop thread (a mixin of ``ExchangeEngine``; nothing here is thread-safe).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from upbit_hub.actors.emulator.exchange_model import (
    ZERO,
    Balance,
    Order,
    floor_volume,
    my_order_dict,
)

__all__ = ["SelfMatchPrevention", "Step"]

Step = tuple[Decimal, Decimal, "Order | None"]  # (price, simulated size, our resting order)


class SelfMatchPrevention:
    """The SMP part of ``ExchangeEngine`` (which provides the attributes declared here).

    Runs in: the emulator loop thread.
    """

    _open: dict[str, Order]
    _reserve_fee: Decimal
    _balance: Callable[[str], Balance]
    _crosses: Callable[[Order, Decimal], bool]
    _complete: Callable[[Order], bool]
    _close: Callable[[Order, str, int], None]
    _emit: Callable[[dict], None]
    _emit_assets: Callable[[list[str], int], None]

    def _own_crossing(self, order: Order) -> list[Order]:
        """Our resting opposite-side limit orders the new ``order`` would trade with."""
        return [
            o for o in self._open.values()
            if o.market == order.market and o.side != order.side and o.ord_type == "limit"
            and o.uuid != order.uuid and self._crosses(order, o.price)
        ]  # fmt: skip

    def _steps(self, order: Order, crossing: list, own: list[Order]) -> list[Step]:
        """Book levels and our resting orders in the order the taker meets them."""
        steps: list[tuple[tuple, Step]] = []
        sign = 1 if order.side == "bid" else -1
        for o in own:
            steps.append(((sign * o.price, 0), (o.price, ZERO, o)))
        for price, available in crossing:
            steps.append(((sign * price, 1), (price, available, None)))
        steps.sort(key=lambda s: s[0])  # stable: own orders oldest first within a price
        return [s for _, s in steps]

    def _fok_ok(self, order: Order, steps: list[Step]) -> bool:
        """Whether a fill-or-kill order can be filled (or SMP-reduced) completely."""
        funds = order.funds_based
        need = order.remaining_funds if funds else order.remaining_volume
        got = ZERO
        for price, available, maker in steps:
            if maker is None:
                got += price * available if funds else available
            elif order.smp_type == "cancel_taker":
                break
            elif order.smp_type == "reduce":
                got += price * maker.remaining_volume if funds else maker.remaining_volume
            if got >= need:
                return True
        return got >= need

    def _self_match(self, taker: Order, maker: Order, now: int) -> bool:
        """Apply the taker's SMP type against one of our resting orders; True to walk on."""
        smp = taker.smp_type
        if smp == "cancel_maker":
            self._prevent(maker, maker.remaining_volume, maker.price, now)
            return True
        if smp == "cancel_taker":
            self._prevent(taker, None if taker.funds_based else taker.remaining_volume,
                          maker.price, now)
            return False
        if taker.funds_based:
            qty = min(maker.remaining_volume, floor_volume(taker.remaining_funds / maker.price))
        else:
            qty = min(maker.remaining_volume, taker.remaining_volume)
        if qty <= 0:
            return False
        self._prevent(maker, qty, maker.price, now)
        self._prevent(taker, qty, maker.price, now)
        return taker.is_open and not self._complete(taker)

    def _prevent(self, order: Order, qty: Decimal | None, price: Decimal, now: int) -> None:
        """Take ``qty`` (None: all remaining funds of a market buy) away from ``order``.

        The released lock goes back to ``balance``; emits ``prevented`` (volume left) or
        ``cancel`` (nothing left) and myAsset.
        """
        rate = self._reserve_fee
        if order.funds_based:
            funds = order.remaining_funds if qty is None else min(order.remaining_funds,
                                                                  qty * price)
            order.remaining_funds -= funds
            order.remaining_fee = order.remaining_funds * rate
            new_locked = order.remaining_funds + order.remaining_fee
            order.prevented_volume += qty or ZERO
        else:
            qty = min(qty or ZERO, order.remaining_volume)
            order.remaining_volume -= qty
            order.prevented_volume += qty
            if order.side == "bid":
                order.remaining_fee = order.price * order.remaining_volume * rate
                new_locked = order.price * order.remaining_volume + order.remaining_fee
            else:
                if order.ord_type == "limit":
                    order.remaining_fee = order.price * order.remaining_volume * rate
                new_locked = order.remaining_volume
        release = order.locked - new_locked
        order.locked = new_locked
        order.prevented_locked += release
        currency = order.quote if order.side == "bid" else order.base
        wallet = self._balance(currency)
        wallet.locked -= release
        wallet.balance += release
        if self._complete(order):
            leftover = order.locked
            self._close(order, "cancel", now)
            if release and not leftover:  # _close reported no balance change: report ours
                self._emit_assets([currency], now)
            return
        self._emit(my_order_dict(order, "prevented", now))
        self._emit_assets([currency], now)
