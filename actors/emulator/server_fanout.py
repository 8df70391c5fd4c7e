"""Routing market and private events to subscribed sockets.

Runs in: the emulator loop thread (every method).

A subscription request REPLACES the connection's whole set (protocol.md 2.2): :meth:`Fanout.
subscribe` installs it, sends the snapshots of the new set and rebuilds the routing table
``(type, code) -> [(session, option)]``. Each market event is rendered once per distinct
``(format, option)`` among its subscribers (option = orderbook ``(depth, level)``) and the same
bytes, already framed, are queued to every uncompressed subscriber.

Codes follow the live service: unknown or lower-case codes are ignored silently; an orderbook
``KRW-BTC.15`` asks for 15 levels (unsupported counts fall back to 30) and the frames carry
``KRW-BTC``; an unsupported ``level`` yields no data at all (render_orderbook returns None).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal

from upbit_hub.actors.emulator.render import render, render_orderbook
from upbit_hub.actors.emulator.server_stats import StatsRecorder
from upbit_hub.actors.emulator.ws_request import ParsedRequest, TypeRequest
from upbit_hub.actors.emulator.ws_session import WsSession
from upbit_hub.actors.protocol.fields import LIST_SUBSCRIPTIONS_KEYS, ORDERBOOK_DEPTHS

__all__ = ["Fanout", "list_subscriptions_reply", "split_orderbook_code", "subscription_tuples"]

log = logging.getLogger(__name__)

Option = tuple[int, int | Decimal] | None  # orderbook (depth, level); None for other types


def split_orderbook_code(code: str) -> tuple[str, int] | None:
    """``"KRW-BTC.15"`` -> ``("KRW-BTC", 15)``; unsupported counts -> 30; junk -> None."""
    base, dot, suffix = code.partition(".")
    if not dot:
        return code, 30
    if not suffix.isdigit():
        return None
    depth = int(suffix)
    return base, depth if depth in ORDERBOOK_DEPTHS else 30


def subscription_tuples(request: ParsedRequest | None) -> tuple[tuple, ...]:
    """The request's data types as ``(type, codes, level, only_snapshot, only_realtime)``."""
    if request is None:
        return ()
    return tuple(
        (t.type, t.codes, t.level, t.only_snapshot, t.only_realtime) for t in request.types
    )


def list_subscriptions_reply(request: ParsedRequest | None, ticket: str, fmt: str) -> bytes:
    """LIST_SUBSCRIPTIONS answer in ``fmt`` (codes echoed as the client subscribed them)."""
    result = []
    for t in request.types if request is not None else ():
        item: dict = {"type": t.type}
        if t.codes is not None:
            item["codes"] = list(t.codes)
        if t.type == "orderbook":
            item["level"] = t.level if t.level is not None else 0
        result.append(item)
    obj: dict = {"method": "LIST_SUBSCRIPTIONS", "result": result, "ticket": ticket}
    if fmt in ("SIMPLE", "SIMPLE_LIST"):
        keys = LIST_SUBSCRIPTIONS_KEYS
        obj = {
            "mthd": obj["method"],
            "rslt": [{keys[k]: v for k, v in item.items()} for item in result],
            "tckt": ticket,
        }
    out: object = [obj] if fmt.endswith("LIST") else obj
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"), default=str).encode()


