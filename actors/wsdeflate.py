"""permessage-deflate (RFC 7692) receive support for websocket-client, plus a faster reader.

websocket-client 1.9.2 never offers the extension and rejects every frame with RSV1 set
(``rsv is not implemented, yet``). :func:`open_websocket` returns a :class:`DeflateWebSocket`,
a ``websocket.WebSocket`` subclass that

* offers ``Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits``,
* checks the server's answer (:func:`parse_extension_response`) and records it in
  :attr:`DeflateWebSocket.extension`,
* reads frames through its own read-ahead buffer (one ``socket.recv(65536)`` serves many
  frames) and inflates RSV1 messages with ``zlib.decompressobj(-wbits)``.

It sends uncompressed, which RFC 7692 allows. Nothing here touches websocket-client globally:
other code in the process keeps using plain ``websocket.WebSocket``.

The negotiation, as the loopback tests exercise it (websockets 17 as the server)::

    > Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits
    < Sec-WebSocket-Extensions: permessage-deflate;
    <     server_max_window_bits=12; client_max_window_bits=12
    < frame: fin=1 rsv1=1 opcode=2 (binary), deflated payload

Measured gains: a varied DEFAULT ticker stream 1,014 B -> 88 B per frame (DEPENDENCY-NOTES);
bench/bench_recv.py's random SIMPLE-like frames 319 B -> 119 B.

Errors a reader loop sees from :meth:`DeflateWebSocket.recv`:

* ``websocket.WebSocketTimeoutException`` - nothing arrived within the socket timeout. The
  connection is still usable; a partly received frame is kept and completed by the next call.
* ``websocket.WebSocketConnectionClosedException`` - the peer closed the TCP stream, sent a close
  frame (``close_status``/``close_reason`` then hold its code and reason), or :meth:`close` /
  :meth:`~websocket.WebSocket.abort` was called from another thread.
* ``OSError`` (``ConnectionResetError``, ``ssl.SSLError``, ...) - straight from the socket.
* :class:`~upbit_hub.actors.protocol.errors.ProtocolError` - the server broke RFC 6455/7692
  (RSV1 without negotiation, RSV2/RSV3, bad fragmentation, masked frame, undecodable deflate
  data, invalid UTF-8 in a text message). The socket has already been closed (1002, or 1007 for
  bad payload data); reconnect.

The first three are exactly what plain websocket-client raises, so one ``except`` clause
around a reconnect loop covers both kinds of socket.

Limits: the read-ahead buffer means ``select()`` on :attr:`sock` does not see buffered frames
(use :attr:`DeflateWebSocket.buffered_bytes`); there is no cap on an inflated message's size.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any

import websocket
from websocket import (
    WebSocketConnectionClosedException,
    WebSocketTimeoutException,
)

from upbit_hub.actors.protocol.deflate_params import (
    EXTENSION_OFFER,
    DeflateParams,
    parse_extension_response,
)
from upbit_hub.actors.protocol.errors import ProtocolError

# ---------------------------------------------------------------------------------------------
# Private websocket-client internals used below (all pinned to 1.9.2):
#   * WebSocket._recv(bufsize)       one socket read, with websocket-client's error mapping
#                                     (timeouts -> WebSocketTimeoutException, EOF ->
#                                     WebSocketConnectionClosedException) and bookkeeping.
#   * WebSocket.lock (via send())    serialises writers; readers use our own _rlock.
#   * websocket._abnf.ABNF           only to build a frame object for recv_data_frame().
#   * handshake response headers     self.headers: lower-cased dict (last duplicate wins).
# We override recv/recv_data/recv_data_frame/recv_frame/close on our subclass only; the
# library's frame_buffer/continuous_frame (which reject RSV1) are never used.
# ---------------------------------------------------------------------------------------------
PATCHED_VERSION = "1.9.2"
if websocket.__version__ != PATCHED_VERSION:  # pragma: no cover - depends on the install
    raise ImportError(
        f"upbit_hub.actors.wsdeflate extends private parts of websocket-client "
        f"{PATCHED_VERSION}, but websocket-client {websocket.__version__} is installed. "
        f"Install websocket-client=={PATCHED_VERSION} (as pyproject.toml pins it) or re-check "
        f"wsdeflate.py against the new version's _core.py/_abnf.py and update PATCHED_VERSION."
    )
from websocket._abnf import ABNF  # noqa: E402  (after the version guard on purpose)

__all__ = [
    "EXTENSION_OFFER",
    "MAX_FRAME_BYTES",
    "DeflateParams",
    "DeflateWebSocket",
    "open_websocket",
    "parse_extension_response",
]

log = logging.getLogger(__name__)

_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 7.2.2: removed by the sender, appended by us
_READ_SIZE = 65536  # one socket read serves ~200 Upbit frames
_MAX_READ = 1 << 20  # cap per read while collecting a big frame (avoids huge allocations)

_OP_CONT, _OP_TEXT, _OP_BINARY = 0x0, 0x1, 0x2
_OP_CLOSE, _OP_PING, _OP_PONG = 0x8, 0x9, 0xA
_CLOSE_PROTOCOL_ERROR = 1002
_CLOSE_INVALID_PAYLOAD = 1007
_CLOSE_TOO_BIG = 1009
MAX_FRAME_BYTES = 1 << 28  # 256 MiB: refuse absurd lengths instead of reading forever
_ECHOABLE = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))


class DeflateWebSocket(websocket.WebSocket):
    """A ``websocket.WebSocket`` that inflates permessage-deflate messages.

    Create it with :func:`open_websocket`. Attributes beyond the base class:
    ``extension`` (:class:`DeflateParams` or None), ``wire_bytes_received`` (socket bytes
    after the handshake), ``payload_bytes_received`` (data-message bytes after inflating),
    ``close_status``/``close_reason`` (from the server's close frame, if one came).

    One thread reads (``recv``); any thread may ``send``/``ping``/``close``/``abort``.
    """

    def __init__(self, *, compression: bool = True, **options: Any) -> None:
        """Runs in: the caller's thread. ``options`` go to ``websocket.WebSocket``."""
        options["skip_utf8_validation"] = True
        super().__init__(**options)
        self.compression = compression
        self.extension: DeflateParams | None = None
        self.close_status: int | None = None
        self.close_reason: str = ""
        self._reset_receive_state()
        self._rlock = threading.Lock()  # always a real lock (close() probes it)

    def _reset_receive_state(self) -> None:
        self.wire_bytes_received = 0
        self.payload_bytes_received = 0
        self._buf = b""
        self._pos = 0
        self._frag_op = 0  # opcode of the message being reassembled, 0 = none
        self._frag_compressed = False
        self._frags: list[bytes] = []
        self._inflater: Any = None
        self._inflate_wbits = 15
        self._reset_per_message = False

    # -- connecting --------------------------------------------------------------------------

    def connect(self, url: str, **options: Any) -> None:
        """Connect, offer permessage-deflate, and check the server's answer.

        ``header`` may be a list, a dict or a callable returning a list; a callable is called
        once per ``connect`` (fresh JWT per handshake). Raises :class:`ProtocolError` (socket
        closed) on an invalid extension answer, websocket-client's exceptions or ``OSError``
        on handshake/socket failure. Runs in: the caller's thread.
        """
        header = options.pop("header", None)
        if callable(header):
            header = header()
        if isinstance(header, dict):
            header = [f"{k}: {v}" for k, v in header.items() if v is not None]
        header = list(header or [])
        if any(h.lower().startswith("sec-websocket-extensions:") for h in header):
            raise ValueError("pass compression=..., not a Sec-WebSocket-Extensions header")
        if self.compression:
            header.append(f"Sec-WebSocket-Extensions: {EXTENSION_OFFER}")
        self._reset_receive_state()
        self.extension = None
        self.close_status = None
        self.close_reason = ""
        super().connect(url, header=header, **options)
        headers = self.headers or {}
        try:
            self.extension = parse_extension_response(
                headers.get("sec-websocket-extensions"), offered=self.compression
            )
        except ProtocolError:
            self._fail(_CLOSE_PROTOCOL_ERROR, "bad extension negotiation")
            raise
        if self.extension is not None:
            bits = self.extension.server_max_window_bits
            # An inflater with a larger window than the compressor's is always correct; zlib
            # compresses "8" with a 9-bit window, so never go below 9.
            self._inflate_wbits = max(bits, 9)
            self._reset_per_message = self.extension.server_no_context_takeover
            self._inflater = zlib.decompressobj(-self._inflate_wbits)
        log.debug("connected to %s, extension %s", url, self.extension)

    # -- receiving ---------------------------------------------------------------------------

    @property
    def buffered_bytes(self) -> int:
        """Bytes already read from the socket but not yet returned. Runs in: any thread."""
        return len(self._buf) - self._pos

    def _fill(self, need: int) -> bytes:
        """Make at least ``need`` unread bytes available; return the buffer (pos reset to 0).

        Bytes read before a timeout or error stay buffered, so a later call resumes the frame.
        """
        buf = self._buf[self._pos :] if self._pos else self._buf
        parts = [buf]
        have = len(buf)
        try:
            while have < need:
                chunk = self._recv(min(max(_READ_SIZE, need - have), _MAX_READ))
                self.wire_bytes_received += len(chunk)
                parts.append(chunk)
                have += len(chunk)
        finally:
            self._buf = buf = b"".join(parts) if len(parts) > 1 else buf
            self._pos = 0
        return buf

    def _read_frame(self) -> tuple[int, bytes]:
        """Return ``(first header byte, payload)`` of the next frame. Runs in: reader thread."""
        buf = self._buf
        pos = self._pos
        avail = len(buf) - pos
        if avail < 2:
            buf = self._fill(2)
            pos = 0
            avail = len(buf)
        b1 = buf[pos]
        b2 = buf[pos + 1]
        if b2 & 0x80:
            self._fail(_CLOSE_PROTOCOL_ERROR, "masked frame")
            raise ProtocolError("server sent a masked frame (RFC 6455 5.1 forbids it)")
        length = b2 & 0x7F
        head = 2
        if length == 126:
            if avail < 4:
                buf = self._fill(4)
                pos = 0
                avail = len(buf)
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            head = 4
        elif length == 127:
            if avail < 10:
                buf = self._fill(10)
                pos = 0
                avail = len(buf)
            length = struct.unpack_from("!Q", buf, pos + 2)[0]
            head = 10
            if length > MAX_FRAME_BYTES:
                self._fail(_CLOSE_TOO_BIG, "frame too big")
                raise ProtocolError(f"server announced a {length}-byte frame; limit is "
                                    f"MAX_FRAME_BYTES={MAX_FRAME_BYTES}")
        end = head + length
        if avail < end:
            buf = self._fill(end)
            pos = 0
        self._pos = pos + end
        return b1, buf[pos + head : pos + end]

    def _inflate(self, data: bytes) -> bytes:
        inflater = self._inflater
        if inflater is None or self._reset_per_message:
            inflater = self._inflater = zlib.decompressobj(-self._inflate_wbits)
        try:
            out = inflater.decompress(data + _TAIL)
        except zlib.error as exc:
            self._fail(_CLOSE_INVALID_PAYLOAD, "bad deflate data")
            raise ProtocolError(f"cannot inflate a permessage-deflate message: {exc}") from exc
        if inflater.eof:
            # The server ended a DEFLATE stream (BFINAL=1, RFC 7692 7.2.3.3). Continue with a
            # fresh stream primed with the latest output (exact once a message fills the window).
            window = 1 << self._inflate_wbits
            self._inflater = zlib.decompressobj(-self._inflate_wbits, zdict=out[-window:])
        return out

    def _next_message(self, control_frame: bool = False) -> tuple[int, bytes]:
        """Read frames until one whole data message (or a wanted control frame) is complete."""
        while True:
            b1, payload = self._read_frame()
            opcode = b1 & 0x0F
            if opcode == _OP_BINARY or opcode == _OP_TEXT:
                rsv = b1 & 0x70
                if rsv and (rsv != 0x40 or self.extension is None):
                    self._bad_rsv(b1)
                if self._frag_op:
                    self._fail(_CLOSE_PROTOCOL_ERROR, "bad fragmentation")
                    raise ProtocolError("new data frame while a fragmented message was open")
                if b1 & 0x80:  # fin: the common case, one frame = one message
                    if rsv:
                        payload = self._inflate(payload)
                    self.payload_bytes_received += len(payload)
                    return opcode, payload
                self._frag_op = opcode
                self._frag_compressed = bool(rsv)
                self._frags = [payload]
            elif opcode == _OP_CONT:
                if b1 & 0x70:
                    self._bad_rsv(b1)
                if not self._frag_op:
                    self._fail(_CLOSE_PROTOCOL_ERROR, "bad fragmentation")
                    raise ProtocolError("continuation frame without a message to continue")
                self._frags.append(payload)
                if b1 & 0x80:
                    opcode = self._frag_op
                    data = b"".join(self._frags)
                    self._frags = []
                    self._frag_op = 0
                    if self._frag_compressed:
                        data = self._inflate(data)
                    self.payload_bytes_received += len(data)
                    return opcode, data
            elif opcode >= _OP_CLOSE:
                if b1 & 0x70 or not b1 & 0x80 or len(payload) > 125:
                    self._fail(_CLOSE_PROTOCOL_ERROR, "bad control frame")
                    raise ProtocolError(f"invalid control frame (header byte {b1:#04x})")
                if opcode == _OP_PING:
                    self.pong(payload)  # websocket-client answers pings automatically; so do we
                    if control_frame:
                        return opcode, payload
                elif opcode == _OP_PONG:
                    if control_frame:
                        return opcode, payload
                elif opcode == _OP_CLOSE:
                    self._on_close_frame(payload)
                else:
                    self._fail(_CLOSE_PROTOCOL_ERROR, "unknown opcode")
                    raise ProtocolError(f"unknown control opcode {opcode:#x}")
            else:
                self._fail(_CLOSE_PROTOCOL_ERROR, "unknown opcode")
                raise ProtocolError(f"unknown data opcode {opcode:#x}")

    def _bad_rsv(self, b1: int) -> None:
        self._fail(_CLOSE_PROTOCOL_ERROR, "unexpected RSV bits")
        what = "RSV1 (compressed) but permessage-deflate was not negotiated" if (
            b1 & 0x70 == 0x40 and self.extension is None
        ) else f"reserved bits {(b1 >> 4) & 7:03b} (RSV1-3) that are not allowed here"
        raise ProtocolError(f"server sent a frame with {what}; header byte {b1:#04x}")

    def _on_close_frame(self, payload: bytes) -> None:
        status = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        self.close_status = status
        self.close_reason = payload[2:].decode("utf-8", "replace")
        if self.connected:
            try:
                echo = status if status in _ECHOABLE or 3000 <= status <= 4999 else 1000
                self.send_close(echo)
            except (OSError, WebSocketConnectionClosedException):
                pass
        self.shutdown()
        raise WebSocketConnectionClosedException(
            f"server closed the WebSocket: {status} {self.close_reason}".rstrip()
        )

    def _fail(self, status: int, reason: str) -> None:
        """Fail the connection (RFC 6455 7.1.7): best-effort close frame, then drop TCP."""
        log.warning("failing WebSocket connection: %s (close %s)", reason, status)
        if self.connected:
            try:
                self.send_close(status, reason)
            except Exception:
                pass
        self.shutdown()

    def recv(self) -> bytes | str:
        """One whole message: ``bytes`` for binary, ``str`` for text, inflated if compressed.

        Answers pings on the way. Raises as listed in the module docstring.
        Runs in: the reader thread (one at a time).
        """
        with self._rlock:
            opcode, data = self._next_message()
        if opcode == _OP_BINARY:
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            self._fail(_CLOSE_INVALID_PAYLOAD, "invalid UTF-8")
            raise ProtocolError(f"text message is not valid UTF-8: {exc}") from exc

    def recv_data(self, control_frame: bool = False) -> tuple[int, bytes]:
        """``(opcode, payload bytes)`` of the next message (or ping/pong if ``control_frame``).

        Runs in: the reader thread.
        """
        with self._rlock:
            return self._next_message(control_frame)

    def recv_data_frame(self, control_frame: bool = False) -> tuple[int, ABNF]:
        """Like :meth:`recv_data` but wraps the payload in an ``ABNF``. Runs in: reader thread."""
        opcode, data = self.recv_data(control_frame)
        return opcode, ABNF(1, 0, 0, 0, opcode, 0, data)

    def recv_frame(self) -> ABNF:
        """One raw frame, not inflated, RSV bits as received. Runs in: the reader thread."""
        with self._rlock:
            b1, payload = self._read_frame()
        return ABNF(b1 >> 7, (b1 >> 6) & 1, (b1 >> 5) & 1, (b1 >> 4) & 1, b1 & 0xF, 0, payload)

    # -- closing -----------------------------------------------------------------------------

    def close(
        self, status: int = 1000, reason: bytes | str = b"", timeout: float | None = 3
    ) -> None:
        """Send a close frame, wait up to ``timeout`` s for the server's, then drop the socket.

        If another thread is blocked in :meth:`recv`, does not wait: that thread gets
        ``WebSocketConnectionClosedException``. Never raises for socket errors.
        Runs in: any thread.
        """
        if not self.connected:
            self.shutdown()
            return
        if not 0 <= status < 65536:
            raise ValueError("close status must be 0..65535")
        try:
            self.send_close(status, reason)
        except Exception:
            pass
        if self.sock is not None and self._rlock.acquire(blocking=False):
            try:
                self._await_close_frame(timeout)
            finally:
                self._rlock.release()
        try:
            if self.sock is not None:
                self.sock.shutdown(2)  # SHUT_RDWR: wakes a thread blocked in recv
        except OSError:
            pass
        self.shutdown()

    def _await_close_frame(self, timeout: float | None) -> None:
        sock = self.sock
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return
                sock.settimeout(left)
                b1, payload = self._read_frame()
                if b1 & 0x0F == _OP_CLOSE:
                    if len(payload) >= 2:
                        self.close_status = struct.unpack("!H", payload[:2])[0]
                        self.close_reason = payload[2:].decode("utf-8", "replace")
                    return
        except (WebSocketConnectionClosedException, WebSocketTimeoutException, OSError,
                ProtocolError):
            return


def open_websocket(
    url: str,
    *,
    header: list[str] | Callable[[], list[str]] | None = None,
    compression: bool = True,
    timeout: float | None = 10.0,
    **kwargs: Any,
) -> DeflateWebSocket:
    """Connect to ``url`` and return a :class:`DeflateWebSocket`.

    ``header``: extra handshake lines, or a callable returning them, called once per call
    (e.g. ``lambda: [f"Authorization: Bearer {mint()}"]``). ``compression``: offer
    permessage-deflate. ``timeout``: socket timeout for the handshake and every later read.
    ``kwargs``: ``sockopt``, ``sslopt``, ``enable_multithread`` go to the socket object; the
    rest (``origin``, ``subprotocols``, ``http_proxy_host``, ...) to ``WebSocket.connect``.

    >>> ws = open_websocket("wss://api.upbit.com/websocket/v1")  # doctest: +SKIP
    >>> ws.send('[{"ticket":"t"},{"type":"ticker","codes":["KRW-BTC"]}]')  # doctest: +SKIP
    >>> ws.recv()[:30]  # doctest: +SKIP
    b'{"type":"ticker","code":"KRW-B'

    Raises :class:`ProtocolError` for a bad extension answer, websocket-client's exceptions
    (``WebSocketBadStatusException``, ``WebSocketTimeoutException``, ...) or ``OSError`` when
    the handshake fails. Runs in: the caller's thread (blocks for the handshake).
    """
    if kwargs.pop("fire_cont_frame", False):
        raise ValueError("fire_cont_frame is not supported: recv() returns whole messages")
    kwargs.pop("skip_utf8_validation", None)  # always skipped; msgspec validates
    ctor = {k: kwargs.pop(k) for k in ("sockopt", "sslopt", "enable_multithread") if k in kwargs}
    ws = DeflateWebSocket(compression=compression, **ctor)
    ws.settimeout(timeout)
    ws.connect(url, header=header, timeout=timeout, **kwargs)
    return ws
