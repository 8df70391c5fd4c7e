"""The reader thread of a connection: connect, receive, inflate, decode, route; reconnect.

One plain thread per ConnectionActor blocks in ``recv`` so the actor's inbox never starves.
Decoded events go straight to the component inboxes named by the routing table the registry
pushed (one hop from socket to component); control values (server errors, LIST_SUBSCRIPTIONS
replies) are told to the ConnectionActor.

Reconnect: the first attempt after a session that lived ``stable_after_s`` is immediate; then
capped exponential backoff with jitter (``reconnect_min_s * 2**n``, capped at
``reconnect_max_s``, times a random factor in [0.5, 1]). ``n`` counts two kinds of trouble:
failed connects since the last session that opened (forgotten once one opens: the refusal is
over) and sessions in a row that ended before ``stable_after_s`` (forgotten only by a stable
one, so a server that accepts and drops at once still meets a growing backoff). Connects go
through the process-wide connect limiter, which paces them ``1/connects_per_s`` apart (so even
an immediate retry cannot exceed Upbit's connect rate, and a retry loop never spends a second's
budget in a burst and then sits idle while the server is back); never gives up. The thread
connects only while the endpoint has wishes (``want``).

Runs in: the reader thread, except ``request_stop``/``kick``/``abort_session`` (any thread).
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

from .inbox import ComponentInbox
from .messages import ComponentDied
from .protocol.decode import decode
from .protocol.errors import CredentialsError, FrameDecodeError
from .protocol.events import (
    ListSubscriptionsEvent,
    ServerErrorEvent,
    StatusEvent,
    UnknownEvent,
)
from .ratelimit import RateLimiter

log = logging.getLogger(__name__)

_session_ids = itertools.count(1)
_WAKE_EVERY = 256  # events: under a continuous flood, wake components at least this often
_SILENCE_MIN_S = 0.25  # a socket silent this long (and 20x its usual gap) may have lost data


@dataclass(eq=False)
class Session:
    """One live socket. Mutable bookkeeping shared by the reader and the actor."""

    ws: Any
    started: float
    id: int = field(default_factory=lambda: next(_session_ids))
    last_frame: float = 0.0
    last_status: float = 0.0
    sent_generation: int = -1
    sent_keys: frozenset[Any] = frozenset()
    last_send_at: float = 0.0
    closed_reason: str = ""
    interval: float = 1.0  # moving average of the time between frames
    frames: int = 0

    def abort(self, reason: str) -> None:
        """Wake the reader out of ``recv`` and drop the socket. Runs in: any thread."""
        if not self.closed_reason:
            self.closed_reason = reason
        try:
            self.ws.abort()
        except Exception:  # best effort: the socket may already be gone
            log.debug("abort failed", exc_info=True)


@dataclass
class ReaderStats:
    """Counters of one connection (plain ints: written by the reader, read by anyone)."""

    state: str = "idle"
    sessions: int = 0
    connect_failures: int = 0
    frames: int = 0
    events: int = 0
    bad_frames: int = 0
    unknown: int = 0
    server_errors: int = 0
    dead_deliveries: int = 0
    last_error: str = ""
    events_by_type: dict[str, int] = field(default_factory=dict)
    wire_bytes: int = 0
    payload_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Connected:
    session: Session


@dataclass(frozen=True, slots=True)
class Disconnected:
    session: Session
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    error: Exception


@dataclass(frozen=True, slots=True)
class SilenceEnded:
    session: Session
    silence: float


@dataclass(frozen=True, slots=True)
class ControlFrame:
    session: Session
    value: Any


class Reader(threading.Thread):
    """Owns the socket lifecycle of one endpoint."""

    def __init__(
        self,
        *,
        name: str,
        connect: Callable[[], Any],
        actor_ref: pykka.ActorRef[Any],
        connect_limiter: RateLimiter,
        reconnect_min_s: float,
        reconnect_max_s: float,
        stable_after_s: float,
        private: bool,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._connect = connect
        self._actor = actor_ref
        self._limiter = connect_limiter
        self._min = reconnect_min_s
        self._max = reconnect_max_s
        self._stable = stable_after_s
        self._private = private
        self.routes: dict[tuple[str, str | None], tuple[ComponentInbox, ...]] = {}
        # private streams: drops events already delivered (see private_state.py)
        self.admit: Callable[[Any], bool] | None = None
        # public streams: trade gap recovery after reconnects (see gapfill.py)
        self.gapfill: Any = None
        self.registry: pykka.ActorRef[Any] | None = None
        self.session: Session | None = None
        self.stats = ReaderStats()
        self.want = False
        self.hold_until = 0.0  # no reconnect before this monotonic time (auth failures)
        self.auth_backoff_s = 30.0
        self._stopping = threading.Event()
        self._signal = threading.Event()
        self._reported_dead: set[str] = set()
        self._failed_connects = 0  # since the last session that opened
        self._short_sessions = 0  # in a row, each shorter than stable_after_s
        self.trying_since: float | None = None  # monotonic: wanted but no session since then

    @property
    def failures(self) -> int:
        """The backoff exponent's count: failed connects since a session last opened plus
        short sessions in a row (see the module docstring)."""
        return self._failed_connects + self._short_sessions

    # -- control (any thread) ----------------------------------------------------------------

    def set_want(self, want: bool) -> None:
        self.want = want
        self._signal.set()

    def request_stop(self) -> None:
        self._stopping.set()
        self._signal.set()
        session = self.session
        if session is not None:
            session.abort("hub stopping")

    def abort_session(self, reason: str) -> None:
        session = self.session
        if session is not None:
            session.abort(reason)

    # -- the thread --------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # never die silently: the endpoint would be dead forever
            log.exception("%s: reader thread crashed", self.name)
            self.stats.state = "crashed"

    def _wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` unless stopping; True if stopping."""
        return self._stopping.wait(max(0.0, seconds))

    def _backoff(self) -> float:
        """0 for the first retry after a stable session (a healthy link that just dropped is
        worth one immediate attempt), then min * 2**(n-2) capped at max, times [0.5, 1]."""
        failures = self.failures
        if failures <= 1:
            return 0.0
        base = min(self._max, self._min * (2 ** (failures - 2)))
        return base * random.uniform(0.5, 1.0)

    def _run(self) -> None:
        while not self._stopping.is_set():
            if not self.want:
                self.stats.state = "idle"
                self.trying_since = None
                self._signal.wait()
                self._signal.clear()
                continue
            hold = self.hold_until - time.monotonic()
            if hold > 0:
                self.stats.state = "backing-off"
                if self._wait(hold):
                    return
                continue
            self.stats.state = "connecting"
            if self.trying_since is None:
                self.trying_since = time.monotonic()
            if not self._limiter.acquire(self._stopping):
                return
            if not self.want:
                continue
            try:
                ws = self._connect()
            except Exception as exc:
                self._failed(exc, fatal=is_auth_failure(exc))
                continue
            if self._stopping.is_set():
                ws.abort()
                return
            self._failed_connects = 0  # the server accepts again
            self.trying_since = None
            now = time.monotonic()
            session = Session(ws=ws, started=now, last_frame=now)
            self.session = session
            self.stats.sessions += 1
            self.stats.state = "connected"
            if self.gapfill is not None:
                trade_codes = [c for (t, c) in self.routes if t == "trade" and c]
                self.gapfill.session_started(trade_codes, self.route)
            self._tell(Connected(session))
            reason = self._receive(session)
            self.session = None
            try:
                ws.shutdown()
            except Exception:
                log.debug("shutdown failed", exc_info=True)
            lived = time.monotonic() - session.started
            self.stats.state = "disconnected"
            self._tell(Disconnected(session, session.closed_reason or reason))
            if self._stopping.is_set():
                return
            if lived >= self._stable:
                self._short_sessions = 0
            self._short_sessions += 1
            delay = self._backoff() if self.want else 0.0
            log.info(
                "%s: disconnected after %.1fs (%s); reconnecting in %.2fs",
                self.name,
                lived,
                session.closed_reason or reason,
                delay,
            )
            if delay and self._wait(delay):
                return

    def _failed(self, exc: Exception, fatal: bool = False) -> None:
        self._failed_connects += 1
        self.stats.connect_failures += 1
        self.stats.last_error = describe_error(exc)
        self.stats.state = "backing-off"
        self._tell(ConnectFailed(exc))
        delay = max(self._max, self.auth_backoff_s) if fatal else self._backoff()
        log.warning(
            "%s: connect failed (%s); retrying in %.2fs", self.name, self.stats.last_error, delay
        )
        self._wait(delay)

    def _tell(self, message: Any) -> None:
        try:
            self._actor.tell(message)
        except pykka.ActorDeadError:
            self._stopping.set()

    def _receive(self, session: Session) -> str:
        ws = session.ws
        stats = self.stats
        by_type = stats.events_by_type
        private = self._private
        monotonic = time.monotonic
        to_wake: set[ComponentInbox] = set()
        since_wake = 0
        gapfill = self.gapfill
        while True:
            # Wake the components once per socket read, not once per event: when nothing is
            # buffered the next recv() blocks, so everything decoded so far is handed over now.
            if to_wake and (since_wake >= _WAKE_EVERY or not getattr(ws, "buffered_bytes", 0)):
                self._wake(to_wake)
                since_wake = 0
            try:
                frame = ws.recv()
            except Exception as exc:  # closed, reset, protocol error: reconnect in every case
                # Hand over what this socket delivered before it closed. An inbox whose put()
                # asked for a wake-up stays "scheduled" until it is woken and drained: skip the
                # wake and every later put() says "already scheduled", so that component never
                # hears anything again (a socket closing with frames still buffered did this).
                self._wake(to_wake)
                return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            now = monotonic()
            silence = now - session.last_frame
            session.last_frame = now
            stats.frames += 1
            if private and not session.frames:
                # first frame on a new private socket: reconcile again now, in case the new
                # socket was itself silent for a while after the request went out
                self._tell(SilenceEnded(session, silence))
            elif silence > _SILENCE_MIN_S:
                self._silence_ended(session, silence)
            session.frames += 1
            session.interval += 0.05 * (min(silence, 60.0) - session.interval)
            try:
                events = decode(frame)
            except FrameDecodeError as exc:
                stats.bad_frames += 1
                log.warning("%s: dropped a bad frame: %s", self.name, exc)
                continue
            routes = self.routes
            admit = self.admit
            for ev in events:
                t = getattr(ev, "type", None)
                if t == "trade" and gapfill is not None and not gapfill.admit(ev):
                    continue  # held until the missed trades are delivered, or a duplicate
                targets = routes.get((t, getattr(ev, "code", None))) if t else None
                if private and t in ("myOrder", "myAsset"):
                    if admit is not None and not admit(ev):
                        continue
                    wildcard = routes.get((t, None)) if t == "myOrder" else None
                    if wildcard:
                        targets = (*(targets or ()), *wildcard)
                if targets:
                    stats.events += 1
                    by_type[t] = by_type.get(t, 0) + 1
                    since_wake += 1
                    for inbox in targets:
                        if inbox.put(ev):
                            to_wake.add(inbox)
                elif isinstance(ev, StatusEvent):
                    session.last_status = session.last_frame
                elif isinstance(ev, (ServerErrorEvent, ListSubscriptionsEvent)):
                    if isinstance(ev, ServerErrorEvent):
                        stats.server_errors += 1
                    self._tell(ControlFrame(session, ev))
                elif isinstance(ev, UnknownEvent):
                    stats.unknown += 1

    def _wake(self, inboxes: set[ComponentInbox]) -> None:
        for inbox in inboxes:
            if not inbox.wake():
                self._dead(inbox)
        inboxes.clear()

    def _silence_ended(self, session: Session, silence: float) -> None:
        """A socket went silent and came back without dropping: whatever the server did not
        send meanwhile is lost as surely as in a drop, so look for what was missed (trades
        over REST on the public socket; a REST reconciliation on the private one)."""
        # private sockets carry status frames on a steady beat (Upbit: every 10 s after PING),
        # so missing about two beats means frames were lost; busy public sockets get 20 gaps
        if silence < (1.8 if self._private else 20.0) * session.interval:
            return  # a quiet stream: silence is normal
        log.warning("%s: %.1fs of silence; checking over REST for what was missed",
                    self.name, silence)
        if self._private:
            self._tell(SilenceEnded(session, silence))
        elif self.gapfill is not None:
            trade_codes = [c for (t, c) in self.routes if t == "trade" and c]
            self.gapfill.session_started(trade_codes, self.route, active_within=60.0)

    def route(self, ev: Any) -> None:
        """Deliver one event built elsewhere (REST reconciliation) like a received one.

        Runs in: the caller's thread (inbox puts are thread-safe).
        """
        routes = self.routes
        targets = routes.get((ev.type, getattr(ev, "code", None)), ())
        if ev.type == "myOrder":
            targets = (*targets, *routes.get(("myOrder", None), ()))
        for inbox in targets:
            if inbox.put(ev) and not inbox.wake():
                self._dead(inbox)

    def _dead(self, inbox: ComponentInbox) -> None:
        self.stats.dead_deliveries += 1
        key = inbox.component_key
        if key in self._reported_dead:
            return
        self._reported_dead.add(key)
        registry = self.registry
        if registry is not None:
            try:
                registry.tell(ComponentDied(key))
            except pykka.ActorDeadError:
                pass


def is_auth_failure(error: BaseException) -> bool:
    """Missing keys or a refused upgrade (HTTP 401/403): retrying fast cannot help."""
    status = getattr(error, "status_code", None)
    return isinstance(error, CredentialsError) or status in (401, 403)


def describe_error(exc: BaseException) -> str:
    """A short one-line description (websocket-client puts whole header dicts in messages)."""
    status = getattr(exc, "status_code", None)
    if status is not None:
        return f"HTTP {status} on the upgrade"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__
