"""JWTs: fresh nonce per token, query_hash over the unencoded query, HS512/HS256, keys from the
environment only, and no key or token ever in a log, repr or error message."""

from __future__ import annotations

import hashlib
import logging
import threading
from decimal import Decimal

import jwt
import pytest

from upbit_hub.actors import WebSocketClientProxy
from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
from upbit_hub.actors.jwt_actor import JWTActor, MintToken
from upbit_hub.actors.protocol.auth import query_string
from upbit_hub.actors.protocol.errors import CredentialsError
from upbit_hub.config.settings import AuthSettings

ENV = {"UPBIT_ACCESS_KEY": "ak-0123456789", "UPBIT_SECRET_KEY": "sk-0123456789abcdef"}


def _decode(token: str, alg: str = "HS512") -> dict:
    return jwt.decode(token, ENV["UPBIT_SECRET_KEY"].encode(), algorithms=[alg])


def test_every_token_has_a_fresh_nonce_and_the_access_key():
    ref = JWTActor.start(AuthSettings(), ENV)
    tokens = [ref.ask(MintToken(), timeout=5) for _ in range(50)]
    claims = [_decode(t) for t in tokens]
    assert len({c["nonce"] for c in claims}) == 50
    assert {c["access_key"] for c in claims} == {"ak-0123456789"}
    assert all("query_hash" not in c for c in claims)
    assert jwt.get_unverified_header(tokens[0])["alg"] == "HS512"


def test_rest_tokens_hash_the_unencoded_query_string_with_array_keys():
    ref = JWTActor.start(AuthSettings(), ENV)
    query = query_string([("market", "KRW-BTC"), ("states", ["wait", "watch"]), ("limit", 10)])
    assert query == "market=KRW-BTC&states[]=wait&states[]=watch&limit=10"
    claims = _decode(ref.ask(MintToken(query), timeout=5))
    assert claims["query_hash"] == hashlib.sha512(query.encode()).hexdigest()
    assert claims["query_hash_alg"] == "SHA512"


def test_hs256_is_selectable():
    ref = JWTActor.start(AuthSettings(jwt_algorithm="HS256"), ENV)
    token = ref.ask(MintToken(), timeout=5)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    assert _decode(token, "HS256")["access_key"] == "ak-0123456789"


def test_a_ready_token_older_than_80_percent_of_its_lifetime_is_not_handed_out(monkeypatch):
    import upbit_hub.actors.jwt_actor as mod

    now = [1000.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: now[0])
    ref = JWTActor.start(AuthSettings(token_lifetime_s=10.0), ENV)
    first = ref.ask(MintToken(), timeout=5)  # the pre-minted one, fresh
    now[0] += 9.0  # the next ready token is now 90 % through its lifetime
    second = ref.ask(MintToken(), timeout=5)
    assert ref.ask(MintToken(), timeout=5) != second != first
    assert ref.proxy().minted.get(timeout=5) >= 4  # the stale ready token was replaced


def test_missing_keys_name_the_variable_and_never_the_value():
    ref = JWTActor.start(AuthSettings(), {"UPBIT_ACCESS_KEY": "ak-visible?"})
    with pytest.raises(CredentialsError) as info:
        ref.ask(MintToken(), timeout=5)
    assert "UPBIT_SECRET_KEY" in str(info.value)
    assert "ak-visible?" not in str(info.value)
    assert ref.is_alive()  # a failed ask does not kill the actor
    holder = JWTActor(AuthSettings(), ENV)
    holder._load_keys()
    assert "ak-0123456789" not in repr(holder) and "sk-0123" not in repr(holder)


def test_keys_and_tokens_never_reach_the_logs(make_emulator, make_hub, caplog):
    caplog.set_level(logging.DEBUG)
    emu = make_emulator(rate=0, balances={"KRW": Decimal("100000000"), "BTC": Decimal("1")})
    env = {"UPBIT_ACCESS_KEY": DEFAULT_ACCESS_KEY, "UPBIT_SECRET_KEY": DEFAULT_SECRET_KEY}
    hub = make_hub(emu, environ=env)
    done = threading.Event()
    proxy = WebSocketClientProxy("quiet", hub=hub)
    proxy.subscribe_my_order(lambda ev: ev.state == "done" and done.set())
    book = emu.call(lambda core: core.market.book("KRW-BTC"))
    hub.rest.place_order("KRW-BTC", "bid", volume="0.0001", price=str(book[0][0]))
    assert done.wait(10)
    emu.faults.drop_all()
    bad = make_hub(emu, environ={**env, "UPBIT_SECRET_KEY": "wrong-secret-value"})
    errors: list = []
    other = WebSocketClientProxy("bad", hub=bad)
    other.subscribe_my_asset(lambda ev: None, on_error=errors.append)
    threading.Event().wait(0.5)  # let the INVALID_AUTH round trip be logged (bounded)
    text = caplog.text + "".join(repr(e) + str(e) for e in errors)
    for secret in (DEFAULT_SECRET_KEY, "wrong-secret-value", "Bearer ", "eyJ"):
        assert secret not in text, f"{secret!r} leaked into logs or errors"
    proxy.cleanup()
    other.cleanup()
