"""Shared fixtures. Tests import the installed package (``--import-mode=importlib``), so
helpers live here as fixtures rather than as importable modules."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest


def _load_broker_fixtures() -> object:
    """tests/broker_fixtures.py (tests are not a package: loaded by path, once, as the module
    ``broker_fixtures``), so its NATS server fixtures serve every broker test module."""
    import importlib.util
    import sys
    from pathlib import Path

    mod = sys.modules.get("broker_fixtures")
    if mod is None:
        spec = importlib.util.spec_from_file_location(
            "broker_fixtures", Path(__file__).with_name("broker_fixtures.py"))
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules["broker_fixtures"] = mod
        spec.loader.exec_module(mod)
    return mod


_broker = _load_broker_fixtures()
nats_server = _broker.nats_server  # type: ignore[attr-defined]
make_nats_server = _broker.make_nats_server  # type: ignore[attr-defined]


def _eventually(pred: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s: {pred}")
        time.sleep(interval)


@pytest.fixture
def eventually() -> Callable[..., object]:
    """``eventually(pred, timeout=5.0)``: poll until ``pred()`` is truthy, else fail.

    Waits on a condition, never a fixed delay: it returns as soon as the condition holds.
    """
    return _eventually


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    """Every test ends with no pykka actor left running."""
    yield
    try:
        import pykka
    except ImportError:  # pragma: no cover
        return
    pykka.ActorRegistry.stop_all(block=True, timeout=10)


# --- emulator fixtures (owned by the emulator SERVER helper) --------------------------------

#: Short-but-realistic settings for tests: Upbit's limits and behaviour, faster timers.
EMULATOR_TEST_SETTINGS: dict = {
    "rate": 200.0,  # market messages per second, all types
    "tick_ms": 10,
    "idle_timeout": 10.0,  # Upbit: ~60 s
    "up_period": 1.0,  # {"status":"UP"} period after a text PING (Upbit: 10 s)
    "error_close_delay": 0.05,  # error frame -> close 1000 (Upbit: ~150 ms)
    "close_timeout": 1.0,
    "teapot_seconds": 5.0,
    "rest_block_seconds": 2.0,
}


@pytest.fixture
def make_emulator() -> Iterator[Callable[..., object]]:
    """``make_emulator(**kw)``: start an Emulator with the test settings overridden by ``kw``.

    Every emulator made is stopped (sockets closed, loop thread joined) after the test.
    """
    from upbit_hub.actors.emulator import Emulator

    started: list = []

    def make(**kw: object) -> object:
        emu = Emulator(**{**EMULATOR_TEST_SETTINGS, **kw})
        started.append(emu)
        return emu.start()

    yield make
    for emu in reversed(started):
        emu.stop()


@pytest.fixture
def emulator(request: pytest.FixtureRequest, make_emulator: Callable[..., object]) -> object:
    """A started Emulator (loopback, free port) with :data:`EMULATOR_TEST_SETTINGS`.

    Override settings indirectly::

        @pytest.mark.parametrize("emulator", [{"idle_timeout": 0.5}], indirect=True)
        def test_x(emulator): ...
    """
    overrides = getattr(request, "param", None) or {}
    return make_emulator(**overrides)


# --- hub fixtures (owned by the lead) --------------------------------------------------------

#: Hub timings for tests: Upbit's limits (messages 4/s, 90/min), faster timers.
HUB_TEST_SETTINGS: dict = {
    "ping_interval_s": 1.0,
    "stale_after_s": 3.0,
    "reconnect_min_s": 0.05,
    "reconnect_max_s": 1.0,
    "stable_after_s": 2.0,
    "coalesce_ms": 20,
    "request_timeout_s": 5.0,
}


@pytest.fixture
def make_hub() -> Iterator[Callable[..., object]]:
    """``make_hub(emulator, **hub_overrides)``: a started Hub pointed at ``emulator``.

    Keys named ``upbit_*``, ``private_*``, ``auth_*`` and ``trading_*`` override those
    sections (e.g. ``upbit_format="DEFAULT"``); the rest override ``[hub]``. ``environ`` replaces
    ``os.environ`` for the API key variables. Every hub made is stopped after the test.
    """
    import msgspec

    from upbit_hub.actors.hub import Hub
    from upbit_hub.config.settings import Settings

    hubs: list = []

    def make(emu: object, *, environ: dict | None = None, **overrides: object) -> object:
        settings = Settings().with_emulator(emu.base_url)  # type: ignore[attr-defined]
        sections: dict[str, dict] = {"upbit": {}, "private": {}, "auth": {}, "trading": {}}
        hub_kw = dict(HUB_TEST_SETTINGS)
        for key, value in overrides.items():
            section, _, name = key.partition("_")
            if section in sections:
                sections[section][name] = value
            else:
                hub_kw[key] = value
        settings = msgspec.structs.replace(
            settings,
            hub=msgspec.structs.replace(settings.hub, **hub_kw),
            **{name: msgspec.structs.replace(getattr(settings, name), **kw)
               for name, kw in sections.items() if kw},
        )
        hub = Hub(settings, environ=environ).start()
        hubs.append(hub)
        return hub

    yield make
    for hub in reversed(hubs):
        hub.stop()


@pytest.fixture
def hub(emulator: object, make_hub: Callable[..., object]) -> object:
    """A started Hub on the ``emulator`` fixture."""
    return make_hub(emulator)


@pytest.fixture
def open_ws() -> Iterator[Callable[..., object]]:
    """``open_ws(url, **kw)``: a plain websocket-client probe (``WsProbe``) of the emulator,
    closed after the test."""
    from upbit_hub.actors.emulator.ws_client import WsProbe

    probes: list = []

    def open_(url: str, **kw: object) -> object:
        probe = WsProbe.connect(url, **kw)
        probes.append(probe)
        return probe

    yield open_
    for p in probes:
        p.close()


# --- signed exchange REST (owned by the emulator EXCHANGE helper) ----------------------------


class _SignedRest:
    """Signs every call like a client: a fresh nonce, ``query_hash`` over the unencoded query
    string (GET/DELETE) or the JSON body rendered as a query string (POST)."""

    def __init__(self, base_url: str, access_key: str | None, secret_key: str | None) -> None:
        import requests

        from upbit_hub.actors.emulator.auth import (
            DEFAULT_ACCESS_KEY,
            DEFAULT_SECRET_KEY,
            Credentials,
        )

        self.base_url = base_url
        self.creds = Credentials(access_key or DEFAULT_ACCESS_KEY,
                                 secret_key or DEFAULT_SECRET_KEY)
        self.http = requests.Session()

    def _auth(self, signed: str) -> dict:
        import uuid

        from upbit_hub.actors.emulator.auth import mint_token

        return {"Authorization": "Bearer " + mint_token(self.creds, str(uuid.uuid4()), signed)}

    def request(self, method: str, path: str, params: object = None, body: dict | None = None,
                timeout: float = 5.0) -> object:
        """``path`` under the base URL (``/v1/orders``); ``params`` a dict or (key, value)
        pairs, sent in order; ``body`` a JSON object."""
        from upbit_hub.actors.emulator.auth import query_string_for_hash

        pairs = list(params.items()) if isinstance(params, dict) else list(params or [])
        query = "&".join(f"{k}={v}" for k, v in pairs)
        signed = query_string_for_hash(body) if body else query
        return self.http.request(method, self.base_url + path, params=pairs or None, json=body,
                                 headers=self._auth(signed), timeout=timeout)

    def get(self, path: str, params: object = None, **kw: object) -> object:
        return self.request("GET", path, params, **kw)

    def delete(self, path: str, params: object = None, **kw: object) -> object:
        return self.request("DELETE", path, params, **kw)

    def post(self, path: str, body: dict, **kw: object) -> object:
        return self.request("POST", path, body=body, **kw)

    def order(self, **body: object) -> object:
        """``POST /v1/orders`` with ``body``."""
        return self.post("/v1/orders", body)


@pytest.fixture
def exchange_rest() -> Iterator[Callable[..., object]]:
    """``exchange_rest(emulator, access_key=None, secret_key=None)``: a signed REST client of
    the emulator's exchange endpoints (``.get/.post/.delete(path, ...)``, ``.order(**body)``)
    returning ``requests`` responses; sessions are closed after the test."""
    clients: list = []

    def make(emu: object, access_key: str | None = None, secret_key: str | None = None
             ) -> object:
        client = _SignedRest(emu.base_url, access_key, secret_key)  # type: ignore[attr-defined]
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.http.close()


# --- a real TCP forwarder that can refuse connections (owned by the lead) ----------------------


class TcpForwarder:
    """Forwards ``127.0.0.1:port`` to ``target``; ``refuse(seconds)`` closes the listening
    socket for a while, so clients get a real ECONNREFUSED (a network fault, not a mock);
    ``cut()`` also closes every link through it (the target sees its client go) and refuses
    until ``restore()``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        import socket
        import threading

        self._socket, self._threading = socket, threading
        self.target = (target_host, target_port)
        probe = socket.create_server(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._listener = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._links: set = set()  # sockets of the open links (both ends)
        self.refused_windows = 0
        self._listen()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listen(self) -> None:
        srv = self._socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        srv.setsockopt(self._socket.SOL_SOCKET, self._socket.SO_REUSEADDR, 1)
        self._listener = srv
        self._threading.Thread(target=self._accept, args=(srv,), daemon=True).start()

    def _accept(self, srv) -> None:
        while not self._stop.is_set():
            try:
                client, _ = srv.accept()
            except OSError:
                return  # closed: refusing, or stopped
            try:
                upstream = self._socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._links.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                self._threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src, dst) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._drop(s)

    def _drop(self, s) -> None:
        with self._lock:
            self._links.discard(s)
        try:
            s.shutdown(self._socket.SHUT_RDWR)  # wakes the other pipe's recv() on it
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass

    def cut(self) -> None:
        """Refuse new links and close every open one, until :meth:`restore`."""
        with self._lock:
            if self._listener is not None:
                self._close_listener()
            links = list(self._links)
        for s in links:
            self._drop(s)

    def restore(self) -> None:
        """Accept links again after :meth:`cut`."""
        self._reopen()

    def refuse(self, seconds: float) -> None:
        """Close the listening socket now; open it again after ``seconds``."""
        with self._lock:
            if self._listener is None:
                return
            self._close_listener()
            self.refused_windows += 1
        timer = self._threading.Timer(seconds, self._reopen)
        timer.daemon = True
        timer.start()

    def _reopen(self) -> None:
        with self._lock:
            if self._listener is None and not self._stop.is_set():
                self._listen()

    def _close_listener(self) -> None:
        srv, self._listener = self._listener, None
        try:
            srv.shutdown(self._socket.SHUT_RDWR)  # wakes the accept() blocked on it
        except OSError:
            pass
        srv.close()

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            if self._listener is not None:
                self._close_listener()


@pytest.fixture
def tcp_forwarder() -> Iterator[Callable[..., TcpForwarder]]:
    """``tcp_forwarder(host, port)``: a :class:`TcpForwarder`, closed after the test."""
    made: list[TcpForwarder] = []

    def make(host: str, port: int) -> TcpForwarder:
        fwd = TcpForwarder(host, port)
        made.append(fwd)
        return fwd

    yield make
    for fwd in made:
        fwd.close()
