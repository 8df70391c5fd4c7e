"""``upbit-hub plugins``: list discovered plugins and their status. Runs in: the main thread.

Example output::

    NAME      STATE       DISTRIBUTION     TARGET                           ERROR
    breakout  loaded      my-plugins 0.1   my_plugins.breakout:Breakout     -
    broken    load_error  my-plugins 0.1   my_plugins.broken:Thing          import failed: ...
    2 plugin(s), 1 not loaded

``upbit-hub plugins NAME ...`` lists only those names (an unknown one is ``not_found``, with a
"did you mean"). ``--config PATH`` also checks a settings file: the plugins of its enabled
``[[components]]`` join the table, and every problem of the file (schema, plugin, params) is
listed on stderr as ``check-config`` does.

Exit status: 0 when every listed plugin loaded (and the file, if given, is valid); 1 when any
plugin failed to load or was not found, or the file has problems. The table always prints, so
a script can both read it and test the status.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
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
    parser.add_argument(
        "--config", metavar="PATH", default=None,
        help="also check the plugins and params of this settings file's components",
    )  # fmt: skip


def format_table(statuses: Sequence[PluginStatus]) -> str:
    """Render status records as an aligned text table. Runs in: any thread."""
    rows = [_HEADERS] + [
        (s.name, s.state, s.dist or "-", s.value or "-", s.error or "-") for s in statuses
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADERS) - 1)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(r, widths, strict=False)), r[-1]])
             for r in rows]  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)


def main(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the plugin table; return 1 if a plugin (or the file) has a problem, else 0.

    Runs in: the main thread.
    """
    out, err = out or sys.stdout, err or sys.stderr
    names = list(getattr(args, "names", None) or []) or None
    config = getattr(args, "config", None)
    statuses = discover_plugins(names)
    problems: list[str] = []
    if config:
        from upbit_hub.config.check_cmd import check

        _, problems = check(config)
        configured = _configured_plugins(config)
        statuses.update(discover_plugins([n for n in configured if n not in statuses]))
    if not statuses:
        print(f"no plugins found in entry-point group {GROUP!r}", file=out)
    else:
        print(format_table(sorted(statuses.values(), key=lambda s: s.name)), file=out)
        broken = sum(s.state != "loaded" for s in statuses.values())
        print(f"{len(statuses)} plugin(s), {broken} not loaded", file=out)
    if problems:
        print(f"{config}: {len(problems)} problem(s)", file=err)
        for problem in problems:
            print(f"  - {problem}", file=err)
    out.flush()
    failed = any(s.state != "loaded" for s in statuses.values())
    return 1 if failed or problems else 0


def _configured_plugins(path: str) -> list[str]:
    """Plugin names of the enabled ``[[components]]`` of the file (best effort, raw TOML)."""
    try:
        with open(path, "rb") as fh:
            comps = tomllib.load(fh).get("components")
    except (OSError, ValueError):  # unreadable or not TOML: check() reported it
        return []
    if not isinstance(comps, list):
        return []
    return list(dict.fromkeys(
        c["plugin"] for c in comps
        if isinstance(c, dict) and isinstance(c.get("plugin"), str) and c.get("enabled", True)
    ))  # fmt: skip
