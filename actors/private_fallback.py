"""PrivateFallbackActor: keeps order and balance events flowing when the private stream cannot.

The private ConnectionActor reports the link (``LinkUp`` / ``LinkDown`` / ``LinkIdle``).

- While the link is down longer than ``[private] rest_fallback_after_s`` (at once when Upbit
  rejected the keys, or after 3 failed connects in a row), it polls ``/v1/orders/open``,
  ``/v1/orders/closed`` (and ``/v1/order`` for orders with unseen fills) and ``/v1/accounts``
  every ``poll_interval_s`` (default 1 s: about 3 requests/s, a tenth of Upbit's 30/s
  ``default`` group) and emits the same MyOrderEvent / MyAssetEvent for every change seen.
- When the link comes back, polling stops and one reconciliation pass runs, so that no order
  state change that happened during the gap is missed; if that pass fails (a 429 window, a
  network error), it is tried again (1 s, 2 s, 4 s ... at most 10 s apart) until one succeeds
  or the link drops again (the next one then covers the same gap); the shared
  :class:`~upbit_hub.actors.private_state.PrivateStateTracker` makes sure nothing is delivered
  twice (live events already delivered over REST are dropped by the reader).
- The first time the link is up, the tracker is seeded from REST silently (nothing emitted).

REST errors are logged and retried at the next poll (while live: by the retry above); 429/418
back off for 10 s while polling; 401 stops polling until the link reports again (the
components get the error from the connection). The first poll runs before "polling" is logged,
so with keys Upbit refuses the log says once that REST refused them too, and never that it is
polling.

Runs in: the fallback actor's thread (blocking REST calls happen here, off every hot path).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from .messages import GetStatus, Ping
from .private_state import PrivateStateTracker
from .protocol.errors import AuthError, RateLimitedError, RestError, UpbitHubError
from .timers import CallLater, tell_later

log = logging.getLogger(__name__)

_CLOSED_MARGIN_MS = 60_000


@dataclass(frozen=True, slots=True)
class LinkUp:
    at: float


@dataclass(frozen=True, slots=True)
class LinkDown:
    at: float
    reason: str
    failures: int = 0
    auth: bool = False


@dataclass(frozen=True, slots=True)
class LinkIdle:
    pass


@dataclass(frozen=True, slots=True)
class LinkResync:
    """The link stayed up but went silent for a while: reconcile once."""


@dataclass(frozen=True, slots=True)
class _Check:
    epoch: int


@dataclass(frozen=True, slots=True)
class _Poll:
    epoch: int


@dataclass(frozen=True, slots=True)
class _Retry:
    """Run the failed seeding/reconciliation pass again (only the latest one counts)."""

    epoch: int
    token: int


_RETRY_MAX_S = 10.0


class PrivateFallbackActor(pykka.ThreadingActor):
    """REST polling while the private stream is down; reconciliation when it returns."""

    use_daemon_thread = True

    def __init__(
        self,
        rest: Any,
        tracker: PrivateStateTracker,
        deliver: Callable[[Any], None],
        *,
        fallback_after_s: float,
        poll_interval_s: float,
        call_later: CallLater,
    ) -> None:
        super().__init__()
        self.rest = rest
        self.tracker = tracker
        self.deliver = deliver
        self.fallback_after_s = fallback_after_s
        self.poll_interval_s = poll_interval_s
        self.call_later = call_later
        self.mode = "idle"  # idle | live | waiting | polling
        self.epoch = 0  # bumps on every mode change; stale timers see a different epoch
        self.down_since: float | None = None
        self.seed_ms: int | None = None
        self.gap_start_ms: int | None = None  # wall time the link went down (closed-order window)
        self.polls = 0
        self.rest_requests = 0
        self.started_polling_at: float | None = None
        self.detect_delays: list[float] = []
        self.last_error = ""
        self.auth_refused = False  # logged once per episode; cleared when the link is up
        self.retry_token = 0  # bumps on every pass; a scheduled _Retry must carry the latest
        self.retries = 0  # failed passes in a row while live (backoff)
        self.reconcile_retries = 0  # total, for the status

    # -- scheduling ----------------------------------------------------------------------------

    def _later(self, delay: float, message: Any) -> None:
        tell_later(self.call_later, delay, self.actor_ref, message)

    def _set_mode(self, mode: str) -> None:
        if mode != self.mode:
            log.info("private fallback: %s -> %s", self.mode, mode)
        self.mode = mode
        self.epoch += 1

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, LinkDown):
            self._down(message)
        elif isinstance(message, LinkUp):
            self._up()
        elif isinstance(message, LinkResync):
            if self.mode == "live" and self.tracker.seeded:
                if self.gap_start_ms is None:  # silent but never down: look back a little
                    self.gap_start_ms = int(time.time() * 1000) - 30_000
                self._poll()
        elif isinstance(message, LinkIdle):
            self._set_mode("idle")
            self.down_since = None
        elif isinstance(message, _Check):
            if message.epoch == self.epoch and self.mode == "waiting":
                self._start_polling()
        elif isinstance(message, _Poll):
            if message.epoch == self.epoch and self.mode == "polling":
                self._poll()
                self._later(self.poll_interval_s, _Poll(self.epoch))
        elif isinstance(message, _Retry):
            if (message.epoch == self.epoch and message.token == self.retry_token
                    and self.mode == "live"):
                self.reconcile_retries += 1
                self._poll()
        elif isinstance(message, Ping):
            return True
        elif isinstance(message, GetStatus):
            return {
                "mode": self.mode,
                "polls": self.polls,
                "rest_requests": self.rest_requests,
                "backfilled": self.tracker.backfilled,
                "duplicates_dropped": self.tracker.duplicates,
                "detect_delays_s": list(self.detect_delays),
                "last_error": self.last_error,
                "reconcile_retries": self.reconcile_retries,
            }
        return None

    def _down(self, msg: LinkDown) -> None:
        if self.gap_start_ms is None:
            self.gap_start_ms = int(time.time() * 1000)
        if self.mode == "polling":
            return
        if self.down_since is None:
            self.down_since = msg.at
        urgent = msg.auth or msg.failures >= 3
        if self.mode != "waiting" or urgent:
            self._set_mode("waiting")
            delay = 0.0 if urgent else max(0.0, self.down_since + self.fallback_after_s
                                           - time.monotonic())
            self._later(delay, _Check(self.epoch))

    def _start_polling(self) -> None:
        self._set_mode("polling")
        now = time.monotonic()
        self.started_polling_at = now
        if self.down_since is not None:
            self.detect_delays.append(now - self.down_since)
        self._poll()  # first, so the log says what happens: polling, or why not
        if self.mode != "polling":
            return
        log.warning(
            "private stream down for %.1fs: polling REST every %.1fs until it is back",
            now - (self.down_since or now),
            self.poll_interval_s,
        )
        self._later(self.poll_interval_s, _Poll(self.epoch))

    def _up(self) -> None:
        self.auth_refused = False
        self.retries = 0
        was = self.mode
        self._set_mode("live")
        self.down_since = None
        if not self.tracker.seeded:
            self._seed()
        elif was in ("waiting", "polling"):
            self._poll()  # reconcile the gap; the tracker drops what the stream also sends

    # -- REST ------------------------------------------------------------------------------------

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.rest_requests += 1
        return fn(*args, **kwargs)

    def _seed(self) -> None:
        self.retry_token += 1
        try:
            orders = self._open_orders()
            accounts = self._call(self.rest.get_accounts)
        except UpbitHubError as exc:
            self._failed(exc)
            return
        self.retries = 0
        self.seed_ms = int(time.time() * 1000)
        self.tracker.seed(orders, accounts)

    def _open_orders(self) -> list[Any]:
        orders: list[Any] = []
        for page in range(1, 11):
            batch = self._call(self.rest.get_open_orders, page=page, limit=100)
            orders.extend(batch)
            if len(batch) < 100:
                break
        return orders

    def _poll(self) -> None:
        self.polls += 1
        if not self.tracker.seeded:
            self._seed()  # nothing to compare with yet: remember, emit nothing
            return
        self.retry_token += 1  # this pass supersedes any retry scheduled before it
        try:
            orders = self._open_orders()
            since = self.gap_start_ms if self.gap_start_ms is not None else self.seed_ms
            start = max(since or 0, self.seed_ms or 0) - _CLOSED_MARGIN_MS
            orders += self._call(self.rest.get_closed_orders, start_ms=max(0, start))
            listed = {o.uuid for o in orders}
            # orders placed before the window that closed unseen are in neither list
            for uuid in self.tracker.unfinished():
                if uuid not in listed:
                    try:
                        orders.append(self._call(self.rest.get_order, uuid))
                    except RestError as exc:
                        if exc.status != 404:
                            raise
                        self.tracker.forget(uuid)
            detailed = [
                self._call(self.rest.get_order, o.uuid) if self.tracker.missing_fills(o) else o
                for o in sorted(orders, key=lambda o: o.created_at or "")
            ]
            accounts = self._call(self.rest.get_accounts)
        except UpbitHubError as exc:
            self._failed(exc)
            return
        self.retries = 0
        if self.mode == "live":
            self.gap_start_ms = None  # the gap is reconciled; the stream carries on from here
        events = self.tracker.reconcile_orders(detailed)
        asset = self.tracker.reconcile_accounts(accounts)
        if asset is not None:
            events.append(asset)
        for ev in events:
            self.deliver(ev)
        if events:
            log.info("private fallback: delivered %d event(s) reconstructed over REST", len(events))

    def _failed(self, exc: UpbitHubError) -> None:
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.mode == "live" and not isinstance(exc, AuthError):
            # The stream is up again but the pass that covers the gap (or seeds) failed: no
            # later poll would run it, so what changed during the gap would never be told.
            delay = min(_RETRY_MAX_S, max(1.0, self.poll_interval_s) * 2**self.retries)
            self.retries += 1
            log.warning("private fallback: reconciling over REST failed (%s); again in %.1fs",
                        exc, delay)  # fmt: skip
            self._later(delay, _Retry(self.epoch, self.retry_token))
        elif isinstance(exc, RateLimitedError):
            log.warning("private fallback: REST rate-limited (%s); pausing 10 s", exc)
            if self.mode == "polling":
                self._set_mode("waiting")
                self._later(10.0, _Check(self.epoch))
        elif isinstance(exc, AuthError):
            if not self.auth_refused:
                self.auth_refused = True
                log.error("private fallback: REST refused the same API keys (%s); no REST "
                          "polling until the private stream is back", exc)  # fmt: skip
            if self.mode == "polling":
                self._set_mode("waiting")
        else:
            log.warning("private fallback: REST call failed (%s); retrying", exc)
