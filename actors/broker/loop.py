"""LoopThread: one daemon thread running an asyncio event loop for nats-py.

Synchronous actors and components never touch asyncio: they hand coroutines or callbacks to
this thread with :meth:`LoopThread.submit` / :meth:`LoopThread.call_soon` and, at the edges
only, wait on the returned :class:`concurrent.futures.Future` with a timeout.

Runs in: ``start``/``submit``/``call_soon``/``stop`` in any thread; coroutines in the loop
thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class LoopThread:
    """An asyncio loop on its own daemon thread (named ``name``)."""

    def __init__(self, name: str = "upbit-hub-nats") -> None:
        self.name = name
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()

    def start(self) -> LoopThread:
        """Start the thread; returns once the loop runs. Runs in: any thread."""
        if not self._thread.is_alive():
            self._thread.start()
            self._started.wait(5.0)
        return self

    @property
    def ident(self) -> int | None:
        """The loop thread's ident (for "am I on the loop?" checks)."""
        return self._thread.ident

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        try:
            self.loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    self.loop.run_until_complete(
                        asyncio.gather(*pending, return_exceptions=True))
            except Exception:  # pragma: no cover - best effort at exit
                log.debug("cancelling tasks at loop stop failed", exc_info=True)
            self.loop.close()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the loop; a future for its result. Runs in: any thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """``submit(coro)`` and wait at most ``timeout`` s for the result. Runs in: any thread
        but the loop thread."""
        fut = self.submit(coro)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` in the loop thread soon. Runs in: any thread."""
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # loop closed: the bridge is stopping
            pass

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the loop (pending tasks are cancelled) and join the thread. Idempotent.
        Runs in: any thread but the loop thread."""
        if self._thread.is_alive():
            try:
                self.loop.call_soon_threadsafe(self.loop.stop)
            except RuntimeError:
                pass
            self._thread.join(timeout)
