"""JWT verification of the emulator (auth.py): algorithms, keys, nonces, query_hash."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from decimal import Decimal

import jwt
import pytest

from upbit_hub.actors.emulator.auth import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    Authenticator,
    AuthFailure,
    Credentials,
    mint_token,
    query_hash,
    query_string_for_hash,
)

CREDS = Credentials(DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY)

# The emulator's default secret is shorter than RFC 7518 recommends; PyJWT warns, Upbit does not.
pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


def pyjwt_token(payload: dict, *, secret: str = DEFAULT_SECRET_KEY, alg: str = "HS512") -> str:
    return jwt.encode(payload, secret, algorithm=alg)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def claims(nonce: str | None = None, query: str = "", **extra: object) -> dict:
    out: dict = {"access_key": DEFAULT_ACCESS_KEY, "nonce": nonce or str(uuid.uuid4())}
    if query:
        out["query_hash"] = hashlib.sha512(query.encode()).hexdigest()
        out["query_hash_alg"] = "SHA512"
    out.update(extra)
    return out


def b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def failure(fn, *args) -> AuthFailure:
    with pytest.raises(AuthFailure) as info:
        fn(*args)
    return info.value


@pytest.mark.parametrize("alg", ["HS256", "HS512"])
def test_tokens_signed_with_hs256_or_hs512_are_accepted_on_ws_and_rest(alg):
    auth = Authenticator(CREDS)
    auth.verify_ws(bearer(pyjwt_token(claims(), alg=alg)))
    auth.verify_rest(bearer(pyjwt_token(claims(), alg=alg)), "")


@pytest.mark.parametrize("alg", ["HS384", "none"])
def test_other_algorithms_are_rejected_with_jwt_verification(alg):
    auth = Authenticator(CREDS)
    if alg == "none":
        token = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    else:
        token = pyjwt_token(claims(), alg=alg)
    err = failure(auth.verify_ws, bearer(token))
    assert (err.status, err.name) == (401, "jwt_verification")


def test_a_token_claiming_rs256_but_hmac_signed_is_rejected():
    auth = Authenticator(CREDS)
    token = pyjwt_token(claims(), alg="HS256")
    _head, body, sig = token.split(".")
    forged = f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{body}.{sig}"
    assert failure(auth.verify_rest, bearer(forged), "").name == "jwt_verification"


def test_wrong_secret_fails_signature_check_with_upbit_message():
    auth = Authenticator(CREDS)
    err = failure(auth.verify_ws, bearer(pyjwt_token(claims(), secret="not-the-secret")))
    assert err.status == 401
    assert err.name == "jwt_verification"
    assert err.message.startswith("Jwt 토큰 검증에 실패했습니다.")


def test_unknown_access_key_is_invalid_access_key():
    auth = Authenticator(CREDS)
    token = pyjwt_token(claims(access_key="someone-else"))
    err = failure(auth.verify_rest, bearer(token), "")
    assert (err.status, err.name, err.message) == (
        401,
        "invalid_access_key",
        "잘못된 엑세스 키입니다.",
    )


def test_secret_is_used_as_raw_utf8_bytes_not_base64():
    secret = base64.b64encode(b"raw-secret-bytes").decode()  # looks like base64 on purpose
    auth = Authenticator(Credentials("ak", secret))
    good = jwt.encode({"access_key": "ak", "nonce": "n1"}, secret.encode("utf-8"), "HS256")
    auth.verify_ws(bearer(good))
    decoded = jwt.encode({"access_key": "ak", "nonce": "n2"}, b"raw-secret-bytes", "HS256")
    assert failure(auth.verify_ws, bearer(decoded)).name == "jwt_verification"


def test_missing_or_malformed_header_gets_a_clear_401():
    auth = Authenticator(CREDS)
    missing = failure(auth.verify_ws, None)
    assert (missing.status, missing.name) == (401, "no_authorization")
    assert "Bearer" in missing.message
    assert failure(auth.verify_ws, "").name == "no_authorization"
    token = pyjwt_token(claims())
    assert failure(auth.verify_ws, f"Basic {token}").name == "jwt_verification"
    assert failure(auth.verify_ws, "Bearer not.a-token").name == "jwt_verification"
    assert failure(auth.verify_ws, "Bearer a.b.c").name == "jwt_verification"


def test_a_token_without_nonce_is_rejected():
    auth = Authenticator(CREDS)
    token = pyjwt_token({"access_key": DEFAULT_ACCESS_KEY})
    err = failure(auth.verify_ws, bearer(token))
    assert err.name == "jwt_verification"
    assert "nonce" in err.message


def test_nonce_reuse_on_rest_is_nonce_used():
    auth = Authenticator(CREDS)
    payload = claims(nonce="fixed-nonce")
    auth.verify_rest(bearer(pyjwt_token(payload)), "")
    err = failure(auth.verify_rest, bearer(pyjwt_token(payload)), "")
    assert (err.status, err.name) == (401, "nonce_used")


def test_nonce_reuse_on_ws_is_accepted_by_default_and_refused_in_strict_mode():
    lenient = Authenticator(CREDS)
    token = bearer(pyjwt_token(claims(nonce="ws-nonce")))
    lenient.verify_ws(token)
    lenient.verify_ws(token)
    strict = Authenticator(CREDS, strict_ws_nonce=True)
    strict.verify_ws(token)
    assert failure(strict.verify_ws, token).name == "nonce_used"


def test_a_refused_request_does_not_consume_its_nonce():
    auth = Authenticator(CREDS)
    query = "market=KRW-BTC"
    wrong = claims(nonce="retry-me", query="market=KRW-ETH")
    assert failure(auth.verify_rest, bearer(pyjwt_token(wrong)), query).name == (
        "invalid_query_payload"
    )
    assert not auth.nonce_seen("retry-me")
    auth.verify_rest(bearer(pyjwt_token(claims(nonce="retry-me", query=query))), query)
    assert auth.nonce_seen("retry-me")


def test_nonce_store_is_bounded_and_forgets_the_oldest():
    auth = Authenticator(CREDS, nonce_capacity=3)
    for n in ("n1", "n2", "n3", "n4"):
        auth.verify_rest(bearer(pyjwt_token(claims(nonce=n))), "")
    assert not auth.nonce_seen("n1")
    assert all(auth.nonce_seen(n) for n in ("n2", "n3", "n4"))
    auth.verify_rest(bearer(pyjwt_token(claims(nonce="n1"))), "")  # forgotten -> fresh again
    assert failure(auth.verify_rest, bearer(pyjwt_token(claims(nonce="n4"))), "").name == (
        "nonce_used"
    )


def test_query_hash_covers_get_array_params_in_the_order_sent():
    auth = Authenticator(CREDS)
    sent = "market=KRW-BTC&states[]=wait&states[]=watch&limit=10"
    auth.verify_rest(bearer(pyjwt_token(claims(query=sent))), sent)
    reordered = "market=KRW-BTC&states[]=watch&states[]=wait&limit=10"
    err = failure(auth.verify_rest, bearer(pyjwt_token(claims(query=reordered))), sent)
    assert (err.status, err.name) == (401, "invalid_query_payload")
    encoded = "market=KRW-BTC&states%5B%5D=wait&states%5B%5D=watch&limit=10"
    err = failure(auth.verify_rest, bearer(pyjwt_token(claims(query=encoded))), sent)
    assert err.name == "invalid_query_payload"


def test_query_hash_for_a_post_body_is_over_the_body_rendered_as_a_query_string():
    body = {
        "market": "KRW-BTC",
        "side": "bid",
        "volume": "0.01",
        "price": "100",
        "ord_type": "limit",
    }
    rendered = query_string_for_hash(body)
    assert rendered == "market=KRW-BTC&side=bid&volume=0.01&price=100&ord_type=limit"
    auth = Authenticator(CREDS)
    auth.verify_rest(bearer(pyjwt_token(claims(query=rendered))), rendered)


def test_params_without_query_hash_or_with_another_hash_alg_are_invalid_query_payload():
    auth = Authenticator(CREDS)
    sent = "uuid=abc"
    assert failure(auth.verify_rest, bearer(pyjwt_token(claims())), sent).name == (
        "invalid_query_payload"
    )
    other_alg = claims(query=sent, query_hash_alg="SHA256")
    assert failure(auth.verify_rest, bearer(pyjwt_token(other_alg)), sent).name == (
        "invalid_query_payload"
    )


def test_reject_all_refuses_every_token_until_cleared():
    auth = Authenticator(CREDS)
    auth.reject_all = True
    token = bearer(pyjwt_token(claims()))
    assert failure(auth.verify_ws, token).name == "jwt_verification"
    auth.reject_all = False
    auth.verify_ws(token)


def test_reference_minted_tokens_verify_and_decode_like_pyjwt():
    sent = "market=KRW-BTC&states[]=wait"
    for alg in ("HS256", "HS512"):
        token = mint_token(CREDS, f"nonce-{alg}", sent, alg=alg)
        Authenticator(CREDS).verify_rest(bearer(token), sent)
        decoded = jwt.decode(token, DEFAULT_SECRET_KEY, algorithms=[alg])
        assert decoded == {
            "access_key": DEFAULT_ACCESS_KEY,
            "nonce": f"nonce-{alg}",
            "query_hash": hashlib.sha512(sent.encode()).hexdigest(),
            "query_hash_alg": "SHA512",
        }
    assert "query_hash" not in jwt.decode(
        mint_token(CREDS, "n"), DEFAULT_SECRET_KEY, algorithms=["HS512"]
    )
    assert query_hash(sent) == hashlib.sha512(sent.encode()).hexdigest()


def test_query_string_for_hash_renders_arrays_skips_none_and_keeps_order():
    assert query_string_for_hash({"states": ["wait", "watch"], "market": "KRW-BTC"}) == (
        "states[]=wait&states[]=watch&market=KRW-BTC"
    )
    assert query_string_for_hash([("uuids[]", ["a", "b"]), ("x", None)]) == "uuids[]=a&uuids[]=b"
    assert query_string_for_hash({"price": Decimal("1E+7"), "flag": True}) == (
        "price=10000000&flag=true"
    )
    assert query_string_for_hash({}) == ""


def test_repr_of_credentials_and_failures_never_shows_the_secret():
    creds = Credentials("my-access", "very-secret-value")
    assert "very-secret-value" not in repr(creds)
    assert "very-secret-value" not in str(creds)
    assert "my-access" in repr(creds)
    auth = Authenticator(creds)
    token = jwt.encode({"access_key": "my-access", "nonce": "x"}, "wrong", "HS256")
    err = failure(auth.verify_ws, bearer(token))
    assert "very-secret-value" not in str(err)
    assert token not in str(err)
