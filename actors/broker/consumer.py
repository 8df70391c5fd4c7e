"""RemoteConsumer: one durable JetStream push consumer per remote component id.

Messages arrive by callback in the loop thread (push: pull ``fetch()`` is slow), are decoded
into the usual event Structs and put into the component's
:class:`~upbit_hub.actors.inbox.ComponentInbox`, so the per-component rules hold (latest wins
for tickers and order books, a bounded FIFO for trades; ``max_ack_pending`` is capped at the
trade queue size, so the server never sends more than the inbox can hold). A message is
acknowledged only after the component's handlers returned (the inbox's ``on_delivered``
hook), or when a newer ticker superseded it unseen (``on_superseded``).

Resuming: at process start the consumer is (re)created at the stream sequence after its
ack floor, so a restarted component resumes after its last acknowledged event; whatever was
delivered but not acknowledged before a kill comes again first, in order, and is counted as
``redelivered``. After a reconnect, or when the consumer sequence shows a lost delivery, it
is recreated at the oldest event not yet handled here: events already handled are skipped
(and acknowledged), events still queued are not queued twice.

Trades carry the bridge's per-market counter (``Upbit-Hub-Seq``): a trade that comes late
(republished after the bridge's reconnect) is put back in order, waiting at most
``reorder_wait_s``; a hole that does not fill, or a gap marker from the bridge, is reported
(logged and counted in ``gaps``/``lost``), never hidden. A payload that is not one of ours is
counted (``malformed``), logged and terminated, and the consumer goes on.

Runs in: the loop thread, except ``_delivered``/``_superseded`` (component / putting thread).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from typing import Any

from . import codec

log = logging.getLogger(__name__)

_WINDOW = 200_000  # stream sequences remembered as handled (dedupe after a rebind)
_LATENCY_SAMPLES = 100_000


class _Held:
    __slots__ = ("ev", "n", "sseq")

    def __init__(self, n: int, ev: Any, sseq: int) -> None:
        self.n, self.ev, self.sseq = n, ev, sseq


class _Tape:
    """Per-market trade order state: the bridge epoch, the last released number, held ones."""

    __slots__ = ("epoch", "held", "last", "timer")

    def __init__(self, epoch: str, last: int) -> None:
        self.epoch = epoch
        self.last = last
        self.held: dict[int, _Held] = {}
        self.timer: asyncio.TimerHandle | None = None


def consumer_name(component_id: str) -> str:
    """A durable name for ``component_id`` (JetStream names may not hold ``.``)."""
    return "uh-" + component_id.replace(".", "_")


class RemoteConsumer:
    """Feeds one component's inbox from its durable consumer; see the module docstring."""

    def __init__(self, source: Any, component_id: str, inbox: Any) -> None:
        self.source = source
        self.component_id = component_id
        self.name = consumer_name(component_id)
        self.inbox = inbox
        self.wishes: dict[int, tuple[tuple[str, str | None], ...]] = {}
        self.incarnation = 0
        self.first_bind = True
        self.bound_subjects: tuple[str, ...] = ()
        self.sub: Any = None
        self.expected_cseq = 1
        self.last_sseq = 0
        self.redeliver_upto = 0
        self._floor: int | None = None
        self._lock = threading.Lock()
        self._inflight: dict[int, str] = {}  # stream seq -> reply subject to ack
        self._seq_of: dict[int, int] = {}  # id(event) -> stream seq (while in the inbox)
        self._handled: set[int] = set()
        self._handled_order: deque[int] = deque()
        self._acks: list[str] = []
        self._ack_scheduled = False
        self._tapes: dict[str, _Tape] = {}
        self._stamp: dict[int, int] = {}  # id(event) -> hub receipt time (ns)
        self._bind_task: asyncio.Task[None] | None = None
        self._bind_again = False
        self.closed = False
        self.latencies_ms: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        self.stats: dict[str, Any] = {
            "received": 0, "queued": 0, "acked": 0, "redelivered": 0, "duplicates": 0,
            "malformed": 0, "gaps": 0, "lost": 0, "reordered": 0, "rebinds": 0,
            "lag_ms": None, "last_error": None,
        }  # fmt: skip
        inbox.on_delivered = self._delivered
        inbox.on_superseded = self._superseded

    # -- wishes ------------------------------------------------------------------------

    def subjects(self) -> tuple[str, ...]:
        acct = self.source.account
        return tuple(sorted({codec.subject_of_wish(t, c, acct)
                             for keys in self.wishes.values() for t, c in keys}))  # fmt: skip

    def request_bind(self) -> None:
        """(Re)create the consumer soon (coalescing bursts of requests)."""
        if self.closed:
            return
        if self._bind_task is not None and not self._bind_task.done():
            self._bind_again = True
            return
        self._bind_task = asyncio.get_running_loop().create_task(self._bind_loop())

    async def _bind_loop(self) -> None:
        await asyncio.sleep(self.source.coalesce_s)
        while not self.closed:
            self._bind_again = False
            try:
                await self._bind()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats["last_error"] = f"{type(exc).__name__}: {exc}"[:200]
                log.warning("remote component %s: consumer %s not bound yet (%s); retrying",
                            self.component_id, self.name, self.stats["last_error"])  # fmt: skip
                await asyncio.sleep(0.25)
                continue
            if not self._bind_again:
                return

    async def _bind(self) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        src = self.source
        nc, js = src.nc, src.js
        while not nc.is_connected:
            await asyncio.sleep(0.05)
        if src.account_guessed and any(t in codec.PRIVATE for keys in self.wishes.values()
                                       for t, _ in keys):  # fmt: skip
            await src.settle_account()
        subjects = self.subjects()
        self.incarnation += 1
        inc = self.incarnation
        if self.sub is not None:
            old, self.sub = self.sub, None
            try:
                await old.unsubscribe()
            except Exception:
                pass
        if not subjects:
            return
        if src.account == "default" and any(".account." in x for x in subjects):
            log.warning("remote component %s: private events are read under account "
                        "'default' (no hub answered when the source started): set [source] "
                        "account to the label the hub's bridge logs at start",
                        self.component_id)  # fmt: skip
        info = None
        try:
            info = await js.consumer_info(src.stream, self.name)
        except NotFoundError:
            pass
        start: int | None = None
        with self._lock:
            waiting = list(self._inflight)
        if waiting:
            start = min(waiting)
        elif self.last_sseq:
            start = self.last_sseq + 1
        elif self._floor is not None:  # bound before in this process, nothing received yet
            start = self._floor + 1
        elif info is not None:
            start = info.ack_floor.stream_seq + 1
            if self.first_bind:
                self.redeliver_upto = info.delivered.stream_seq
        if info is not None:
            await js.delete_consumer(src.stream, self.name)
        deliver = f"_UH.deliver.{self.name}.{src.nc._nuid.next().decode()}"
        self.expected_cseq = 1

        async def on_msg(msg: Any) -> None:
            await self._on_msg(msg, inc)

        self.sub = await nc.subscribe(deliver, cb=on_msg, pending_msgs_limit=-1,
                                      pending_bytes_limit=-1)  # fmt: skip
        cfg = ConsumerConfig(
            durable_name=self.name,
            deliver_subject=deliver,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=src.ack_wait_s,
            max_ack_pending=src.max_ack_pending(self.inbox),
            max_deliver=-1,
            description=f"upbit-hub remote component {self.component_id}",
        )
        if len(subjects) == 1:
            cfg.filter_subject = subjects[0]
        else:
            cfg.filter_subjects = list(subjects)
        if start is not None:
            cfg.deliver_policy, cfg.opt_start_seq = DeliverPolicy.BY_START_SEQUENCE, start
        else:
            cfg.deliver_policy = DeliverPolicy.ALL if src.deliver == "all" else DeliverPolicy.NEW
        created = await js.add_consumer(src.stream, cfg)
        # where this consumer starts (for NEW: the stream's last sequence at creation), so a
        # rebind before anything arrived does not fall back to the ack floor (0)
        self._floor = created.delivered.stream_seq if created.delivered else (start or 1) - 1
        if not self.first_bind:
            self.stats["rebinds"] += 1
        self.first_bind = False
        self.bound_subjects = subjects
        log.info("remote component %s: consumer %s on %s from %s", self.component_id,
                 self.name, ",".join(subjects),
                 f"stream seq {start}" if start is not None else src.deliver)  # fmt: skip

    # -- messages (loop thread) ----------------------------------------------------------

    async def _on_msg(self, msg: Any, inc: int) -> None:
        if inc != self.incarnation or self.closed:
            return  # from a consumer we replaced
        reply = msg.reply
        if not reply or not reply.startswith("$JS.ACK."):
            return  # heartbeats / flow control are not enabled; ignore anything else
        md = msg.metadata
        cseq, sseq = md.sequence.consumer, md.sequence.stream
        if cseq > self.expected_cseq:
            log.warning("remote component %s: delivery %d missing (got %d): resuming from "
                        "the oldest unhandled event", self.component_id, self.expected_cseq,
                        cseq)  # fmt: skip
            self.incarnation += 1  # ignore the rest of this consumer's deliveries
            self.request_bind()
            return
        if cseq == self.expected_cseq:
            self.expected_cseq += 1
        st = self.stats
        st["received"] += 1
        with self._lock:
            if sseq in self._handled:
                st["duplicates"] += 1
                self._acks.append(reply)
                self._schedule_acks_locked()
                return
            if sseq in self._inflight:
                st["duplicates"] += 1
                self._inflight[sseq] = reply  # ack the latest delivery
                return
            self._inflight[sseq] = reply
        if sseq > self.last_sseq:
            self.last_sseq = sseq
        if md.num_delivered > 1 or sseq <= self.redeliver_upto:
            st["redelivered"] += 1
        try:
            ev = codec.decode(msg.subject, msg.data)
        except Exception as exc:
            st["malformed"] += 1
            if st["malformed"] <= 3 or st["malformed"] % 1000 == 0:
                log.error("remote component %s: skipped a malformed message on %s "
                          "(stream seq %d): %s: %s (%d so far)", self.component_id,
                          msg.subject, sseq, type(exc).__name__, str(exc)[:100],
                          st["malformed"])  # fmt: skip
            self._finish(sseq, b"+TERM")
            return
        headers = msg.headers or {}
        if isinstance(ev, codec.GapMarker):
            self._gap_marker(ev, sseq)
            return
        ts = headers.get(codec.HDR_TS)
        if ts:
            self._stamp[id(ev)] = int(ts)
        if ev.type == "trade":
            self._trade(ev, sseq, headers.get(codec.HDR_SEQ))
        else:
            self._queue(ev, sseq)

    def _queue(self, ev: Any, sseq: int) -> None:
        with self._lock:
            self._seq_of[id(ev)] = sseq
        self.stats["queued"] += 1
        if self.inbox.put(ev):
            self.inbox.wake()

    def _finish(self, sseq: int, how: bytes = b"+ACK") -> None:
        """Mark ``sseq`` handled and acknowledge its latest delivery (any thread)."""
        with self._lock:
            reply = self._inflight.pop(sseq, None)
            self._mark_handled_locked(sseq)
            if reply is not None:
                self._acks.append(reply if how == b"+ACK" else reply + "\x00TERM")
                self._schedule_acks_locked()

    def _mark_handled_locked(self, sseq: int) -> None:
        if sseq in self._handled:
            return
        self._handled.add(sseq)
        self._handled_order.append(sseq)
        if len(self._handled_order) > _WINDOW:
            self._handled.discard(self._handled_order.popleft())

    def _schedule_acks_locked(self) -> None:
        if not self._ack_scheduled:
            self._ack_scheduled = True
            self.source.loop.call_soon(self._start_ack_flush)

    def _start_ack_flush(self) -> None:
        asyncio.get_running_loop().create_task(self._flush_acks())

    async def _flush_acks(self) -> None:
        with self._lock:
            acks, self._acks = self._acks, []
            self._ack_scheduled = False
        nc = self.source.nc
        n = 0
        for reply in acks:
            subject, _, term = reply.partition("\x00")
            try:
                await nc.publish(subject, b"+TERM" if term else b"+ACK")
                n += 1
            except Exception as exc:  # disconnected: the server redelivers; we dedupe
                self.stats["last_error"] = f"ack: {type(exc).__name__}: {exc}"[:200]
                break
        self.stats["acked"] += n

    # -- trade order and gaps (loop thread) ------------------------------------------------

    def _trade(self, ev: Any, sseq: int, seq_header: str | None) -> None:
        if not seq_header:
            self._queue(ev, sseq)
            return
        epoch, _, num = seq_header.partition(".")
        try:
            n = int(num)
        except ValueError:
            self._queue(ev, sseq)
            return
        code = ev.code
        tape = self._tapes.get(code)
        if tape is None or tape.epoch != epoch:
            if tape is not None:
                self._release_all(tape)
                log.info("remote component %s: %s: the bridge restarted (new epoch)",
                         self.component_id, code)  # fmt: skip
            tape = self._tapes[code] = _Tape(epoch, n - 1)
        if n <= tape.last or n in tape.held:
            self.stats["duplicates"] += 1  # the same trade republished under a new sequence
            self._finish(sseq)
            return
        if n == tape.last + 1 and not tape.held:
            tape.last = n
            self._queue(ev, sseq)
            return
        tape.held[n] = _Held(n, ev, sseq)
        self._release(tape)
        if tape.held and tape.timer is None:
            loop = asyncio.get_running_loop()
            tape.timer = loop.call_later(self.source.reorder_wait_s, self._give_up, code)

    def _release(self, tape: _Tape) -> None:
        while tape.last + 1 in tape.held:
            h = tape.held.pop(tape.last + 1)
            tape.last = h.n
            if h.ev is not None:
                self.stats["reordered"] += 1
                self._queue(h.ev, h.sseq)
        if not tape.held and tape.timer is not None:
            tape.timer.cancel()
            tape.timer = None

    def _release_all(self, tape: _Tape) -> None:
        for n in sorted(tape.held):
            h = tape.held.pop(n)
            if h.ev is not None:
                self._queue(h.ev, h.sseq)
        if tape.timer is not None:
            tape.timer.cancel()
            tape.timer = None

    def _give_up(self, code: str) -> None:
        tape = self._tapes.get(code)
        if tape is None:
            return
        tape.timer = None
        if not tape.held:
            return
        first = min(tape.held)
        missing = first - tape.last - 1
        self._report_gap(code, tape.last + 1, first - 1, missing, "never arrived")
        tape.last = first - 1
        self._release(tape)
        if tape.held:
            tape.timer = asyncio.get_running_loop().call_later(
                self.source.reorder_wait_s, self._give_up, code)

    def _gap_marker(self, marker: codec.GapMarker, sseq: int) -> None:
        code = marker.code or "?"
        n = marker.last - marker.first + 1
        self._report_gap(code, marker.first, marker.last, n, "dropped by the bridge")
        if marker.of == "trade":
            tape = self._tapes.get(code)
            if tape is not None and tape.epoch == marker.epoch:
                for k in range(marker.first, marker.last + 1):
                    tape.held.setdefault(k, _Held(k, None, 0))
                self._release(tape)
        self._finish(sseq)

    def _report_gap(self, code: str, first: int, last: int, n: int, why: str) -> None:
        self.stats["gaps"] += 1
        self.stats["lost"] += n
        log.error("remote component %s: GAP in %s trades: %d trade(s) missing (bridge seq "
                  "%d..%d, %s)", self.component_id, code, n, first, last, why)  # fmt: skip

    # -- inbox hooks (component thread / putting thread) --------------------------------

    def _delivered(self, ev: Any) -> None:
        """The component's handlers returned for ``ev``: acknowledge it (unless the
        component was muted meanwhile: then it comes again next run)."""
        key = id(ev)
        with self._lock:
            sseq = self._seq_of.pop(key, None)
        if sseq is None:
            return
        ts = self._stamp.pop(key, None)
        routes = self.inbox.table.routes
        if not (routes.get((ev.type, getattr(ev, "code", None)))
                or (ev.type == "myOrder" and routes.get(("myOrder", None)))):
            with self._lock:
                self._inflight.pop(sseq, None)  # muted: not acked, redelivered next run
            return
        if ts is not None:
            lag = (time.time_ns() - ts) / 1e6
            self.stats["lag_ms"] = lag
            self.latencies_ms.append(lag)
        self._finish(sseq)

    def _superseded(self, ev: Any) -> None:
        """A newer ticker/order book replaced ``ev`` unseen: it counts as consumed."""
        key = id(ev)
        with self._lock:
            sseq = self._seq_of.pop(key, None)
        self._stamp.pop(key, None)
        if sseq is not None:
            self._finish(sseq)

    # -- lifecycle -----------------------------------------------------------------------

    async def close(self) -> None:
        """Stop hearing messages; the durable consumer stays for the next run."""
        self.closed = True
        self.incarnation += 1
        for tape in self._tapes.values():
            if tape.timer is not None:
                tape.timer.cancel()
        if self._bind_task is not None:
            self._bind_task.cancel()
        if self.sub is not None:
            try:
                await self.sub.unsubscribe()
            except Exception:
                pass
            self.sub = None
        await self._flush_acks()
        st = self.stats
        log.info("remote component %s: received %d, acked %d, redelivered %d, duplicates %d, "
                 "malformed %d, gaps %d (lost %d), reordered %d", self.component_id,
                 st["received"], st["acked"], st["redelivered"], st["duplicates"],
                 st["malformed"], st["gaps"], st["lost"], st["reordered"])  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """Counters plus what waits for an ack. Runs in: any thread."""
        out = dict(self.stats)
        out["pending"] = len(self._inflight)
        out["subjects"] = list(self.bound_subjects)
        return out
