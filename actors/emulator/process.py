"""An emulator in its own process, driven over a pipe.

Upbit runs on other machines: its handshakes and fan-out never compete with the client for
the GIL. :class:`EmulatorProcess` gives measurements that depend on timing (the chaos run's
live fraction, reconnect cost) the same footing: the server runs in a spawned child process
started as ``python -m upbit_hub.actors.emulator.process`` (so, unlike a multiprocessing
spawn, it never re-imports the caller's main module), and the parent drives it with pickled
commands over the child's stdin and stdout. Both sides share one command set,
:class:`LocalEmulator` (an emulator in this process with the same methods), which also
records every trade the simulator makes (the ground truth a chaos run checks deliveries
against).

    with EmulatorProcess(markets=("KRW-BTC",), rate=300) as emu:
        hub = Hub(Settings().with_emulator(emu.base_url)).start()
        emu.fault("drop_all", close_frame=False)

Runs in: any thread of the parent (one command at a time, under a lock); the child runs the
emulator's loop thread plus its command loop on its main thread.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
from collections import defaultdict
from typing import IO, Any

_START_TIMEOUT_S = 60.0
_FAULTS = frozenset({"drop_all", "stall", "refuse_connections", "send_malformed",
                     "send_error", "rest_throttle", "order_faults", "clear"})


def _check_fault(name: str) -> None:
    if name not in _FAULTS:
        raise ValueError(f"unknown fault {name!r}; one of {sorted(_FAULTS)}")


class LocalEmulator:
    """A started ``Emulator`` in this process, behind the commands :class:`EmulatorProcess`
    sends to its child (the child serves them with one of these).

    Runs in: any thread (each command runs on the emulator's loop thread or is thread-safe).
    """

    def __init__(self, **emulator_kwargs: Any) -> None:
        from .server import Emulator

        self._emu = Emulator(**emulator_kwargs).start()
        self.base_url: str = self._emu.base_url
        self._trades: dict[str, list[int]] = defaultdict(list)
        self._emu.call(lambda core: core.market.add_trade_listener(
            lambda t: self._trades[t["code"]].append(t["sequential_id"])))

    def fault(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``Emulator.faults.<name>(*args, **kwargs)``; return its result."""
        _check_fault(name)
        return getattr(self._emu.faults, name)(*args, **kwargs)

    def book(self, code: str) -> list[tuple]:
        """The simulator's current book of ``code`` (see ``MarketSimulator.book``)."""
        return self._emu.call(lambda core: core.market.book(code))

    def order_history(self) -> list[dict]:
        """Every myOrder dict the exchange emitted, oldest first."""
        return self._emu.call(lambda core: core.exchange.order_history())

    def connections(self) -> list[Any]:
        """The open WebSocket connections (``ConnectionInfo`` values)."""
        return self._emu.connections()

    def trades(self) -> dict[str, list[int]]:
        """Every trade's ``sequential_id`` per market, in the order the simulator made them."""
        return self._emu.call(lambda core: {c: list(s) for c, s in self._trades.items()})

    def rest_log(self) -> tuple[Any, ...]:
        """Every ``/v1`` REST call so far (``RestRecord`` values), oldest first."""
        return self._emu.stats().rest_log

    def stop(self) -> None:
        """Stop the emulator. Idempotent."""
        self._emu.stop()


class EmulatorProcessError(RuntimeError):
    """The child emulator failed a command, failed to start, or is gone."""


class EmulatorProcess:
    """A started :class:`~upbit_hub.actors.emulator.Emulator` in a child process.

    Keyword arguments are those of ``Emulator`` (picklable values). Commands: :meth:`fault`
    (a method of ``Emulator.faults``, ``order_faults`` included), :meth:`book`,
    :meth:`order_history`, :meth:`connections`, :meth:`trades` (every trade's
    ``sequential_id`` per market since start), :meth:`rest_log`, :meth:`stop`. Raises
    :class:`EmulatorProcessError` if the child does not start.
    """

    def __init__(self, **emulator_kwargs: Any) -> None:
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        self._stopped = False
        timer = threading.Timer(_START_TIMEOUT_S, self._proc.kill)
        timer.start()
        try:
            self.base_url: str = self._ask("start", **emulator_kwargs)
        except EmulatorProcessError:
            self._kill()
            raise
        finally:
            timer.cancel()
            timer.join()

    def _ask(self, command: str, *args: Any, **kwargs: Any) -> Any:
        proc = self._proc
        assert proc.stdin is not None and proc.stdout is not None
        with self._lock:
            try:
                pickle.dump((command, args, kwargs), proc.stdin)
                proc.stdin.flush()
                status, value = pickle.load(proc.stdout)
            except (EOFError, OSError, pickle.UnpicklingError) as exc:
                raise EmulatorProcessError(
                    f"the emulator process is gone (exit code {proc.poll()}): {exc!r}"
                ) from exc
        if status != "ok":
            raise EmulatorProcessError(f"{command} failed in the emulator process: {value}")
        return value

    def fault(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call ``Emulator.faults.<name>(*args, **kwargs)`` in the child; return its result."""
        _check_fault(name)
        return self._ask("fault", name, *args, **kwargs)

    def book(self, code: str) -> list[tuple]:
        """The simulator's current book of ``code`` (see ``MarketSimulator.book``)."""
        return self._ask("book", code)

    def order_history(self) -> list[dict]:
        """Every myOrder dict the exchange emitted, oldest first."""
        return self._ask("order_history")

    def connections(self) -> list[Any]:
        """The open WebSocket connections (``ConnectionInfo`` values)."""
        return self._ask("connections")

    def trades(self) -> dict[str, list[int]]:
        """Every trade's ``sequential_id`` per market, in the order the simulator made them."""
        return self._ask("trades")

    def rest_log(self) -> tuple[Any, ...]:
        """Every ``/v1`` REST call so far (``RestRecord`` values), oldest first."""
        return self._ask("rest_log")

    def stop(self) -> None:
        """Stop the emulator and end the child. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self._proc.poll() is None:
            try:
                self._ask("stop")
                self._proc.wait(20)
            except (EmulatorProcessError, subprocess.TimeoutExpired):
                pass
        self._kill()

    def _kill(self) -> None:
        self._stopped = True
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(5)
        for pipe in (self._proc.stdin, self._proc.stdout):
            if pipe is not None:
                pipe.close()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(commands: IO[bytes], replies: IO[bytes]) -> None:
    """The child's main thread: start a :class:`LocalEmulator` when asked, then run its
    commands until told to stop or the parent goes away (EOF on stdin)."""
    local: LocalEmulator | None = None
    try:
        while True:
            try:
                command, args, kwargs = pickle.load(commands)
            except (EOFError, OSError):
                return
            try:
                if command == "start":
                    local = LocalEmulator(**kwargs)
                    value: Any = local.base_url
                elif local is None:
                    value = None  # "stop" before a successful start
                else:
                    value = getattr(local, command)(*args, **kwargs)
                reply = ("ok", value)
            except Exception as exc:
                reply = ("error", f"{type(exc).__name__}: {exc}")
            pickle.dump(reply, replies)
            replies.flush()
            if command == "stop":
                return
    finally:
        if local is not None:
            local.stop()


if __name__ == "__main__":
    # stdout carries only pickled replies: anything else the child prints goes to stderr
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin.buffer, channel)
