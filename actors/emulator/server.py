"""The emulator's Python API: one :class:`Emulator` = one aiohttp app on one host:port.

REST under ``/v1/...``, WebSocket at ``/websocket/v1`` and ``/websocket/v1/private``, fault
control under ``/_emulator/...``. Everything runs in ONE asyncio event loop on ONE daemon
thread ("the emulator loop thread"); the market simulator and the exchange are plain objects
called only from there. The methods below are thread-safe: they hop onto the loop and wait.

    with Emulator(rate=500, idle_timeout=5) as emu:
        ws = websocket.create_connection(emu.ws_url)
        ws.send('[{"ticket":"t"},{"type":"ticker","codes":["KRW-BTC"]}]')
        ws.recv()   # b'{"type":"ticker","code":"KRW-BTC",...,"stream_type":"SNAPSHOT"}'
        emu.faults.drop_all()          # the client sees 1006
        emu.stats().requests[-1].subscriptions

Runs in: any thread (the public methods); the loop thread runs everything else.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from aiohttp import web

from upbit_hub.actors.emulator.auth import (
    DEFAULT_ACCESS_KEY,
    DEFAULT_SECRET_KEY,
    Authenticator,
    Credentials,
)
from upbit_hub.actors.emulator.exchange import Exchange
from upbit_hub.actors.emulator.faults import Faults
from upbit_hub.actors.emulator.market import DEFAULT_MARKETS, MarketSimulator
from upbit_hub.actors.emulator.server_config import (
    ConnectionInfo,
    EmulatorConfig,
    EmulatorStats,
)
from upbit_hub.actors.emulator.server_core import ServerCore

__all__ = ["Emulator"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_CALL_TIMEOUT = 10.0


class Emulator:
    """A local Upbit: WebSocket + REST + market simulation + fault injection.

    Extra keyword arguments are :class:`EmulatorConfig` fields (``up_period``,
    ``error_close_delay``, ``auth_fails_upgrade``, ``connect_limit``, ``rest_limits``,
    ``rest_block_seconds``, ``maker_fee_rate``, ``taker_fee_rate``, ``market_warnings``,
    ``delisting_dates``, ...).
    The default key pair (``emulator-access-key`` / ``emulator-secret-key``) is public and
    only good for the emulator. ``market`` replaces the simulator with another market of the
    same interface, e.g. a :class:`~upbit_hub.actors.emulator.replay.ReplayMarket` playing a
    recording; the markets served are then its ``markets`` (``markets``, ``rate``, ``seed``
    and the warning options are not used for it).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        markets: Sequence[str] = DEFAULT_MARKETS,
        rate: float = 100.0,
        seed: int = 7,
        access_key: str = DEFAULT_ACCESS_KEY,
        secret_key: str = DEFAULT_SECRET_KEY,
        idle_timeout: float = 60.0,
        spelling: str = "java",
        binary_frames: bool = True,
        tick_ms: int = 10,
        balances: Mapping[str, Decimal] | None = None,
        market: Any = None,
        **options: Any,
    ) -> None:
        if spelling not in ("java", "plain"):
            raise ValueError(f"spelling must be 'java' or 'plain', not {spelling!r}")
        if tick_ms < 1:
            raise ValueError("tick_ms must be >= 1")
        if market is not None:
            markets = tuple(market.markets)
        self.config = EmulatorConfig(
            host=host, port=port, markets=tuple(markets), rate=rate, seed=seed,
            access_key=access_key, secret_key=secret_key, balances=balances,
            idle_timeout=idle_timeout, spelling=spelling, binary_frames=binary_frames,
            tick_ms=tick_ms, **options,
        )
        self.market = market if market is not None else MarketSimulator(
            tuple(markets), seed=seed, rate=rate, warnings=self.config.market_warnings,
            delisting_dates=self.config.delisting_dates,
        )
        self.exchange = Exchange(
            self.market, balances=balances, maker_fee_rate=self.config.maker_fee_rate,
            taker_fee_rate=self.config.taker_fee_rate,
        )
        self.auth = Authenticator(Credentials(access_key, secret_key))
        self.faults = Faults(self._call)
        self.host = host
        self.port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._core: ServerCore | None = None
        self._ready = threading.Event()
        self._start_error: BaseException | None = None
        self._stop_event: asyncio.Event | None = None
        self._final_stats: EmulatorStats | None = None
        self._stopped = False

    # ------------------------------------------------------------------ URLs

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` (the REST base, without ``/v1``)."""
        return f"http://{self._url_host()}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://HOST:PORT/websocket/v1``."""
        return f"ws://{self._url_host()}:{self.port}/websocket/v1"

    @property
    def private_ws_url(self) -> str:
        """``ws://HOST:PORT/websocket/v1/private``."""
        return f"ws://{self._url_host()}:{self.port}/websocket/v1/private"

    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self._core is not None and not self._stopped

    def start(self) -> Emulator:
        """Start serving; returns once listening (port 0 picks a free port).

        Runs in: the caller's thread (it waits for the loop thread).
        """
        if self._thread is not None:
            raise RuntimeError("this Emulator was already started; create a new one")
        sock = socket.create_server((self.host, self.port), reuse_port=False)
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(sock,),
                                        name=f"upbit-emulator-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=15):
            raise RuntimeError("the emulator did not start within 15 s")
        if self._start_error is not None:
            self._thread.join(timeout=5)
            raise RuntimeError(f"the emulator failed to start: {self._start_error}") \
                from self._start_error
        log.info("emulator serving on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Close every socket, stop serving and join the loop thread. Idempotent.

        Runs in: any thread but the loop thread.
        """
        thread, loop = self._thread, self._loop
        if thread is None or self._stopped:
            return
        if thread is threading.current_thread():
            raise RuntimeError("Emulator.stop() cannot run on the emulator loop thread")
        self._stopped = True
        if loop is not None and self._stop_event is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._stop_event.set)
            except RuntimeError:  # loop already closed
                pass
        thread.join(timeout=20)
        if thread.is_alive():
            log.warning("the emulator loop thread did not end within 20 s")

    def __enter__(self) -> Emulator:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, sock: socket.socket) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(sock))
        except BaseException as exc:  # pragma: no cover - reported through start()
            self._start_error = self._start_error or exc
            self._ready.set()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    async def _serve(self, sock: socket.socket) -> None:
        from upbit_hub.actors.emulator.server_app import build_app

        try:
            core = ServerCore(self.config, self.market, self.exchange, self.auth)
            app = build_app(core)
            runner = web.AppRunner(app, handle_signals=False, access_log=None,
                                   shutdown_timeout=1.0)
            await runner.setup()
            site = web.SockSite(runner, sock)
            await site.start()
            core.start()
        except BaseException as exc:
            sock.close()
            self._start_error = exc
            self._ready.set()
            return
        self._stop_event = asyncio.Event()
        self._core = core
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            self._final_stats = core.snapshot_stats()
            await core.shutdown()
            await runner.cleanup()

    # ------------------------------------------------------------------ thread hop

    def _call(self, fn: Callable[[ServerCore], T], timeout: float = _CALL_TIMEOUT) -> T:
        """Run ``fn(core)`` on the loop thread and return its result (or raise its error)."""
        core, loop = self._core, self._loop
        if core is None or loop is None or self._stopped:
            raise RuntimeError("the emulator is not running (call start() first)")
        if self._thread is threading.current_thread():
            return fn(core)
        fut: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                fut.set_result(fn(core))
            except BaseException as exc:
                fut.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return fut.result(timeout)

    # ------------------------------------------------------------------ views

    def stats(self) -> EmulatorStats:
        """A consistent snapshot of the counters (the final one after :meth:`stop`), incl.
        ``rest_log`` (every ``/v1`` call as a ``RestRecord``; ``rest_calls(method, path,
        identifier=...)`` filters it)."""
        if self._stopped and self._final_stats is not None:
            return self._final_stats
        return self._call(lambda core: core.snapshot_stats())

    def connections(self) -> list[ConnectionInfo]:
        """The open WebSocket connections, oldest first (empty after :meth:`stop`)."""
        if self._stopped:
            return []
        return self._call(lambda core: core.connection_infos())

    def call(self, fn: Callable[[ServerCore], T], timeout: float = _CALL_TIMEOUT) -> T:
        """Run ``fn(core)`` on the emulator loop thread (for tests: touch the market safely)."""
        return self._call(fn, timeout)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped" if self._stopped else "new"
        return f"Emulator({self.base_url}, {state})"
