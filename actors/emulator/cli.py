"""``upbit-hub emulate``: serve the local Upbit emulator until SIGINT/SIGTERM.

Runs in: the main thread (the emulator itself runs on its own loop thread).

The FIRST line printed is the base URL, e.g. ``http://127.0.0.1:41235`` (tools read it);
REST is under ``/v1/...``, WebSockets at ``/websocket/v1`` and ``/websocket/v1/private``, the
fault-control REST under ``/_emulator/...`` (see ``server_control``). Then come the lines to
paste into a shell so that a program using the hub talks to this emulator: the URL overrides
the settings loader reads (``config.loader.ENV_OVERRIDES``) and the key variables named by the
``[auth]`` defaults, holding the key pair this emulator accepts. All of it is flushed at once.
Exit status 0 on SIGINT/SIGTERM, 2 when it cannot start (e.g. the port is taken) or an option
is bad (one line, e.g. ``argument --port: must be a port number from 0 to 65535 ...``).

Defaults: ``--host 127.0.0.1``, ``--port 0`` (a free port), ``--markets`` the simulator's
default KRW markets, ``--rate 100`` messages/s (0 pauses trading), ``--seed 7``,
``--idle-timeout 60``. The default key pair ``emulator-access-key`` / ``emulator-secret-key`` is
public and only good for the emulator; pass your own with ``--access-key`` / ``--secret-key``
if you like (they are printed back in the ``export`` lines: they are this emulator's keys).

Example::

    $ upbit-hub emulate --port 8080 --rate 2000 --drop-every 30
    http://127.0.0.1:8080
    export UPBIT_HUB_REST_URL=http://127.0.0.1:8080
    export UPBIT_HUB_WEBSOCKET_URL=ws://127.0.0.1:8080/websocket/v1
    export UPBIT_HUB_PRIVATE_WEBSOCKET_URL=ws://127.0.0.1:8080/websocket/v1/private
    export UPBIT_ACCESS_KEY=emulator-access-key
    export UPBIT_SECRET_KEY=emulator-secret-key
"""

from __future__ import annotations

import argparse
import logging
import shlex
import signal
import sys
import threading

from upbit_hub.actors.cli_args import (
    log_level,
    market_codes,
    non_negative_float,
    port,
    positive_float,
    positive_int,
)

__all__ = ["add_arguments", "environment_lines", "main"]

log = logging.getLogger(__name__)


def environment_lines(base_url: str, access_key: str, secret_key: str) -> list[str]:
    """The ``export NAME=value`` lines that point a hub program at ``base_url``.

    URL variables are those of ``config.loader.ENV_OVERRIDES`` (the values
    ``Settings.with_emulator`` would give); key variables are the ``[auth]`` defaults.
    Values are shell-quoted where needed. Runs in: the main thread.
    """
    from upbit_hub.config.loader import ENV_OVERRIDES
    from upbit_hub.config.settings import AuthSettings, Settings

    upbit = Settings().with_emulator(base_url).upbit
    auth = AuthSettings()
    pairs = [(var, getattr(upbit, key)) for var, (section, key) in ENV_OVERRIDES.items()
             if section == "upbit"]  # fmt: skip
    pairs += [(auth.access_key_env, access_key), (auth.secret_key_env, secret_key)]
    return [f"export {name}={shlex.quote(value)}" for name, value in pairs]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``emulate`` options to ``parser``. Runs in: the main thread."""
    g = parser.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    g.add_argument("--port", type=port, default=0, help="port; 0 picks a free one (default 0)")
    g.add_argument("--markets", type=market_codes, default=None,
                   help="comma-separated market codes (default: the simulator's KRW markets)")
    g.add_argument("--rate", type=non_negative_float, default=100.0,
                   help="market messages per second, all types together; 0 pauses trading "
                        "(default 100)")
    g.add_argument("--seed", type=int, default=7, help="market random seed (default 7)")
    g.add_argument("--tick-ms", type=positive_int, default=10,
                   help="market step period in ms (default 10)")
    g.add_argument("--access-key", default=None,
                   help="API access key the emulator accepts (default: the public emulator key)")
    g.add_argument("--secret-key", default=None,
                   help="API secret key (default: the public emulator secret)")
    g.add_argument("--spelling", choices=("java", "plain"), default="java",
                   help="number spelling in frames: Upbit's Java style (default) or plain")
    g.add_argument("--no-control", action="store_true",
                   help="do not serve the /_emulator/... control REST")
    g.add_argument("--log-level", type=log_level, default="WARNING",
                   help="DEBUG, INFO, WARNING, ERROR or CRITICAL, any case (default WARNING)")
    f = parser.add_argument_group("faults and strictness")
    f.add_argument("--idle-timeout", type=positive_float, default=60.0,
                   help="drop sockets silent both ways for this long (default 60 s)")
    f.add_argument("--drop-every", type=positive_float, default=None, metavar="SECONDS",
                   help="drop every WebSocket (no close frame) this often")
    f.add_argument("--text-frames", action="store_true",
                   help="send text frames instead of Upbit's binary frames")
    f.add_argument("--up-period", type=positive_float, default=10.0,
                   help="{\"status\":\"UP\"} period after a text PING (default 10 s)")
    f.add_argument("--auth-fails-upgrade", action="store_true",
                   help="bad JWT on /private: HTTP 401 at the upgrade, not INVALID_AUTH")
    f.add_argument("--ignore-camel-case", action="store_true",
                   help="ignore isOnlySnapshot/isOnlyRealtime (accept snake_case only)")
    f.add_argument("--connect-limit", type=positive_int, default=5,
                   help="WebSocket upgrades per second per IP (default 5)")


def main(args: argparse.Namespace) -> int:
    """Run the emulator until SIGINT/SIGTERM; return the exit status. Runs in: the main thread."""
    logging.basicConfig(level=getattr(logging, log_level(str(args.log_level))),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from upbit_hub.actors.emulator.auth import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY
    from upbit_hub.actors.emulator.market import DEFAULT_MARKETS
    from upbit_hub.actors.emulator.server import Emulator

    access_key = args.access_key or DEFAULT_ACCESS_KEY
    secret_key = args.secret_key or DEFAULT_SECRET_KEY
    try:
        emu = Emulator(
            host=args.host, port=args.port, markets=args.markets or DEFAULT_MARKETS,
            rate=args.rate, seed=args.seed, tick_ms=args.tick_ms,
            access_key=access_key, secret_key=secret_key,
            idle_timeout=args.idle_timeout, spelling=args.spelling,
            binary_frames=not args.text_frames, up_period=args.up_period,
            auth_fails_upgrade=args.auth_fails_upgrade,
            accept_camel_case=not args.ignore_camel_case, connect_limit=args.connect_limit,
            drop_every=args.drop_every, control=not args.no_control,
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
        print(emu.base_url)  # the first line: tools read it
        for line in environment_lines(emu.base_url, access_key, secret_key):
            print(line)
        sys.stdout.flush()
        while not done.wait(0.5):
            pass
    finally:
        emu.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
