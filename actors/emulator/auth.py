"""JWT verification for the emulator's private WebSocket and exchange REST endpoints.

Mirrors Upbit's rules (protocol.md 1.2, 8.1, 8.4):

- header ``Authorization: Bearer <jwt>``; the JWT is signed with HS256 or HS512 (anything else,
  ``none`` included, is refused) using the secret key as raw UTF-8 bytes (never base64);
- claims ``access_key`` (must be the configured key) and ``nonce`` (required, any non-empty
  string; a REST nonce may be used once);
- REST calls with parameters also carry ``query_hash`` = hex SHA-512 of the un-encoded query
  string exactly as sent (for a JSON body: the body rendered by :func:`query_string_for_hash`)
  and ``query_hash_alg`` = ``SHA512``.

A real token payload for ``GET /v1/orders/open?market=KRW-BTC&states[]=wait&states[]=watch``::

    {"access_key": "emulator-access-key",
     "nonce": "b2f1e3f8-2dc1-4d6f-a838-c74c49b0e39a",
     "query_hash": "<sha512 hex of 'market=KRW-BTC&states[]=wait&states[]=watch'>",
     "query_hash_alg": "SHA512"}

Failures raise :class:`AuthFailure` carrying Upbit's REST error name (401). The server turns a
WebSocket failure into an ``INVALID_AUTH`` frame. Nothing here ever logs a key, secret or token.

Runs in: the emulator loop thread (synchronous, non-blocking); the pure helpers
(:func:`query_string_for_hash`, :func:`query_hash`, :func:`mint_token`) run in any thread.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_ACCESS_KEY",
    "DEFAULT_SECRET_KEY",
    "AuthFailure",
    "Authenticator",
    "Credentials",
    "mint_token",
    "query_hash",
    "query_string_for_hash",
]

DEFAULT_ACCESS_KEY: Final = "emulator-access-key"
DEFAULT_SECRET_KEY: Final = "emulator-secret-key"

#: JWT algorithms the emulator accepts, mapped to their hash functions.
ALGORITHMS: Final[dict[str, str]] = {"HS256": "sha256", "HS512": "sha512"}

MSG_JWT_VERIFICATION: Final = "Jwt 토큰 검증에 실패했습니다."
MSG_INVALID_ACCESS_KEY: Final = "잘못된 엑세스 키입니다."
MSG_NONCE_USED: Final = "이미 요청한 nonce값이 다시 사용되었습니다."
MSG_INVALID_QUERY_PAYLOAD: Final = (
    "JWT 헤더의 페이로드가 올바르지 않습니다. 서명에 사용한 페이로드 값을 확인해주세요."
)


@dataclass(frozen=True)
class Credentials:
    """An access/secret key pair. ``repr`` never shows the secret."""

    access_key: str
    secret_key: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Credentials(access_key={self.access_key!r}, secret_key='***')"


class AuthFailure(Exception):
    """A token was refused. ``status`` (401), ``name`` (Upbit's error name) and ``message``.

    The REST layer answers ``{"error": {"name": name, "message": message}}`` with ``status``.
    """

    def __init__(self, status: int, name: str, message: str) -> None:
        self.status = status
        self.name = name
        self.message = message
        super().__init__(f"{status} {name}: {message}")

    def body(self) -> dict:
        """The REST error body for this failure. Runs in: any thread."""
        return {"error": {"name": self.name, "message": self.message}}


def _value_text(value: object) -> str:
    """How one JSON body value is spelled in the hash string (no URL encoding)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def query_string_for_hash(params: Mapping[str, object] | Iterable[tuple[str, object]]) -> str:
    """Render request parameters the way Upbit hashes them (protocol.md 8.1).

    ``key=value`` pairs joined by ``&`` in the given order, NOT URL-encoded; a list value
    becomes repeated ``key[]=v`` pairs (a key already ending in ``[]`` is not doubled);
    ``None`` values are left out. Use it for POST bodies; for GET/DELETE hash the query string
    exactly as sent instead.

    >>> query_string_for_hash({"market": "KRW-BTC", "side": "bid", "volume": "0.01",
    ...                        "price": "100", "ord_type": "limit"})
    'market=KRW-BTC&side=bid&volume=0.01&price=100&ord_type=limit'
    >>> query_string_for_hash({"market": "KRW-BTC", "states": ["wait", "watch"]})
    'market=KRW-BTC&states[]=wait&states[]=watch'

    Runs in: any thread (pure).
    """
    items = params.items() if isinstance(params, Mapping) else params
    parts: list[str] = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, list | tuple):
            name = key if key.endswith("[]") else f"{key}[]"
            parts.extend(f"{name}={_value_text(v)}" for v in value if v is not None)
        else:
            parts.append(f"{key}={_value_text(value)}")
    return "&".join(parts)


