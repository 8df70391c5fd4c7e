"""Calls of the order manager run against the emulator's matching engine, in-process.

``SimVenue(exchange, on_event=fn)`` is the simulated twin of :class:`~.venue_rest.RestVenue`:
``execute(call) -> CallResult`` runs one :class:`~.calls.Call` against an
:class:`~upbit_hub.actors.emulator.exchange.Exchange` (the very engine the emulator serves,
not a copy), and the exchange's myOrder/myAsset dicts come out as the same event classes the
live private stream yields. Paper trading (a live feed) and backtests (a replay) both use it.

The answers take the live path, so the manager cannot tell the difference:

- bodies are what REST would return: ``place``/``get``/``cancel`` a
  :class:`~upbit_hub.actors.protocol.rest_types.Order` (``exchange_json.order_json`` encoded,
  then ``rest_types.decode_order``), ``accounts`` a list of ``Account``, ``chance`` and
  ``cancel_all`` dicts, ``replace`` the previous order's dict plus ``new_order_uuid`` and
  ``new_order_identifier`` (as ``POST /v1/orders/cancel_and_new`` answers);
- an :class:`~upbit_hub.actors.emulator.exchange_model.ExchangeError` is ``rejected`` with
  Upbit's error name (``insufficient_funds_bid``, 404 ``order_not_found``...); a crash of the
  engine (a bug) is ``unknown``, the one safe answer for an order. ``execute`` never raises;
- every exchange event is rendered as the emulator renders it for a WebSocket (DEFAULT
  format, Upbit's number spelling) and decoded by :func:`upbit_hub.actors.protocol.decode`,
  so a paper fill is decoded exactly like a live one; then ``on_event(ev)`` is called.

Thread safety: the exchange is not thread-safe. Every access here holds :attr:`SimVenue.lock`
(re-entrant), and a shell that touches the exchange or its book source itself (a paper desk
feeding live order books from a component thread, a snapshot of the balances) does it under
the same lock: :meth:`market_data` and :meth:`locked` are for that.

Example (a paper desk)::

    books = LatestBooks()
    exchange = Exchange(books, balances={"KRW": Decimal(10**7)}, seed=1, split_probability=0)
    venue = SimVenue(exchange, on_event=lambda ev: actor_ref.tell(VenueEvent(ev)))
    # per live order book (any thread):
    venue.market_data(lambda: books.update(ev), now_ms)
    # the order actor's workers:
    result = venue.execute(call)

Runs in: whichever thread calls (``execute`` on an order actor's worker, or the backtest's
single thread); ``on_event`` runs in that thread too, while the lock is held, so it must only
hand the event on (a backtest queues it, a paper desk tells its order actor), never call the
exchange back from another thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from upbit_hub.actors.emulator.exchange_json import accounts_json, order_json
from upbit_hub.actors.emulator.exchange_model import ExchangeError
from upbit_hub.actors.emulator.render import render
from upbit_hub.actors.protocol import decode
from upbit_hub.actors.protocol import trading_rules as rules
from upbit_hub.actors.protocol.rest_types import decode_accounts, decode_order

from .calls import Call, CallResult

__all__ = ["SimVenue"]

log = logging.getLogger(__name__)

_encode = msgspec.json.Encoder().encode
_json = msgspec.json.Decoder()


class SimVenue:
    """Runs :class:`~.calls.Call` values against an in-process ``Exchange`` (see the module
    docstring). ``on_event(ev)`` receives each decoded myOrder/myAsset event; ``spelling`` is
    the number spelling of the rendered frames (``java`` as Upbit, or ``plain``)."""

    def __init__(self, exchange: Any, *, on_event: Callable[[Any], object],
                 spelling: str = "java", lock: threading.RLock | None = None) -> None:
        self.exchange = exchange
        self.on_event = on_event
        self.spelling = spelling
        self.lock = lock if lock is not None else threading.RLock()
        self.calls = 0
        self.events = 0
        self._remove = exchange.add_listener(self._on_exchange_event)

    # -- calls -----------------------------------------------------------------------------

    def execute(self, call: Call) -> CallResult:
        """Run one call and sort its ending. Never raises. Runs in: the caller's thread."""
        base = {"token": call.token, "kind": call.kind, "client_id": call.client_id}
        with self.lock:
            self.calls += 1
            try:
                status, body = _ROUTES[call.kind](self.exchange, call.params)
            except ExchangeError as exc:
                return CallResult(**base, outcome="rejected", status=exc.status,
                                  error=exc.name, message=exc.message)  # fmt: skip
            except Exception as exc:  # a bug in the engine: for an order, unknown is safe
                log.exception("sim venue: %s %s crashed", call.kind, call.client_id or "")
                return CallResult(**base, outcome="unknown", error="internal_error",
                                  message=f"{type(exc).__name__}: {exc}")  # fmt: skip
        return CallResult(**base, outcome="ok", status=status, body=body)

    # -- the shell's own access to the exchange -----------------------------------------------

    def market_data(self, update: Callable[[], object] | None, now_ms: int) -> None:
        """Under the lock: ``update()`` (feed the book source), then let resting orders fill
        against it (``exchange.on_market_tick(now_ms)``). Fills come out as ``on_event``.
        Runs in: the caller's thread (a component's, for paper trading)."""
        with self.lock:
            if update is not None:
                update()
            self.exchange.on_market_tick(now_ms)

    @contextmanager
    def locked(self) -> Iterator[Any]:
        """``with venue.locked() as exchange: ...``: the exchange, with the lock held."""
        with self.lock:
            yield self.exchange

    def close(self) -> None:
        """Stop listening to the exchange (idempotent). Runs in: any thread."""
        with self.lock:
            self._remove()

    # -- events ----------------------------------------------------------------------------

    def _on_exchange_event(self, obj: dict) -> None:
        """An exchange dict -> the live event class, via the wire. Runs in: the thread holding
        the lock (inside ``execute`` or ``market_data``)."""
        frame = render(obj, "DEFAULT", spelling=self.spelling)
        for ev in decode(frame):
            self.events += 1
            self.on_event(ev)


