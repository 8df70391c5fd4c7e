"""One order as the manager tracks it: what was asked, what Upbit said, what was delivered.

:class:`OrderRecord` is mutable bookkeeping owned by the order manager's thread; every change a
component must hear about goes out as an immutable :class:`~.types.OrderUpdate` built by
:meth:`OrderRecord.update`. Fills are counted once per ``trade_uuid``, whichever way they
arrive (the private stream, or ``GET /v1/order``'s ``trades`` after a gap).

Runs in: the order manager's thread.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .types import FINAL_STATES, Fill, OrderRequest, OrderUpdate

__all__ = ["OrderRecord"]

ZERO = Decimal(0)


class OrderRecord:
    """Bookkeeping of one order (see the module docstring)."""

    __slots__ = (
        "attempts",
        "cancel_in_flight",
        "cancel_wanted",
        "executed_funds",
        "executed_volume",
        "fill_ids",
        "in_flight",
        "journaled",
        "lost_reported",
        "next_try",
        "paid_fee",
        "queued_since",
        "reason",
        "recovered",
        "remain_only",
        "remaining_volume",
        "request",
        "resend_done",
        "reserved",
        "resolve_at",
        "resolve_delay",
        "sent_once",
        "state",
        "uuid",
    )

    def __init__(self, request: OrderRequest, state: str = "submitted") -> None:
        self.request = request
        self.state = state
        self.uuid: str | None = None
        self.reason: str | None = None
        self.executed_volume = ZERO
        self.executed_funds = ZERO
        self.paid_fee = ZERO
        self.remaining_volume: Decimal | None = request.volume
        self.fill_ids: set[str] = set()
        self.reserved = True  # funds held for it until the exchange's lock shows in myAsset
        self.in_flight = False  # a place/replace call is out
        self.sent_once = False  # a place/replace call left at least once (not "not_sent")
        self.resend_done = False  # the one resend an unknown order may get
        self.attempts = 0
        self.next_try: float | None = None  # monotonic: send (again) not before this
        self.queued_since: float | None = None
        self.resolve_at: float | None = None  # monotonic: ask GET /v1/order?identifier= then
        self.resolve_delay = 1.0
        self.cancel_wanted = False
        self.cancel_in_flight = False
        self.recovered = False  # loaded from the journal after a restart
        self.remain_only = False  # a replacement asking for the old order's remaining volume
        self.lost_reported = False
        self.journaled = False  # its intent is in the journal (so are its later states)

    @property
    def client_id(self) -> str:
        return self.request.client_id

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def accepted(self) -> bool:
        """Upbit holds it (it was seen waiting, trading or closed)."""
        return self.state in ("wait", "trade", "done", "cancel")

    def add_fill(self, fill: Fill) -> bool:
        """Book a fill once; False when this ``trade_uuid`` was seen already."""
        if fill.trade_uuid in self.fill_ids:
            return False
        self.fill_ids.add(fill.trade_uuid)
        return True

    def absorb_totals(self, ev: Any) -> None:
        """Take the running totals of a myOrder event or a REST order (whatever it carries)."""
        for name in ("executed_volume", "executed_funds", "paid_fee"):
            value = getattr(ev, name, None)
            if value is not None:
                setattr(self, name, value)
        remaining = getattr(ev, "remaining_volume", None)
        if remaining is not None:
            self.remaining_volume = remaining

    def update(self, now: float, fill: Fill | None = None) -> OrderUpdate:
        """The immutable update a component receives for the current state."""
        r = self.request
        return OrderUpdate(
            client_id=r.client_id,
            component_id=r.component_id,
            market=r.market,
            side=r.side,
            ord_type=r.ord_type,
            state=self.state,  # type: ignore[arg-type]
            uuid=self.uuid,
            reason=self.reason,
            fill=fill,
            price=r.price,
            volume=r.volume,
            remaining_volume=self.remaining_volume,
            executed_volume=self.executed_volume,
            executed_funds=self.executed_funds,
            paid_fee=self.paid_fee,
            timestamp=now,
        )

    def needs(self, fee_rate: Decimal) -> tuple[str, Decimal]:
        """(currency, amount) this order takes from the balance while open: quote funds with
        the fee for a bid, base volume for an ask."""
        r = self.request
        if r.side == "bid":
            total = r.notional() or ZERO
            return r.quote, total * (1 + fee_rate)
        return r.base, r.volume or ZERO
