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
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from upbit_hub.actors.protocol.trading_rules import DEFAULT_FEE_RATE, REMAIN_ONLY

from .calls import Call, CallResult
from .clock import Clock
from .records import OrderRecord
from .risk import MarketRules, PnlTracker, RiskLimits, RiskView, check_order
from .types import OPEN_STATES, Fill, OrderRequest, OrderUpdate

__all__ = ["OrderManager"]

log = logging.getLogger(__name__)

ZERO = Decimal(0)
_RETRY_S = (0.25, 0.5, 1.0, 2.0)
_RESOLVE_MAX_S = 8.0
_CANCEL_CHECK_S = 3.0


class OrderManager:
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

    # -- internals: transitions -------------------------------------------------------------

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
        if self.journal is not None:
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
        if self.journal is not None and (rec.sent_once or rec.recovered or state != "denied"):
            self.journal.record_state(rec.client_id, state, uuid=rec.uuid, reason=rec.reason)
        self._send_update(rec)

    def _unknown(self, rec: OrderRecord, why: str) -> None:
        rec.state = "unknown"
        rec.reason = why
        rec.resolve_delay = 1.0
        rec.resolve_at = self.clock.monotonic() + rec.resolve_delay
        self.stats["unknown"] += 1
        if self.journal is not None:
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

    # -- internals: call endings -----------------------------------------------------------

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


def _timeout_reason(waiting_for: str | None, settings: Any) -> str:
    """A pending order timed out: name the rule that could not be judged."""
    what = waiting_for or "its checks"
    rule = "price_band_pct" if "order book" in what else "max_queue_delay_s"
    return f"{rule}: not judged within {settings.max_queue_delay_s:g}s ({what})"


def _plain(value: Decimal) -> str:
    return "0" if value == 0 else format(value.normalize(), "f")
