"""One timer thread per hub: ``call_later(delay, fn)``.

Actors must not sleep, so anything that has to happen later (a coalesced flush, a rate-limited
send, keepalive pings, the staleness watchdog) is scheduled here; ``fn`` should be cheap, in
practice a pykka ``tell``.

Runs in: ``call_later``/``cancel``/``stop`` from any thread; callbacks in the timer thread.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

log = logging.getLogger(__name__)

CallLater = Callable[[float, Callable[[], object]], object]


def tell_later(call_later: CallLater, delay: float, ref: Any, message: Any) -> None:
    """Schedule ``ref.tell(message)`` after ``delay`` s; an actor that died meanwhile is fine.

    The way an actor sends itself a message later (actors never sleep). Runs in: any thread;
    the tell happens in the timer thread.
    """

    def tell() -> None:
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            pass

    call_later(delay, tell)


class TimerHandle:
    """A scheduled call; ``cancel()`` prevents it if it has not run yet."""

    __slots__ = ("cancelled",)

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TimerService:
    """A heap of deadlines served by one daemon thread."""

    def __init__(self, name: str = "upbit-hub-timers") -> None:
        self._heap: list[tuple[float, int, TimerHandle, Callable[[], object]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay: float, fn: Callable[[], object]) -> TimerHandle:
        """Run ``fn`` in the timer thread after ``delay`` seconds."""
        handle = TimerHandle()
        with self._cond:
            if self._stopped:
                handle.cancelled = True
                return handle
            heapq.heappush(
                self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), handle, fn)
            )
            self._cond.notify()
        return handle

    def every(self, interval: float, fn: Callable[[], object]) -> TimerHandle:
        """Run ``fn`` every ``interval`` seconds until the returned handle is cancelled."""
        handle = TimerHandle()

        def tick() -> None:
            if handle.cancelled:
                return
            fn()
            if not handle.cancelled:
                inner = self.call_later(interval, tick)
                if inner.cancelled:  # service stopped
                    handle.cancelled = True

        self.call_later(interval, tick)
        return handle

    def stop(self) -> None:
        """Stop the thread; pending calls are dropped."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    due = self._heap[0][0] - time.monotonic()
                    if due <= 0:
                        break
                    self._cond.wait(due)
                if self._stopped:
                    return
                _, _, handle, fn = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            try:
                fn()
            except Exception:
                log.exception("timer callback failed")
