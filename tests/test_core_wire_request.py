"""How merged wishes become one request: flags per key, depth suffixes, private pairing."""

from __future__ import annotations

from upbit_hub.actors.messages import PRIVATE, PUBLIC, RequestEntry, WishKey
from upbit_hub.actors.wire_request import build_request


def _key(type_, code, level=None, endpoint=PUBLIC):
    return WishKey(endpoint, type_, code, level)


def _objects(types):
    return {(t.type, t.codes, t.is_only_snapshot, t.is_only_realtime, t.level) for t in types}


def test_a_fresh_socket_asks_snapshots_for_everything_with_depth_suffixes():
    entries = [RequestEntry(_key("ticker", "KRW-BTC")),
               RequestEntry(_key("orderbook", "KRW-ETH"), depth=15)]
    got = _objects(build_request(entries, on_socket=frozenset(), fresh=set(), private=False))
    assert got == {("ticker", ("KRW-BTC",), False, False, None),
                   ("orderbook", ("KRW-ETH.15",), False, False, None)}


def test_keys_already_on_the_socket_stay_realtime_only_unless_a_new_wish_wants_a_snapshot():
    btc, eth = _key("ticker", "KRW-BTC"), _key("ticker", "KRW-ETH")
    trade = _key("trade", "KRW-BTC")
    entries = [RequestEntry(btc), RequestEntry(eth), RequestEntry(trade)]
    got = _objects(build_request(entries, on_socket=frozenset({btc, eth, trade}),
                                 fresh={eth, trade}, private=False))
    assert got == {("ticker", ("KRW-BTC",), False, True, None),
                   ("ticker", ("KRW-ETH",), False, False, None),
                   ("trade", ("KRW-BTC",), False, True, None)}  # a trade snapshot is a repeat


def test_snapshot_only_wishes_get_their_own_object():
    entries = [RequestEntry(_key("ticker", "KRW-BTC")),
               RequestEntry(_key("ticker", "KRW-XRP"), snapshot_only=True)]
    got = _objects(build_request(entries, on_socket=frozenset(), fresh=set(), private=False))
    assert ("ticker", ("KRW-XRP",), True, False, None) in got


def test_private_requests_always_carry_my_order_and_my_asset_together():
    entries = [RequestEntry(_key("myAsset", None, endpoint=PRIVATE))]
    got = _objects(build_request(entries, on_socket=frozenset(), fresh=set(), private=True))
    assert got == {("myAsset", (), False, False, None), ("myOrder", (), False, False, None)}
    entries = [RequestEntry(_key("myOrder", "KRW-BTC", endpoint=PRIVATE)),
               RequestEntry(_key("myOrder", None, endpoint=PRIVATE))]
    got = _objects(build_request(entries, on_socket=frozenset(), fresh=set(), private=True))
    assert ("myOrder", (), False, False, None) in got  # one wish for all markets wins
