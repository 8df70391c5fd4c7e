"""Order state transitions of the :class:`~.manager.OrderManager` (a mixin: the manager's
own state, split out to keep each module small). Every change a component must hear about
goes out through ``_send_update``; every state that matters after a crash is journaled.

Runs in: the order manager's thread.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from upbit_hub.actors.protocol.trading_rules import REMAIN_ONLY

from .calls import Call
from .records import OrderRecord
from .types import Fill

log = logging.getLogger("upbit_hub.actors.trading.manager")

ZERO = Decimal(0)
_RETRY_S = (0.25, 0.5, 1.0, 2.0)


class Transitions:
    """State changes of orders; mixed into the OrderManager (see its docstring)."""

    # attributes the manager provides
    orders: dict[str, OrderRecord]
    settings: Any
    clock: Any
    journal: Any
    deliver: Any


    def _send_update(self, rec: OrderRecord, fill: Fill | None = None) -> None:
        self.deliver(rec.request.component_id, rec.update(self.clock.time(), fill))

    def _accepted(self, rec: OrderRecord) -> None:
        was = rec.state
        rec.state = "wait"
        if was == "rejected":
            log.error("order %s reported lost earlier appeared on Upbit after all; following it",
                      rec.client_id)  # fmt: skip
            rec.reason = "appeared on Upbit after it was reported lost"
        else:
            rec.reason = None
        rec.resolve_at = None
        if self.journal is not None and rec.journaled:
            self.journal.record_state(rec.client_id, "wait", uuid=rec.uuid)
        self._send_update(rec)
        if rec.cancel_wanted and not rec.cancel_in_flight:
            self._send_cancel(rec)

    def _fill(self, rec: OrderRecord, fill: Fill, totals: Any) -> None:
        if rec.state in ("submitted", "unknown"):
            self._accepted(rec)
        if not rec.add_fill(fill):
            return
        rec.absorb_totals(totals)
        if rec.state != "done":
            rec.state = "trade" if not rec.final else rec.state
        self.stats["filled"] += 1
        r = rec.request
        self.pnl.on_fill(r.market, r.side, fill.price, fill.volume, fill.fee or ZERO,
                         self.clock.time())  # fmt: skip
        self._send_update(rec, fill)

    def _final(self, rec: OrderRecord, state: str, reason: str | None = None) -> None:
        if rec.final and not (rec.state == "rejected" and rec.lost_reported):
            return
        if rec in self._pending:
            self._pending.remove(rec)
        rec.state = state
        if reason is not None:
            rec.reason = reason
        elif state in ("done", "cancel"):
            rec.reason = None
        rec.resolve_at = None
        rec.in_flight = False
        self._reconciling.discard(rec.client_id)
        key = {"denied": "denied", "rejected": "rejected", "cancel": "cancelled"}.get(state)
        if key:
            self.stats[key] += 1
        if self.journal is not None and rec.journaled:
            self.journal.record_state(rec.client_id, state, uuid=rec.uuid, reason=rec.reason)
        self._send_update(rec)

    def _unknown(self, rec: OrderRecord, why: str) -> None:
        rec.state = "unknown"
        rec.reason = why
        rec.resolve_delay = 1.0
        rec.resolve_at = self.clock.monotonic() + rec.resolve_delay
        self.stats["unknown"] += 1
        if self.journal is not None and rec.journaled:
            self.journal.record_state(rec.client_id, "unknown", reason=why)
        log.warning("order %s: %s; its outcome is unknown until Upbit tells (stream or "
                    "GET /v1/order?identifier=)", rec.client_id, why)  # fmt: skip
        self._send_update(rec)

    def _cancel(self, rec: OrderRecord, why: str) -> None:
        if not rec.sent_once and not rec.in_flight and not rec.recovered:
            if rec in self._queue:
                self._queue.remove(rec)
            self._final(rec, "cancel" if rec.state == "submitted" else "denied",
                        f"{why} before it was sent")  # fmt: skip
            return
        rec.cancel_wanted = True
        if rec.accepted and not rec.cancel_in_flight:
            self._send_cancel(rec)

    def _send_cancel(self, rec: OrderRecord) -> None:
        rec.cancel_in_flight = True
        self._call("cancel", {"identifier": rec.client_id}, rec.client_id)

    def _call(self, kind: str, params: dict[str, str], client_id: str | None = None) -> None:
        self._calls.append(Call(next(self._tokens), kind, params, client_id))  # type: ignore

    def _place_call(self, rec: OrderRecord) -> Call:
        r = rec.request
        if r.replaces is not None:
            params = {"prev_order_identifier": r.replaces, "new_ord_type": r.ord_type,
                      "new_identifier": r.client_id}  # fmt: skip
            if r.price is not None:
                params["new_price"] = _plain(r.price)
            if rec.remain_only:
                params["new_volume"] = REMAIN_ONLY
            elif r.volume is not None:
                params["new_volume"] = _plain(r.volume)
            if r.time_in_force is not None:
                params["new_time_in_force"] = r.time_in_force
            if r.smp_type is not None:
                params["new_smp_type"] = r.smp_type
            return Call(next(self._tokens), "replace", params, r.client_id)
        return Call(next(self._tokens), "place", r.upbit_params(), r.client_id)

    def _want_accounts(self) -> None:
        if not self._accounts_wanted:
            self._accounts_wanted = True
            self._call("accounts", {})

    def _housekeeping(self, now: float) -> None:
        """Re-judge waiting orders, expire the ones that waited too long, and ask Upbit about
        orders whose outcome is unknown."""
        for rec in list(self._pending):
            if self._too_old(rec, now):
                self._final(rec, "denied", _timeout_reason(rec.reason, self.settings))
            else:
                self._consider(rec, replacing=self.orders.get(rec.request.replaces or ""))
        for rec in list(self.orders.values()):
            if rec.resolve_at is not None and rec.resolve_at <= now and not rec.final:
                rec.resolve_at = None
                self._call("get", {"identifier": rec.client_id}, rec.client_id)

    def _retry_later(self, rec: OrderRecord, why: str) -> None:
        """A place call that did not get through (never sent, or refused by a 429): the same
        identifier goes again after a short backoff, if the order is still young enough."""
        rec.in_flight = False
        rec.reason = why
        delay = _RETRY_S[min(rec.attempts - 1, len(_RETRY_S) - 1)] if rec.attempts else 0.0
        rec.next_try = self.clock.monotonic() + delay
        self._queue.appendleft(rec)



def _timeout_reason(waiting_for: str | None, settings: Any) -> str:
    """A pending order timed out: name the rule that could not be judged."""
    what = waiting_for or "its checks"
    rule = "price_band_pct" if "order book" in what else "max_queue_delay_s"
    return f"{rule}: not judged within {settings.max_queue_delay_s:g}s ({what})"


def _plain(value: Decimal) -> str:
    return "0" if value == 0 else format(value.normalize(), "f")
