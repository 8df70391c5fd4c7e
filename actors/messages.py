"""Messages exchanged between the hub's actors: immutable values (frozen, slotted dataclasses).

``concurrent.futures.Future`` objects ride along in a few messages so that a synchronous caller
at the edge (the proxy API) can wait until its change is on the wire; futures are thread-safe.

Who sends what::

    WebSocketClientProxy --Subscribe/Unsubscribe--> SubscriptionRegistryActor
    ComponentProxyActor  --DropComponent---------->  SubscriptionRegistryActor
    SubscriptionRegistryActor --SetRoutes/SetRequest--> ConnectionActor
    ConnectionActor --RequestSent/RequestRejected/EndpointError/ComponentDied--> registry
    MarketCatalog (hub) --MarketsKnown-------------> SubscriptionRegistryActor
    SubscriptionRegistryActor --SubscriptionFailed--> ComponentProxyActor
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .inbox import ComponentInbox

PUBLIC = "public"
PRIVATE = "private"


@dataclass(frozen=True, slots=True)
class WishKey:
    """What goes on the wire for one code: (endpoint, type, code, level).

    ``code`` is None for myAsset and for myOrder on all markets. Orderbook depth is not part
    of the key: wishes for the same book at several depths share one wire entry at the
    largest depth, and each component gets the depth it asked for.
    """

    endpoint: str
    type: str
    code: str | None
    level: int | None = None


@dataclass(frozen=True, slots=True)
class Wish:
    """One subscription's wish for one key."""

    key: WishKey
    depth: int | None = None
    snapshot_only: bool = False


@dataclass(frozen=True, slots=True)
class RequestEntry:
    """One key of a merged request, with the depth to ask for."""

    key: WishKey
    depth: int | None = None
    snapshot_only: bool = False


# --- proxy -> registry -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subscribe:
    inbox: ComponentInbox
    sub_id: int
    wishes: tuple[Wish, ...]
    done: Future[Any] | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    component_key: str
    sub_id: int
    done: Future[Any] | None = None


@dataclass(frozen=True, slots=True)
class DropComponent:
    component_key: str
    reason: str = "stopped"


# --- registry -> connection --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SetRoutes:
    """Routing table for the reader thread: (type, code) -> inboxes."""

    routes: dict[tuple[str, str | None], tuple[ComponentInbox, ...]]


@dataclass(frozen=True, slots=True)
class SetRequest:
    """The full merged request for an endpoint (Upbit replaces, so it is always the union)."""

    generation: int
    entries: tuple[RequestEntry, ...]
    fresh: frozenset[WishKey] = frozenset()
    waiters: tuple[Future[Any], ...] = ()


# --- connection -> registry --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestSent:
    endpoint: str
    generation: int


@dataclass(frozen=True, slots=True)
class RequestRejected:
    """Upbit answered the request of ``generation`` with an error frame.

    ``suspects`` are the keys that were new in that request: the wishes that caused it.
    """

    endpoint: str
    generation: int
    suspects: frozenset[WishKey]
    error: Exception


@dataclass(frozen=True, slots=True)
class EndpointError:
    """An error on an endpoint that no single wish caused (auth, rate limit, server fault)."""

    endpoint: str
    error: Exception


@dataclass(frozen=True, slots=True)
class ComponentDied:
    component_key: str


@dataclass(frozen=True, slots=True)
class MarketsKnown:
    """Upbit's market list arrived (or changed): wishes for codes not in it are refused."""

    codes: frozenset[str]


# --- registry -> component ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SubscriptionFailed:
    sub_id: int | None
    error: Exception


# --- plumbing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ping:
    """Every actor answers ``ask(Ping())`` with True: a start-up barrier and a health check."""


@dataclass(frozen=True, slots=True)
class GetStatus:
    """Ask an actor for its status snapshot (a plain dict of numbers and strings)."""


@dataclass(frozen=True, slots=True)
class ListSubscriptions:
    """Ask a connection to send LIST_SUBSCRIPTIONS; ``done`` gets the reply."""

    done: Future[Any] = field(default_factory=Future)


# --- hub -> connection (start-up) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConnectionOptions:
    """How one endpoint connects; built by the hub from the settings."""

    endpoint: str
    url: str
    fmt: str = "SIMPLE"
    compression: bool = True
    ping_interval_s: float = 20.0
    stale_after_s: float = 15.0
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    stable_after_s: float = 60.0
    messages_per_s: float = 4.0
    messages_per_min: int = 90
    connect_timeout_s: float = 10.0
    auth_backoff_s: float = 30.0
    auth_hint: str = ""  # where the keys come from, e.g. "UPBIT_ACCESS_KEY / UPBIT_SECRET_KEY"


@dataclass(frozen=True, slots=True)
class AttachRegistry:
    """Tells a connection which registry to report to (sent once at start-up)."""

    registry: Any


@dataclass(frozen=True, slots=True)
class AttachFallback:
    """Tells the private connection which fallback actor follows its link state."""

    fallback: Any


@dataclass(frozen=True, slots=True)
class DeliverEvents:
    """Events reconstructed over REST, to be routed like received ones."""

    events: tuple[Any, ...]

