"""JWT claims and signing for Upbit (protocol.md 1.2 and 8.1). Pure: no I/O.

Payload ``{"access_key": ..., "nonce": <uuid4>}``, plus ``query_hash`` (hex SHA-512 of the
UNENCODED query string, or of a JSON body rendered as ``k=v&...``) and ``query_hash_alg``
``SHA512`` when the REST request has parameters. The secret is used as raw UTF-8 bytes. HS512
by default (Upbit's current docs), HS256 selectable (the official SDK's examples). Tokens have
no expiry claim. A fresh nonce for every token: never reuse one.

Runs in: any thread.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

ALGORITHMS = ("HS512", "HS256")


def query_string(params: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> str:
    """Upbit's string to hash: ``k=v`` joined by ``&`` in order, unencoded; a list value
    becomes repeated ``k[]=v`` (``states[]=wait&states[]=watch``)."""
    items = params.items() if isinstance(params, Mapping) else params
    out: list[str] = []
    for key, value in items:
        if isinstance(value, (list, tuple)):
            name = key if key.endswith("[]") else f"{key}[]"
            out.extend(f"{name}={v}" for v in value)
        else:
            out.append(f"{key}={value}")
    return "&".join(out)


def claims(access_key: str, query: str = "") -> dict[str, str]:
    """The payload for one request: a fresh nonce every call."""
    payload = {"access_key": access_key, "nonce": str(uuid.uuid4())}
    if query:
        payload["query_hash"] = hashlib.sha512(query.encode("utf-8")).hexdigest()
        payload["query_hash_alg"] = "SHA512"
    return payload


_filtered = False


def _quiet_key_length_warning(jwt: Any) -> None:
    """Upbit issues 40-character secret keys, shorter than the 64 bytes PyJWT recommends for
    HS512: the length is Upbit's choice, not the user's, so PyJWT's warning on every token is
    noise. Only that warning category is silenced."""
    global _filtered
    if not _filtered:
        import warnings

        warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)
        _filtered = True


def mint(access_key: str, secret_key: str, *, query: str = "", algorithm: str = "HS512") -> str:
    """A signed token for one request or handshake."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, not {algorithm!r}")
    import jwt  # lazily: PyJWT's package imports its HTTP JWKS client (sockets)

    _quiet_key_length_warning(jwt)
    return jwt.encode(claims(access_key, query), secret_key.encode("utf-8"), algorithm=algorithm)
