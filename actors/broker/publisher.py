"""Publisher: the bridge's bounded spill buffer and its hybrid, batched JetStream publishing.

``offer(ev)`` is called in a connection's reader thread (the bridge taps its inbox, so it
never sits behind the inbox's bounded trade queue, which drops when full, nor behind ticker
conflation): it numbers the event per (type, market), appends it to the spill buffer and
wakes the loop once per burst. It never blocks and never touches the network.

The pump (loop thread) waits ``batch_wait_s`` after a wake-up (0 = no wait), drains the
buffer, publishes the burst with ``Nats-Msg-Id`` headers, then awaits the ack of the LAST
one under a deadline (``publish_timeout_s``). Acks come to one reply inbox of its own (a
wildcard subscription, each ack parsed just enough: error, no responders, duplicate), which
costs about a third less CPU than nats-py's ``publish_async`` (a future, a NUID and a full
JSON parse per message, and futures that never time out by themselves). What is not
acknowledged by then (the server died, the link dropped) goes back to the front of the
buffer, in order, and is published again once the client has reconnected: the server de-
duplicates by message id, and the remote consumer puts a late trade back in order by
``Upbit-Hub-Seq``. While the client is disconnected nothing is published: events wait in the
spill buffer.

When the spill buffer is full an event is dropped and counted, and a visible gap marker
(:class:`~upbit_hub.actors.broker.codec.GapMarker`) goes out on that event's subject before
the next event of the same market, never a silent hole.

Runs in: ``offer`` in reader threads; coroutines in the loop thread; ``stats`` in any thread.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from . import codec

log = logging.getLogger(__name__)

MAX_BATCH = 1000  # publishes in flight at once
_OK, _DUPLICATE, _ERROR = "ok", "duplicate", "error"  # ack results


@dataclass(slots=True)
class Item:
    """One event (or gap marker) waiting to be published."""

    ev: Any
    subject: str
    seq: int
    recv_ns: int
    msg_id: str
    resent: bool = False


@dataclass(slots=True)
class PublisherStats:
    """Counters (plain ints, written by the loop thread or under the spill lock)."""

    offered: int = 0
    published: int = 0
    acked: int = 0
    dropped: int = 0
    duplicates: int = 0
    resent: int = 0
    timeouts: int = 0
    errors: int = 0
    gap_markers: int = 0
    batches: int = 0
    inflight: int = 0
    last_error: str | None = None
    by_type: dict[str, int] = field(default_factory=dict)


class Publisher:
    """Publishes offered events to JetStream; see the module docstring."""

    def __init__(
        self,
        loop: Any,
        *,
        stream: str,
        account: str,
        spill_size: int = 500_000,
        batch_wait_s: float = 0.005,
        publish_timeout_s: float = 5.0,
    ) -> None:
        self.loop = loop
        self.stream = stream
        self.account = account
        self.spill_size = max(1, spill_size)
        self.batch_wait_s = max(0.0, batch_wait_s)
        self.publish_timeout_s = publish_timeout_s
        self.epoch = os.urandom(4).hex()
        self.stats = PublisherStats()
        self._spill: deque[Item] = deque()
        self._lock = threading.Lock()
        self._seqs: dict[tuple[str, str | None], int] = {}
        self._lost: dict[tuple[str, str | None], tuple[str, int, int]] = {}
        self._scheduled = False
        self._nc: Any = None
        self._js: Any = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._idle: asyncio.Event | None = None
        self._closing = False
        self._ack_prefix = ""
        self._ack_sub: Any = None
        self._waiting: dict[str, list[Any]] = {}  # reply token -> [item, result, future]
        self._token = 0

    # -- reader threads --------------------------------------------------------------------

    def offer(self, ev: Any) -> None:
        """Queue ``ev`` for publishing; never blocks. Runs in: a reader thread (any)."""
        recv_ns = time.time_ns()
        key = (ev.type, getattr(ev, "code", None))
        with self._lock:
            st = self.stats
            st.offered += 1
            n = self._seqs.get(key, 0) + 1
            self._seqs[key] = n
            spill = self._spill
            if len(spill) >= self.spill_size:
                st.dropped += 1
                lost = self._lost.get(key)
                subj = codec.subject(ev, self.account)
                self._lost[key] = (subj, lost[1] if lost else n, n)
                if st.dropped == 1 or st.dropped % 10_000 == 0:
                    log.warning("bridge spill buffer full (%d): %d event(s) dropped so far; "
                                "gap markers go out on their subjects", self.spill_size,
                                st.dropped)  # fmt: skip
                return
            if self._lost:
                self._flush_lost_locked(recv_ns)
            mid = codec.msg_id(ev)
            spill.append(Item(ev, codec.subject(ev, self.account), n, recv_ns, mid))
            if self._scheduled:
                return
            self._scheduled = True
        self.loop.call_soon(self._kick)

    def _flush_lost_locked(self, now_ns: int) -> None:
        for (t, code), (subj, first, last) in self._lost.items():
            marker = codec.GapMarker(code=code, of=t, first=first, last=last, epoch=self.epoch)
            mid = f"gap:{self.epoch}:{t}:{code}:{first}"
            self._spill.append(Item(marker, subj, 0, now_ns, mid))
            self.stats.gap_markers += 1
            log.error("bridge: %d %s event(s) of %s lost (seq %d..%d): gap marker published",
                      last - first + 1, t, code, first, last)  # fmt: skip
        self._lost.clear()

    # -- loop thread -----------------------------------------------------------------------

    async def start(self, nc: Any, js: Any) -> None:
        """Begin pumping with client ``nc`` and its JetStream context ``js``."""
        self._nc, self._js = nc, js
        self._ack_prefix = nc.new_inbox()
        self._ack_sub = await nc.subscribe(self._ack_prefix + ".*", cb=self._on_ack)
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task = asyncio.get_running_loop().create_task(self._pump())

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _pump(self) -> None:
        assert self._wake is not None and self._idle is not None
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            if self.batch_wait_s:
                await asyncio.sleep(self.batch_wait_s)
            self._idle.clear()
            try:
                while True:
                    with self._lock:
                        spill = self._spill
                        if not spill:
                            self._scheduled = False
                            break
                        batch = [spill.popleft() for _ in range(min(len(spill), MAX_BATCH))]
                    await self._send(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the pump die silently
                self.stats.errors += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:200]
                log.exception("bridge publisher: unexpected error; continuing")
                await asyncio.sleep(0.1)
                self._wake.set()
            finally:
                self._idle.set()

    async def _wait_connected(self) -> None:
        nc = self._nc
        while not nc.is_connected and not self._closing:
            if nc.is_closed:
                raise RuntimeError("the NATS client is closed")
            await asyncio.sleep(0.05)

    async def _on_ack(self, msg: Any) -> None:
        """A JetStream publish ack (or error) on our reply inbox. Parsed just enough: an
        error answer, a no-responders status, or the ``duplicate`` flag."""
        rec = self._waiting.pop(msg.subject[len(self._ack_prefix) + 1:], None)
        if rec is None:
            return  # the ack of a publish we already gave up on (it will be de-duplicated)
        data = msg.data
        status = msg.headers.get("Status") if msg.headers else None
        if status == "503" or b'"error"' in data:
            rec[1] = _ERROR
            self.stats.last_error = (f"no JetStream stream answers {rec[0].subject}"
                                     if status == "503" else data[:200].decode(errors="replace"))
        else:
            rec[1] = _DUPLICATE if b'"duplicate":true' in data else _OK
        fut = rec[2]
        if fut is not None and not fut.done():
            fut.set_result(None)

    async def _send(self, batch: list[Item]) -> None:
        """Publish ``batch`` and await the last ack; requeue what was not acknowledged."""
        st = self.stats
        nc = self._nc
        epoch = self.epoch
        prefix = self._ack_prefix
        waiting = self._waiting
        await self._wait_connected()
        sent: list[list[Any]] = []
        unsent: list[Item] = []
        last_fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for i, item in enumerate(batch):
            if not nc.is_connected:
                unsent = batch[i:]
                break
            headers = {codec.MSG_ID: item.msg_id, codec.HDR_TS: str(item.recv_ns)}
            if item.seq:
                headers[codec.HDR_SEQ] = f"{epoch}.{item.seq}"
            self._token += 1
            token = str(self._token)
            rec: list[Any] = [item, None, last_fut if i == len(batch) - 1 else None]
            waiting[token] = rec
            try:
                await nc.publish(item.subject, codec.encode(item.ev), reply=f"{prefix}.{token}",
                                 headers=headers)  # fmt: skip
            except Exception as exc:
                waiting.pop(token, None)
                st.errors += 1
                st.last_error = f"{type(exc).__name__}: {exc}"[:200]
                unsent = batch[i:]
                break
            st.published += 1
            sent.append(rec)
        st.batches += 1
        st.inflight = len(sent)
        failed: list[Item] = []
        if sent:
            if sent[-1][2] is None:  # the batch was cut short: wait for the last one sent
                sent[-1][2] = last_fut
            # the acks come in publish order: once the last one is in, the others are too
            await asyncio.wait((last_fut,), timeout=self.publish_timeout_s)
            if any(rec[1] is None for rec in sent):
                await asyncio.sleep(0.01)
            for item, result, _ in sent:
                if result is _OK or result is _DUPLICATE:
                    st.acked += 1
                    if result is _DUPLICATE and not item.resent:
                        st.duplicates += 1
                    continue
                if result is None:
                    st.timeouts += 1
                else:
                    st.errors += 1
                failed.append(item)
            for token in [t for t, rec in waiting.items() if rec[1] is None]:
                waiting.pop(token, None)  # given up: a late ack is ignored
        st.inflight = 0
        again = failed + unsent
        if again:
            for item in again:
                item.resent = True
            st.resent += len(failed)
            log.warning("bridge: %d publish(es) not acknowledged within %gs (%s); resending "
                        "after reconnect", len(again), self.publish_timeout_s,
                        st.last_error or "timeout")  # fmt: skip
            with self._lock:
                self._spill.extendleft(reversed(again))
            await asyncio.sleep(0.05)
            await self._wait_connected()

    async def flush(self, timeout: float) -> bool:
        """Wait until the buffer is empty and nothing is in flight (at most ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._lost:  # losses not yet followed by an event: mark them now
                self._flush_lost_locked(time.time_ns())
                self._scheduled = True
                self._kick()
        while time.monotonic() < deadline:
            with self._lock:
                empty = not self._spill
            if empty and self._idle is not None and self._idle.is_set():
                return True
            await asyncio.sleep(0.01)
        return False

    async def close(self) -> None:
        """Stop the pump (call :meth:`flush` first to publish what is buffered)."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    # -- any thread ------------------------------------------------------------------------

    def pending(self) -> int:
        """Events buffered or in flight now."""
        return len(self._spill) + self.stats.inflight

    def snapshot(self) -> dict[str, Any]:
        """The counters as a dict (published/acked/pending/dropped/...)."""
        st = self.stats
        return {
            "offered": st.offered, "published": st.published, "acked": st.acked,
            "pending": self.pending(), "dropped": st.dropped, "duplicates": st.duplicates,
            "resent": st.resent, "timeouts": st.timeouts, "errors": st.errors,
            "gap_markers": st.gap_markers, "batches": st.batches, "last_error": st.last_error,
        }  # fmt: skip
