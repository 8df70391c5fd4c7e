"""``upbit-hub check-config PATH``: validate a settings file. Runs in: the main thread.

Valid: exit 0 and one summary line on stdout, e.g.
``ok: hub.toml: SIMPLE via wss://api.upbit.com/websocket/v1, 2 component(s), 2 enabled``.
Invalid: exit 1 and every problem on stderr, one per line, each naming its key::

    hub.toml: 2 problem(s)
      - unknown key 'upbit.fromat' — did you mean 'format'?
      - components[0].plugin: plugin 'tikcer' not_found: no plugin named 'tikcer' ...

Beyond the schema it checks that every enabled component names a discovered plugin that
loads, and that its ``params`` validate against that plugin's ``Config``.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from typing import TextIO

from upbit_hub.actors.protocol.errors import ConfigError
from upbit_hub.config.loader import load_settings
from upbit_hub.config.settings import ComponentSettings, Settings

__all__ = ["add_arguments", "check", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this subcommand's arguments. Runs in: the main thread."""
    parser.add_argument("path", metavar="PATH", help="settings file (TOML)")
    parser.add_argument(
        "--no-plugins",
        action="store_true",
        help="check only the settings schema, not the plugins and their params",
    )


def check(path: str, *, plugins: bool = True) -> tuple[Settings | None, list[str]]:
    """Return ``(settings or None, every problem)`` for the file at ``path``.

    Environment URL overrides are not applied: this checks the file as written.
    Runs in: the caller's thread.
    """
    try:
        settings = load_settings(path, environ={})
    except ConfigError as exc:
        # the schema failed, but the plugin checks of well-formed entries still count
        return None, exc.problems + (_raw_plugin_problems(path) if plugins else [])
    if not plugins:
        return settings, []
    from upbit_hub.plugins.discovery import resolve_entries  # loads plugin code: only here

    return settings, [p for rc in resolve_entries(settings.components) for p in rc.problems]


def _raw_plugin_problems(path: str) -> list[str]:
    """Plugin problems of the ``[[components]]`` entries that are well-formed on their own."""
    try:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh).get("components")
    except (OSError, ValueError):  # unreadable or not TOML: already reported
        return []
    if not isinstance(raw, list):
        return []
    placeholder = ComponentSettings(plugin="-", id="-", enabled=False)
    entries: list[ComponentSettings] = []
    for entry in raw:
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("plugin"), str)
            and entry.get("enabled", True) is True
            and isinstance(entry.get("params", {}), dict)
        )
        entries.append(
            ComponentSettings(
                plugin=entry["plugin"], id=str(entry.get("id")), params=entry.get("params", {})
            )
            if ok
            else placeholder
        )
    from upbit_hub.plugins.discovery import resolve_entries

    return [p for rc in resolve_entries(entries) if rc.component is not placeholder
            for p in rc.problems]  # fmt: skip


def main(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print a summary (exit 0) or every problem (exit 1). Runs in: the main thread."""
    out, err = out or sys.stdout, err or sys.stderr
    settings, problems = check(args.path, plugins=not getattr(args, "no_plugins", False))
    if problems or settings is None:
        print(f"{args.path}: {len(problems)} problem(s)", file=err)
        for problem in problems:
            print(f"  - {problem}", file=err)
        return 1
    comps = settings.components
    enabled = sum(c.enabled for c in comps)
    print(
        f"ok: {args.path}: {settings.upbit.format} via {settings.upbit.websocket_url}, "
        f"{len(comps)} component(s), {enabled} enabled",
        file=out,
    )
    return 0
