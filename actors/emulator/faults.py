"""Fault injection for the emulator: drops, stalls, refusals, bad frames, auth and REST trouble.

:class:`Faults` is thread-safe: each method hops onto the emulator loop thread (or runs there
directly when called from it, as the ``/_emulator/faults/...`` control routes do) and returns
once the fault is in place. The state the server consults on every upgrade, frame and REST call
lives in :class:`FaultState` (loop thread only).

=====================================  =====================================================
``drop_all(close_frame=False)``        every socket: TCP aborted (1006) or close frame 1001
``stall(seconds)``                     sockets stay open, nothing is sent, then data resumes
                                       (what the market did meanwhile is lost, as on Upbit)
``refuse_connections(seconds, 503)``   upgrades answered with HTTP 503 (or 429) for a while
``send_malformed()``                   one non-JSON binary frame to every socket
``send_error(name, message)``          ``{"error":...}`` frame to every socket, then close 1000
``reject_auth(True/False/seconds)``    every JWT refused (``Authenticator.reject_all``)
``set_rate(msgs_per_s)``               market speed (0 pauses trading)
``rest_throttle(seconds)``             every REST call answers 429 for a while
``drop_every(seconds or None)``        drop every socket (no close frame) periodically
``order_faults(kind, count=1, ...)``   the next accepted ``POST /v1/orders`` (and
                                       ``cancel_and_new``) calls: ``accept_then_drop``,
                                       ``accept_then_5xx``, ``delay`` (see ``faults_orders``)
``clear()``                            end every fault above
=====================================  =====================================================
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from upbit_hub.actors.emulator.faults_orders import OrderFault, set_order_faults

if TYPE_CHECKING:
    import asyncio

    from upbit_hub.actors.emulator.server_core import ServerCore

__all__ = ["MALFORMED_FRAME", "FaultState", "Faults"]

log = logging.getLogger(__name__)

#: what ``send_malformed`` sends: a frame cut off mid-object
MALFORMED_FRAME = b'{"type":"ticker","code":"KRW-BTC","trade_price":1.1'


@dataclass
class FaultState:
    """Faults in force. Times are ``time.monotonic()`` deadlines. Loop thread only."""

    stalled_until: float = 0.0
    refuse_until: float = 0.0
    refuse_status: int = 503
    rest_throttle_until: float = 0.0
    reject_auth_handle: asyncio.TimerHandle | None = None
    drop_every: float | None = None
    drop_handle: asyncio.TimerHandle | None = None
    order_fault: OrderFault | None = None

    def stalled(self) -> bool:
        """True while a stall is in force."""
        return self.stalled_until > time.monotonic()


# ---------------------------------------------------------------------- loop-thread operations


def drop_all(core: ServerCore, close_frame: bool = False, code: int = 1001) -> int:
    """Drop every open socket; return how many. Runs in: the emulator loop thread."""
    sessions = [s for s in core.sessions.values() if not s.transport.is_closing()]
    for s in sessions:
        if close_frame:
            s.close_soon(0.0, code)
        else:
            s.abort()
    log.info("fault: dropped %d sockets (close frame: %s)", len(sessions), close_frame)
    return len(sessions)


def stall(core: ServerCore, seconds: float) -> None:
    """Send nothing for ``seconds``. Runs in: the emulator loop thread."""
    core.fault_state.stalled_until = time.monotonic() + seconds


def refuse_connections(core: ServerCore, seconds: float, status: int = 503) -> None:
    """Refuse upgrades with ``status`` for ``seconds``. Runs in: the emulator loop thread."""
    if status not in (429, 503, 500, 502, 418):
        raise ValueError(f"refuse status must be 429, 503, 500, 502 or 418, not {status}")
    core.fault_state.refuse_until = time.monotonic() + seconds
    core.fault_state.refuse_status = status


def send_malformed(core: ServerCore) -> int:
    """Send :data:`MALFORMED_FRAME` to every socket. Runs in: the emulator loop thread."""
    sessions = [s for s in core.sessions.values() if not s.closing]
    for s in sessions:
        s.send_now(MALFORMED_FRAME, "malformed")
    return len(sessions)


def send_error(core: ServerCore, name: str, message: str) -> int:
    """Error frame to every socket, then close 1000. Runs in: the emulator loop thread."""
    sessions = [s for s in core.sessions.values() if not s.closing]
    for s in sessions:
        core.send_error(s, name, message)
    return len(sessions)


def reject_auth(core: ServerCore, value: bool | float) -> None:
    """Refuse every JWT: True/False switches, a number of seconds refuses for that long."""
    state = core.fault_state
    if state.reject_auth_handle is not None:
        state.reject_auth_handle.cancel()
        state.reject_auth_handle = None
    if isinstance(value, bool):
        core.auth.reject_all = value
        return
    core.auth.reject_all = True

    def _restore() -> None:
        state.reject_auth_handle = None
        core.auth.reject_all = False

    state.reject_auth_handle = core.loop.call_later(float(value), _restore)


def set_rate(core: ServerCore, msgs_per_s: float) -> None:
    """Set the market's total message rate. Runs in: the emulator loop thread."""
    if msgs_per_s < 0:
        raise ValueError("rate must be >= 0")
    core.market.rate = float(msgs_per_s)


