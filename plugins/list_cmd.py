"""``upbit-hub plugins``: list discovered plugins and their status. Runs in: the main thread.

Example output::

    NAME           STATE       DISTRIBUTION      TARGET                          ERROR
    ticker-logger  loaded      upbit-hub 0.1.0   upbit_hub.plugins.logger:Ticker -
    broken         load_error  my-plugins 0.2    my_plugins.broken:Thing         import failed: ...

Exit status is 0 even when some plugins are broken: they are reported, not fatal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from upbit_hub.plugins.discovery import GROUP, PluginStatus, discover_plugins

__all__ = ["add_arguments", "format_table", "main"]

_HEADERS = ("NAME", "STATE", "DISTRIBUTION", "TARGET", "ERROR")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this subcommand's arguments. Runs in: the main thread."""
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="only these plugins (default: all discovered)"
    )


def format_table(statuses: Sequence[PluginStatus]) -> str:
    """Render status records as an aligned text table. Runs in: any thread."""
    rows = [_HEADERS] + [
        (s.name, s.state, s.dist or "-", s.value or "-", s.error or "-") for s in statuses
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADERS) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]])
             for r in rows]  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the plugin table; return 0. Runs in: the main thread."""
    out = out or sys.stdout
    names = list(getattr(args, "names", None) or []) or None
    statuses = list(discover_plugins(names).values())
    if not statuses:
        print(f"no plugins found in entry-point group {GROUP!r}", file=out)
        return 0
    print(format_table(sorted(statuses, key=lambda s: s.name)), file=out)
    broken = sum(s.state != "loaded" for s in statuses)
    print(f"{len(statuses)} plugin(s), {broken} not loaded", file=out)
    return 0
