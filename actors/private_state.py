"""What components have been told about their orders and balances; REST reconciliation.

Upbit replays nothing missed while the private socket was down. This tracker remembers, per
order, which states and fills were delivered and, per currency, the last balance, so that:

- a live event that was already delivered (by a REST reconciliation that got there first) is
  dropped: no event is delivered twice;
- a REST snapshot (``/v1/orders/open``, ``/v1/orders/closed``, ``/v1/order`` for the fills,
  ``/v1/accounts``) turns into exactly the events that are missing, in order for each order:
  ``wait`` for an order never seen, one ``trade`` per unseen fill, then ``done``/``cancel``;
  balances that differ become one ``myAsset`` event listing the changed currencies.

Reconstructed events have ``stream_type == "BACKFILL"``.

Runs in: ``admit`` in the private reader thread; the rest in the fallback actor's thread; all
under one lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .protocol.events import MyAssetEvent, MyOrderEvent
from .protocol.rest_types import Account, Order, asset_event, iso_to_ms, order_event

FINAL_STATES = frozenset({"done", "cancel", "prevented"})


@dataclass
class _OrderView:
    states: set[str] = field(default_factory=set)  # non-trade states delivered
    fills: set[str] = field(default_factory=set)  # trade_uuids delivered (or seen at seeding)
    seeded_count: int = 0  # fills the order had when the tracker was seeded (told to nobody)
    unnamed: int = 0  # of those, how many are known only by count (their ids not seen yet)

    @property
    def trades_count(self) -> int:
        """Fills accounted for, also those known only by count."""
        return len(self.fills) + self.unnamed

    def pre_seed(self, ordinal: int) -> bool:
        """Is the fill with this ordinal (1-based; Upbit's ``trades_count`` after it) one of
        the unnamed fills from before seeding? Then it counts as told; it is named now.

        Only seeding creates knowledge by count. A live event's ``trades_count`` (a ``done``
        saying 3, a fill saying 2) does not: the fills before it may be exactly those the gap
        swallowed, and REST must still tell them."""
        if self.unnamed > 0 and 0 < ordinal <= self.seeded_count:
            self.unnamed -= 1
            return True
        return False


class PrivateStateTracker:
    """Delivered order states/fills and balances, for dedupe and reconciliation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.orders: dict[str, _OrderView] = {}
        self.balances: dict[str, tuple[Decimal, Decimal]] = {}
        self.seeded = False
        self.duplicates = 0
        self.backfilled = 0

    # -- live stream (reader thread) ---------------------------------------------------------

    def admit(self, ev: Any) -> bool:
        """Record a live event; False if it was already delivered (drop it)."""
        with self._lock:
            if isinstance(ev, MyOrderEvent):
                new = self._record_order(ev)
            elif isinstance(ev, MyAssetEvent):
                new = self._record_assets(ev)
            else:
                return True
            if not new:
                self.duplicates += 1
            return new

    def _record_order(self, ev: MyOrderEvent) -> bool:
        if ev.uuid is None:
            return True
        view = self.orders.setdefault(ev.uuid, _OrderView())
        if ev.state == "trade":
            tid = ev.trade_uuid
            if tid is not None and tid in view.fills:
                return False
            if tid is not None:
                view.fills.add(tid)
            if view.pre_seed(ev.trades_count or 0):
                return False  # counted at seeding time, before its id was known
            return True
        if ev.state in view.states:
            return False
        view.states.add(ev.state or "")
        return True

    def _record_assets(self, ev: MyAssetEvent) -> bool:
        changed = False
        for asset in ev.assets or ():
            value = (asset.balance or Decimal(0), asset.locked or Decimal(0))
            if self.balances.get(asset.currency) != value:
                self.balances[asset.currency] = value
                changed = True
        return changed

    # -- REST (fallback actor thread) ------------------------------------------------------

    def seed(self, orders: Iterable[Order], accounts: Iterable[Account]) -> None:
        """Remember the state at start-up without emitting anything."""
        with self._lock:
            for order in orders:
                view = self.orders.setdefault(order.uuid, _OrderView())
                view.states.add("wait")
                if order.state in FINAL_STATES:
                    view.states.add(order.state)
                view.fills.update(t.uuid for t in order.trades)
                view.seeded_count = max(view.seeded_count, order.trades_count)
                view.unnamed = max(0, view.seeded_count - len(view.fills))
            for acc in accounts:
                self.balances[acc.currency] = (acc.balance, acc.locked)
            self.seeded = True

    def unfinished(self) -> list[str]:
        """Orders told as accepted but not yet as done/cancel (they may have closed unseen)."""
        with self._lock:
            return [u for u, v in self.orders.items() if not v.states & FINAL_STATES]

    def forget(self, uuid: str) -> None:
        """Stop tracking an order Upbit no longer knows (404 ``order_not_found``)."""
        with self._lock:
            self.orders.pop(uuid, None)

    def missing_fills(self, order: Order) -> bool:
        """Does ``order`` (from a list endpoint) have fills nobody was told about?"""
        with self._lock:
            view = self.orders.get(order.uuid)
            return order.trades_count > (view.trades_count if view else 0)

    def reconcile_orders(self, orders: Iterable[Order], *, now_ms: int | None = None) -> list[Any]:
        """Events missing for ``orders`` (pass full ``/v1/order`` bodies, with ``trades``, for
        those where :meth:`missing_fills` is true). Records them as delivered."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        out: list[Any] = []
        with self._lock:
            for order in orders:
                out.extend(self._order_events(order, now))
            self.backfilled += len(out)
        return out

    def _order_events(self, order: Order, now: int) -> list[MyOrderEvent]:
        events: list[MyOrderEvent] = []
        view = self.orders.get(order.uuid)
        if view is None:
            view = self.orders[order.uuid] = _OrderView()
        if "wait" not in view.states and view.trades_count == 0:
            view.states.add("wait")
            events.append(order_event(
                order, now_ms=now, state="wait", executed_volume=Decimal(0),
                remaining_volume=order.volume, trades_count=0, paid_fee=Decimal(0),
                executed_funds=Decimal(0),
            ))
        else:
            view.states.add("wait")
        for ordinal, fill in enumerate(order.trades, 1):  # oldest first, as Upbit lists them
            if fill.uuid in view.fills:
                continue
            view.fills.add(fill.uuid)
            if view.pre_seed(ordinal):
                continue  # from before seeding: nobody is told about those
            events.append(order_event(
                order, now_ms=now, state="trade", trade_uuid=fill.uuid, price=fill.price,
                volume=fill.volume, trades_count=ordinal,
                trade_timestamp=iso_to_ms(fill.created_at),
            ))
        if order.state in FINAL_STATES and order.state not in view.states:
            view.states.add(order.state)
            events.append(order_event(order, now_ms=now))
        return events

    def reconcile_accounts(
        self, accounts: Iterable[Account], *, now_ms: int | None = None
    ) -> MyAssetEvent | None:
        """One myAsset event for the currencies whose balance changed, or None."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        with self._lock:
            changed = []
            for acc in accounts:
                value = (acc.balance, acc.locked)
                if self.balances.get(acc.currency) != value:
                    self.balances[acc.currency] = value
                    changed.append(acc)
            if not changed:
                return None
            self.backfilled += 1
            return asset_event(changed, now_ms=now)

