"""JWTActor: the one place that holds the API keys and signs tokens.

Keys are read from the environment variables named in ``[auth]`` (``UPBIT_ACCESS_KEY`` and
``UPBIT_SECRET_KEY`` by default) when the actor starts and again whenever they were missing,
so exporting them later works without a restart. A token with a fresh nonce is minted for every
private WebSocket handshake and every authenticated REST call (with ``query_hash`` for REST);
nonces are never reused. Upbit tokens carry no expiry claim, so the lifetime is local policy:
one handshake token is kept ready (so a reconnect never waits for signing) and re-minted at 80 %
of ``token_lifetime_s``; a token is handed out once.

Keys and tokens never appear in logs, reprs or error messages.

Runs in: the JWT actor's thread; ``MintToken`` asks come from reader threads and REST callers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pykka

from .messages import GetStatus, Ping
from .protocol.auth import mint
from .protocol.errors import CredentialsError
from .timers import CallLater, tell_later

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MintToken:
    """Ask for a signed token; ``query`` is the unencoded REST query string ('' for WS)."""

    query: str = ""

    def __repr__(self) -> str:  # the query may name an order uuid; keep logs short
        return f"MintToken(query={len(self.query)} chars)"


@dataclass(frozen=True, slots=True)
class _Refresh:
    pass


class JWTActor(pykka.ThreadingActor):
    """Mints Upbit JWTs. Ask it ``MintToken(query)``; it answers with the token string."""

    use_daemon_thread = True

    def __init__(
        self,
        auth: Any,
        environ: Mapping[str, str],
        call_later: CallLater | None = None,
    ) -> None:
        super().__init__()
        self._auth = auth
        self._environ = environ
        self._call_later = call_later
        self._keys: tuple[str, str] | None = None
        self._ready: tuple[str, float] | None = None  # (token, minted at)
        self.minted = 0

    def __repr__(self) -> str:
        return f"<JWTActor {self._auth.jwt_algorithm} keys={'set' if self._keys else 'missing'}>"

    def on_start(self) -> None:
        try:
            self._load_keys()
        except CredentialsError:
            log.info("JWT: API keys not set; private streams and exchange REST calls will fail")
            return
        self._premint()

    def _load_keys(self) -> tuple[str, str]:
        if self._keys is None:
            self._keys = self._auth.read_keys(self._environ)
        return self._keys

    def _sign(self, query: str) -> str:
        access, secret = self._load_keys()
        self.minted += 1
        return mint(access, secret, query=query, algorithm=self._auth.jwt_algorithm)

    def _premint(self) -> None:
        self._ready = (self._sign(""), time.monotonic())
        if self._call_later is not None:
            tell_later(
                self._call_later, 0.8 * self._auth.token_lifetime_s, self.actor_ref, _Refresh()
            )

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, MintToken):
            return self._mint(message.query)
        if isinstance(message, _Refresh):
            ready = self._ready
            max_age = 0.8 * self._auth.token_lifetime_s
            if ready is not None and time.monotonic() - ready[1] >= max_age:
                self._premint()
            return None
        if isinstance(message, Ping):
            return True
        if isinstance(message, GetStatus):
            return {"keys": self._keys is not None, "minted": self.minted,
                    "algorithm": self._auth.jwt_algorithm}
        return None

    def _mint(self, query: str) -> str:
        if query:
            return self._sign(query)
        ready = self._ready
        self._ready = None
        fresh = ready is not None and (
            time.monotonic() - ready[1] < 0.8 * self._auth.token_lifetime_s
        )
        token = ready[0] if fresh and ready is not None else self._sign("")
        self._premint()
        return token
