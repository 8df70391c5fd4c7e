"""``upbit-hub emulate``: serve the local Upbit emulator until SIGINT/SIGTERM.

Runs in: the main thread (the emulator itself runs on its own loop thread).

The FIRST line printed (flushed at once) is the base URL, e.g. ``http://127.0.0.1:41235``;
REST is under ``/v1/...``, WebSockets at ``/websocket/v1`` and ``/websocket/v1/private``, the
fault-control REST under ``/_emulator/...`` (see ``server_control``). Exit status 0 on
SIGINT/SIGTERM, 2 when it cannot start (e.g. the port is taken).

Defaults: ``--host 127.0.0.1``, ``--port 0`` (a free port), ``--markets`` the simulator's
default KRW markets, ``--rate 100`` messages/s, ``--seed 7``, ``--idle-timeout 60``. The
default key pair ``emulator-access-key`` / ``emulator-secret-key`` is public and only good for
the emulator; pass your own with ``--access-key`` / ``--secret-key`` if you like.

Example::

    $ upbit-hub emulate --port 8080 --rate 2000 --drop-every 30
    http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

__all__ = ["add_arguments", "main"]

log = logging.getLogger(__name__)


def _markets(text: str) -> tuple[str, ...]:
    codes = tuple(c.strip() for c in text.split(",") if c.strip())
    if not codes:
        raise argparse.ArgumentTypeError("--markets needs at least one code, e.g. KRW-BTC,KRW-ETH")
    bad = [c for c in codes if c != c.upper() or "-" not in c]
    if bad:
        raise argparse.ArgumentTypeError(
            f"market codes look like KRW-BTC (upper case QUOTE-BASE); got {', '.join(bad)}")
    return codes


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``emulate`` options to ``parser``. Runs in: the main thread."""
    g = parser.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    g.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default 0)")
    g.add_argument("--markets", type=_markets, default=None,
                   help="comma-separated market codes (default: the simulator's KRW markets)")
    g.add_argument("--rate", type=_positive, default=100.0,
                   help="market messages per second, all types together (default 100)")
    g.add_argument("--seed", type=int, default=7, help="market random seed (default 7)")
    g.add_argument("--tick-ms", type=int, default=10, help="market step period (default 10)")
    g.add_argument("--access-key", default=None,
                   help="API access key the emulator accepts (default: the public emulator key)")
    g.add_argument("--secret-key", default=None,
                   help="API secret key (default: the public emulator secret)")
    g.add_argument("--spelling", choices=("java", "plain"), default="java",
                   help="number spelling in frames: Upbit's Java style (default) or plain")
    g.add_argument("--no-control", action="store_true",
                   help="do not serve the /_emulator/... control REST")
    g.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    f = parser.add_argument_group("faults and strictness")
    f.add_argument("--idle-timeout", type=_positive, default=60.0,
                   help="drop sockets silent both ways for this long (default 60 s)")
    f.add_argument("--drop-every", type=_positive, default=None, metavar="SECONDS",
                   help="drop every WebSocket (no close frame) this often")
    f.add_argument("--text-frames", action="store_true",
                   help="send text frames instead of Upbit's binary frames")
    f.add_argument("--up-period", type=_positive, default=10.0,
                   help="{\"status\":\"UP\"} period after a text PING (default 10 s)")
    f.add_argument("--auth-fails-upgrade", action="store_true",
                   help="bad JWT on /private: HTTP 401 at the upgrade, not INVALID_AUTH")
    f.add_argument("--ignore-camel-case", action="store_true",
                   help="ignore isOnlySnapshot/isOnlyRealtime (accept snake_case only)")
    f.add_argument("--connect-limit", type=int, default=5,
                   help="WebSocket upgrades per second per IP (default 5)")


def main(args: argparse.Namespace) -> int:
    """Run the emulator until SIGINT/SIGTERM; return the exit status. Runs in: the main thread."""
    logging.basicConfig(level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
    from upbit_hub.actors.emulator.market import DEFAULT_MARKETS
    from upbit_hub.actors.emulator.server import Emulator

    try:
        emu = Emulator(
            host=args.host, port=args.port, markets=args.markets or DEFAULT_MARKETS,
            rate=args.rate, seed=args.seed, tick_ms=args.tick_ms,
            access_key=args.access_key or DEFAULT_ACCESS_KEY,
            secret_key=args.secret_key or DEFAULT_SECRET_KEY,
            idle_timeout=args.idle_timeout, spelling=args.spelling,
            binary_frames=not args.text_frames, up_period=args.up_period,
            auth_fails_upgrade=args.auth_fails_upgrade,
            accept_camel_case=not args.ignore_camel_case, connect_limit=args.connect_limit,
            drop_every=args.drop_every or None, control=not args.no_control,
        )
        emu.start()
    except (OSError, RuntimeError, ValueError) as exc:
        print(f"upbit-hub emulate: cannot start: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        log.info("signal %s: stopping", signum)
        done.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(emu.base_url, flush=True)
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
