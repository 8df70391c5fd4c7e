"""Order faults: the order is placed, the answer never arrives (or arrives broken or late).

These are the failures an order path must survive without placing an order twice: the
client cannot tell from the answer whether the order exists, and must find out (``GET
/v1/order?identifier=``) before it retries. A fault applies to ``POST /v1/orders`` and ``POST
/v1/orders/cancel_and_new`` calls the exchange ACCEPTED (answer 201); calls refused by auth,
validation or the rate limiter pass untouched and do not use up the fault's count.

=====================  ======================================================================
``accept_then_drop``   the order is placed, then the TCP connection is reset (RST) without any
                       HTTP answer
``accept_then_5xx``    the order is placed, then ``status`` (500: Upbit-style JSON error body;
                       502/503: an HTML gateway page, not JSON) instead of the 201
``delay``              the order is placed at once, the 201 is held back ``delay_s`` (make it
                       longer than the client's read timeout)
=====================  ======================================================================

``order_faults(kind, count=1)`` faults the next ``count`` accepted calls; with
``probability=p`` each accepted call is faulted with probability ``p`` (seeded, so a chaos
run replays), at most ``count`` times (``count=None``: until ``clear()``).

Runs in: the emulator loop thread (state and the aiohttp answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from aiohttp import web

if TYPE_CHECKING:
    from upbit_hub.actors.emulator.server_core import ServerCore

__all__ = [
    "ORDER_FAULT_KINDS",
    "ORDER_FAULT_PATHS",
    "OrderFault",
    "answer_with_fault",
    "set_order_faults",
    "take_order_fault",
]

log = logging.getLogger(__name__)

ORDER_FAULT_KINDS: Final = ("accept_then_drop", "accept_then_5xx", "delay")
#: POST paths the order faults apply to
ORDER_FAULT_PATHS: Final = frozenset({"/v1/orders", "/v1/orders/cancel_and_new"})
_5XX_STATUSES: Final = (500, 502, 503)
_GATEWAY_PAGE: Final = (
    "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}"
    "</h1></center></body></html>"
)


@dataclass
class OrderFault:
    """An order fault in force (``remaining`` None: unlimited). Loop thread only."""

    kind: str
    remaining: int | None
    delay_s: float
    status: int
    probability: float | None
    rng: random.Random


def set_order_faults(
    core: ServerCore,
    kind: str,
    count: int | None = 1,
    delay_s: float = 5.0,
    probability: float | None = None,
    status: int = 500,
    seed: int | None = None,
) -> None:
    """Put an order fault in force (replacing any other). Runs in: the emulator loop thread.

    Raises ValueError for an unknown kind, a bad count/probability/status or a negative delay.
    """
    if kind not in ORDER_FAULT_KINDS:
        raise ValueError(f"unknown order fault {kind!r}; one of {', '.join(ORDER_FAULT_KINDS)}")
    if count is not None and count < 1:
        raise ValueError(f"count must be >= 1 (or None for no limit), got {count}")
    if count is None and probability is None:
        raise ValueError("count=None (no limit) needs a probability; else every order fails")
    if probability is not None and not 0.0 < probability <= 1.0:
        raise ValueError(f"probability must be in (0, 1], got {probability}")
    if status not in _5XX_STATUSES:
        raise ValueError(f"status must be one of {_5XX_STATUSES}, got {status}")
    if delay_s < 0:
        raise ValueError(f"delay_s must be >= 0, got {delay_s}")
    rng = random.Random(core.config.seed if seed is None else seed)
    core.fault_state.order_fault = OrderFault(kind, count, float(delay_s), status, probability,
                                              rng)
    log.info("fault: order fault %s (count %s, probability %s)", kind, count, probability)


def take_order_fault(core: ServerCore) -> OrderFault | None:
    """The fault to apply to one accepted order call, if any (uses up one of its count).

    Runs in: the emulator loop thread.
    """
    plan = core.fault_state.order_fault
    if plan is None:
        return None
    if plan.probability is not None and plan.rng.random() >= plan.probability:
        return None
    if plan.remaining is not None:
        plan.remaining -= 1
        if plan.remaining <= 0:
            core.fault_state.order_fault = None
    return replace(plan)


def _reset(request: web.Request) -> None:
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:  # linger 0: close sends RST, the client sees "connection reset"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            log.debug("SO_LINGER not settable; the drop closes with FIN", exc_info=True)
    transport.abort()


async def answer_with_fault(
    request: web.Request, fault: OrderFault, response: web.Response, stopping: asyncio.Event
) -> web.StreamResponse:
    """What the client gets instead of ``response`` (the real 201) under ``fault``.

    A held answer (``delay``) goes out early when ``stopping`` is set (the emulator stops).
    Runs in: the emulator loop thread (an aiohttp handler awaits it).
    """
    if fault.kind == "accept_then_drop":
        _reset(request)
        return response  # aiohttp drops the write to the closed transport quietly
    if fault.kind == "accept_then_5xx":
        if fault.status == 500:
            return web.Response(
                status=500, content_type="application/json", charset="utf-8",
                text='{"error":{"name":"server_error","message":"Internal Server Error"}}',
            )
        reason = "Bad Gateway" if fault.status == 502 else "Service Temporarily Unavailable"
        return web.Response(status=fault.status, content_type="text/html",
                            text=_GATEWAY_PAGE.format(status=fault.status, reason=reason))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), fault.delay_s)
    return response
