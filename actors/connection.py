"""ConnectionActor: one per endpoint (public, private). Sends the merged request; keeps the
socket alive; notices stale sockets; reports server errors.

The socket itself is owned by a :class:`~upbit_hub.actors.reader.Reader` thread; this actor
handles commands and timing only:

- ``SetRoutes`` / ``SetRequest`` from the registry. The request is sent when the socket is up
  and the per-connection limiter (default 4/s and 90/min, Upbit allows 5 and 100) allows; a
  newer request replaces one still waiting (latest wins). After every reconnect the current
  request is sent again (with snapshots), so subscriptions survive drops.
- Which flags each key gets (snapshot, realtime only, snapshot only) is decided in
  :mod:`~upbit_hub.actors.wire_request`.
- Keepalive: a WebSocket ping every ``ping_interval_s`` and one text ``PING`` per socket, which
  makes Upbit send ``{"status":"UP"}`` every 10 s; the staleness watchdog reconnects a public
  socket with wishes that has been silent for ``stale_after_s`` (and a private one only after it
  has seen status frames, since private streams are silent by nature).
- Credentials: a refused upgrade (HTTP 401/403), missing keys or an ``INVALID_AUTH`` frame is
  permanent until the keys change: it becomes one :class:`AuthError` naming the variables the
  keys came from, every subscribe waiting for this endpoint fails at once with it (and so does
  every later one, until a request goes out again), and the reader holds off
  ``auth_backoff_s`` instead of storming.
- A server error frame closes the socket (Upbit closes it ~150 ms later anyway). If it came
  within a few seconds of a request and names a request problem, the keys that request added
  are reported as the suspects (``RequestRejected``) so the registry removes exactly those
  wishes; anything else is an ``EndpointError`` for every component of the endpoint, and the
  reader's backoff keeps reconnects from storming.

Runs in: the actor thread (all methods).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pykka

from .messages import (
    PRIVATE,
    AttachFallback,
    AttachRegistry,
    ConnectionOptions,
    DeliverEvents,
    EndpointError,
    GetStatus,
    ListSubscriptions,
    Ping,
    RequestEntry,
    RequestRejected,
    RequestSent,
    SetRequest,
    SetRoutes,
    WishKey,
)
from .private_fallback import LinkDown, LinkIdle, LinkResync, LinkUp
from .protocol.errors import (
    AuthError,
    CredentialsError,
    HubError,
    RequestValidationError,
    ServerError,
)
from .protocol.events import ListSubscriptionsEvent, ServerErrorEvent
from .protocol.requests import encode_list_subscriptions, encode_request
from .ratelimit import RateLimiter
from .reader import (
    Connected,
    ConnectFailed,
    ControlFrame,
    Disconnected,
    Reader,
    Session,
    SilenceEnded,
    describe_error,
    is_auth_failure,
)
from .timers import CallLater, tell_later
from .wire_request import build_request

log = logging.getLogger(__name__)

REQUEST_ERRORS = frozenset({"WRONG_FORMAT", "NO_TICKET", "NO_TYPE", "NO_CODES", "INVALID_PARAM"})
_ATTRIBUTION_WINDOW_S = 1.0  # Upbit answers a bad request at once


@dataclass(frozen=True, slots=True)
class _Flush:
    pass


@dataclass(frozen=True, slots=True)
class _Tick:
    pass


class ConnectionActor(pykka.ThreadingActor):
    """Commands and timing for one endpoint's socket."""

    use_daemon_thread = True  # see hub.py: a forgotten hub must not keep the process alive

    def __init__(
        self,
        options: ConnectionOptions,
        *,
        call_later: CallLater,
        connect_limiter: RateLimiter,
        header_factory: Callable[[], list[str]] | None = None,
        connect: Callable[..., Any] | None = None,
        fallback: pykka.ActorRef[Any] | None = None,
        admit: Callable[[Any], bool] | None = None,
        gapfill: Any = None,
    ) -> None:
        super().__init__()
        self.gapfill = gapfill
        self.fallback = fallback
        self.admit = admit
        self.options = options
        self.call_later = call_later
        self.connect_limiter = connect_limiter
        self.header_factory = header_factory
        self._connect_fn = connect
        self.registry: pykka.ActorRef[Any] | None = None
        self.reader: Reader | None = None
        self.session: Session | None = None
        self.desired: tuple[int, tuple[RequestEntry, ...]] | None = None
        self.fresh: set[WishKey] = set()
        self.waiters: list[Future[Any]] = []
        self.limiter = self._new_limiter()
        self.flush_scheduled = False
        self.suspects: dict[int, frozenset[WishKey]] = {}
        self.last_sent_keys: frozenset[WishKey] = frozenset()
        self.list_waiters: list[Future[Any]] = []
        self.requests_sent = 0
        self.last_ping = 0.0
        self.stale_reconnects = 0
        self.notified = ""  # kind of the last error told to the components
        self.auth_error: Exception | None = None  # permanent until a request goes out again
        self._tick_period = max(0.05, min(1.0, options.stale_after_s / 4, options.ping_interval_s))

    # -- lifecycle ---------------------------------------------------------------------------

    def _new_limiter(self) -> RateLimiter:
        o = self.options
        return RateLimiter([(o.messages_per_s, 1.0), (o.messages_per_min, 60.0)])

    def _open(self) -> Any:
        from .wsdeflate import open_websocket

        o = self.options
        header = self.header_factory
        if self._connect_fn is not None:
            return self._connect_fn(o.url, header=header, compression=o.compression)
        return open_websocket(
            o.url, header=header, compression=o.compression, timeout=o.connect_timeout_s
        )

    def on_start(self) -> None:
        o = self.options
        self.reader = Reader(
            name=f"upbit-hub-reader-{o.endpoint}",
            connect=self._open_and_unblock,
            actor_ref=self.actor_ref,
            connect_limiter=self.connect_limiter,
            reconnect_min_s=o.reconnect_min_s,
            reconnect_max_s=o.reconnect_max_s,
            stable_after_s=o.stable_after_s,
            private=o.endpoint == PRIVATE,
        )
        self.reader.registry = self.registry
        self.reader.admit = self.admit
        self.reader.gapfill = self.gapfill
        self.reader.auth_backoff_s = o.auth_backoff_s
        self.reader.start()
        self._schedule_tick()

    def _open_and_unblock(self) -> Any:
        ws = self._open()
        ws.settimeout(None)  # reads block; the watchdog and stop() abort the socket
        return ws

    def on_stop(self) -> None:
        reader = self.reader
        if reader is not None:
            reader.request_stop()
            reader.join(timeout=5)
        if self.gapfill is not None:
            self.gapfill.stop()
        for fut in (*self.waiters, *self.list_waiters):
            if not fut.done():
                fut.set_exception(HubError(f"the hub stopped ({self.options.endpoint})"))

    def _schedule_tick(self) -> None:
        tell_later(self.call_later, self._tick_period, self.actor_ref, _Tick())

    # -- messages ----------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, SetRoutes):
            if self.reader is not None:
                self.reader.routes = message.routes
        elif isinstance(message, SetRequest):
            self._set_request(message)
        elif isinstance(message, _Flush):
            self.flush_scheduled = False
            self._try_send()
        elif isinstance(message, _Tick):
            self._tick()
        elif isinstance(message, Connected):
            self._connected(message.session)
        elif isinstance(message, Disconnected):
            if message.session is self.session:
                self.session = None
                self._link_down(message.reason)
        elif isinstance(message, ConnectFailed):
            self._connect_failed(message.error)
        elif isinstance(message, ControlFrame):
            self._control(message.session, message.value)
        elif isinstance(message, ListSubscriptions):
            self._list_subscriptions(message.done)
        elif isinstance(message, SilenceEnded):
            if self.fallback is not None and self.desired is not None:
                self.fallback.tell(LinkResync())
        elif isinstance(message, DeliverEvents):
            if self.reader is not None:
                for ev in message.events:
                    self.reader.route(ev)
        elif isinstance(message, AttachFallback):
            self.fallback = message.fallback
        elif isinstance(message, AttachRegistry):
            self.registry = message.registry
            if self.reader is not None:
                self.reader.registry = message.registry
        elif isinstance(message, Ping):
            return True
        elif isinstance(message, GetStatus):
            return self._status()
        else:
            log.warning("connection %s: unexpected message %r", self.options.endpoint, message)
        return None

    def _set_request(self, msg: SetRequest) -> None:
        self.desired = (msg.generation, msg.entries)
        self.fresh |= msg.fresh
        if self.auth_error is not None:
            self._fail_waiters(msg.waiters, self.auth_error)
        else:
            self.waiters.extend(msg.waiters)
        reader = self.reader
        if not msg.entries:
            # Upbit has no unsubscribe: with nothing wanted, close the socket.
            self.desired = None
            self.fresh.clear()
            if reader is not None:
                reader.set_want(False)
                reader.abort_session("no subscriptions left")
            self._resolve_waiters(msg.generation)
            if self.fallback is not None:
                self.fallback.tell(LinkIdle())
            return
        if reader is not None:
            reader.set_want(True)
        self._try_send()

    def _connected(self, session: Session) -> None:
        self.session = session
        self.limiter = self._new_limiter()  # Upbit's message budget is per connection
        self.last_ping = time.monotonic()
        try:
            session.ws.send("PING")  # Upbit then sends {"status":"UP"} every 10 s
            self.limiter.record()
        except Exception as exc:
            session.abort(f"send failed: {exc}")
            return
        self._try_send()

    def _connect_failed(self, error: Exception) -> None:
        if self.desired is None:
            return
        auth = is_auth_failure(error)
        if auth and not isinstance(error, CredentialsError):
            error = self._auth_error("INVALID_AUTH", f"upgrade refused: {describe_error(error)}")
        elif not isinstance(error, CredentialsError):
            o = self.options
            error = HubError(f"{o.endpoint} connection to {o.url}: {describe_error(error)}")
        if auth:
            self._permanent(error)
        self._notify(error)
        self._link_down(f"connect failed: {describe_error(error)}", auth=auth)

    def _auth_error(self, name: str, detail: str) -> AuthError:
        o = self.options
        source = f" from {o.auth_hint}" if o.auth_hint else ""
        return AuthError(401, name, f"Upbit rejected the API keys{source} ({detail}); check the "
                         "key pair, its permissions and its IP allow-list", o.url)  # fmt: skip

    def _permanent(self, error: Exception) -> None:
        """A cause retrying cannot cure: every subscribe waiting now (or later, until a request
        goes out again) fails at once with it instead of timing out."""
        self.auth_error = error
        waiters, self.waiters = self.waiters, []
        self._fail_waiters(waiters, error)

    @staticmethod
    def _fail_waiters(waiters: Any, error: Exception) -> None:
        for fut in waiters:
            if not fut.done():
                fut.set_exception(error)

    def _notify(self, error: Exception) -> None:
        """Tell the endpoint's components about an error, once per kind until things work."""
        kind = f"{type(error).__name__}:{getattr(error, 'name', '')}"
        if kind == self.notified or self.registry is None:
            return
        self.notified = kind
        self.registry.tell(EndpointError(self.options.endpoint, error))

    def _link_down(self, reason: str, auth: bool = False) -> None:
        if self.fallback is None or self.desired is None:
            return
        failures = self.reader.failures if self.reader is not None else 0
        self.fallback.tell(LinkDown(time.monotonic(), reason, failures, auth))

    # -- sending -----------------------------------------------------------------------------

    def _try_send(self) -> None:
        session = self.session
        if session is None or self.desired is None:
            return
        generation, entries = self.desired
        if generation == session.sent_generation and not self.fresh:
            self._resolve_waiters(generation)
            return
        delay = self.limiter.delay()
        if delay > 0:
            self._schedule_flush(delay)
            return
        try:
            payload = self._encode(entries, session)
        except RequestValidationError as exc:
            # a wish that slipped past the proxy's checks must not kill the connection: treat
            # it like Upbit's rejection of the keys it added (never sent, so nothing to undo)
            log.error("connection %s: merged request invalid: %s", self.options.endpoint, exc)
            suspects = frozenset(e.key for e in entries) - self.last_sent_keys
            if self.registry is not None:
                self.registry.tell(RequestRejected(self.options.endpoint, generation,
                                                   suspects or frozenset(self.fresh), exc))
            self.desired = None
            self.fresh.clear()
            return
        try:
            session.ws.send(payload)
        except Exception as exc:
            session.abort(f"send failed: {exc}")
            return
        now = time.monotonic()
        self.limiter.record()
        self.requests_sent += 1
        keys = frozenset(e.key for e in entries)
        if generation not in self.suspects:
            self.suspects[generation] = keys - self.last_sent_keys
            for old in [g for g in self.suspects if g < generation - 8]:
                del self.suspects[old]
        self.last_sent_keys = keys
        if self.fallback is not None and session.sent_generation < 0:
            self.fallback.tell(LinkUp(now))  # the stream is live again from here on
        session.sent_generation = generation
        session.sent_keys = keys
        session.last_send_at = now
        self.fresh.clear()
        self.notified = ""
        self.auth_error = None
        self._resolve_waiters(generation)
        if self.registry is not None:
            self.registry.tell(RequestSent(self.options.endpoint, generation))

    def _schedule_flush(self, delay: float) -> None:
        if self.flush_scheduled:
            return
        self.flush_scheduled = True
        tell_later(self.call_later, delay, self.actor_ref, _Flush())

    def _encode(self, entries: tuple[RequestEntry, ...], session: Session) -> bytes:
        types = build_request(
            entries,
            on_socket=session.sent_keys,
            fresh=self.fresh,
            private=self.options.endpoint == PRIVATE,
        )
        return encode_request(types, fmt=self.options.fmt)

    def _resolve_waiters(self, generation: int) -> None:
        waiters, self.waiters = self.waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(generation)

    # -- keepalive and watchdog --------------------------------------------------------------

    def _tick(self) -> None:
        self._schedule_tick()
        session = self.session
        if session is None:
            return
        now = time.monotonic()
        o = self.options
        if now - self.last_ping >= o.ping_interval_s:
            self.last_ping = now
            try:
                session.ws.ping()
            except Exception as exc:
                session.abort(f"ping failed: {exc}")
                return
        if self.desired is None:
            return
        silent = now - session.last_frame
        if silent < o.stale_after_s:
            return
        if o.endpoint == PRIVATE and not session.last_status:
            return  # private streams are silent by nature; only status frames prove life
        self.stale_reconnects += 1
        log.warning(
            "connection %s: no frame for %.1fs; reconnecting (stale socket)", o.endpoint, silent
        )
        session.abort(f"stale for {silent:.1f}s")

    # -- control frames --------------------------------------------------------------------------

    def _control(self, session: Session, value: Any) -> None:
        if isinstance(value, ListSubscriptionsEvent):
            if self.list_waiters:
                fut = self.list_waiters.pop(0)
                if not fut.done():
                    fut.set_result(value)
            return
        if not isinstance(value, ServerErrorEvent):
            return
        o = self.options
        name = value.name or ""
        if name == "INVALID_AUTH":
            error: Exception = self._auth_error(name, value.message or "token refused")
            self._permanent(error)
        else:
            error = ServerError(name, value.message or "", o.endpoint)
        log.warning("connection %s: server error %s: %s", o.endpoint, name, value.message)
        now = time.monotonic()
        recent = session.last_send_at and now - session.last_send_at <= _ATTRIBUTION_WINDOW_S
        suspects = self.suspects.get(session.sent_generation, frozenset())
        if name in REQUEST_ERRORS and recent and suspects and self.registry is not None:
            self.registry.tell(
                RequestRejected(o.endpoint, session.sent_generation, suspects, error)
            )
            # Upbit keeps the earlier set off this socket now; the reconnect re-sends the rest.
        else:
            self._notify(error)
        if name == "INVALID_AUTH" and self.reader is not None:
            self.reader.hold_until = now + o.auth_backoff_s
            self._link_down("INVALID_AUTH", auth=True)
        session.abort(f"server error {name}")

    def _list_subscriptions(self, done: Future[Any]) -> None:
        session = self.session
        if session is None:
            done.set_exception(HubError(f"{self.options.endpoint} connection is not up"))
            return
        if not self.limiter.try_acquire():
            tell_later(self.call_later, self.limiter.delay(), self.actor_ref,
                       ListSubscriptions(done))
            return
        try:
            session.ws.send(encode_list_subscriptions(fmt=self.options.fmt))
        except Exception as exc:
            done.set_exception(exc)
            return
        self.list_waiters.append(done)

    def _status(self) -> dict[str, Any]:
        reader = self.reader
        stats = reader.stats if reader is not None else None
        session = self.session
        ws = session.ws if session is not None else None
        return {
            "endpoint": self.options.endpoint,
            "url": self.options.url,
            "state": stats.state if stats else "stopped",
            "sessions": stats.sessions if stats else 0,
            "connect_failures": stats.connect_failures if stats else 0,
            "frames": stats.frames if stats else 0,
            "events": stats.events if stats else 0,
            "events_by_type": dict(stats.events_by_type) if stats else {},
            "bad_frames": stats.bad_frames if stats else 0,
            "unknown": stats.unknown if stats else 0,
            "server_errors": stats.server_errors if stats else 0,
            "last_error": stats.last_error if stats else "",
            "trying_for_s": (time.monotonic() - reader.trying_since
                             if reader is not None and reader.trying_since is not None else 0.0),
            "auth_error": str(self.auth_error) if self.auth_error is not None else "",
            "requests_sent": self.requests_sent,
            "stale_reconnects": self.stale_reconnects,
            "compression": getattr(ws, "extension", None) is not None,
            "wire_bytes": getattr(ws, "wire_bytes_received", 0),
            "payload_bytes": getattr(ws, "payload_bytes_received", 0),
            "wire": sorted(f"{k.type}:{k.code}" for k in (session.sent_keys if session else ())),
            "gapfill": self.gapfill.stats() if self.gapfill is not None else {},
        }
