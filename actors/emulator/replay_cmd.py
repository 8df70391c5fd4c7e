"""``upbit-hub replay``: serve a recording through the emulator until SIGINT/SIGTERM.

::

    upbit-hub replay FILE [FILE...] [--speed 1x|Nx] [--port P] [--host H] [--wait-for-subscriber]

Each FILE is a recorder plugin recording (with its rotated backups ``FILE.1``...); several
are merged by the time their events were received. The emulator then serves exactly the
recorded markets: WebSocket subscribers get the recorded ticker, trade, orderbook and candle
events at the recorded pace times ``--speed`` (SNAPSHOT of the latest replayed state on
subscribe, then REALTIME, in the format they ask), and REST quotation answers from what has
been replayed so far, so the hub's gap-fill backfills a dropped socket's trades from the
recording. Fault control (``/_emulator/...``) and the private endpoints work as with
``upbit-hub emulate`` (the account is the emulator's simulated one, matching against the
replayed books). The clock starts when the server is up (with ``--wait-for-subscriber``: at
the first public WebSocket subscription, so a hub started afterwards sees the recording from
its first event); at the end of the recording the server stays up with the last state and
logs ``replay finished: N events``.

Output as ``upbit-hub emulate``: the FIRST line printed is the base URL, then the ``export``
lines (see :func:`~upbit_hub.actors.emulator.cli.environment_lines`). Exit status 0 on
SIGINT/SIGTERM, 2 for a bad option or a missing, unreadable, undecodable or empty recording
(one line naming the file) or when the server cannot start.

Runs in: the main thread (the emulator runs on its own loop thread).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from upbit_hub.actors.cli_args import log_level, port, positive_float, replay_speed

__all__ = ["add_arguments", "main"]

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``replay`` options to ``parser``. Runs in: the main thread."""
    parser.add_argument("recordings", nargs="+", metavar="FILE",
                        help="recorder JSON-lines file(s), each with its rotated backups")
    parser.add_argument("--speed", type=replay_speed, default=1.0, metavar="1x|Nx",
                        help="replay pace: 1x as recorded (default), 10x ten times faster")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=0,
                        help="port; 0 picks a free one (default 0)")
    parser.add_argument("--access-key", default=None,
                        help="API access key the emulator accepts (default: the public key)")
    parser.add_argument("--secret-key", default=None,
                        help="API secret key (default: the public emulator secret)")
    parser.add_argument("--idle-timeout", type=positive_float, default=60.0,
                        help="drop sockets silent both ways for this long (default 60 s)")
    parser.add_argument("--wait-for-subscriber", action="store_true",
                        help="start the replay clock at the first public WebSocket "
                             "subscription instead of at once")
    parser.add_argument("--log-level", type=log_level, default="INFO",
                        help="DEBUG, INFO, WARNING, ERROR or CRITICAL, any case (default INFO)")


def main(args: argparse.Namespace) -> int:
    """Replay until SIGINT/SIGTERM; return the exit status. Runs in: the main thread."""
    logging.basicConfig(level=getattr(logging, log_level(str(args.log_level))),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from upbit_hub.actors.backtest.recording import RecordingError
    from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
    from upbit_hub.actors.emulator.cli import environment_lines
    from upbit_hub.actors.emulator.replay import ReplayMarket
    from upbit_hub.actors.emulator.server import Emulator

    access_key = args.access_key or DEFAULT_ACCESS_KEY
    secret_key = args.secret_key or DEFAULT_SECRET_KEY
    try:
        market = ReplayMarket(args.recordings, speed=args.speed, paused=True)
    except (RecordingError, ValueError) as exc:
        print(f"upbit-hub replay: {exc}", file=sys.stderr)
        return 2
    try:
        emu = Emulator(host=args.host, port=args.port, market=market, access_key=access_key,
                       secret_key=secret_key, idle_timeout=args.idle_timeout)
        emu.start()
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"upbit-hub replay: cannot start: {exc}", file=sys.stderr)
        return 2
    try:
        print(emu.base_url)  # the first line: tools read it
        for line in environment_lines(emu.base_url, access_key, secret_key):
            print(line)
        sys.stdout.flush()
        log.info("replaying %d events of %s (%s) at %gx", market.total, ", ".join(market.markets),
                 market.names, market.speed)
        done = threading.Event()
        if args.wait_for_subscriber:
            threading.Thread(target=_play_when_subscribed, args=(emu, market, done),
                             name="replay-wait-for-subscriber", daemon=True).start()
        else:
            market.play()
        _wait_for_signal(done)
    finally:
        emu.stop()
    return 0


def _play_when_subscribed(emu: Any, market: Any, done: threading.Event) -> None:
    """Poll the open sockets until one has a public subscription, then start the replay
    clock. Runs in: its own daemon thread (``emu.connections()`` hops onto the loop)."""
    while not done.wait(0.05):
        try:
            subscribed = any(c.endpoint == "public" and c.subscriptions
                             for c in emu.connections())  # fmt: skip
        except (RuntimeError, TimeoutError):  # the emulator stopped
            return
        if subscribed:
            log.info("first subscriber: replay clock started")
            market.play()
            return


def _wait_for_signal(done: threading.Event) -> None:
    """Block until SIGINT or SIGTERM (handlers restored after); sets ``done``.
    Runs in: the main thread."""

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        done.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not done.wait(0.5):
            pass
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
