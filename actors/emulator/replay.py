"""ReplayMarket: the emulator's market fed by a recording instead of the simulator.

A drop-in for :class:`~upbit_hub.actors.emulator.market.MarketSimulator` as the server uses it
(``markets``, ``advance(now_ms)``, ``snapshot()``, ``book()``, ``trades()``,
``candles_minutes()``, ``ticker_rest()``, ``orderbook_rest()``, ``supported_levels()``,
``add_trade_listener()``, ``rate``), so the whole live stack (hub, reconnects, gap-fill,
plugins) runs against real recorded data::

    market = ReplayMarket(["rec.jsonl"], speed=10.0)       # reads and checks the files now
    with Emulator(market=market) as emu:                    # serves the recorded markets
        ...

The recordings are the recorder plugin's JSON lines, read with
:mod:`upbit_hub.actors.backtest.recording` (each with its rotated backups; several merged by
``recv_ts``). The private kinds (``myOrder``/``myAsset``) are skipped: the account stays the
emulator's simulated exchange, which matches against the replayed order books.

Clock: the first :meth:`ReplayMarket.advance` call plays the first event; an event recorded
``d`` seconds after the first goes out ``d / speed`` seconds of wall time later (the server's
``now_ms``). Built ``paused=True`` (or with ``rate`` set to 0, the emulator's
``faults.set_rate(0)``) the clock holds until :meth:`play` (or a rate > 0); the time held does
not count. Each event goes out as the DEFAULT-keyed dict the render layer takes, and becomes
its market's SNAPSHOT and REST state (:class:`~.replay_state.ReplayState`). When the recording
ends the market stays as it was (snapshots and REST answer from the last state) and one line
``replay finished: N events`` is logged (INFO).

Runs in: the constructor in the caller's thread (it reads the files once, so a missing or bad
recording fails there); everything else in the emulator loop thread, except :meth:`play` and
:meth:`progress` (any thread).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, Final

import msgspec

from upbit_hub.actors.backtest.books import LatestBooks
from upbit_hub.actors.backtest.recording import PRIVATE_TYPES, RecordingError, merged, scan
from upbit_hub.actors.emulator.market_catalog import market_info
from upbit_hub.actors.emulator.market_catalog import supported_levels as _catalog_levels
from upbit_hub.actors.emulator.quotation import MSG_NOT_FOUND, QuotationError
from upbit_hub.actors.emulator.replay_state import MINUTE_UNITS, ReplayState

__all__ = ["NotReplayedYet", "ReplayMarket", "event_dict"]

log = logging.getLogger(__name__)

_ZERO: Final = Decimal(0)


class NotReplayedYet(QuotationError, KeyError):
    """A REST view of a recorded market asked before its first event of that kind: a KeyError
    (the market interface) that the REST layer answers as Upbit's 404 ``Code not found``."""

    def __init__(self, what: str) -> None:
        super().__init__(404, 404, MSG_NOT_FOUND)
        self.what = what

    def __str__(self) -> str:
        return self.what


def event_dict(ev: Any) -> dict:
    """A recorded event Struct as the DEFAULT-keyed dict the emulator serves: Decimals kept,
    missing (None) fields and ``stream_type`` left out. Runs in: any thread."""
    obj = msgspec.to_builtins(ev, builtin_types=(Decimal,))
    out = {k: v for k, v in obj.items() if v is not None and k != "stream_type"}
    units = out.get("orderbook_units")
    if units is not None:
        out["orderbook_units"] = [
            {k: (_ZERO if u.get(k) is None else u[k])
             for k in ("ask_price", "bid_price", "ask_size", "bid_size")}
            for u in units
        ]  # fmt: skip
    return out


def _survey(groups: list[list[Any]], names: str) -> tuple[tuple[str, ...], int]:
    """The markets of the public events and how many there are (reads every line once)."""
    codes: set[str] = set()
    count = 0
    for _ts, ev in merged(groups, skip=PRIVATE_TYPES):
        if ev.code:
            codes.add(ev.code)
            count += 1
    if not count:
        raise RecordingError(f"{names}: no market events (ticker, trade, orderbook or candle) "
                             "in the recording")
    for code in codes:
        try:
            market_info(code)
        except ValueError as exc:
            raise RecordingError(f"{names}: {exc}") from None
    return tuple(sorted(codes)), count


