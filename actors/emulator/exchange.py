"""The emulated exchange: one account, orders, a small matching engine, myOrder/myAsset events.

Default account (:data:`DEFAULT_BALANCES`): 10,000,000 KRW, 0.05 BTC and 0.5 ETH, enough to
place and fill small orders on the default markets. Fee 0.05 % (maker and taker), minimum order
total 5,000 KRW on KRW markets.

Order types (``POST /v1/orders``):

- ``limit`` bid/ask with ``price`` and ``volume``; a bid locks ``price*volume`` + fee in KRW,
  an ask locks ``volume`` of the coin. ``time_in_force`` ``ioc``/``fok``/``post_only`` optional.
- ``price``: market buy for ``price`` KRW of funds (locks funds + fee).
- ``market``: market sell of ``volume``.
- ``best``: best-price order with ``time_in_force`` ``ioc`` or ``fok``; a bid gives funds in
  ``price`` (like ``price``), an ask gives ``volume`` (like ``market``).

Matching: an order that crosses the simulated book when placed fills at once against the book
levels as a taker, one trade per level. A limit order that rests fills later, as a maker at its
own price, on an :meth:`Exchange.on_market_tick` where the book crosses it; such a maker fill
takes at most the crossing levels' size and, by a seeded coin toss, often only part of the
remaining volume, so small orders regularly fill in 2+ trades across ticks. Liquidity our orders
take from a level is remembered for ``replenish_ms`` so that it is not taken twice. Our orders do
not change the simulated public book or trades. Market orders (and ``ioc``) that cannot fill
completely end ``cancel``; a market buy that leaves dust (funds too small for 1e-8 of the coin)
ends ``cancel`` too, as on Upbit.

Every state change emits a ``myOrder`` dict (``wait`` on accept, ``trade`` per fill, then
``done``/``cancel``) and every balance change a ``myAsset`` dict listing only the changed
currencies; both DEFAULT-keyed in wire order with ``stream_type`` ``REALTIME`` and Decimal
numbers. Listeners must not mutate them.

Runs in: the emulator loop thread. Every method is synchronous and non-blocking; nothing here
is thread-safe, the server serialises all calls onto its loop.
"""

from __future__ import annotations

import logging
import random
import time
import uuid as _uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Final, Protocol

from upbit_hub.actors.emulator.exchange_book import Liquidity
from upbit_hub.actors.emulator.exchange_model import (
    FEE_RATE,
    VOLUME_STEP,
    ZERO,
    Balance,
    ExchangeError,
    Fill,
    Order,
    apply_fill,
    floor_volume,
    my_asset_dict,
    my_order_dict,
)
from upbit_hub.actors.emulator.exchange_validate import check_funds, parse_order

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_BALANCES", "BookSource", "Exchange", "ExchangeError"]

#: The default account: enough to place and fill small orders.
DEFAULT_BALANCES: Final[dict[str, Decimal]] = {
    "KRW": Decimal("10000000"),
    "BTC": Decimal("0.05"),
    "ETH": Decimal("0.5"),
}


class BookSource(Protocol):
    """What the exchange needs from the market simulator."""

    markets: tuple[str, ...]

    def book(self, code: str) -> list[tuple[Decimal, Decimal, Decimal, Decimal]]:
        """Current levels as (ask_price, bid_price, ask_size, bid_size), best first."""
        ...