# -- the calls, in REST's terms --------------------------------------------------------------

def _order(order: Any, **kw: bool) -> Any:
    return decode_order(_encode(order_json(order, **kw)))


def _ref(params: dict[str, str]) -> dict[str, str | None]:
    return {"uuid": params.get("uuid") or None, "identifier": params.get("identifier") or None}


def _place(ex: Any, params: dict[str, str]) -> tuple[int, Any]:
    return 201, _order(ex.place_order(params))


def _replace(ex: Any, params: dict[str, str]) -> tuple[int, Any]:
    before, new = ex.cancel_and_new(params)
    out = _json.decode(_encode(order_json(before)))
    out["new_order_uuid"] = new.uuid
    out["new_order_identifier"] = new.identifier
    return 201, out


def _cancel(ex: Any, params: dict[str, str]) -> tuple[int, Any]:
    return 200, _order(ex.cancel_order(**_ref(params)))


def _get(ex: Any, params: dict[str, str]) -> tuple[int, Any]:
    return 200, _order(ex.get_order(**_ref(params)), executed_funds=True, trades=True)


def _cancel_all(ex: Any, params: dict[str, str]) -> tuple[int, Any]:
    def codes(key: str) -> list[str] | None:
        text = params.get(key)
        return [c.strip() for c in text.split(",") if c.strip()] if text else None

    try:
        count = int(params.get("count") or rules.BATCH_CANCEL_DEFAULT_COUNT)
    except ValueError:
        raise ExchangeError(400, rules.VALIDATION_ERROR,
                            f"count must be an integer, got {params.get('count')!r}") from None
    cancelled = ex.cancel_all(
        cancel_side=params.get("cancel_side") or "all", pairs=codes("pairs"),
        excluded_pairs=codes("excluded_pairs"), quote_currencies=codes("quote_currencies"),
        count=count, order_by=params.get("order_by") or "desc",
    )  # fmt: skip
    orders = []
    for o in cancelled:
        item = {"uuid": o.uuid, "market": o.market}
        if o.identifier is not None:
            item["identifier"] = o.identifier
        orders.append(item)
    return 200, {"success": {"count": len(orders), "orders": orders},
                 "failed": {"count": 0, "orders": []}}  # fmt: skip


def _accounts(ex: Any, params: dict[str, str]) -> tuple[int, Any]:
    return 200, decode_accounts(_encode(accounts_json(ex.balances())))


def _chance(ex: Any, params: dict[str, str]) -> tuple[int, Any]:
    market = (params.get("market") or "").upper()
    if not market:
        raise ExchangeError(400, rules.VALIDATION_ERROR, "market is required (e.g. KRW-BTC)")
    return 200, _json.decode(_encode(ex.chance(market)))


_ROUTES: dict[str, Callable[[Any, dict[str, str]], tuple[int, Any]]] = {
    "place": _place,
    "replace": _replace,
    "cancel": _cancel,
    "get": _get,
    "cancel_all": _cancel_all,
    "accounts": _accounts,
    "chance": _chance,
}