class ReplayMarket:
    """A recording played as the emulator's market (see the module docstring).

    ``recordings``: recorder files (each with its backups); ``speed``: recorded seconds per
    wall second (1.0 = as recorded, 10.0 = ten times faster); ``paused``: hold the clock until
    :meth:`play`. Raises :class:`RecordingError` (naming the file) for a missing, unreadable,
    undecodable or empty recording, ValueError for ``speed <= 0``.
    """

    def __init__(self, recordings: Sequence[str | os.PathLike[str]], *, speed: float = 1.0,
                 paused: bool = False) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be > 0 (1.0 = as recorded), got {speed!r}")
        if not recordings:
            raise ValueError("ReplayMarket needs at least one recording file")
        self.names = ", ".join(str(r) for r in recordings)
        info = scan(recordings)
        self._groups = info.groups
        self.markets, self.total = _survey(self._groups, self.names)
        self.speed = float(speed)
        self.warnings: frozenset[str] = frozenset()  # market_all's market_event.warning
        self._state = {code: ReplayState(code) for code in self.markets}
        self._books = LatestBooks(self.markets)
        self._listeners: list[Callable[[dict], None]] = []
        self._source: Iterator[tuple[float, Any]] | None = None
        self._next: tuple[float, Any] | None = None
        self._first_ts = 0.0
        self._t0_ms: int | None = None  # wall ms at which the first event played
        self._held_at: int | None = None  # wall ms at which a pause began
        self._playing = not paused
        self._rate = 1.0
        self.replayed = 0  # events taken from the recording so far
        self.duplicates = 0  # trades not served again (sequential_id replayed before)
        self.finished = False
        self.position = 0.0  # recv_ts reached by the clock (0 before the first advance)

    # ---- control (any thread) ----------------------------------------------------------
    def play(self) -> None:
        """Start (or resume) the replay clock. Runs in: any thread (a flag the loop reads)."""
        self._playing = True

    def progress(self) -> dict[str, Any]:
        """``{"replayed", "total", "finished", "position"}``. Runs in: any thread."""
        return {"replayed": self.replayed, "total": self.total, "finished": self.finished,
                "position": self.position}  # fmt: skip

    @property
    def rate(self) -> float:
        """The emulator's rate knob: 0 holds the replay clock, any other value plays it (a
        replay keeps its recorded pace; ``speed`` sets that)."""
        return self._rate if self._playing else 0.0

    @rate.setter
    def rate(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"rate must be >= 0, got {value!r}")
        self._rate = float(value) or self._rate
        self._playing = value > 0

    # ---- stepping (loop thread) -------------------------------------------------------------
    def advance(self, now_ms: int) -> list[dict]:
        """The recorded events due by wall time ``now_ms``, in recorded order, as dicts.

        Runs in: the emulator loop thread.
        """
        if self.finished:
            return []
        if not self._playing:
            if self._held_at is None:
                self._held_at = now_ms
            return []
        if self._held_at is not None:
            if self._t0_ms is not None:
                self._t0_ms += now_ms - self._held_at
            self._held_at = None
        if self._source is None:
            self._source = iter(merged(self._groups, skip=PRIVATE_TYPES))
            self._next = next(self._source, None)
            self._first_ts = self._next[0] if self._next is not None else 0.0
            self._t0_ms = now_ms
        assert self._t0_ms is not None
        upto = self._first_ts + (now_ms - self._t0_ms) / 1000.0 * self.speed
        self.position = upto
        out: list[dict] = []
        nxt = self._next
        while nxt is not None and nxt[0] <= upto:
            self._play_one(nxt[1], out)
            nxt = next(self._source, None)
        self._next = nxt
        if nxt is None:
            self.finished = True
            log.info("replay finished: %d events", self.replayed)
        return out

    def _play_one(self, ev: Any, out: list[dict]) -> None:
        self.replayed += 1
        st = self._state.get(ev.code)
        if st is None:
            return
        obj = event_dict(ev)
        if not st.take(obj):
            self.duplicates += 1
            return
        out.append(obj)
        kind = obj["type"]
        if kind == "orderbook":
            self._books.update(ev)
        elif kind == "trade":
            for cb in self._listeners:
                try:
                    cb(obj)
                except Exception:
                    log.exception("trade listener %r failed; it stays registered", cb)

    def add_trade_listener(self, cb: Callable[[dict], None]) -> None:
        """Call ``cb(trade_dict)`` for every trade replayed from now on, inside ``advance``.
        Runs in: the emulator loop thread."""
        self._listeners.append(cb)

    # ---- views (loop thread) ----------------------------------------------------------------
    def _get(self, code: str) -> ReplayState:
        st = self._state.get(code)
        if st is None:
            raise KeyError(f"unknown market {code!r}; known: {', '.join(self.markets)}")
        return st

    def snapshot(self, type_: str, code: str) -> dict | None:
        """The latest replayed ``type_`` event of ``code`` (what a SNAPSHOT frame carries);
        None before the first or for an unknown code. Runs in: the emulator loop thread."""
        st = self._state.get(code)
        return st.latest.get(type_) if st is not None else None

    def book(self, code: str) -> list[tuple[Decimal, Decimal, Decimal, Decimal]]:
        """The latest replayed book as ``(ask_price, bid_price, ask_size, bid_size)`` rows,
        best first ([] before the first book). KeyError for an unknown code.
        Runs in: the emulator loop thread."""
        self._get(code)
        return self._books.book(code)

    def supported_levels(self, code: str) -> tuple[int, ...]:
        """Orderbook grouping levels of ``code`` (the emulator's catalogue)."""
        return _catalog_levels(code)

    def trades(self, code: str, count: int, cursor: int | None = None) -> list[dict]:
        """REST ``/v1/trades/ticks`` items of the trades replayed so far, newest first, older
        than ``cursor``; [] for an unknown code. Runs in: the emulator loop thread."""
        st = self._state.get(code)
        return st.trades(count, cursor) if st is not None else []

    def candles_minutes(self, code: str, unit: int, count: int,
                        to_ms: int | None = None) -> list[dict]:
        """REST minute candles built from the trades replayed so far, newest first. ValueError
        for a unit the REST API lacks; [] for an unknown code.
        Runs in: the emulator loop thread."""
        if unit not in MINUTE_UNITS:
            raise ValueError(f"candle unit must be one of {list(MINUTE_UNITS)}, got {unit!r}")
        st = self._state.get(code)
        return st.candles_minutes(unit, count, to_ms) if st is not None else []

    def ticker_rest(self, code: str) -> dict:
        """REST ``/v1/ticker`` item from the latest replayed ticker (or, when the recording
        has no tickers, its latest trade). KeyError for an unknown code or before the first
        ticker or trade (:class:`NotReplayedYet`: REST 404). Runs in: the emulator loop thread."""
        item = self._get(code).ticker_rest()
        if item is None:
            raise NotReplayedYet(f"no ticker of {code!r} replayed yet")
        return item

    def orderbook_rest(self, code: str, count: int = 30, level: int = 0) -> dict | None:
        """REST ``/v1/orderbook`` item from the latest replayed book (no units before the
        first), ``count`` levels (1..30) grouped by ``level``; None for an unsupported level.
        KeyError for an unknown code. Runs in: the emulator loop thread."""
        from upbit_hub.actors.emulator.render import group_book  # avoid an import cycle

        ob = self._get(code).latest.get("orderbook") or {
            "type": "orderbook", "code": code, "orderbook_units": []}
        grouped = group_book(ob, max(1, min(int(count), 30)), level)
        if grouped is None:
            return None
        units, ta, tb = grouped
        out: dict[str, Any] = {"market": code}
        if ob.get("timestamp") is not None:
            out["timestamp"] = ob["timestamp"]
        out.update({
            "total_ask_size": ta, "total_bid_size": tb,
            "orderbook_units": [{"bid_price": u["bid_price"], "bid_size": u["bid_size"],
                                 "ask_price": u["ask_price"], "ask_size": u["ask_size"]}
                                for u in units],
            "level": level,
        })  # fmt: skip
        return out
