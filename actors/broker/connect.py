"""Settings -> a connected nats-py client that reconnects forever and logs what happens.

``connect_kwargs`` turns a :class:`~upbit_hub.config.settings.BrokerSettings` (``[bridge]``,
``[source]`` or the bridge plugin's params merged over them) into ``nats.connect`` keyword
arguments. Secrets come only from the environment variables the settings name and are never
logged. ``connect`` makes the first connection, failing with a clear
:class:`~upbit_hub.actors.protocol.errors.BrokerConnectError`; after that the client retries
forever (``max_reconnect_attempts=-1``; nats-py would give up after 60 tries otherwise).

Runs in: the loop thread (coroutines and callbacks).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from upbit_hub.actors.protocol.errors import BrokerConfigError, BrokerConnectError

log = logging.getLogger(__name__)

#: nats-py's default pending buffer is 2 MiB (~2.4 s of full market): we keep our own spill
#: buffer, so the client's only has to bridge the reconnect itself.
PENDING_SIZE = 32 * 1024 * 1024


@dataclass(slots=True)
class LinkState:
    """What the callbacks saw; read by status views (plain values, any thread)."""

    connected: bool = False
    url: str = ""
    disconnects: int = 0
    reconnects: int = 0
    errors: int = 0
    last_error: str | None = None
    down_since: float | None = None
    closing: bool = False  # set before a deliberate close: no "reconnecting" warning
    listeners: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def connect_kwargs(cfg: Any, environ: Mapping[str, str]) -> dict[str, Any]:
    """``nats.connect`` keyword arguments for ``cfg`` (a BrokerSettings-shaped object).

    Raises :class:`BrokerConfigError` when a named variable is unset or a TLS file cannot be
    loaded. Runs in: any thread.
    """
    kw: dict[str, Any] = {
        "servers": list(cfg.servers),
        "connect_timeout": cfg.connect_timeout_s,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "allow_reconnect": True,
        "pending_size": PENDING_SIZE,
    }
    ca, cert, key = cfg.tls_ca_file, cfg.tls_cert_file, cfg.tls_key_file
    if ca or cert or any(u.startswith("tls://") for u in cfg.servers):
        try:
            ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
            if cert:
                ctx.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as exc:
            raise BrokerConfigError(f"TLS files could not be loaded: {exc}") from exc
        kw["tls"] = ctx
    kw.update(_secrets(cfg, environ))
    return kw


def _secrets(cfg: Any, environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    names = {"user_credentials": cfg.creds_file_env, "user": cfg.user_env,
             "password": cfg.password_env, "token": cfg.token_env}  # fmt: skip
    for kwarg, var in names.items():
        if var is None:
            continue
        value = environ.get(var, "")
        if not value:
            raise BrokerConfigError(f"{var} is not set: export it (it names the NATS "
                                    f"{kwarg.replace('_', ' ')}), or drop it from the settings")
        out[kwarg] = value
    return out


async def connect(cfg: Any, environ: Mapping[str, str], state: LinkState, name: str) -> Any:
    """Connect to ``cfg.servers``; the client reconnects forever afterwards.

    ``state`` is updated by the callbacks; every coroutine in ``state.listeners`` is awaited
    after each reconnect. Raises :class:`BrokerConnectError` when no server answers the first
    time. Runs in: the loop thread.
    """
    import nats

    async def error_cb(exc: Exception) -> None:
        state.errors += 1
        state.last_error = f"{type(exc).__name__}: {exc}"[:200]
        log.warning("%s: NATS error: %s", name, state.last_error)

    async def disconnected_cb() -> None:
        if state.connected and not state.closing:
            state.disconnects += 1
            state.down_since = time.monotonic()
            log.warning("%s: disconnected from NATS; reconnecting", name)
        state.connected = False

    async def reconnected_cb() -> None:
        state.connected = True
        state.reconnects += 1
        state.down_since = None
        state.url = _url(nc)
        log.info("%s: reconnected to NATS at %s", name, state.url)
        for listener in list(state.listeners):
            try:
                await listener()
            except Exception:
                log.exception("%s: after-reconnect step failed", name)

    async def closed_cb() -> None:
        state.connected = False

    kw = connect_kwargs(cfg, environ)
    nc = nats.NATS()
    try:
        # the first connect must fail fast and clearly, not retry forever
        probe = {**kw, "max_reconnect_attempts": 1, "reconnect_time_wait": 0.05}
        limit = cfg.connect_timeout_s * 2 * len(cfg.servers) + 1.0
        await asyncio.wait_for(nc.connect(**probe, error_cb=_quiet, name=name), limit)
    except Exception as exc:
        try:
            await nc.close()
        except Exception:
            pass
        servers = ", ".join(cfg.servers)
        raise BrokerConnectError(
            f"cannot reach NATS at {servers}: {type(exc).__name__}: {exc or 'no answer'} "
            "(is nats-server running with -js? check [bridge]/[source] servers, TLS, creds)"
        ) from exc
    await nc.close()
    nc = nats.NATS()
    await nc.connect(**kw, name=name, error_cb=error_cb, disconnected_cb=disconnected_cb,
                     reconnected_cb=reconnected_cb, closed_cb=closed_cb)  # fmt: skip
    state.connected = True
    state.url = _url(nc)
    return nc


async def _quiet(exc: Exception) -> None:
    log.debug("NATS connect probe: %s", exc)


def _url(nc: Any) -> str:
    try:
        u = nc.connected_url
        return f"{u.scheme}://{u.hostname}:{u.port}" if u is not None else ""
    except Exception:
        return ""
