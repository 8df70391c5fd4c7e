"""The ``upbit-hub`` command line. Runs in: the main thread.

Subcommands live in their own modules and are imported only when chosen, so ``upbit-hub
--help`` stays fast and a broken subsystem cannot break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module relative to upbit_hub.actors, one-line help)
_COMMANDS: dict[str, tuple[str, str]] = {
    "emulate": (".emulator.cli", "serve the local Upbit emulator (REST + WebSocket)"),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand's own arguments."""
    parser = argparse.ArgumentParser(prog="upbit-hub", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_text) in _COMMANDS.items():
        mod = importlib.import_module(module, "upbit_hub.actors")
        sp = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_arguments(sp)
        sp.set_defaults(_handler=mod.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args._handler(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
