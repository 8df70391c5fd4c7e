"""Assembles the emulator's aiohttp application from its parts.

Runs in: the emulator loop thread (called once at start-up).
"""

from __future__ import annotations

from aiohttp import web

from upbit_hub.actors.emulator.rest import CORE_KEY, add_rest_routes, not_found_middleware
from upbit_hub.actors.emulator.server_control import add_control_routes
from upbit_hub.actors.emulator.server_core import ServerCore
from upbit_hub.actors.emulator.ws_handler import handle_ws

__all__ = ["build_app"]


def build_app(core: ServerCore) -> web.Application:
    """The application: WebSocket endpoints, REST, and (unless disabled) ``/_emulator``."""
    app = web.Application(middlewares=[not_found_middleware], client_max_size=1 << 20)
    app[CORE_KEY] = core

    async def public(request: web.Request) -> web.StreamResponse:
        return await handle_ws(core, request, "public")

    async def private(request: web.Request) -> web.StreamResponse:
        return await handle_ws(core, request, "private")

    app.router.add_get("/websocket/v1", public, allow_head=False)
    app.router.add_get("/websocket/v1/private", private, allow_head=False)
    add_rest_routes(app, core)
    if core.config.control:
        add_control_routes(app, core)
    return app
