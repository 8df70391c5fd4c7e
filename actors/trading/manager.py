"""The order manager: one account's orders, from a component's request to a final state.

No threads and no I/O of its own. A shell (the pykka :class:`~.actor.OrderActor` live, the
backtest driver in a replay) feeds it commands (``submit``, ``cancel``, ``replace``,
``halt``...), the exchange's events (``on_event``: myOrder / myAsset) and the ending of each
call it asked for (``on_result``), and asks it for the calls that may go now (``due_calls``)
and when to ask again (``next_wakeup``). Every change a component must hear about goes to
``deliver(component_id, update)``.

How "never twice, never lost" is kept:

- Each order is journaled (write-ahead) before it is sent, with its ``client_id`` as Upbit's
  ``identifier``. A resend uses the same identifier, so it can never create a second order.
- ``not_sent`` (the request never left) is sent again after a short backoff; ``unknown``
  (sent, no usable answer) is resolved only by Upbit's own answer: the private stream (its
  events carry the identifier) or ``GET /v1/order?identifier=`` at 1, 2, 4... s. Only if Upbit
  has no such order, and the order is still younger than ``max_queue_delay_s``, is it sent once
  more; otherwise it ends ``rejected`` (reason ``order_not_found``), never placed late.
- On start, journal entries that are not final are looked up by identifier before anything
  new is sent.
- Calls are paced per rate-limit group (:mod:`.pacing`): a 429 pauses the group, a 418 halts
  all of them; an order that waited longer than ``max_queue_delay_s`` is denied, not sent late.
- Every order passes the pre-trade risk rules (:mod:`.risk`) first; a denial sends nothing.
  The kill switch (``halt``) denies new orders and cancels every open one until ``reset``.

Runs in: the caller's thread, always the same one (the order actor's, or the backtest's).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from upbit_hub.actors.protocol.trading_rules import DEFAULT_FEE_RATE

from .calls import Call, CallResult
from .clock import Clock
from .endings import Endings
from .records import OrderRecord
from .risk import MarketRules, PnlTracker, RiskLimits, RiskView, check_order
from .transitions import Transitions
from .types import OPEN_STATES, Fill, OrderRequest, OrderUpdate

__all__ = ["OrderManager"]

log = logging.getLogger(__name__)

ZERO = Decimal(0)


class OrderManager(Transitions, Endings):
    """One account's order state machine (see the module docstring)."""

    def __init__(
        self,
        limits: Any,
        *,
        clock: Clock,
        pacer: Any,
        deliver: Callable[[str, OrderUpdate], None],
        journal: Any = None,
        market_problem: Callable[[str], str | None] = lambda market: None,
        needs_book: Callable[[str], None] = lambda market: None,
    ) -> None:
        self.settings = limits
        self.limits = RiskLimits.from_settings(limits)
        self.clock = clock
        self.pacer = pacer
        self.deliver = deliver
        self.journal = journal
        self.market_problem = market_problem
        self.needs_book = needs_book  # ask the shell for a market's order book (mid prices)
        self.orders: dict[str, OrderRecord] = {}
        self.by_uuid: dict[str, OrderRecord] = {}
        self.balances: dict[str, tuple[Decimal, Decimal]] = {}  # currency -> (available, locked)
        self.balances_loaded = False
        self.mids: dict[str, Decimal] = {}
        self.rules: dict[str, MarketRules] = {}
        self.pnl = PnlTracker()
        self.recent: deque[float] = deque()  # clock.time() of orders accepted for sending
        self.halted: str | None = "halted in the settings ([trading] halted = true)" \
            if getattr(limits, "halted", False) else None
        self._pending: list[OrderRecord] = []  # waiting for balances/books/reconciliation
        self._queue: deque[OrderRecord] = deque()  # passed the checks, waiting to be sent
        self._calls: deque[Call] = deque()  # other calls waiting for their group's turn
        self._tokens = itertools.count(1)
        self._outstanding: dict[int, Call] = {}
        self._reconciling: set[str] = set()
        self._asked_chance: set[str] = set()
        self._accounts_wanted = False
        self.stats = {"submitted": 0, "denied": 0, "rejected": 0, "filled": 0, "unknown": 0,
                      "resent": 0, "cancelled": 0}  # fmt: skip

    # -- start ---------------------------------------------------------------------------

    def start(self, recovered: Iterable[tuple[OrderRequest, str, str | None]] = (),
              halted: str | None = None) -> None:
        """Load the balances and look up every order the journal left unfinished (request,
        last state, uuid) before anything new is sent. ``halted``: a kill switch the journal
        remembers."""
        if halted:
            self.halted = halted
        self._want_accounts()
        for request, state, uuid in recovered:
            rec = OrderRecord(request, state if state in OPEN_STATES else "unknown")
            rec.uuid = uuid
            rec.recovered = True
            rec.journaled = True
            rec.sent_once = True
            rec.resend_done = True  # after a restart an order is never sent again
            rec.reserved = not rec.accepted
            self._index(rec)
            self._reconciling.add(rec.client_id)
            rec.resolve_at = self.clock.monotonic()
            log.info("order %s (%s %s) was %s before the restart: looking it up",
                     rec.client_id, request.side, request.market, state)  # fmt: skip

    # -- commands from components ----------------------------------------------------------

    def submit(self, request: OrderRequest) -> None:
        """A component's new order. Answers only through ``deliver``."""
        known = self.orders.get(request.client_id)
        if known is not None:  # the same client_id again (a remote resubmission): idempotent
            self._send_update(known)
            return
        rec = OrderRecord(request)
        self._index(rec)
        rec.queued_since = self.clock.monotonic()
        self.stats["submitted"] += 1
        self._consider(rec)

    def cancel(self, client_id: str) -> bool:
        """Cancel one order; False when unknown or already final."""
        rec = self.orders.get(client_id)
        if rec is None or rec.final:
            return False
        self._cancel(rec, "cancelled by the component")
        return True

    def cancel_all(self, component_id: str | None, market: str | None = None,
                   side: str | None = None) -> int:
        """Cancel the open orders of ``component_id`` (every component when None), optionally
        of one market and side. Returns how many were asked to cancel."""
        n = 0
        for rec in list(self.orders.values()):
            r = rec.request
            if rec.final or (component_id is not None and r.component_id != component_id):
                continue
            if (market is None or r.market == market) and (side is None or r.side == side):
                self._cancel(rec, "cancelled by cancel_all")
                n += 1
        return n

    def replace(self, old_client_id: str, request: OrderRequest, remain_only: bool) -> None:
        """Upbit's ``cancel_and_new``: cancel ``old_client_id`` and place ``request`` (a limit
        order; ``remain_only`` asks for the old order's remaining volume)."""
        old = self.orders.get(old_client_id)
        rec = OrderRecord(request)
        rec.remain_only = remain_only
        self._index(rec)
        rec.queued_since = self.clock.monotonic()
        self.stats["submitted"] += 1
        if old is None or old.final or not old.accepted:
            why = "unknown" if old is None else old.state
            self._final(rec, "rejected",
                        f"order_not_found: the order to replace ({old_client_id}) is {why}")
            return
        self._consider(rec, replacing=old)

    def halt(self, reason: str) -> None:
        """The kill switch: deny every new order and cancel every open one until ``reset``.
        (The shell keeps it across restarts: live, a file beside the journal.)"""
        if self.halted is None:
            log.error("KILL SWITCH ON: %s; new orders are denied and open ones cancelled", reason)
        self.halted = reason
        open_markets = sorted({r.request.market for r in self.orders.values()
                               if r.accepted and not r.final})  # fmt: skip
        for rec in list(self.orders.values()):
            if not rec.final:
                self._cancel(rec, f"halted: {reason}")
        for i in range(0, len(open_markets), 20):  # one batch call covers up to 20 markets
            self._call("cancel_all", {"cancel_side": "all", "count": "300",
                                      "pairs": ",".join(open_markets[i:i + 20])})  # fmt: skip

    def reset(self) -> None:
        """Turn the kill switch off."""
        if self.halted is not None:
            log.warning("kill switch reset (was: %s)", self.halted)
        self.halted = None

    # -- inputs from the exchange ----------------------------------------------------------

    def on_book(self, market: str, best_bid: Decimal | None, best_ask: Decimal | None) -> None:
        """The top of a market's order book (for mid prices)."""
        if best_bid and best_ask:
            self.mids[market] = (best_bid + best_ask) / 2
        elif best_bid or best_ask:
            self.mids[market] = best_bid or best_ask  # type: ignore[assignment]

    def on_event(self, ev: Any) -> None:
        """A myOrder or myAsset event (live or reconstructed over REST)."""
        if ev.type == "myAsset":
            for a in ev.assets or ():
                self.balances[a.currency] = (a.balance or ZERO, a.locked or ZERO)
            self.balances_loaded = True
            for rec in self.orders.values():
                if rec.reserved and (rec.accepted or rec.final):
                    rec.reserved = False  # the exchange's lock is in the balances now
            return
        if ev.type != "myOrder":
            return
        rec = self.orders.get(ev.identifier or "") or self.by_uuid.get(ev.uuid or "")
        if rec is None:
            return  # not an order of this hub (placed by hand, say)
        self._adopt_uuid(rec, ev.uuid)
        state = ev.state
        if state == "trade" and ev.trade_uuid:
            fill = Fill(trade_uuid=ev.trade_uuid, price=ev.price, volume=ev.volume,
                        funds=(ev.price * ev.volume) if ev.price and ev.volume else None,
                        fee=ev.trade_fee, is_maker=ev.is_maker,
                        timestamp=ev.trade_timestamp)  # fmt: skip
            self._fill(rec, fill, ev)
        elif state in ("wait", "watch", "trade"):
            if rec.state in ("submitted", "unknown") or (rec.state == "rejected"
                                                           and rec.lost_reported):
                self._accepted(rec)
        elif state in ("done", "cancel", "prevented"):
            rec.absorb_totals(ev)
            note = "prevented: self-match prevention" if state == "prevented" else None
            self._final(rec, "cancel" if state == "prevented" else state, note)

    def on_result(self, res: CallResult) -> None:
        """A call asked for by ``due_calls`` ended."""
        call = self._outstanding.pop(res.token, None)
        if res.remaining is not None or res.outcome in ("rate_limited", "banned"):
            self.pacer.on_response(res.group, res.status, res.remaining, res.message)
        if res.outcome == "banned":
            log.error("Upbit answered 418 (temporarily banned) to %s: every group halts (%s)",
                      res.kind, res.message)  # fmt: skip
        handler = getattr(self, f"_done_{res.kind}")
        handler(res, call)

    # -- what to do now ------------------------------------------------------------------

    def due_calls(self) -> list[Call]:
        """Calls that may go now (the pacer allows them); the shell sends each and reports
        its ending to :meth:`on_result`."""
        now = self.clock.monotonic()
        self._housekeeping(now)
        out: list[Call] = []
        while self._calls and self.pacer.delay(self._calls[0].group) <= 0:
            call = self._calls.popleft()
            self.pacer.record(call.group)
            self._outstanding[call.token] = call
            out.append(call)
        if self._reconciling:
            return out  # nothing new goes out before the journal's leftovers are resolved
        while self._queue and self.pacer.delay("order") <= 0:
            rec = self._queue[0]
            if rec.next_try is not None and rec.next_try > now:
                break
            self._queue.popleft()
            if rec.final:
                continue
            if self._too_old(rec, now):
                self._final(rec, "denied", f"max_queue_delay_s: not sent within "
                            f"{self.settings.max_queue_delay_s:g}s"
                            + (f" ({rec.reason})" if rec.reason else ""))  # fmt: skip
                continue
            call = self._place_call(rec)
            self.pacer.record(call.group)
            self._outstanding[call.token] = call
            rec.in_flight = True
            rec.attempts += 1
            out.append(call)
        return out

    def next_wakeup(self) -> float | None:
        """Monotonic time at which :meth:`due_calls` may have something new (None: nothing
        is waiting on time)."""
        times: list[float] = []
        for group in {c.group for c in self._calls}:
            times.append(self.clock.monotonic() + self.pacer.delay(group))
        if self._queue and not self._reconciling:
            head = self._queue[0]
            times.append(max(head.next_try or 0.0,
                             self.clock.monotonic() + self.pacer.delay("order")))
        for rec in self._pending:
            times.append((rec.queued_since or 0.0) + self.settings.max_queue_delay_s)
        for rec in self.orders.values():
            if rec.resolve_at is not None and not rec.final:
                times.append(rec.resolve_at)
        finite = [t for t in times if not math.isinf(t)]
        return min(finite) if finite else None

    # -- views -----------------------------------------------------------------------------

    def orders_of(self, component_id: str) -> list[OrderUpdate]:
        """The current state of every order of ``component_id`` (for a component that starts
        after a restart, say)."""
        now = self.clock.time()
        return [r.update(now) for r in self.orders.values()
                if r.request.component_id == component_id]  # fmt: skip

    def available(self, currency: str) -> Decimal:
        """Balance available for new orders: the exchange's available minus what in-flight
        orders of this hub will take."""
        have = self.balances.get(currency, (ZERO, ZERO))[0]
        return have - self._reserved().get(currency, ZERO)

    def status(self) -> dict[str, Any]:
        open_orders = [r for r in self.orders.values() if not r.final]
        return {
            **self.stats,
            "open": len(open_orders),
            "queued": len(self._queue) + len(self._pending),
            "calls_pending": len(self._calls) + len(self._outstanding),
            "halted": self.halted,
            "reconciling": len(self._reconciling),
            "pacer": self.pacer.status(),
            "daily_pnl_krw": str(self.pnl.realized("KRW", self.clock.time())),
        }

    # -- internals: checks ------------------------------------------------------------------

    def _index(self, rec: OrderRecord) -> None:
        self.orders[rec.client_id] = rec
        if rec.uuid:
            self.by_uuid[rec.uuid] = rec

    def _adopt_uuid(self, rec: OrderRecord, uuid: str | None) -> None:
        if uuid and rec.uuid != uuid:
            rec.uuid = uuid
            self.by_uuid[uuid] = rec

    def _consider(self, rec: OrderRecord, replacing: OrderRecord | None = None) -> None:
        """Run the risk rules (or wait for what they need), then journal and queue."""
        why = self._not_ready(rec)
        if why is not None:
            if rec not in self._pending:
                self._pending.append(rec)
                rec.reason = why
            return
        if rec in self._pending:
            self._pending.remove(rec)
        rec.reason = None
        if self.halted is not None:
            self._final(rec, "denied", f"halted: {self.halted}")
            return
        view = self._view(rec, replacing)
        denial = check_order(rec.request, self.limits, self._rules(rec.request.market), view)
        if denial is not None:
            self._final(rec, "denied", denial.reason)
            return
        if self.journal is not None:
            self.journal.record_intent(rec.request)
            rec.journaled = True
        self.recent.append(self.clock.time())
        if rec.request.market not in self._asked_chance:
            self._asked_chance.add(rec.request.market)
            self._call("chance", {"market": rec.request.market})
        if replacing is not None:
            rec.reason = f"replaces {replacing.client_id}"  # the exchange cancels that one
        self._send_update(rec)  # submitted
        self._queue.append(rec)

    def _not_ready(self, rec: OrderRecord) -> str | None:
        """Why the risk rules cannot judge this order yet (None: they can)."""
        r = rec.request
        if self._reconciling:
            return "waiting for the journal's unfinished orders to be looked up"
        if not self.balances_loaded:
            return "waiting for the account balances"
        needs_mid = self.settings.price_band_pct is not None and r.ord_type == "limit"
        needs_mid = needs_mid or (r.ord_type != "limit" and r.side == "ask"
                                  and self.settings.max_order_krw is not None)
        if needs_mid and r.market not in self.mids:
            self.needs_book(r.market)
            return f"waiting for the order book of {r.market}"
        return None

    def _view(self, *exclude: OrderRecord | None) -> RiskView:
        """The account as the rules see it, leaving out ``exclude`` (the order being judged,
        and the one it replaces)."""
        now = self.clock.time()
        while self.recent and now - self.recent[0] > 60.0:
            self.recent.popleft()
        by_market: dict[str, int] = {}
        total = 0
        for rec in self.orders.values():
            if rec in exclude or rec.final or rec in self._pending:
                continue
            by_market[rec.request.market] = by_market.get(rec.request.market, 0) + 1
            total += 1
        reserved = self._reserved(*exclude)
        return RiskView(
            now=now,
            halted=self.halted,
            available={c: a for c, (a, _locked) in self.balances.items()},
            reserved=reserved,
            open_by_market=by_market,
            open_total=total,
            recent_orders=tuple(self.recent),
            mid=dict(self.mids),
            daily_pnl_krw=self.pnl.realized("KRW", now),
            market_problem=self.market_problem,
        )

    def _reserved(self, *exclude: OrderRecord | None) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for rec in self.orders.values():
            if rec in exclude or rec.final or not rec.reserved or rec in self._pending:
                continue
            currency, amount = rec.needs(self._fee(rec.request))
            out[currency] = out.get(currency, ZERO) + amount
        return out

    def _rules(self, market: str) -> MarketRules:
        rules = self.rules.get(market)
        if rules is None:
            rules = self.rules[market] = MarketRules.for_market(market)
        return rules

    def _fee(self, request: OrderRequest) -> Decimal:
        rules = self.rules.get(request.market)
        if rules is None:
            return DEFAULT_FEE_RATE
        if request.side == "bid":  # what the exchange locks: the higher of taker and maker
            return max(rules.bid_fee, rules.maker_bid_fee)
        return max(rules.ask_fee, rules.maker_ask_fee)

    def _too_old(self, rec: OrderRecord, now: float) -> bool:
        since = rec.queued_since if rec.queued_since is not None else now
        return now - since > self.settings.max_queue_delay_s
