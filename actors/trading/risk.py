"""Pre-trade risk rules: pure functions over a snapshot, the same code live, in paper trading
and in backtests.

The caller (the order actor, a backtest) builds a :class:`RiskView` of the account and asks
:func:`check_order`; the first rule that refuses returns a :class:`Denial` naming it::

    >>> req = OrderRequest(client_id="uh-1", component_id="grid", market="KRW-BTC",
    ...                    side="bid", ord_type="limit", price=Decimal("100000000"),
    ...                    volume=Decimal("0.02"))
    >>> view = RiskView(now=0.0, available={"KRW": Decimal("5000000")},
    ...                 mid={"KRW-BTC": Decimal("100000000")})
    >>> denial = check_order(req, RiskLimits(max_order_krw=Decimal(1_000_000)),
    ...                      MarketRules.for_market("KRW-BTC"), view)
    >>> denial.rule, denial.reason.split(";")[0]
    ('max_order_krw', 'max_order_krw: 2,000,000 KRW is above the 1,000,000 KRW limit')

Rules, in the order they run (:data:`RULES`): ``halted``, ``market``, ``ord_type``,
``tick_size``, ``volume_precision``, ``min_total``, ``max_total``, ``funds``,
``max_order_krw``, ``max_open_orders_per_market``, ``max_open_orders``, ``orders_per_minute``,
``price_band_pct``, ``daily_loss_limit_krw``. Configurable rules bear their ``[trading]`` key;
a limit of None skips its rule. Upbit's facts (ticks, totals, volume step) come from
:mod:`upbit_hub.actors.protocol.trading_rules`. :class:`PnlTracker` keeps the realized PnL
the daily loss rule reads (the backtest report reuses it).

Runs in: any thread (pure functions; :class:`PnlTracker` is its owner's to guard).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import TYPE_CHECKING, Any, Final

from upbit_hub.actors.protocol import trading_rules as tr
from upbit_hub.actors.trading.pnl import PnlTracker
from upbit_hub.actors.trading.types import OrderRequest

if TYPE_CHECKING:
    from upbit_hub.config.settings import TradingSettings

__all__ = ["RULES", "Denial", "MarketRules", "PnlTracker", "RiskLimits", "RiskView",
           "check_order"]  # fmt: skip

log = logging.getLogger(__name__)
_PREC: Final = 60  # significant digits for money arithmetic: exact for any real amount
_ZERO: Final = Decimal(0)
_FEES: Final = ("bid_fee", "ask_fee", "maker_bid_fee", "maker_ask_fee")


@dataclass(frozen=True, slots=True)
class Denial:
    """Why an order was refused: ``rule`` (a ``[trading]`` key or a fixed rule name) and a
    ``message`` saying what to change. ``str(denial) == denial.reason == "<rule>: <message>"``.
    """

    rule: str
    message: str

    @property
    def reason(self) -> str:
        """``"<rule>: <message>"``, what ``OrderUpdate.reason`` carries."""
        return f"{self.rule}: {self.message}"

    def __str__(self) -> str:
        return self.reason


def _no_problem(market: str) -> str | None:
    return None


@dataclass(frozen=True, slots=True)
class RiskView:
    """The account as the rules see it, built by the caller for one check.

    ``now``: hub clock (Unix s). ``halted``: the kill switch's reason, None when off.
    ``available``: balance per currency after the exchange's locks; ``reserved``: what
    in-flight orders (queued or sent, not yet locked by the exchange) will take per currency.
    ``open_by_market`` / ``open_total``: open plus in-flight orders, not counting the one being
    checked. ``recent_orders``: hub-clock times of orders accepted for sending. ``mid``: mid
    price per market (may lack one). ``daily_pnl_krw``: realized PnL today, net of fees
    (negative: a loss). ``market_problem(market)``: why a market is not tradable, or None.
    """

    now: float
    halted: str | None = None
    available: Mapping[str, Decimal] = field(default_factory=dict)
    reserved: Mapping[str, Decimal] = field(default_factory=dict)
    open_by_market: Mapping[str, int] = field(default_factory=dict)
    open_total: int = 0
    recent_orders: Sequence[float] = ()
    mid: Mapping[str, Decimal] = field(default_factory=dict)
    daily_pnl_krw: Decimal = _ZERO
    market_problem: Callable[[str], str | None] = _no_problem


def _dec(value: Any) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class MarketRules:
    """What Upbit allows on one market: order totals (quote currency), fee rates and state.

    :meth:`for_market` gives the published defaults; :meth:`from_chance` reads
    ``GET /v1/orders/chance``. ``max_total`` None: no documented maximum. A bid must cover
    the higher of its taker and maker fee (what Upbit locks).
    """

    min_total: Decimal = _ZERO
    max_total: Decimal | None = None
    bid_fee: Decimal = tr.DEFAULT_FEE_RATE
    ask_fee: Decimal = tr.DEFAULT_FEE_RATE
    maker_bid_fee: Decimal = tr.DEFAULT_FEE_RATE
    maker_ask_fee: Decimal = tr.DEFAULT_FEE_RATE
    state: str = "active"

    @classmethod
    def for_market(cls, market: str) -> MarketRules:
        """Upbit's published rules: ``for_market("KRW-BTC").min_total == Decimal(5000)``.

        Raises ValueError for a code that is not ``QUOTE-BASE``. Runs in: any thread.
        """
        return cls(min_total=tr.min_total(market), max_total=tr.max_total(market))

    @classmethod
    def from_chance(cls, market: str, body: Mapping[str, Any]) -> MarketRules:
        """From a ``GET /v1/orders/chance?market=...`` body (amounts as strings or numbers)::

            {"bid_fee":"0.0005","ask_fee":"0.0005","maker_bid_fee":"0.0002",
             "maker_ask_fee":"0.0002","market":{"id":"KRW-BTC","bid":{"currency":"KRW",
             "min_total":"5000"},"ask":{...},"max_total":"1000000000","state":"active"}}

        Missing fields keep :meth:`for_market`'s values (a missing maker fee: the taker fee).
        Raises KeyError, TypeError or ValueError for an unusable body. Runs in: any thread.
        """
        base = cls.for_market(market)
        info = body.get("market") or {}
        fees = {k: _dec(body[k]) for k in _FEES if body.get(k) is not None}
        fees.setdefault("maker_bid_fee", fees.get("bid_fee", base.maker_bid_fee))
        fees.setdefault("maker_ask_fee", fees.get("ask_fee", base.maker_ask_fee))
        mins = [_dec(info[s]["min_total"]) for s in ("bid", "ask")
                if isinstance(info.get(s), Mapping) and info[s].get("min_total") is not None]
        top = info.get("max_total")
        return cls(min_total=max(mins) if mins else base.min_total,
                   max_total=base.max_total if top is None else _dec(top),
                   state=str(info.get("state") or base.state),
                   **{k: fees.get(k, getattr(base, k)) for k in _FEES})  # fmt: skip


def _opt_dec(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The configurable limits (``[trading]`` keys, amounts in KRW); None: rule off."""

    max_order_krw: Decimal | None = None
    max_open_orders: int | None = None
    max_open_orders_per_market: int | None = None
    orders_per_minute: int | None = None
    price_band_pct: Decimal | None = None
    daily_loss_limit_krw: Decimal | None = None

    @classmethod
    def from_settings(cls, s: TradingSettings) -> RiskLimits:
        """From ``[trading]``; floats become the Decimal they print as (``0.1`` -> ``0.1``).
        Runs in: any thread."""
        return cls(max_order_krw=_opt_dec(s.max_order_krw), max_open_orders=s.max_open_orders,
                   max_open_orders_per_market=s.max_open_orders_per_market,
                   orders_per_minute=s.orders_per_minute,
                   price_band_pct=_opt_dec(s.price_band_pct),
                   daily_loss_limit_krw=_opt_dec(s.daily_loss_limit_krw))  # fmt: skip


