"""How the :class:`~.manager.OrderManager` takes the ending of each call it asked for (a
mixin, split out to keep each module small). The outcomes are those of :mod:`.calls`; the
rules: ``not_sent`` and 429 go again with the same identifier, ``unknown`` is resolved by
Upbit's own answer, a 4xx on a first send rejects, a 4xx on a resend only triggers a lookup.

Runs in: the order manager's thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .calls import Call, CallResult
from .records import OrderRecord
from .risk import MarketRules
from .types import Fill

log = logging.getLogger("upbit_hub.actors.trading.manager")

_RESOLVE_MAX_S = 8.0
_CANCEL_CHECK_S = 3.0


class Endings:
    """Call endings; mixed into the OrderManager (see its docstring)."""

    orders: dict[str, OrderRecord]
    settings: Any
    clock: Any
    stats: dict[str, int]
    rules: dict[str, MarketRules]
    balances: dict[str, Any]


    def _done_place(self, res: CallResult, call: Call | None) -> None:
        rec = self.orders.get(res.client_id or "")
        if rec is None:
            return
        rec.in_flight = False
        outcome = res.outcome
        if outcome in ("not_sent", "rate_limited", "banned"):
            if outcome == "not_sent" and rec.sent_once:
                # a resend that did not leave: the first attempt's outcome is still open
                self._unknown(rec, f"resend not sent: {res.describe()}")
                return
            self._retry_later(rec, res.describe())
            return
        rec.sent_once = True
        if outcome == "ok":
            body = res.body
            if res.kind == "replace":  # the answer is the old order plus the new one's ids
                uuid = body.get("new_order_uuid") if isinstance(body, Mapping) else None
            else:
                uuid = getattr(body, "uuid", None)
            self._adopt_uuid(rec, uuid)
            if rec.state in ("submitted", "unknown"):
                self._accepted(rec)
        elif outcome == "unknown":
            if rec.state in ("submitted", "unknown"):
                self._unknown(rec, res.describe())
        elif outcome == "rejected":
            if res.error == "nonce_used":
                self._retry_later(rec, res.describe())  # refused before it was processed
            elif rec.resend_done or rec.state == "unknown":
                # a resend refused (the identifier may be used up): only a lookup tells
                rec.resolve_at = self.clock.monotonic()
            else:
                self._final(rec, "rejected", res.describe())

    _done_replace = _done_place

    def _done_get(self, res: CallResult, call: Call | None) -> None:
        rec = self.orders.get(res.client_id or "")
        if rec is None or (rec.final and not rec.lost_reported):
            return
        if res.outcome == "ok":
            self._reconciling.discard(rec.client_id)
            self._adopt_order(rec, res.body)
            if not rec.final and rec.cancel_wanted and not rec.cancel_in_flight:
                self._send_cancel(rec)
            return
        if res.outcome == "rejected" and res.error == "order_not_found":
            self._not_found(rec)
            return
        rec.resolve_delay = min(rec.resolve_delay * 2, _RESOLVE_MAX_S)  # ask again later
        rec.resolve_at = self.clock.monotonic() + rec.resolve_delay

    def _not_found(self, rec: OrderRecord) -> None:
        """Upbit has no order with this identifier."""
        self._reconciling.discard(rec.client_id)
        now = self.clock.monotonic()
        if rec.accepted:  # it existed: a cancel or lookup raced its removal; ask again
            rec.resolve_at = now + 1.0
            return
        young = not self._too_old(rec, now)
        if not rec.resend_done and young and not rec.recovered:
            rec.resend_done = True
            self.stats["resent"] += 1
            log.warning("order %s: Upbit has no order with this identifier: sending it once "
                        "more with the same identifier", rec.client_id)  # fmt: skip
            rec.state = "submitted"
            rec.next_try = None
            self._queue.appendleft(rec)
            return
        rec.lost_reported = True
        why = ("order_not_found: Upbit has no order with this identifier after a restart; "
               "not sent again") if rec.recovered else (
            f"order_not_found: Upbit has no order with this identifier; not sent again after "
            f"max_queue_delay_s ({self.settings.max_queue_delay_s:g}s)")
        self._final(rec, "rejected", why)

    def _adopt_order(self, rec: OrderRecord, order: Any) -> None:
        """Take Upbit's view of an order (``GET /v1/order``): unseen fills, then its state."""
        self._adopt_uuid(rec, getattr(order, "uuid", None))
        for t in getattr(order, "trades", ()) or ():
            if t.uuid not in rec.fill_ids and t.price is not None and t.volume is not None:
                fee = (t.funds or t.price * t.volume) * self._fee(rec.request)
                self._fill(rec, Fill(trade_uuid=t.uuid, price=t.price, volume=t.volume,
                                     funds=t.funds, fee=fee), order)  # fmt: skip
        rec.absorb_totals(order)
        state = getattr(order, "state", None)
        if state in ("done", "cancel"):
            self._final(rec, state)
        elif state in ("wait", "watch") and rec.state in ("submitted", "unknown", "rejected"):
            self._accepted(rec)

    def _done_cancel(self, res: CallResult, call: Call | None) -> None:
        rec = self.orders.get(res.client_id or "")
        if rec is None:
            return
        rec.cancel_in_flight = False
        if rec.final:
            return
        if res.outcome in ("not_sent", "rate_limited", "banned", "unknown"):
            self._send_cancel(rec)  # cancelling twice is harmless
            return
        # accepted (the stream will say cancel), or order_not_found (it closed meanwhile):
        # either way look it up soon unless the stream settles it first
        rec.resolve_at = self.clock.monotonic() + (0.2 if res.outcome == "rejected"
                                                   else _CANCEL_CHECK_S)

    def _done_accounts(self, res: CallResult, call: Call | None) -> None:
        if res.outcome != "ok":
            self._accounts_wanted = False
            log.warning("order manager: balances not loaded (%s); asking again", res.describe())
            self._want_accounts()
            return
        for a in res.body or ():
            self.balances[a.currency] = (a.balance, a.locked)
        self.balances_loaded = True

    def _done_chance(self, res: CallResult, call: Call | None) -> None:
        if res.outcome == "ok" and isinstance(res.body, Mapping):
            market = (call.params.get("market") if call else None) or ""
            try:
                self.rules[market] = MarketRules.from_chance(market, res.body)
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("orders/chance for %s unreadable (%s); keeping defaults", market, exc)

    def _done_cancel_all(self, res: CallResult, call: Call | None) -> None:
        if res.outcome != "ok":
            log.warning("batch cancel failed (%s); the orders are cancelled one by one",
                        res.describe())  # fmt: skip