def query_hash(query_string: str) -> str:
    """Hex SHA-512 of ``query_string`` as UTF-8: the ``query_hash`` claim. Runs in: any thread."""
    return hashlib.sha512(query_string.encode("utf-8")).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_token(
    creds: Credentials,
    nonce: str,
    query_string: str = "",
    *,
    alg: str = "HS512",
) -> str:
    """A reference token exactly as Upbit expects it (for tests and cross-checks).

    Adds ``query_hash``/``query_hash_alg`` when ``query_string`` is non-empty. Independent of
    PyJWT so the hub's PyJWT-based signer can be checked against it.
    Runs in: any thread (pure).
    """
    if alg not in ALGORITHMS:
        raise ValueError(f"alg must be one of {sorted(ALGORITHMS)}, got {alg!r}")
    payload: dict[str, str] = {"access_key": creds.access_key, "nonce": nonce}
    if query_string:
        payload["query_hash"] = query_hash(query_string)
        payload["query_hash_alg"] = "SHA512"
    header = _b64url(json.dumps({"alg": alg, "typ": "JWT"}, separators=(",", ":")).encode())
    body = _b64url(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = f"{header}.{body}".encode("ascii")
    sig = hmac.new(creds.secret_key.encode("utf-8"), signing_input, ALGORITHMS[alg]).digest()
    return f"{header}.{body}.{_b64url(sig)}"


def _fail(name: str, message: str, status: int = 401) -> AuthFailure:
    return AuthFailure(status, name, message)


class Authenticator:
    """Verifies ``Authorization`` headers against one key pair.

    ``reject_all`` (fault injection) makes every token fail with ``jwt_verification`` while
    True. ``strict_ws_nonce`` makes the private WebSocket refuse a nonce seen before (Upbit
    does not document this; off by default). REST nonces are always single-use; the store
    remembers the last ``nonce_capacity`` nonces (oldest forgotten first).

    Runs in: the emulator loop thread (not thread-safe; the server serialises calls).
    """

    def __init__(
        self,
        creds: Credentials,
        *,
        strict_ws_nonce: bool = False,
        nonce_capacity: int = 100_000,
    ) -> None:
        self.creds = creds
        self.reject_all: bool = False
        self.strict_ws_nonce: bool = strict_ws_nonce
        self._nonce_capacity = max(1, nonce_capacity)
        self._nonces: OrderedDict[str, None] = OrderedDict()
        self._secret = creds.secret_key.encode("utf-8")

    # -- public API ---------------------------------------------------------------------------

    def verify_ws(self, authorization: str | None) -> None:
        """Check the private WebSocket upgrade's header; raise :class:`AuthFailure` if refused.

        Nonce reuse is accepted unless ``strict_ws_nonce`` is set. ``query_hash`` is ignored.
        Runs in: the emulator loop thread.
        """
        claims = self._verify_token(authorization)
        nonce = claims["nonce"]
        if self.strict_ws_nonce:
            self._check_nonce_fresh(nonce)
        self._remember(nonce)

    def verify_rest(self, authorization: str | None, query_string: str) -> None:
        """Check an exchange REST call's header; raise :class:`AuthFailure` if refused.

        ``query_string`` is the un-encoded query string exactly as received (GET/DELETE) or the
        JSON body rendered by :func:`query_string_for_hash` (POST); empty when the call has no
        parameters, in which case ``query_hash`` is not required (and not checked).
        The nonce is only consumed when the token is accepted. Runs in: the emulator loop thread.
        """
        claims = self._verify_token(authorization)
        nonce = claims["nonce"]
        self._check_nonce_fresh(nonce)
        if query_string:
            got = claims.get("query_hash")
            alg = claims.get("query_hash_alg", "SHA512")
            if not isinstance(got, str) or not got:
                raise _fail(
                    "invalid_query_payload",
                    MSG_INVALID_QUERY_PAYLOAD + " (query_hash claim missing)",
                )
            if not isinstance(alg, str) or alg.upper() != "SHA512":
                raise _fail(
                    "invalid_query_payload",
                    MSG_INVALID_QUERY_PAYLOAD + " (query_hash_alg must be SHA512)",
                )
            if not hmac.compare_digest(got.lower(), query_hash(query_string)):
                raise _fail(
                    "invalid_query_payload",
                    MSG_INVALID_QUERY_PAYLOAD + " (query_hash does not match the parameters)",
                )
        self._remember(nonce)

    def nonce_seen(self, nonce: str) -> bool:
        """True if ``nonce`` is in the store (for tests). Runs in: the emulator loop thread."""
        return nonce in self._nonces

    # -- internals -----------------------------------------------------------------------------

    def _check_nonce_fresh(self, nonce: str) -> None:
        if nonce in self._nonces:
            raise _fail("nonce_used", MSG_NONCE_USED)

    def _remember(self, nonce: str) -> None:
        self._nonces[nonce] = None
        self._nonces.move_to_end(nonce)
        while len(self._nonces) > self._nonce_capacity:
            self._nonces.popitem(last=False)

    def _verify_token(self, authorization: str | None) -> dict:
        if self.reject_all:
            raise _fail("jwt_verification", MSG_JWT_VERIFICATION + " (fault injection: reject_all)")
        if authorization is None or not authorization.strip():
            raise _fail(
                "no_authorization",
                "Authorization 헤더가 없습니다. (send 'Authorization: Bearer <jwt>')",
            )
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _fail(
                "jwt_verification",
                MSG_JWT_VERIFICATION + " (expected 'Authorization: Bearer <jwt>')",
            )
        parts = token.split(".")
        if len(parts) != 3:
            raise _fail("jwt_verification", MSG_JWT_VERIFICATION + " (malformed token)")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise _fail("jwt_verification", MSG_JWT_VERIFICATION + " (malformed token)") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise _fail("jwt_verification", MSG_JWT_VERIFICATION + " (malformed token)")
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise _fail(
                "jwt_verification",
                MSG_JWT_VERIFICATION + f" (alg {alg!r} not accepted; use HS512 or HS256)",
            )
        if claims.get("access_key") != self.creds.access_key:
            raise _fail("invalid_access_key", MSG_INVALID_ACCESS_KEY)
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        expected = hmac.new(self._secret, signing_input, ALGORITHMS[alg]).digest()
        if not hmac.compare_digest(expected, signature):
            log.debug("token signature mismatch (alg %s)", alg)
            raise _fail("jwt_verification", MSG_JWT_VERIFICATION + " (bad signature)")
        nonce = claims.get("nonce")
        if isinstance(nonce, int) and not isinstance(nonce, bool):
            nonce = str(nonce)
            claims["nonce"] = nonce
        if not isinstance(nonce, str) or not nonce:
            raise _fail("jwt_verification", MSG_JWT_VERIFICATION + " (nonce claim missing)")
        return claims


def token_access_key(authorization: str | None) -> str | None:
    """The ``access_key`` claim of a bearer token, unverified (only to pick a limit scope:
    Upbit counts authenticated connects and exchange calls per account, not per IP).

    Runs in: any thread.
    """
    if not authorization:
        return None
    try:
        payload = authorization.split()[-1].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        key = claims.get("access_key")
        return key if isinstance(key, str) else None
    except (ValueError, IndexError, AttributeError):
        return None
