"""Control REST of a running emulator, under ``/_emulator/`` (not part of Upbit's API).

Runs in: the emulator loop thread (aiohttp handlers). Lets a test or a user drive faults in an
emulator started with ``upbit-hub emulate`` in another process. Not rate limited, no
``Remaining-Req``. Every call answers JSON; bad parameters -> 400 ``{"error": "..."}``::

    GET  /_emulator/stats                      counters (last 100 requests; ?requests=N)
    GET  /_emulator/connections                open sockets
    POST /_emulator/faults/drop?close_frame=1  drop every socket (0: no close frame, 1006)
    POST /_emulator/faults/stall?seconds=2     send nothing for 2 s
    POST /_emulator/faults/refuse?seconds=5&status=503   refuse upgrades (503 or 429)
    POST /_emulator/faults/malformed           one non-JSON frame to every socket
    POST /_emulator/faults/error?name=INVALID_PARAM&message=boom   error frame + close 1000
    POST /_emulator/faults/reject_auth?seconds=5   (or ?on=1 / ?on=0) refuse every JWT
    POST /_emulator/faults/rate?value=2000     market speed, messages per second
    POST /_emulator/faults/rest_throttle?seconds=3  every REST call 429s
    POST /_emulator/faults/drop_every?seconds=10    periodic drops (0 stops)
    POST /_emulator/faults/orders?kind=accept_then_drop&count=1   order faults: kind is
         accept_then_drop | accept_then_5xx (&status=500|502|503) | delay (&delay_s=5);
         &probability=0.2 faults each accepted order with that chance (count=0: no limit)
    POST /_emulator/faults/clear               end every fault

Example: ``curl -X POST 'http://127.0.0.1:8080/_emulator/faults/drop?close_frame=0'`` ->
``{"ok":true,"dropped":3}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict

from aiohttp import web

from upbit_hub.actors.emulator import faults
from upbit_hub.actors.emulator.faults_orders import set_order_faults
from upbit_hub.actors.emulator.rest import json_response
from upbit_hub.actors.emulator.server_core import ServerCore
from upbit_hub.actors.emulator.server_stats import stats_to_json

__all__ = ["add_control_routes"]

Op = Callable[[ServerCore, web.Request], dict]


class _BadParam(Exception):
    pass


def _float(request: web.Request, name: str, default: float | None = None) -> float:
    raw = request.query.get(name)
    if raw is None:
        if default is None:
            raise _BadParam(f"query parameter {name!r} is required")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _BadParam(f"query parameter {name!r} must be a number, not {raw!r}") from None
    if value < 0:
        raise _BadParam(f"query parameter {name!r} must be >= 0")
    return value


def _flag(request: web.Request, name: str, default: bool) -> bool:
    raw = request.query.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _drop(core: ServerCore, r: web.Request) -> dict:
    return {"dropped": faults.drop_all(core, _flag(r, "close_frame", False))}


def _stall(core: ServerCore, r: web.Request) -> dict:
    faults.stall(core, _float(r, "seconds"))
    return {}


def _refuse(core: ServerCore, r: web.Request) -> dict:
    try:
        faults.refuse_connections(core, _float(r, "seconds"), int(_float(r, "status", 503)))
    except ValueError as exc:
        raise _BadParam(str(exc)) from None
    return {}


def _malformed(core: ServerCore, r: web.Request) -> dict:
    return {"sent": faults.send_malformed(core)}


def _error(core: ServerCore, r: web.Request) -> dict:
    name = r.query.get("name", "INVALID_PARAM")
    message = r.query.get("message", "fault injection")
    return {"sent": faults.send_error(core, name, message)}


def _reject_auth(core: ServerCore, r: web.Request) -> dict:
    if "seconds" in r.query:
        faults.reject_auth(core, _float(r, "seconds"))
    else:
        faults.reject_auth(core, _flag(r, "on", True))
    return {}


def _rate(core: ServerCore, r: web.Request) -> dict:
    faults.set_rate(core, _float(r, "value"))
    return {}


def _rest_throttle(core: ServerCore, r: web.Request) -> dict:
    faults.rest_throttle(core, _float(r, "seconds"))
    return {}


def _drop_every(core: ServerCore, r: web.Request) -> dict:
    faults.drop_every(core, _float(r, "seconds") or None)
    return {}


def _orders(core: ServerCore, r: web.Request) -> dict:
    probability = r.query.get("probability")
    count = int(_float(r, "count", 1))
    try:
        set_order_faults(
            core, r.query.get("kind", ""), count or None, _float(r, "delay_s", 5.0),
            _float(r, "probability") if probability is not None else None,
            int(_float(r, "status", 500)),
        )
    except ValueError as exc:
        raise _BadParam(str(exc)) from None
    return {}


def _clear(core: ServerCore, r: web.Request) -> dict:
    faults.clear(core)
    return {}


_FAULT_OPS: dict[str, Op] = {
    "drop": _drop,
    "stall": _stall,
    "refuse": _refuse,
    "malformed": _malformed,
    "error": _error,
    "reject_auth": _reject_auth,
    "rate": _rate,
    "rest_throttle": _rest_throttle,
    "drop_every": _drop_every,
    "orders": _orders,
    "clear": _clear,
}


def _fault_handler(core: ServerCore, op: Op) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        core.stats.rest_requests["control"] += 1
        try:
            result = op(core, request)
        except _BadParam as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response({"ok": True, **result})

    return handler


def add_control_routes(app: web.Application, core: ServerCore) -> None:
    """Mount ``/_emulator/...`` on ``app``."""

    async def stats(request: web.Request) -> web.Response:
        core.stats.rest_requests["control"] += 1
        try:
            n = int(_float(request, "requests", 100))
        except _BadParam as exc:
            return json_response({"error": str(exc)}, 400)
        return json_response(stats_to_json(core.snapshot_stats(), last_requests=n))

    async def connections(request: web.Request) -> web.Response:
        core.stats.rest_requests["control"] += 1
        return json_response([asdict(c) for c in core.connection_infos()])

    app.router.add_get("/_emulator/stats", stats, allow_head=False)
    app.router.add_get("/_emulator/connections", connections, allow_head=False)
    for name, op in _FAULT_OPS.items():
        app.router.add_post(f"/_emulator/faults/{name}", _fault_handler(core, op))
