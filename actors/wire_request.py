"""Turn the registry's merged wishes into the one request a connection sends. Pure.

Upbit replaces the whole subscription set on every request, so the request always lists every
key. Per key it chooses the flags:

- a snapshot-only wish: ``is_only_snapshot`` (rides along once);
- a key already on this socket: ``is_only_realtime``, so an unrelated change does not replay
  snapshots to everybody; unless a new wish for it arrived (``fresh``), which gets its snapshot
  (trade keys stay realtime-only: a trade snapshot is just the last trade again);
- a key new on this socket (including every key after a reconnect): snapshot then realtime.

Orderbook depth travels as the code suffix (``KRW-BTC.15``); ``code=None`` means all markets
(myOrder) or no codes at all (myAsset). On the private endpoint myOrder and myAsset always
travel together (Upbit warns against many private sockets, and a request replaces the other).

Runs in: any thread (the connection actor calls it).
"""

from __future__ import annotations

from collections.abc import Iterable

from .messages import RequestEntry, WishKey
from .protocol.requests import TypeRequest

_PRIVATE_TYPES = ("myOrder", "myAsset")


def build_request(
    entries: Iterable[RequestEntry],
    *,
    on_socket: frozenset[WishKey],
    fresh: set[WishKey] | frozenset[WishKey],
    private: bool,
) -> list[TypeRequest]:
    """The type objects of one request for ``entries`` on a socket that already carries
    ``on_socket``, with ``fresh`` keys that got new wishes since the last send."""
    groups: dict[tuple[str, int | None, str], list[str]] = {}
    all_markets: set[str] = set()
    for entry in entries:
        key = entry.key
        if entry.snapshot_only:
            mode = "snapshot"
        elif key in on_socket and (key.type == "trade" or key not in fresh):
            mode = "realtime"
        else:
            mode = "both"
        slot = groups.setdefault((key.type, key.level, mode), [])
        if key.code is None:
            all_markets.add(key.type)
        elif key.type == "orderbook" and entry.depth:
            slot.append(f"{key.code}.{entry.depth}")
        else:
            slot.append(key.code)
    if private:
        for type_ in _PRIVATE_TYPES:
            if not any(k[0] == type_ for k in groups):
                groups[(type_, None, "both")] = []
                all_markets.add(type_)
    return [
        TypeRequest(
            type=type_,
            codes=() if type_ in all_markets else tuple(codes),
            is_only_snapshot=mode == "snapshot",
            is_only_realtime=mode == "realtime" and type_ not in _PRIVATE_TYPES,
            level=level,
        )
        for (type_, level, mode), codes in groups.items()
    ]
