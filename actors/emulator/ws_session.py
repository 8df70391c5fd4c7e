"""One server-side WebSocket connection: subscription state, frame writing, timers.

Runs in: the emulator loop thread (every method).

Frames are written straight to the transport: each data frame is queued in an outbox
(``enqueue``) and the outbox goes out as ONE ``transport.write`` (``flush``). That keeps a
20,000 msg/s fan-out cheap (no coroutine and no syscall per frame) and never blocks the market
tick on a slow reader: a socket whose unsent bytes exceed ``max_buffer_bytes`` is dropped.
When the client negotiated permessage-deflate the session compresses with its own zlib stream
(context takeover unless the client asked for none). aiohttp still owns the reading side and
the control frames (pong, close), which it writes whole, so frames never interleave.

Timers (all ``loop.call_at``):

- idle: no frame in either direction for ``idle_timeout`` -> the TCP connection is aborted
  without a close frame (the client sees 1006), as the live service does after ~60 s.
- UP: after a text ``PING``, ``{"status":"UP"}`` every ``up_period`` seconds on a grid that
  starts when the socket opened (not an immediate echo); repeated PINGs do not stack.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import zlib
from collections.abc import Callable

from aiohttp import web

from upbit_hub.actors.emulator.server_stats import StatsRecorder
from upbit_hub.actors.emulator.ws_request import ParsedRequest

__all__ = ["STATUS_UP", "WsSession", "frame_header"]

log = logging.getLogger(__name__)

STATUS_UP = b'{"status":"UP"}'
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


def frame_header(first_byte: int, length: int) -> bytes:
    """RFC 6455 header of an unmasked server frame carrying ``length`` payload bytes."""
    if length < 126:
        return bytes((first_byte, length))
    if length < 65536:
        return struct.pack("!BBH", first_byte, 126, length)
    return struct.pack("!BBQ", first_byte, 127, length)


class WsSession:
    """State of one open WebSocket and the only writer of its data frames."""

    def __init__(
        self,
        sid: int,
        endpoint: str,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        remote: str,
        *,
        binary: bool,
        idle_timeout: float,
        up_period: float,
        max_buffer_bytes: int,
        stats: StatsRecorder,
        on_dirty: Callable[[WsSession], None],
        is_stalled: Callable[[], bool],
    ) -> None:
        self.id = sid
        self.endpoint = endpoint
        self.ws = ws
        self.transport = transport
        self.remote = remote
        self.loop = asyncio.get_running_loop()
        self.opened_at = time.monotonic()
        self._opened_loop = self.loop.time()
        self.authenticated = False
        self.format = "DEFAULT"
        self.request: ParsedRequest | None = None  # the subscription in force
        self.closing = False
        self.dirty = False
        self._opcode = 0x82 if binary else 0x81
        self._idle_timeout = idle_timeout
        self._up_period = up_period
        self._max_buffer = max_buffer_bytes
        self._stats = stats
        self._on_dirty = on_dirty
        self._is_stalled = is_stalled
        self._outbox: list[bytes] = []
        self._last_activity = self.loop.time()
        self._idle_handle: asyncio.TimerHandle | None = None
        self._up_handle: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task] = set()
        wbits = int(ws.compress or 0)
        self.compressed = wbits > 0
        self._zlib = zlib.compressobj(1, zlib.DEFLATED, -wbits) if wbits else None
        notakeover = bool(getattr(getattr(ws, "_writer", None), "notakeover", True))
        self._zflush = zlib.Z_FULL_FLUSH if notakeover else zlib.Z_SYNC_FLUSH
        self._arm_idle()

    # ------------------------------------------------------------------ writing

    def framed(self, payload: bytes) -> bytes:
        """``payload`` as one uncompressed data frame of this session's opcode."""
        return frame_header(self._opcode, len(payload)) + payload

    def enqueue(self, payload: bytes, kind: str, framed: bytes | None = None) -> None:
        """Queue one data frame (``framed``: the same payload already framed, to reuse)."""
        if self.closing or self._is_stalled():
            return
        if self._zlib is not None:
            data = self._zlib.compress(payload) + self._zlib.flush(self._zflush)
            if data.endswith(_DEFLATE_TAIL):
                data = data[:-4]
            framed = frame_header(self._opcode | 0x40, len(data)) + data
        elif framed is None:
            framed = frame_header(self._opcode, len(payload)) + payload
        self._outbox.append(framed)
        self._stats.frames_sent[kind] += 1
        if not self.dirty:
            self.dirty = True
            self._on_dirty(self)

    def send_now(self, payload: bytes, kind: str) -> None:
        """Queue one frame and write the outbox immediately."""
        self.enqueue(payload, kind)
        self.flush()

    def flush(self) -> None:
        """Write everything queued in one ``transport.write``."""
        self.dirty = False
        if not self._outbox:
            return
        data = b"".join(self._outbox) if len(self._outbox) > 1 else self._outbox[0]
        self._outbox.clear()
        transport = self.transport
        if transport.is_closing():
            return
        transport.write(data)
        self._stats.bytes_sent += len(data)
        self._last_activity = self.loop.time()
        if transport.get_write_buffer_size() > self._max_buffer:
            log.warning("connection %s does not read; dropping it", self.id)
            self._stats.dropped_slow += 1
            self.abort()

    # ------------------------------------------------------------------ timers

    def touch(self) -> None:
        """Note a frame from the client (any kind, ping included)."""
        self._last_activity = self.loop.time()

    def _arm_idle(self) -> None:
        when = self._last_activity + self._idle_timeout
        self._idle_handle = self.loop.call_at(when, self._idle_check)

    def _idle_check(self) -> None:
        self._idle_handle = None
        if self.transport.is_closing():
            return
        if self.loop.time() - self._last_activity >= self._idle_timeout - 1e-3:
            log.info("connection %s idle for %.1fs; dropping the TCP connection",
                     self.id, self._idle_timeout)
            self.abort()
        else:
            self._arm_idle()

    def start_up_emitter(self) -> None:
        """Start the ``{"status":"UP"}`` timer (no-op when it already runs)."""
        if self._up_handle is not None or self.closing:
            return
        self._schedule_up()

    def _schedule_up(self) -> None:
        period = self._up_period
        elapsed = self.loop.time() - self._opened_loop
        ticks = int(elapsed // period) + 1
        self._up_handle = self.loop.call_at(self._opened_loop + ticks * period, self._emit_up)

    def _emit_up(self) -> None:
        self._up_handle = None
        if self.closing or self.transport.is_closing():
            return
        self.send_now(STATUS_UP, "status")
        self._schedule_up()

    # ------------------------------------------------------------------ ending

    def close_soon(self, delay: float, code: int = 1000) -> None:
        """Stop sending data now and close with ``code`` after ``delay`` seconds."""
        if self.closing:
            return
        self.closing = True
        self.flush()
        task = self.loop.create_task(self._close_later(delay, code))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_later(self, delay: float, code: int) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            await self.ws.close(code=code)
        except Exception:  # the peer may already be gone
            log.debug("close of connection %s failed", self.id, exc_info=True)
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (the client sees 1006)."""
        self.closing = True
        self._outbox.clear()
        self.transport.abort()

    def cancel_timers(self) -> None:
        """Stop the idle and UP timers. Runs when the handler ends."""
        self.closing = True
        for handle in (self._idle_handle, self._up_handle):
            if handle is not None:
                handle.cancel()
        self._idle_handle = self._up_handle = None

    async def finish(self, timeout: float) -> None:
        """Cancel timers and let a pending close finish (at most ``timeout`` seconds)."""
        self.cancel_timers()
        tasks = list(self._tasks)
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
