"""The WebSocket endpoints ``/websocket/v1`` and ``/websocket/v1/private``.

Runs in: the emulator loop thread (aiohttp handler coroutines).

Upgrade (protocol.md 1.2, 7.1): refused with HTTP 503/429 while the ``refuse_connections``
fault is on, 418 while the client IP is blocked for repeated message-rate offences, 429 when
the IP made more than ``connect_limit`` (5) upgrades in the last second. Accepted upgrades
carry ``Remaining-Req: group=websocket; min=300; sec=<n>`` and ``Limit-By-Ip: Yes``;
permessage-deflate is negotiated only when the client offers it. On ``/private`` the
``Authorization: Bearer <jwt>`` header is checked at the upgrade; a refused token is reported
as ``INVALID_AUTH`` when the first request arrives (or HTTP 401 at the upgrade with
``auth_fails_upgrade``).

Messages: a text ``PING`` starts the ``{"status":"UP"}`` timer and is not counted against the
message limit (Upbit does not say; counting it would punish the documented keepalive). Every
other message counts: more than 5 in a second or 100 in a minute -> ``Too Many Requests`` and
close; a second offence from the same IP within a minute -> ``I'm a teapot`` and the IP's
upgrades are refused (418) for ``teapot_seconds``. Client ping frames are answered with a pong
here (autoping off, so pings count as activity for the idle timer); the server never pings.
"""

from __future__ import annotations

import json
import logging
import time

from aiohttp import WSMsgType, web

from upbit_hub.actors.emulator.auth import AuthFailure, token_access_key
from upbit_hub.actors.emulator.limits import WindowedCounter
from upbit_hub.actors.emulator.server_config import RequestRecord
from upbit_hub.actors.emulator.server_core import ServerCore
from upbit_hub.actors.emulator.server_fanout import list_subscriptions_reply, subscription_tuples
from upbit_hub.actors.emulator.ws_request import MESSAGES, RequestRejected, parse_request
from upbit_hub.actors.emulator.ws_session import WsSession

__all__ = ["TEAPOT", "TOO_MANY_REQUESTS", "handle_ws"]

log = logging.getLogger(__name__)

TOO_MANY_REQUESTS = "Too Many Requests"
TEAPOT = "I'm a teapot"
_RAW_LOG_CHARS = 2000


def _refuse(core: ServerCore, status: int, text: str, remaining: int | None = None) -> web.Response:
    core.stats.refuse(status)
    headers = {"Limit-By-Ip": "Yes"}
    if remaining is not None:
        headers["Remaining-Req"] = f"group=websocket; min=300; sec={remaining}"
    return web.Response(status=status, text=text, headers=headers)


def _record(core: ServerCore, session: WsSession, kind: str, raw: str, **kw: object) -> None:
    core.stats.requests.append(
        RequestRecord(session.id, session.endpoint, time.monotonic(), kind,
                      raw[:_RAW_LOG_CHARS], **kw)  # type: ignore[arg-type]
    )