def _fmt(value: Decimal | int) -> str:
    """``Decimal("2000000.0")`` -> ``'2,000,000'``; huge or tiny exponents as they are."""
    if isinstance(value, int) or not value.is_finite():
        return f"{value:,}" if isinstance(value, int) else str(value)
    value = value.normalize()
    return str(value) if abs(value.adjusted()) > 30 else format(value, ",f")


def _krw(value: Decimal) -> str:
    return _fmt(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


# -- the rules: one small function each, (order) -> message or None ----------------------------


@dataclass(frozen=True, slots=True)
class _Order:
    r: OrderRequest
    lim: RiskLimits
    mr: MarketRules
    v: RiskView

    def total(self) -> Decimal | None:
        """Value in the quote currency; a market sell at the mid (None without one)."""
        mid = self.v.mid.get(self.r.market)
        return self.r.notional(mid if mid is not None and mid > 0 else None)


def _halted(o: _Order) -> str | None:
    if o.v.halted is None:
        return None
    return f"trading is halted ({o.v.halted}); reset the kill switch to trade again"


def _market(o: _Order) -> str | None:
    market = o.r.market
    try:
        quote = tr.quote_currency(market)
    except (ValueError, AttributeError):
        return f"market code must look like 'KRW-BTC', got {market!r}"
    if quote not in tr.TICK_TABLES or market != market.upper():
        return f"{market!r} is not an Upbit market code (quote KRW, BTC or USDT, upper case)"
    if o.mr.state != "active":
        return f"{market} is not tradable now (Upbit reports state {o.mr.state!r}); pick another"
    problem = o.v.market_problem(market)
    return f"{market} is not tradable: {problem}" if problem else None


_LIMIT: Final = "a limit order needs both price and volume"
_BUY: Final = "takes price only (the funds to spend); leave volume out"
_SELL: Final = "takes volume only; leave price out"
#: (ord_type, side) -> (takes price, takes volume, what to send instead)
_SHAPES: Final = {
    ("limit", "bid"): (True, True, _LIMIT),
    ("limit", "ask"): (True, True, _LIMIT),
    ("price", "bid"): (True, False, f"a market buy {_BUY}"),
    ("best", "bid"): (True, False, f"a best bid {_BUY}"),
    ("market", "ask"): (False, True, f"a market sell {_SELL}"),
    ("best", "ask"): (False, True, f"a best ask {_SELL}"),
}


def _ord_type(o: _Order) -> str | None:
    """What Upbit would refuse before looking at amounts. SMP as of 2026-11: ``post_only``
    without ``smp_type`` runs as ``none``; any other SMP type is refused with it."""
    r, tif, smp = o.r, o.r.time_in_force, o.r.smp_type
    if r.side not in tr.SIDES:
        return f"side must be 'bid' or 'ask', got {r.side!r}"
    if r.ord_type not in tr.ORDER_TYPES:
        return f"ord_type must be one of {', '.join(tr.ORDER_TYPES)}, got {r.ord_type!r}"
    if tif is not None and tif not in tr.TIME_IN_FORCE:
        return f"time_in_force must be one of {', '.join(tr.TIME_IN_FORCE)} or None, got {tif!r}"
    if smp is not None and smp not in tr.SMP_TYPES:
        return f"smp_type must be one of {', '.join(tr.SMP_TYPES)} or None, got {smp!r}"
    for name, value in (("price", r.price), ("volume", r.volume)):
        if value is not None and not (isinstance(value, Decimal) and value.is_finite()):
            return f"{name} must be a finite Decimal, got {value!r}"
    shape = _SHAPES.get((r.ord_type, r.side))
    if shape is None:
        other = "a market buy is 'price'" if r.side == "bid" else "a market sell is 'market'"
        return f"ord_type {r.ord_type!r} does not go with side {r.side!r}; {other}"
    wants_p, wants_v, fix = shape
    if (r.price is not None, r.volume is not None) != (wants_p, wants_v):
        return fix
    if r.ord_type == "best" and tif not in ("ioc", "fok"):
        return "ord_type 'best' needs time_in_force 'ioc' or 'fok'"
    if r.ord_type in ("price", "market") and tif is not None:
        return f"ord_type {r.ord_type!r} takes no time_in_force; use 'best' with 'ioc' or 'fok'"
    if r.funds_based and r.price is not None and r.price <= 0:
        return f"price (the funds to spend) must be positive, got {_fmt(r.price)}"
    if tif == "post_only" and smp not in (None, "none"):
        return (f"post_only orders take smp_type 'none' (or none given), not {smp!r}; drop "
                "post_only to use self-match prevention")  # fmt: skip
    return None


def _tick_size(o: _Order) -> str | None:
    r = o.r
    if r.ord_type != "limit" or r.price is None or tr.on_tick(r.market, r.price):
        return None
    if r.price <= 0:
        return f"price must be positive, got {_fmt(r.price)}"
    tick = tr.tick_size(r.market, r.price)
    down, up = (tr.round_to_tick(r.market, r.price, d) for d in ("down", "up"))
    return (f"price {_fmt(r.price)} {r.quote} is not on the {_fmt(tick)} {r.quote} tick of its "
            f"price band; use {_fmt(down)} or {_fmt(up)}")  # fmt: skip


def _volume_precision(o: _Order) -> str | None:
    vol = o.r.volume
    if vol is None or tr.volume_ok(vol):
        return None
    if vol <= 0:
        return f"volume must be positive, got {_fmt(vol)}"
    return (f"volume {_fmt(vol)} has more than {tr.VOLUME_DECIMALS} decimals; use "
            f"{_fmt(tr.floor_volume(vol))}")  # fmt: skip


def _min_total(o: _Order) -> str | None:
    """Below Upbit's minimum total. A market sell without a known mid is left to Upbit."""
    total, low, q = o.total(), o.mr.min_total, o.r.quote
    if total is None or total >= low:
        return None
    return (f"the order total {_fmt(total)} {q} is below Upbit's minimum of {_fmt(low)} {q}; "
            "raise the volume or price")  # fmt: skip


def _max_total(o: _Order) -> str | None:
    total, top, q = o.total(), o.mr.max_total, o.r.quote
    if total is None or top is None or total <= top:
        return None
    return (f"the order total {_fmt(total)} {q} is above Upbit's maximum of {_fmt(top)} {q}; "
            "split it into smaller orders")  # fmt: skip


def _funds(o: _Order) -> str | None:
    """A bid's total plus fee, an ask's volume, on top of ``reserved``, within ``available``."""
    r, v = o.r, o.v
    if r.side == "bid":
        currency, total = r.quote, r.notional()
        if total is None:
            return None
        fee = total * max(o.mr.bid_fee, o.mr.maker_bid_fee)
        need, detail = total + fee, f" ({_fmt(total)} + {_fmt(fee)} fee)"
    else:
        currency, need, detail = r.base, r.volume, ""
        if need is None:
            return None
    held, have = v.reserved.get(currency, _ZERO), v.available.get(currency, _ZERO)
    if need + held <= have:
        return None
    inflight = f" and in-flight orders hold {_fmt(held)} {currency}" if held else ""
    return (f"the order needs {_fmt(need)} {currency}{detail}{inflight}, but {_fmt(have)} "
            f"{currency} is available; lower the amount or wait for open orders to finish")


def _max_order_krw(o: _Order) -> str | None:
    """The order's value in KRW. A market sell is valued at its market's mid (denied while
    none is known). On a BTC or USDT market the value is converted with the mid of
    ``KRW-<quote>``; while that mid is not known this rule is skipped."""
    limit, r = o.lim.max_order_krw, o.r
    if limit is None:
        return None
    total = o.total()
    if total is None:
        return (f"cannot value a market sell of {r.market}: no order book is known yet for "
                "that market; subscribe to its order book or ticker first")  # fmt: skip
    krw, shown = total, f"{_fmt(total)} KRW"
    if r.quote != "KRW":
        rate = o.v.mid.get(f"KRW-{r.quote}")
        if rate is None or rate <= 0:
            return None
        krw = total * rate
        shown = f"{_fmt(total)} {r.quote} (about {_krw(krw)} KRW at the KRW-{r.quote} mid)"
    if krw <= limit:
        return None
    return (f"{shown} is above the {_fmt(limit)} KRW limit; send a smaller order or raise "
            "max_order_krw")  # fmt: skip


def _open_limit(n: int, limit: int | None, where: str, key: str) -> str | None:
    if limit is None or n < limit:
        return None
    return f"{where} already has {n} open orders, the limit is {limit}; cancel some or raise {key}"


def _max_open_orders_per_market(o: _Order) -> str | None:
    n = o.v.open_by_market.get(o.r.market, 0)
    return _open_limit(n, o.lim.max_open_orders_per_market, o.r.market,
                       "max_open_orders_per_market")  # fmt: skip


def _max_open_orders(o: _Order) -> str | None:
    return _open_limit(o.v.open_total, o.lim.max_open_orders, "the account", "max_open_orders")


def _orders_per_minute(o: _Order) -> str | None:
    limit, now = o.lim.orders_per_minute, o.v.now
    if limit is None:
        return None
    recent = sorted(t for t in o.v.recent_orders if t > now - 60.0)
    if len(recent) < limit:
        return None
    wait = max(0.0, recent[len(recent) - limit] + 60.0 - now)
    return (f"{len(recent)} orders were sent in the last 60 s, the limit is {limit} per minute; "
            f"wait {wait:.1f} s or raise orders_per_minute")  # fmt: skip


def _price_band_pct(o: _Order) -> str | None:
    """A limit price more than ``price_band_pct`` % away from the mid (limit orders only)."""
    pct, r = o.lim.price_band_pct, o.r
    if pct is None or r.ord_type != "limit" or r.price is None:
        return None
    mid = o.v.mid.get(r.market)
    if mid is None or mid <= 0:
        return (f"no order book is known yet for {r.market}, so the price cannot be checked "
                "against the mid; subscribe to its order book or ticker first")  # fmt: skip
    off = abs(r.price - mid) / mid * 100
    if off <= pct:
        return None
    return (f"price {_fmt(r.price)} {r.quote} is {off:.2f}% {'above' if r.price > mid else 'below'}"
            f" the mid {_fmt(mid)} {r.quote}, more than {_fmt(pct)}%; move the price closer or "
            "raise price_band_pct")  # fmt: skip


def _daily_loss_limit_krw(o: _Order) -> str | None:
    limit, pnl = o.lim.daily_loss_limit_krw, o.v.daily_pnl_krw
    if limit is None or pnl > -limit:
        return None
    return (f"today's realized loss of {_krw(-pnl)} KRW has reached the {_fmt(limit)} KRW "
            "limit; trading resumes at 00:00 UTC, or raise daily_loss_limit_krw")  # fmt: skip


Rule = Callable[[_Order], "str | None"]
#: (rule name, rule) in the order :func:`check_order` runs them.
RULES: Final[tuple[tuple[str, Rule], ...]] = (
    ("halted", _halted), ("market", _market), ("ord_type", _ord_type),
    ("tick_size", _tick_size), ("volume_precision", _volume_precision),
    ("min_total", _min_total), ("max_total", _max_total), ("funds", _funds),
    ("max_order_krw", _max_order_krw),
    ("max_open_orders_per_market", _max_open_orders_per_market),
    ("max_open_orders", _max_open_orders), ("orders_per_minute", _orders_per_minute),
    ("price_band_pct", _price_band_pct), ("daily_loss_limit_krw", _daily_loss_limit_krw),
)  # fmt: skip


def check_order(
    req: OrderRequest, limits: RiskLimits, rules: MarketRules, view: RiskView
) -> Denial | None:
    """Run every rule in order; the first refusal as a :class:`Denial`, None to go ahead.

    Never raises: a rule that fails on odd input (or a failing ``market_problem``) denies
    the order under its own name. Runs in: any thread (the order actor's, a backtest's).
    """
    order = _Order(req, limits, rules, view)
    with localcontext() as ctx:
        ctx.prec = _PREC
        for name, rule in RULES:
            try:
                message = rule(order)
            except Exception as exc:  # fail closed: an order no rule could judge is not sent
                log.warning("risk rule %s failed on order %r: %r", name, req.client_id, exc)
                message = f"could not be checked ({type(exc).__name__}: {exc}); order refused"
            if message is not None:
                return Denial(name, message)
    return None