class Exchange:
    """One account trading against a :class:`BookSource` (the market simulator).

    ``balances`` replaces :data:`DEFAULT_BALANCES`; ``seed`` makes ids and partial fills
    reproducible; ``clock`` returns Unix ms (default: wall clock; ticks never move time back).
    Runs in: the emulator loop thread.
    """

    def __init__(
        self,
        market: BookSource,
        *,
        balances: Mapping[str, Decimal] | None = None,
        seed: int = 7,
        clock: Callable[[], int] | None = None,
        fee_rate: Decimal = FEE_RATE,
        replenish_ms: int = 500,
        split_probability: float = 0.5,
    ) -> None:
        self._market = market
        self._fee = fee_rate
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self._split_probability = split_probability
        self._rng = random.Random(seed)
        self._id_rng = random.Random(seed * 7919 + 1)
        self._last_ms = 0
        start = DEFAULT_BALANCES if balances is None else balances
        self._balances: dict[str, Balance] = {
            cur: Balance(balance=Decimal(amount)) for cur, amount in start.items()
        }
        self._balances.setdefault("KRW", Balance())
        self._orders: dict[str, Order] = {}
        self._open: dict[str, Order] = {}
        self._by_identifier: dict[str, str] = {}
        self._liquidity = Liquidity(market.book, replenish_ms)
        self._last_fill_price: dict[str, Decimal] = {}
        self._listeners: list[Callable[[dict], None]] = []
        self._order_history: list[dict] = []
        self._asset_history: list[dict] = []
        self._seed_avg_buy_prices()

    def _seed_avg_buy_prices(self) -> None:
        """Give starting coins an average buy price: the KRW market's best ask, if any."""
        for currency, wallet in self._balances.items():
            code = f"KRW-{currency}"
            if currency == "KRW" or wallet.balance <= 0 or code not in self._market.markets:
                continue
            try:
                asks = self._liquidity.levels(code, "ask")
            except Exception:  # cosmetic value only; never fail construction over it
                log.debug("no book for %s yet; avg_buy_price stays 0", code)
                continue
            if asks:
                wallet.avg_buy_price = asks[0][0]

    # -- listeners and history -----------------------------------------------------------------

    def add_listener(self, cb: Callable[[dict], None]) -> Callable[[], None]:
        """Call ``cb(dict)`` for every myOrder/myAsset event; returns the remover.

        Runs in: the emulator loop thread (so does ``cb``).
        """
        self._listeners.append(cb)

        def remove() -> None:
            if cb in self._listeners:
                self._listeners.remove(cb)

        return remove

    def order_history(self) -> list[dict]:
        """Every myOrder dict emitted so far, oldest first. Runs in: the emulator loop thread."""
        return list(self._order_history)

    def asset_history(self) -> list[dict]:
        """Every myAsset dict emitted so far, oldest first. Runs in: the emulator loop thread."""
        return list(self._asset_history)

    # -- queries -------------------------------------------------------------------------------

    def now_ms(self) -> int:
        """The exchange's current time (Unix ms; never moves back). Runs in: the loop thread."""
        return self._now()

    def balances(self) -> dict[str, Balance]:
        """Copies of every currency's balance. Runs in: the emulator loop thread."""
        return {cur: replace(b) for cur, b in self._balances.items()}

    def get_order(self, *, uuid: str | None = None, identifier: str | None = None) -> Order:
        """A snapshot of one order; 404 ``order_not_found`` if unknown.

        Runs in: the emulator loop thread.
        """
        return self._find(uuid, identifier).snapshot()

    def orders(self, *, market: str | None = None, states: Sequence[str] = ()) -> list[Order]:
        """Snapshots of orders (oldest first), filtered by market and states.

        Runs in: the emulator loop thread.
        """
        return [
            o.snapshot()
            for o in self._orders.values()
            if (market is None or o.market == market) and (not states or o.state in states)
        ]

    # -- commands ------------------------------------------------------------------------------

    def place_order(self, params: Mapping[str, object]) -> Order:
        """Validate and accept an order (``POST /v1/orders`` body), then match it.

        Returns the order as accepted (state ``wait``), the shape ``POST`` answers with; fills
        that happen at once are already emitted when this returns. Raises
        :class:`ExchangeError` (400) with Upbit's names; nothing changes on an error.
        Runs in: the emulator loop thread.
        """
        order = parse_order(params, self._market.markets, self._by_identifier)
        bids = self._liquidity.levels(order.market, "bid") if order.side == "ask" else []
        check_funds(
            order,
            quote_available=self._balances.get(order.quote, Balance()).balance,
            base_available=self._balances.get(order.base, Balance()).balance,
            best_bid=bids[0][0] if bids else None,
            fee_rate=self._fee,
        )
        order.uuid = self._new_uuid()
        now = self._now()
        order.created_ms = now
        self._lock(order)
        self._orders[order.uuid] = order
        self._open[order.uuid] = order
        if order.identifier is not None:
            self._by_identifier[order.identifier] = order.uuid
        accepted = order.snapshot()
        self._emit(my_order_dict(order, "wait", now))
        self._emit_assets([order.quote if order.side == "bid" else order.base], now)
        self._match_new(order, now)
        return accepted

    def cancel_order(self, *, uuid: str | None = None, identifier: str | None = None) -> Order:
        """Cancel an open order; returns it as of cancel acceptance (state still ``wait``).

        Unknown or already closed orders: 404 ``order_not_found``. Emits myOrder ``cancel``
        and myAsset for the unlocked currency. Runs in: the emulator loop thread.
        """
        order = self._find(uuid, identifier)
        if not order.is_open:
            raise ExchangeError(404, "order_not_found", "주문을 찾지 못했습니다. (already closed)")
        before = order.snapshot()
        self._close(order, "cancel", self._now())
        return before

    def on_market_tick(self, now_ms: int) -> None:
        """Let resting orders fill against the current book. Runs in: the emulator loop thread."""
        self._last_ms = max(self._last_ms, now_ms)
        self._liquidity.expire(self._last_ms)
        if not self._open:
            return
        now = self._now()
        tops: dict[str, tuple[list, Decimal | None, Decimal | None]] = {}
        for order in list(self._open.values()):
            if order.ord_type != "limit" or not order.is_open:
                continue
            top = tops.get(order.market)
            if top is None:
                rows = self._market.book(order.market)
                asks = [r[0] for r in rows if r[0] > 0 and r[2] > 0]
                bids = [r[1] for r in rows if r[1] > 0 and r[3] > 0]
                top = tops[order.market] = (rows, min(asks, default=None), max(bids, default=None))
            rows, best_ask, best_bid = top
            # Cheap pre-check: most resting orders do not cross the best opposite price.
            if order.side == "bid" and (best_ask is None or best_ask > order.price):
                continue
            if order.side == "ask" and (best_bid is None or best_bid < order.price):
                continue
            self._match_resting(order, rows, now)

    # -- validation and locking ----------------------------------------------------------------

    def _lock(self, order: Order) -> None:
        if order.side == "bid":
            if order.funds_based:
                order.remaining_funds = order.price
                total = order.price
            else:
                order.remaining_volume = order.volume
                total = order.price * order.volume
            order.reserved_fee = total * self._fee
            order.locked = total + order.reserved_fee
            wallet = self._balance(order.quote)
        else:
            order.remaining_volume = order.volume
            if order.ord_type == "limit":
                order.reserved_fee = order.price * order.volume * self._fee
            order.locked = order.volume
            wallet = self._balance(order.base)
        order.remaining_fee = order.reserved_fee
        wallet.balance -= order.locked
        wallet.locked += order.locked

    # -- matching ------------------------------------------------------------------------------

    def _crosses(self, order: Order, price: Decimal) -> bool:
        if order.ord_type != "limit":
            return True
        return price <= order.price if order.side == "bid" else price >= order.price

    def _match_new(self, order: Order, now: int) -> None:
        book_side = "ask" if order.side == "bid" else "bid"
        levels = [(p, a) for p, a in self._liquidity.levels(order.market, book_side) if a > 0]
        crossing = [(p, a) for p, a in levels if self._crosses(order, p)]
        if order.time_in_force == "post_only" and crossing:
            self._close(order, "cancel", now)
            return
        if order.time_in_force == "fok" and not self._fully_fillable(order, crossing):
            self._close(order, "cancel", now)
            return
        for price, available in crossing:
            if order.funds_based:
                qty = min(available, floor_volume(order.remaining_funds / price))
            else:
                qty = min(available, order.remaining_volume)
            qty = floor_volume(qty)
            if qty <= 0:
                if order.funds_based:
                    break
                continue
            self._liquidity.take(order.market, book_side, price, qty, now)
            self._fill(order, price, qty, False, now)
            if self._complete(order):
                break
        if self._complete(order):
            self._close(order, "done", now)
        elif order.ord_type != "limit" or order.time_in_force in ("ioc", "fok"):
            self._close(order, "cancel", now)

    def _fully_fillable(self, order: Order, crossing: list[tuple[Decimal, Decimal]]) -> bool:
        if order.funds_based:
            return sum((p * a for p, a in crossing), ZERO) >= order.remaining_funds
        return sum((a for _, a in crossing), ZERO) >= order.remaining_volume

    def _match_resting(self, order: Order, book: list, now: int) -> None:
        book_side = "ask" if order.side == "bid" else "bid"
        crossing = [
            (p, a)
            for p, a in self._liquidity.levels(order.market, book_side, book)
            if a > 0 and self._crosses(order, p)
        ]
        available = sum((a for _, a in crossing), ZERO)
        if available <= 0:
            return
        cap = order.remaining_volume
        if cap >= 2 * VOLUME_STEP and self._rng.random() < self._split_probability:
            part = floor_volume(cap * Decimal(self._rng.randint(30, 70)) / 100)
            cap = max(part, VOLUME_STEP)
        qty = floor_volume(min(cap, available))
        if qty <= 0:
            return
        left = qty
        for price, size in crossing:
            take = min(size, left)
            self._liquidity.take(order.market, book_side, price, take, now)
            left -= take
            if left <= 0:
                break
        self._fill(order, order.price, qty, True, now)
        if self._complete(order):
            self._close(order, "done", now)

    def _complete(self, order: Order) -> bool:
        if order.funds_based:
            return order.remaining_funds == 0
        return order.remaining_volume == 0

    def _fill(self, order: Order, price: Decimal, qty: Decimal, maker: bool, now: int) -> None:
        funds = price * qty
        fee = funds * self._fee
        last = self._last_fill_price.get(order.market)
        self._last_fill_price[order.market] = price
        fill = Fill(
            uuid=self._new_uuid(),
            price=price,
            volume=qty,
            funds=funds,
            fee=fee,
            is_maker=maker,
            timestamp=now,
            trend="up" if last is None or price >= last else "down",
        )
        apply_fill(order, fill, self._balance(order.quote), self._balance(order.base), self._fee)
        self._emit(my_order_dict(order, "trade", now, fill))
        self._emit_assets([order.quote, order.base], now)

    def _close(self, order: Order, state: str, now: int) -> None:
        released = order.locked
        if released:
            wallet = self._balance(order.quote if order.side == "bid" else order.base)
            wallet.locked -= released
            wallet.balance += released
            order.locked = ZERO
        order.state = state
        order.closed_ms = now
        self._open.pop(order.uuid, None)
        self._emit(my_order_dict(order, state, now))
        if released:
            self._emit_assets([order.quote if order.side == "bid" else order.base], now)

    # -- helpers -------------------------------------------------------------------------------

    def _find(self, uuid: str | None, identifier: str | None) -> Order:
        if uuid is None and identifier is not None:
            uuid = self._by_identifier.get(identifier)
        order = self._orders.get(uuid) if uuid is not None else None
        if order is None:
            raise ExchangeError(404, "order_not_found", "주문을 찾지 못했습니다.")
        return order

    def _balance(self, currency: str) -> Balance:
        wallet = self._balances.get(currency)
        if wallet is None:
            wallet = self._balances[currency] = Balance()
        return wallet

    def _now(self) -> int:
        self._last_ms = max(self._last_ms, int(self._clock()))
        return self._last_ms

    def _new_uuid(self) -> str:
        return str(_uuid.UUID(int=self._id_rng.getrandbits(128), version=4))

    def _emit_assets(self, currencies: list[str], now: int) -> None:
        unique = list(dict.fromkeys(currencies))
        self._emit(my_asset_dict(self._new_uuid(), self._balances, unique, now))

    def _emit(self, event: dict) -> None:
        if event["type"] == "myOrder":
            self._order_history.append(event)
        else:
            self._asset_history.append(event)
        for cb in list(self._listeners):
            try:
                cb(event)
            except Exception:
                log.exception("exchange listener %r failed; event dropped for it", cb)
