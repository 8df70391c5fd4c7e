"""Trade gap recovery: Upbit never replays what a dropped socket missed, but
``/v1/trades/ticks`` can be paged back by ``cursor``. After every reconnect of the public
connection (and after a busy socket went silent without dropping), the trades missed for each
market with trade wishes are fetched over REST and delivered, oldest first and marked
``stream_type="BACKFILL"``, BEFORE the live trades of that market resume; live trades that
arrive meanwhile are held back and released after the backfill, with duplicates (by
``sequential_id``) dropped.

The REST fetch for a market starts when its first live trade arrives on the new socket (so the
page certainly reaches back to the live stream, even if the new socket was itself silent for a
while), or after ``quiet_wait_s`` for a market that has no trade yet.

A second gap can open while a market is still held (the socket drops again while the first
backfill waits out a REST 429, say). The held trades are then split at the new socket: the
first backfill releases only what came before it, and the market stays held for a second
fetch that covers the new gap.

Limits: paging stops at ``max_pages`` x 500 trades per market (a gap longer than that on a very
busy market is reported as unfilled); REST calls go through the shared client's limiter (8/s of
Upbit's 10/s ``crix-trades`` group); a market whose backfill fails is released after the error
(counted in ``unfilled``), so live data is never held for long (``max_hold_s``).

Runs in: ``session_started``/``admit`` in the reader thread; the REST work in this object's
worker thread; shared state under one lock.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from .protocol.errors import UpbitHubError
from .protocol.timestamps import epoch_ms

log = logging.getLogger(__name__)

_RECENT = 2048  # sequential_ids remembered per market for dedupe


class _Market:
    __slots__ = ("last_seen", "last_ts", "order", "recent")

    def __init__(self) -> None:
        self.last_ts = 0  # milliseconds (epoch_ms), whatever unit the trades carried
        self.last_seen = 0.0  # monotonic time of the last live trade
        self.recent: set[int] = set()
        self.order: deque[int] = deque()

    def remember(self, sid: int, ts: int | None) -> None:
        self.recent.add(sid)
        self.order.append(sid)
        if len(self.order) > _RECENT:
            self.recent.discard(self.order.popleft())
        ms = epoch_ms(ts)  # a microsecond timestamp must not put last_ts in the far future
        if ms > self.last_ts:
            self.last_ts = ms


class TradeGapFiller:
    """Holds live trades of a reconnected market until its missed trades are delivered."""

    def __init__(
        self,
        fetch: Callable[[str, int, int | None], list[Any]],
        *,
        max_pages: int = 10,
        max_hold_s: float = 15.0,
        quiet_wait_s: float = 2.0,
        name: str = "upbit-hub-gapfill",
    ) -> None:
        self._fetch = fetch  # (market, count, cursor) -> TradeEvents newest first
        self._lock = threading.Lock()
        self._markets: dict[str, _Market] = {}
        self.pending: dict[str, list[Any]] = {}
        self._held_since: dict[str, float] = {}
        self._armed: dict[str, float] = {}  # code -> fetch anyway at this time (quiet market)
        # code -> index into pending[code] where a socket that opened while held begins
        self._regap: dict[str, int] = {}
        self._quiet_wait_s = quiet_wait_s
        self._route: Callable[[Any], None] | None = None
        self._queue: queue.Queue[str | None] = queue.Queue()  # codes to fetch; "" = re-check
        self._max_pages = max_pages
        self._max_hold_s = max_hold_s
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._started = False
        self._stopping = threading.Event()
        self.backfilled = 0
        self.duplicates = 0
        self.unfilled = 0
        self.gaps = 0

    def stop(self) -> None:
        self._stopping.set()
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout=5)

    # -- reader thread ---------------------------------------------------------------------

    def session_started(
        self, codes: list[str], route: Callable[[Any], None], *, active_within: float | None = None
    ) -> None:
        """A new socket (or a silence): hold live trades of every market we have delivered
        trades for (only those with a live trade in the last ``active_within`` seconds, when
        given: after a mere silence, quiet markets are not worth a REST call each)."""
        self._route = route
        with self._lock:
            now = time.monotonic()
            markets = self._markets
            gap = [
                c for c in codes
                if c in markets and c not in self.pending
                and (active_within is None or now - markets[c].last_seen <= active_within)
            ]
            for code in codes:
                held = self.pending.get(code)
                if held is not None and code not in self._regap:
                    # a new gap while still held: the fetch under way may predate it
                    self._regap[code] = len(held)
                    self.gaps += 1
            for code in gap:
                self.pending[code] = []
                self._held_since[code] = now
                self._armed[code] = now + self._quiet_wait_s
        if gap:
            if not self._started:
                self._started = True
                self._thread.start()
            self.gaps += len(gap)
            self._queue.put("")  # the worker re-reads the deadlines

    def admit(self, ev: Any) -> bool:
        """True: deliver the live trade now; False: held back (or a duplicate, dropped)."""
        code = ev.code
        pending = self.pending
        with self._lock:
            held = pending.get(code) if pending else None
            if held is not None:
                if self._armed.pop(code, None) is not None:
                    self._queue.put(code)  # first live trade since the gap: fetch now
                if time.monotonic() - self._held_since[code] < self._max_hold_s:
                    held.append(ev)
                    return False
                log.warning("gapfill: backfill of %s took too long; releasing live trades", code)
                self._regap.pop(code, None)
                self._release(code, [])
            market = self._markets.get(code)
            if market is None:
                market = self._markets[code] = _Market()
            sid = ev.sequential_id
            if sid is not None:
                if sid in market.recent:
                    self.duplicates += 1
                    return False
                market.remember(sid, ev.trade_timestamp)
            market.last_seen = time.monotonic()
            return True

    # -- worker thread ---------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                deadline = min(self._armed.values(), default=None)
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = ""
            if item is None:
                return
            codes = [item] if item else []
            with self._lock:
                now = time.monotonic()
                for code, due in list(self._armed.items()):
                    if due <= now:  # a quiet market: no live trade came, fetch anyway
                        del self._armed[code]
                        codes.append(code)
            for code in codes:
                missed = self._missed_with_retries(code)
                with self._lock:
                    self._release(code, missed)

    def _missed_with_retries(self, code: str) -> list[Any]:
        """Retry REST failures (429/418 included) with backoff while live data may be held."""
        deadline = time.monotonic() + self._max_hold_s * 0.8
        delay = 0.5
        while True:
            try:
                return self._missed(code)
            except (UpbitHubError, OSError) as exc:
                if time.monotonic() + delay > deadline or self._stopping.is_set():
                    log.warning("gapfill: could not backfill %s: %s", code, exc)
                    self.unfilled += 1
                    return []
                log.info("gapfill: %s: %s; retrying in %.1fs", code, exc, delay)
                if self._stopping.wait(delay):
                    return []
                delay = min(delay * 2, 4.0)
            except Exception:
                log.exception("gapfill: backfill of %s failed", code)
                self.unfilled += 1
                return []

    def _missed(self, code: str) -> list[Any]:
        with self._lock:
            market = self._markets.get(code)
            last_ts = market.last_ts if market else 0
            recent = set(market.recent) if market else set()
        found: list[Any] = []
        cursor: int | None = None
        for _page in range(self._max_pages):
            page = self._fetch(code, 500, cursor)
            if not page:
                return found[::-1]
            for ev in page:
                if ev.sequential_id in recent:
                    continue
                if epoch_ms(ev.trade_timestamp) < last_ts:
                    return found[::-1]
                found.append(ev)
            if epoch_ms(page[-1].trade_timestamp) < last_ts:
                return found[::-1]
            cursor = page[-1].sequential_id
        log.warning("gapfill: %s: gap longer than %d trades; older ones are lost",
                    code, 500 * self._max_pages)
        self.unfilled += 1
        return found[::-1]

    def _release(self, code: str, missed: list[Any]) -> None:
        """Deliver backfill then held live trades, in order, without duplicates. Lock held.

        If a new socket opened while the market was held, only the trades before it go out;
        the rest stay held for another fetch, which starts at once if the new socket has
        delivered a trade already, else at that trade or after ``quiet_wait_s``."""
        held = self.pending.pop(code, [])
        self._held_since.pop(code, None)
        self._armed.pop(code, None)
        split = self._regap.pop(code, None)
        if split is not None:
            held, later = held[:split], held[split:]
            now = time.monotonic()
            self.pending[code] = later
            self._held_since[code] = now
            if later:
                self._queue.put(code)
            else:
                self._armed[code] = now + self._quiet_wait_s
                self._queue.put("")
        market = self._markets.setdefault(code, _Market())
        route = self._route
        for ev in (*missed, *held):
            sid = ev.sequential_id
            if sid is not None:
                if sid in market.recent:
                    self.duplicates += 1
                    continue
                market.remember(sid, ev.trade_timestamp)
            if ev.stream_type == "BACKFILL":
                self.backfilled += 1
            if route is not None:
                route(ev)

    def stats(self) -> dict[str, int]:
        return {"gaps": self.gaps, "backfilled": self.backfilled,
                "duplicates": self.duplicates, "unfilled": self.unfilled,
                "held_markets": len(self.pending)}
