"""A tiny blocking WebSocket probe for tests and scripts that poke the emulator (or Upbit).

Built on plain websocket-client (no hub, no actors). Runs in: the caller's thread.

    probe = WsProbe.connect(emu.ws_url)
    probe.send_json([{"ticket": "t"}, {"type": "ticker", "codes": ["KRW-BTC"]}])
    first = probe.recv_json(timeout=5)          # {"type": "ticker", ..., "stream_type": "SNAPSHOT"}
    probe.close()

:meth:`WsProbe.wait_closed` tells how the server ended the connection: the close code it sent,
or 1006 when the TCP connection was dropped without a close frame.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import websocket
from websocket import ABNF

__all__ = ["ABNORMAL_CLOSURE", "Frame", "WsProbe"]

ABNORMAL_CLOSURE = 1006


class Frame:
    """One received frame: ``opcode`` (1 text, 2 binary, 8 close, 9 ping, 10 pong), ``data``."""

    __slots__ = ("at", "data", "opcode")

    def __init__(self, opcode: int, data: bytes, at: float) -> None:
        self.opcode = opcode
        self.data = data
        self.at = at

    def json(self) -> Any:
        """The payload decoded as JSON."""
        return json.loads(self.data)

    def __repr__(self) -> str:
        return f"Frame(opcode={self.opcode}, data={self.data[:120]!r})"


class WsProbe:
    """A connected websocket-client socket with frame-level helpers."""

    def __init__(self, ws: websocket.WebSocket) -> None:
        self.ws = ws
        self.opened_at = time.monotonic()
        self.close_code: int | None = None

    @classmethod
    def connect(cls, url: str, *, header: Sequence[str] | None = None,
                timeout: float = 5.0) -> WsProbe:
        """Open ``url`` (extra ``header`` lines such as ``Authorization: Bearer ...``)."""
        ws = websocket.create_connection(url, header=list(header or ()), timeout=timeout,
                                         skip_utf8_validation=True)
        return cls(ws)

    @property
    def headers(self) -> dict[str, str]:
        """The upgrade response headers (lower-case names)."""
        return dict(self.ws.getheaders() or {})

    def send_text(self, text: str) -> None:
        """Send one text frame."""
        self.ws.send(text)

    def send_json(self, obj: object) -> None:
        """Send ``obj`` as a JSON text frame."""
        self.ws.send(json.dumps(obj))

    def recv_frame(self, timeout: float = 5.0) -> Frame:
        """Next frame, control frames included. Raises ``TimeoutError`` or
        ``ConnectionError`` (dropped without close frame: :attr:`close_code` = 1006)."""
        self.ws.settimeout(timeout)
        try:
            op, data = self.ws.recv_data(control_frame=True)
        except (TimeoutError, websocket.WebSocketTimeoutException):
            raise TimeoutError(f"no frame within {timeout}s") from None
        except (websocket.WebSocketConnectionClosedException, ConnectionError, OSError) as exc:
            if self.close_code is None:
                self.close_code = ABNORMAL_CLOSURE
            raise ConnectionError(f"connection dropped: {exc!r}") from None
        if op == ABNF.OPCODE_CLOSE:
            self.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else 1005
        return Frame(op, bytes(data), time.monotonic())

    def recv_json(self, timeout: float = 5.0) -> Any:
        """Next data frame decoded as JSON (control frames skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv_frame(max(0.01, deadline - time.monotonic()))
            if frame.opcode == ABNF.OPCODE_CLOSE:
                raise ConnectionError(f"closed by the server with {self.close_code}")
            if frame.opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY):
                return frame.json()

    def recv_until(self, pred: Callable[[Any], bool], timeout: float = 5.0,
                   ) -> tuple[Any, list[Any]]:
        """Read JSON frames until ``pred(obj)``; return (that obj, every obj read before it)."""
        deadline = time.monotonic() + timeout
        seen: list[Any] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"condition not met within {timeout}s; read {len(seen)} "
                                   f"frames, last: {seen[-3:]!r}")
            obj = self.recv_json(left)
            if pred(obj):
                return obj, seen
            seen.append(obj)

    def collect(self, seconds: float) -> list[Frame]:
        """Every frame received during ``seconds`` (stops early if the server closes)."""
        deadline = time.monotonic() + seconds
        out: list[Frame] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return out
            try:
                frame = self.recv_frame(left)
            except TimeoutError:
                return out
            except ConnectionError:
                return out
            out.append(frame)
            if frame.opcode == ABNF.OPCODE_CLOSE:
                return out

    def wait_closed(self, timeout: float = 5.0) -> int:
        """Read until the server ends the connection; return its close code (1006: dropped)."""
        deadline = time.monotonic() + timeout
        while self.close_code is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"connection still open after {timeout}s")
            try:
                self.recv_frame(left)
            except TimeoutError:
                continue
            except ConnectionError:
                break
        return self.close_code  # type: ignore[return-value]

    def close(self) -> None:
        """Close the socket (politely if still open)."""
        try:
            self.ws.close(timeout=1)
        except Exception:
            self.ws.shutdown()