class Fanout:
    """Subscription sets of every socket and delivery of events to them."""

    def __init__(
        self,
        markets: Iterable[str],
        snapshot: Callable[[str, str], dict | None],
        stats: StatsRecorder,
        *,
        spelling: str = "java",
    ) -> None:
        self._markets = frozenset(markets)
        self._snapshot = snapshot
        self._stats = stats
        self._spelling = spelling
        self._sessions: dict[int, WsSession] = {}
        self._routes: dict[tuple[str, str], list[tuple[WsSession, Option]]] = {}
        self._my_order: list[tuple[WsSession, frozenset[str] | None]] = []
        self._my_asset: list[WsSession] = []

    # ------------------------------------------------------------------ rendering

    def _render(self, obj: dict, fmt: str, option: Option, stream_type: str | None) -> bytes | None:
        if option is not None:
            depth, level = option
            return render_orderbook(obj, fmt, depth=depth, level=level,  # type: ignore[arg-type]
                                    stream_type=stream_type, spelling=self._spelling)
        return render(obj, fmt, stream_type=stream_type, spelling=self._spelling)

    # ------------------------------------------------------------------ subscriptions

    def _entries(self, t: TypeRequest) -> list[tuple[str, Option]]:
        out: list[tuple[str, Option]] = []
        for code in t.codes or ():
            if t.type == "orderbook":
                split = split_orderbook_code(code)
                if split is None:
                    continue
                base, depth = split
                option: Option = (depth, t.level if t.level is not None else 0)
            else:
                base, option = code, None
            if base in self._markets and (base, option) not in out:
                out.append((base, option))
        return out

    def subscribe(self, session: WsSession, request: ParsedRequest) -> None:
        """Replace ``session``'s subscription set with ``request`` and send its snapshots."""
        session.request = request
        self._sessions[session.id] = session
        self._rebuild()
        if session.endpoint != "public":
            return  # private streams have no snapshots
        for t in request.types:
            if t.only_realtime:
                continue
            for code, option in self._entries(t):
                obj = self._snapshot(t.type, code)
                if obj is None:
                    continue
                payload = self._render(obj, session.format, option, "SNAPSHOT")
                if payload is not None:
                    session.enqueue(payload, t.type)

    def forget(self, session: WsSession) -> None:
        """Drop a closed socket from every route."""
        if self._sessions.pop(session.id, None) is not None:
            self._rebuild()

    def _rebuild(self) -> None:
        routes: dict[tuple[str, str], list[tuple[WsSession, Option]]] = {}
        my_order: list[tuple[WsSession, frozenset[str] | None]] = []
        my_asset: list[WsSession] = []
        for session in self._sessions.values():
            request = session.request
            if request is None or session.closing:
                continue
            for t in request.types:
                if t.type == "myOrder":
                    my_order.append((session, frozenset(t.codes) if t.codes else None))
                elif t.type == "myAsset":
                    my_asset.append(session)
                elif not t.only_snapshot:
                    for code, option in self._entries(t):
                        routes.setdefault((t.type, code), []).append((session, option))
        self._routes, self._my_order, self._my_asset = routes, my_order, my_asset

    # ------------------------------------------------------------------ delivery

    def deliver(self, events: list[dict]) -> None:
        """Queue REALTIME frames of market ``events`` to their subscribers."""
        routes = self._routes
        if not routes:
            return
        for obj in events:
            targets = routes.get((obj.get("type"), obj.get("code")))  # type: ignore[arg-type]
            if not targets:
                continue
            kind = obj["type"]
            if len(targets) == 1:  # the common case: no cache, frame built once in enqueue
                session, option = targets[0]
                if not session.closing:
                    payload = self._render(obj, session.format, option, "REALTIME")
                    if payload is not None:
                        session.enqueue(payload, kind)
                continue
            cache: dict[tuple[str, Option], tuple[bytes | None, bytes | None]] = {}
            for session, option in targets:
                if session.closing:
                    continue
                key = (session.format, option)
                hit = cache.get(key)
                if hit is None:
                    payload = self._render(obj, session.format, option, "REALTIME")
                    hit = (payload, session.framed(payload) if payload is not None else None)
                    cache[key] = hit
                if hit[0] is not None:
                    session.enqueue(hit[0], kind, hit[1])

    def deliver_private(self, obj: dict) -> None:
        """Queue one exchange event (myOrder / myAsset dict, stream_type included)."""
        kind = obj.get("type")
        if kind == "myOrder":
            code = obj.get("code")
            targets = [s for s, codes in self._my_order if codes is None or code in codes]
        elif kind == "myAsset":
            targets = list(self._my_asset)
        else:
            return
        cache: dict[str, bytes] = {}
        for session in targets:
            if session.closing:
                continue
            payload = cache.get(session.format)
            if payload is None:
                payload = cache[session.format] = render(obj, session.format,
                                                         spelling=self._spelling)
            session.enqueue(payload, kind)  # type: ignore[arg-type]
