"""The calls the order manager asks the exchange for, and how each one ended. Pure values.

The manager never does I/O itself: it hands out :class:`Call` values (what to send, in which
rate-limit group) and is told how each ended with a :class:`CallResult`. A live shell sends
them over REST (:mod:`.venue_rest`); paper trading and backtests run them against the
emulator's matching engine in-process (:mod:`.venue_sim`). Both sort the ending into the same
few outcomes, which is what keeps "no order ever placed twice" true:

===============  ==========================================================================
``ok``           the exchange answered 2xx; ``body`` is the decoded answer
``not_sent``     the request never left (connect refused, DNS, connect timeout): safe to send
                 again with the same identifier
``unknown``      sent, but no usable answer (read timeout, reset, 5xx, unreadable body): the
                 exchange may have acted; only its own answer tells
``rejected``     a 4xx with Upbit's error name (``error``); nothing happened
``rate_limited`` 429: refused before it was processed; the group pauses
``banned``       418: refused; every group halts for the ban
===============  ==========================================================================

Runs in: any thread (immutable values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["GROUP_OF", "Call", "CallKind", "CallResult", "Outcome"]

CallKind = Literal["place", "cancel", "get", "replace", "cancel_all", "accounts", "chance"]
Outcome = Literal["ok", "not_sent", "unknown", "rejected", "rate_limited", "banned"]

#: Upbit's rate-limit group of each call (protocol.md 7.2).
GROUP_OF: Final[dict[str, str]] = {
    "place": "order",
    "replace": "order",
    "cancel": "default",
    "get": "default",
    "accounts": "default",
    "chance": "default",
    "cancel_all": "order-cancel-all",
}


@dataclass(frozen=True, slots=True)
class Call:
    """One request for the exchange. ``params`` are Upbit's parameter names and string values
    (``place``: the ``POST /v1/orders`` body; ``cancel``/``get``: ``identifier`` or ``uuid``;
    ``replace``: the ``cancel_and_new`` body; ``cancel_all``: ``pairs``, ``cancel_side``...)."""

    token: int
    kind: CallKind
    params: dict[str, str] = field(default_factory=dict)
    client_id: str | None = None

    @property
    def group(self) -> str:
        return GROUP_OF[self.kind]


@dataclass(frozen=True, slots=True)
class CallResult:
    """How one :class:`Call` ended (see the module docstring for ``outcome``).

    ``body``: the decoded answer of an ``ok`` call (a ``rest_types.Order``, a list of
    ``Account``, a dict for ``chance``/``cancel_all``/``replace``); ``error``: Upbit's error
    name, or the transport failure's kind; ``remaining``: the ``sec=`` of ``Remaining-Req``.
    """

    token: int
    kind: CallKind
    outcome: Outcome
    status: int = 0
    body: Any = None
    error: str | None = None
    message: str = ""
    remaining: int | None = None
    client_id: str | None = None

    @property
    def group(self) -> str:
        return GROUP_OF[self.kind]

    def describe(self) -> str:
        """``error: message`` (or the outcome), for an order's ``reason``."""
        name = self.error or self.outcome
        return f"{name}: {self.message}" if self.message else str(name)
