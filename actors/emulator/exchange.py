"""The emulated exchange: one account, orders, a small matching engine, myOrder/myAsset events.

Default account (:data:`DEFAULT_BALANCES`): 10,000,000 KRW, 0.05 BTC and 0.5 ETH, enough to
place and fill small orders on the default markets. Fees 0.05 % (maker and taker, separately
settable), minimum order total 5,000 KRW and maximum 1,000,000,000 KRW on KRW markets, limit
prices on Upbit's tick grid (``upbit_hub.actors.protocol.trading_rules``).

Order types (``POST /v1/orders``):

- ``limit`` bid/ask with ``price`` and ``volume``; a bid locks ``price*volume`` + fee in KRW,
  an ask locks ``volume`` of the coin. ``time_in_force`` ``ioc``/``fok``/``post_only`` optional.
- ``price``: market buy for ``price`` KRW of funds (locks funds + fee).
- ``market``: market sell of ``volume``.
- ``best``: best-price order with ``time_in_force`` ``ioc`` or ``fok``; a bid gives funds in
  ``price`` (like ``price``), an ask gives ``volume`` (like ``market``).

``smp_type`` (``cancel_maker`` when left out, ``none`` for post_only) governs what happens when
a new order meets one of the account's own resting orders; matching and self-match prevention
are described in :mod:`~upbit_hub.actors.emulator.exchange_engine`.

Identifiers: every ``identifier`` :meth:`Exchange.place_order` receives (and every
``new_identifier`` of :meth:`Exchange.cancel_and_new`) is used up, even when the request then
fails validation, as on Upbit; :meth:`Exchange.test_order` checks it without using it up.

Every state change emits a ``myOrder`` dict (``wait`` on accept, ``trade`` per fill,
``prevented`` when SMP reduced the order, then ``done``/``cancel``) and every balance change a
``myAsset`` dict listing only the changed currencies; both DEFAULT-keyed in wire order with
``stream_type`` ``REALTIME`` and Decimal numbers. Listeners must not mutate them.

A backtest builds one directly and calls :meth:`~ExchangeEngine.on_market_tick` after every
book update::

    ex = Exchange(book_source, balances={"KRW": Decimal(10**7)}, seed=1, clock=clock,
                  maker_fee_rate=Decimal("0.0005"), taker_fee_rate=Decimal("0.0005"),
                  split_probability=0.0)

Runs in: the emulator loop thread. Every method is synchronous and non-blocking; nothing here
is thread-safe, the server serialises all calls onto its loop.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Final

from upbit_hub.actors.emulator.exchange_engine import DEFAULT_BALANCES, BookSource, ExchangeEngine
from upbit_hub.actors.emulator.exchange_json import chance_json
from upbit_hub.actors.emulator.exchange_model import Balance, ExchangeError, Order
from upbit_hub.actors.emulator.exchange_validate import (
    check_funds,
    check_identifier,
    parse_order,
    released_by,
)
from upbit_hub.actors.protocol import trading_rules as rules

__all__ = ["DEFAULT_BALANCES", "BookSource", "Exchange", "ExchangeError"]

#: ``max_total`` the order chance reports where Upbit documents none (BTC and USDT markets):
#: an emulator choice, not an Upbit fact, and not enforced.
UNDOCUMENTED_MAX_TOTAL: Final = Decimal(1_000_000_000)


def _bad(message: str) -> ExchangeError:
    return ExchangeError(400, rules.VALIDATION_ERROR, message)


class Exchange(ExchangeEngine):
    """One account trading against a :class:`BookSource` (the market simulator).

    ``balances`` replaces :data:`DEFAULT_BALANCES`; ``seed`` makes ids and partial fills
    reproducible; ``clock`` returns Unix ms (default: wall clock; ticks never move time back);
    ``maker_fee_rate`` / ``taker_fee_rate`` (default 0.0005 each; ``fee_rate`` sets both);
    ``replenish_ms`` is how long liquidity our fills took stays gone; ``split_probability``
    is the chance a maker fill takes only part of the remaining volume.
    Runs in: the emulator loop thread.
    """

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

    def identifier_used(self, identifier: str) -> bool:
        """True once ``identifier`` reached :meth:`place_order` or :meth:`cancel_and_new`
        (whether or not an order came of it). Runs in: the emulator loop thread."""
        return identifier in self._used_identifiers

    def chance(self, market: str) -> dict:
        """``GET /v1/orders/chance`` body for ``market`` (fees, limits, the two accounts).

        Unknown market: 400 ``validation_error``. Runs in: the emulator loop thread.
        """
        if market not in self._market.markets:
            raise _bad(f"market {market!r} does not exist on this emulator; "
                       f"one of {sorted(self._market.markets)}")
        return chance_json(
            market, self._balances, maker_fee=self.maker_fee_rate, taker_fee=self.taker_fee_rate,
            max_total=rules.max_total(market) or UNDOCUMENTED_MAX_TOTAL,
        )

    # -- commands ------------------------------------------------------------------------------

    def place_order(self, params: Mapping[str, object]) -> Order:
        """Validate and accept an order (``POST /v1/orders`` body), then match it.

        The identifier is checked first and used up even if the order then fails. Returns the
        order as accepted (state ``wait``), the shape ``POST`` answers with; fills that happen
        at once are already emitted when this returns. Raises :class:`ExchangeError` (400)
        with Upbit's names; nothing but the identifier changes on an error.
        Runs in: the emulator loop thread.
        """
        identifier = check_identifier(params.get("identifier"), self._used_identifiers)
        if identifier is not None:
            self._used_identifiers.add(identifier)
        return self._accept(self._validated(params, identifier))

    def test_order(self, params: Mapping[str, object]) -> Order:
        """``POST /v1/orders/test``: the checks of :meth:`place_order`, nothing created.

        Returns the order as it would be accepted (a fresh uuid that finds nothing, state
        ``wait``, lock and fee reserve computed); no balance changes, no event, the identifier
        is not used up. Raises the same :class:`ExchangeError` as :meth:`place_order`.
        Runs in: the emulator loop thread.
        """
        identifier = check_identifier(params.get("identifier"), self._used_identifiers)
        order = self._validated(params, identifier)
        order.uuid = self._new_uuid(self._test_rng)
        order.created_ms = self._now()
        self._lock(order, apply=False)
        return order

    def cancel_order(self, *, uuid: str | None = None, identifier: str | None = None) -> Order:
        """Cancel an open order; returns it as of cancel acceptance (state still ``wait``).

        Unknown or already closed orders: 404 ``order_not_found``. Emits myOrder ``cancel``
        and myAsset for the unlocked currency. Runs in: the emulator loop thread.
        """
        order = self._find(uuid, identifier)
        if not order.is_open:
            raise ExchangeError(404, rules.ORDER_NOT_FOUND,
                                "주문을 찾지 못했습니다. (the order is already closed)")
        before = order.snapshot()
        self._close(order, "cancel", self._now())
        return before

    def cancel_all(
        self,
        *,
        cancel_side: str = "all",
        pairs: Collection[str] | None = None,
        excluded_pairs: Collection[str] | None = None,
        quote_currencies: Collection[str] | None = None,
        count: int = rules.BATCH_CANCEL_DEFAULT_COUNT,
        order_by: str = "desc",
    ) -> list[Order]:
        """``DELETE /v1/orders/open``: cancel up to ``count`` open (``wait``) orders.

        Filters: ``cancel_side`` all/ask/bid, ``pairs`` or ``excluded_pairs`` (not both, at
        most 20), ``quote_currencies``; ``order_by`` ``desc`` takes the newest first. Returns
        the cancelled orders as of cancel acceptance, in that order. Bad arguments: 400
        ``validation_error``. Runs in: the emulator loop thread.
        """
        if cancel_side not in rules.CANCEL_SIDES:
            raise _bad(f"cancel_side must be one of {', '.join(rules.CANCEL_SIDES)}, "
                       f"got {cancel_side!r}")
        if pairs is not None and excluded_pairs is not None:
            raise _bad("give either pairs or excluded_pairs, not both")
        for name, codes in (("pairs", pairs), ("excluded_pairs", excluded_pairs)):
            if codes is not None and len(codes) > rules.BATCH_CANCEL_MAX_PAIRS:
                raise _bad(f"{name} takes at most {rules.BATCH_CANCEL_MAX_PAIRS} markets, "
                           f"got {len(codes)}")
        if not 1 <= count <= rules.BATCH_CANCEL_MAX_COUNT:
            raise _bad(f"count must be between 1 and {rules.BATCH_CANCEL_MAX_COUNT}, got {count}")
        if order_by not in ("asc", "desc"):
            raise _bad(f"order_by must be asc or desc, got {order_by!r}")
        chosen = [
            o for o in self._open.values()
            if o.state == "wait"
            and (cancel_side == "all" or o.side == cancel_side)
            and (pairs is None or o.market in pairs)
            and (excluded_pairs is None or o.market not in excluded_pairs)
            and (quote_currencies is None or o.quote in quote_currencies)
        ]  # fmt: skip
        if order_by == "desc":  # newest first; placement order breaks ties in the same ms
            chosen.reverse()
        chosen.sort(key=lambda o: o.created_ms, reverse=order_by == "desc")
        now = self._now()
        cancelled = []
        for order in chosen[:count]:
            cancelled.append(order.snapshot())
            self._close(order, "cancel", now)
        return cancelled

    def cancel_and_new(self, params: Mapping[str, object]) -> tuple[Order, Order]:
        """``POST /v1/orders/cancel_and_new``: cancel an open order and place a new one on the
        same market and side, both or neither.

        ``params``: ``prev_order_uuid`` or ``prev_order_identifier``; ``new_ord_type``,
        ``new_price``, ``new_volume`` (a number or ``"remain_only"``: the previous order's
        remaining volume; limit, market sell and best sell only), ``new_identifier``,
        ``new_time_in_force``, ``new_smp_type``. The new order is validated before anything
        changes, counting the funds the cancel releases; the ``new_identifier`` is used up
        even when the call fails. Returns (previous order as of cancel acceptance, new order
        as accepted). Unknown or closed previous order: 404 ``order_not_found``; otherwise the
        errors of :meth:`place_order`. Runs in: the emulator loop thread.
        """
        new_identifier = check_identifier(params.get("new_identifier"), self._used_identifiers,
                                          "new_identifier")
        if new_identifier is not None:
            self._used_identifiers.add(new_identifier)
        prev_uuid, prev_identifier = params.get("prev_order_uuid"), params.get(
            "prev_order_identifier")
        if bool(prev_uuid) == bool(prev_identifier):
            raise _bad("give exactly one of prev_order_uuid or prev_order_identifier")
        prev = self._find(str(prev_uuid) if prev_uuid else None,
                          str(prev_identifier) if prev_identifier else None)
        if not prev.is_open:
            raise ExchangeError(404, rules.ORDER_NOT_FOUND,
                                "주문을 찾지 못했습니다. (the previous order is already closed)")
        new_params = self._new_order_params(prev, params)
        try:
            new = self._validated(new_params, new_identifier, released=released_by(prev))
        except ExchangeError as exc:
            raise ExchangeError(exc.status, exc.name, f"new order: {exc.message}") from None
        before = prev.snapshot()
        self._close(prev, "cancel", self._now())
        return before, self._accept(new)

    # -- helpers -------------------------------------------------------------------------------

    def _new_order_params(self, prev: Order, params: Mapping[str, object]) -> dict:
        ord_type = params.get("new_ord_type")
        volume = params.get("new_volume")
        if volume == rules.REMAIN_ONLY:
            by_volume = ord_type == "limit" or (prev.side == "ask" and ord_type in ("market",
                                                                                  "best"))
            if not by_volume:
                raise _bad("new_volume 'remain_only' works for limit orders (also ioc/fok), "
                           "market sells and best sells; give new_price for a market buy")
            volume = str(prev.remaining_volume)
        out = {
            "market": prev.market,
            "side": prev.side,
            "ord_type": ord_type,
            "price": params.get("new_price"),
            "volume": volume,
            "time_in_force": params.get("new_time_in_force"),
            "smp_type": params.get("new_smp_type"),
        }
        return {k: v for k, v in out.items() if v is not None}

    def _validated(
        self,
        params: Mapping[str, object],
        identifier: str | None,
        released: tuple[Decimal, Decimal] = (Decimal(0), Decimal(0)),
    ) -> Order:
        """Parse ``params`` and check totals and funds (plus ``released`` quote/base)."""
        order = parse_order(params, self._market.markets, identifier)
        bids = self._liquidity.levels(order.market, "bid") if order.side == "ask" else []
        check_funds(
            order,
            quote_available=self._balances.get(order.quote, Balance()).balance + released[0],
            base_available=self._balances.get(order.base, Balance()).balance + released[1],
            best_bid=bids[0][0] if bids else None,
            fee_rate=self._reserve_fee,
        )
        return order