async def handle_ws(core: ServerCore, request: web.Request, endpoint: str) -> web.StreamResponse:
    """Upgrade and serve one WebSocket until it closes. ``endpoint``: public or private."""
    cfg = core.config
    ip = request.remote or "unknown"
    now = time.monotonic()
    state = core.fault_state
    if state.refuse_until > now:
        return _refuse(core, state.refuse_status, "Service unavailable (fault injection)")
    blocked = core.offences.blocked_for(ip, now)
    if blocked > 0:
        return _refuse(core, 418, f"I'm a teapot: blocked for {blocked:.0f} s after repeated "
                                  "rate-limit violations")
    # Upbit: 5 connects/s per IP, or per account when the upgrade carries a JWT (protocol.md 7.1)
    account = token_access_key(request.headers.get("Authorization"))
    window = core.connect_window(f"account:{account}" if account else ip)
    if not window.hit(now):
        return _refuse(core, 429, "Too many requests", remaining=0)
    authenticated = endpoint == "public"
    if endpoint == "private":
        try:
            core.auth.verify_ws(request.headers.get("Authorization"))
            authenticated = True
        except AuthFailure as exc:
            log.info("private upgrade with a refused token (%s)", exc.name)
            if cfg.auth_fails_upgrade:
                core.stats.refuse(401)
                body = {"error": {"name": "INVALID_AUTH", "message": MESSAGES["INVALID_AUTH"]}}
                return web.Response(status=401, body=json.dumps(body, ensure_ascii=False).encode(),
                                    headers={"Content-Type": "application/json;charset=UTF-8"})
    ws = web.WebSocketResponse(compress=True, autoping=False, timeout=cfg.close_timeout,
                               max_msg_size=1 << 20)
    ws.headers["Remaining-Req"] = f"group=websocket; min=300; sec={window.remaining(now)}"
    ws.headers["Limit-By-Ip"] = "Yes"
    if not ws.can_prepare(request).ok:
        core.stats.refuse(400)
        return web.Response(status=400, text="WebSocket upgrade expected")
    await ws.prepare(request)
    transport = request.transport
    if transport is None:  # the client vanished during the handshake
        return ws
    core.stats.connects_accepted += 1
    session = WsSession(
        core.next_id(), endpoint, ws, transport, ip,  # type: ignore[arg-type]
        binary=cfg.binary_frames, idle_timeout=cfg.idle_timeout, up_period=cfg.up_period,
        max_buffer_bytes=cfg.max_buffer_bytes, stats=core.stats, on_dirty=core.mark_dirty,
        is_stalled=core.is_stalled,
    )
    session.authenticated = authenticated
    core.register(session)
    limiter = WindowedCounter((cfg.message_limit_per_s, 1.0), (cfg.message_limit_per_min, 60.0))
    try:
        while True:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED,
                            WSMsgType.ERROR):
                break
            session.touch()
            if msg.type is WSMsgType.PING:
                if not session.transport.is_closing():
                    await ws.pong(msg.data)
            elif msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                try:
                    _on_message(core, session, limiter, msg.data)
                except Exception:  # an emulator bug: keep serving, but say so loudly
                    log.exception("connection %s: handling a client message failed", session.id)
    except Exception:
        log.debug("connection %s ended with an error", session.id, exc_info=True)
    finally:
        core.unregister(session)
        await session.finish(cfg.close_timeout + 0.5)
    return ws


def _on_message(core: ServerCore, session: WsSession, limiter: WindowedCounter,
                data: str | bytes) -> None:
    """Handle one client text/binary message. Runs in: the emulator loop thread."""
    if session.closing:
        return
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    if text == "PING":
        _record(core, session, "ping", text)
        session.start_up_emitter()
        return
    cfg = core.config
    if not session.authenticated:
        _record(core, session, "rejected", text, error="INVALID_AUTH")
        core.send_error(session, "INVALID_AUTH", MESSAGES["INVALID_AUTH"])
        return
    now = time.monotonic()
    if not limiter.hit(now):
        if core.offences.offend(session.remote, now):
            name = TEAPOT
            message = (f"요청 제한을 반복해서 초과하여 {cfg.teapot_seconds:g}초 동안 "
                       "요청이 제한됩니다.")
        else:
            name, message = TOO_MANY_REQUESTS, "요청 수 제한을 초과했습니다."
        _record(core, session, "limited", text, error=name)
        core.send_error(session, name, message)
        return
    try:
        parsed = parse_request(text, private=session.endpoint == "private",
                               accept_camel_case=cfg.accept_camel_case)
    except RequestRejected as exc:
        _record(core, session, "rejected", text, error=exc.name)
        core.send_error(session, exc.name, exc.message)
        return
    session.format = parsed.format or "DEFAULT"
    if parsed.method is not None:
        _record(core, session, "list", text, ticket=parsed.ticket, format=session.format,
                subscriptions=subscription_tuples(session.request))
        reply = list_subscriptions_reply(session.request, parsed.ticket, session.format)
        session.send_now(reply, "LIST_SUBSCRIPTIONS")
        return
    _record(core, session, "subscribe", text, ticket=parsed.ticket, format=session.format,
            subscriptions=subscription_tuples(parsed))
    core.fanout.subscribe(session, parsed)
