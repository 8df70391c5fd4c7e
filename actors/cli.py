"""The ``upbit-hub`` command line. Runs in: the main thread.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``main(args) -> int``. Modules are imported when the parser is built; one that fails to import
is still listed and reports its import error when chosen, so a broken subsystem cannot take the
other subcommands down with it.

``upbit-hub --version`` prints ``upbit-hub 0.1.0`` (``upbit_hub.__version__``). Options are
checked by the ``type=`` functions of :mod:`upbit_hub.actors.cli_args`: a bad value is one
line on stderr (``upbit-hub emulate: error: argument --port: ...``) and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# subcommand -> (module, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("upbit_hub.actors.run_cmd", "start the hub and the configured components"),
    "emulate": ("upbit_hub.actors.emulator.cli", "serve the local Upbit emulator"),
    "replay": ("upbit_hub.actors.emulator.replay_cmd", "serve a recording through the emulator"),
    "plugins": ("upbit_hub.plugins.list_cmd", "list discovered plugins and their status"),
    "check-config": ("upbit_hub.config.check_cmd", "validate a settings file"),
    "halt": ("upbit_hub.actors.trading.halt_cmd", "the kill switch: deny and cancel orders"),
    "backtest": ("upbit_hub.actors.backtest.cli",
                 "run the configured components on recorded data, with simulated fills"),
}


def _broken(name: str, exc: BaseException) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        print(f"upbit-hub {name}: unavailable: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2

    return handler


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand's own arguments.

    Runs in: the main thread.
    """
    import upbit_hub

    parser = argparse.ArgumentParser(
        prog="upbit-hub", description="Upbit real-time data hub for synchronous Python."
    )
    parser.add_argument(
        "--version", action="version", version=f"upbit-hub {upbit_hub.__version__}"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in _COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        try:
            mod = importlib.import_module(module)
        except Exception as exc:  # reported when the command is chosen
            sp.add_argument("rest", nargs=argparse.REMAINDER)
            sp.set_defaults(_handler=_broken(name, exc))
            continue
        mod.add_arguments(sp)
        sp.set_defaults(_handler=mod.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code.

    Runs in: the main thread.
    """
    args = build_parser().parse_args(argv)
    return int(args._handler(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