def rest_throttle(core: ServerCore, seconds: float) -> None:
    """Answer every REST call with 429 for ``seconds``. Runs in: the emulator loop thread."""
    core.fault_state.rest_throttle_until = time.monotonic() + seconds


def drop_every(core: ServerCore, seconds: float | None) -> None:
    """Drop every socket (no close frame) each ``seconds``; None or 0 stops it."""
    state = core.fault_state
    if state.drop_handle is not None:
        state.drop_handle.cancel()
        state.drop_handle = None
    state.drop_every = seconds if seconds else None
    if not state.drop_every:
        return
    period = state.drop_every

    def _tick() -> None:
        drop_all(core, close_frame=False)
        state.drop_handle = core.loop.call_later(period, _tick)

    state.drop_handle = core.loop.call_later(period, _tick)


def clear(core: ServerCore) -> None:
    """End every fault. Runs in: the emulator loop thread."""
    state = core.fault_state
    state.stalled_until = state.refuse_until = state.rest_throttle_until = 0.0
    state.order_fault = None
    reject_auth(core, False)
    drop_every(core, None)


# ---------------------------------------------------------------------- thread-safe facade


class Faults:
    """Thread-safe fault switches of one running emulator (see the module docstring).

    ``call`` runs a function with the server core on the emulator loop thread and returns its
    result (the emulator supplies it). Runs in: any thread.
    """

    def __init__(self, call: Callable[[Callable[[ServerCore], Any]], Any]) -> None:
        self._call = call

    def drop_all(self, close_frame: bool = False, code: int = 1001) -> int:
        """Drop every socket, with a close frame (``code``) or without (client sees 1006)."""
        return self._call(lambda core: drop_all(core, close_frame, code))

    def stall(self, seconds: float) -> None:
        """Keep sockets open but send nothing for ``seconds``."""
        self._call(lambda core: stall(core, seconds))

    def refuse_connections(self, seconds: float, status: int = 503) -> None:
        """Answer WebSocket upgrades with HTTP ``status`` (503 or 429) for ``seconds``."""
        self._call(lambda core: refuse_connections(core, seconds, status))

    def send_malformed(self) -> int:
        """Send one non-JSON frame to every socket; return how many got it."""
        return self._call(send_malformed)

    def send_error(self, name: str = "INVALID_PARAM", message: str = "fault injection") -> int:
        """Send ``{"error":{"name","message"}}`` to every socket, then close them (1000)."""
        return self._call(lambda core: send_error(core, name, message))

    def reject_auth(self, value: bool | float = True) -> None:
        """Refuse every JWT: True/False, or a number of seconds."""
        self._call(lambda core: reject_auth(core, value))

    def set_rate(self, msgs_per_s: float) -> None:
        """Market speed in messages per second of all types (0 pauses trading)."""
        self._call(lambda core: set_rate(core, msgs_per_s))

    def rest_throttle(self, seconds: float) -> None:
        """Every REST call answers 429 for ``seconds``."""
        self._call(lambda core: rest_throttle(core, seconds))

    def drop_every(self, seconds: float | None) -> None:
        """Drop every socket each ``seconds`` (None stops)."""
        self._call(lambda core: drop_every(core, seconds))

    def order_faults(
        self,
        kind: str,
        count: int | None = 1,
        delay_s: float = 5.0,
        probability: float | None = None,
        status: int = 500,
        seed: int | None = None,
    ) -> None:
        """Fault the next ``count`` accepted order calls (``POST /v1/orders`` and
        ``cancel_and_new``): ``accept_then_drop`` (placed, connection reset, no answer),
        ``accept_then_5xx`` (placed, ``status`` 500/502/503 instead of 201) or ``delay``
        (placed, the 201 held back ``delay_s``). ``probability``: fault each accepted call
        with that chance (seeded by ``seed`` or the emulator's seed), at most ``count`` times
        (None: until :meth:`clear`)."""
        self._call(lambda core: set_order_faults(core, kind, count, delay_s, probability,
                                                 status, seed))

    def clear(self) -> None:
        """End every fault in force."""
        self._call(clear)


def error_payload(name: str, message: str) -> bytes:
    """``{"error":{"name":..,"message":..}}`` as UTF-8 JSON bytes."""
    return json.dumps({"error": {"name": name, "message": message}}, ensure_ascii=False,
                      separators=(",", ":")).encode()
