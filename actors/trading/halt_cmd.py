"""``upbit-hub halt``: the kill switch from the command line. Runs in: the main thread.

    upbit-hub halt --reason "strategy misbehaves"    # on: new orders denied, open ones cancelled
    upbit-hub halt --status                          # is it on?
    upbit-hub halt --reset                           # off again

The switch is the file ``<journal>.halt`` beside the order journal of the account (``[trading]
journal_path``, else the per-key default, which needs the access key variable named in
``[auth]``). A running hub looks at it every second, so this reaches it without any network
port; a hub started while it exists starts halted. Exit status: 0, or 1 on a settings error.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this subcommand's arguments. Runs in: the main thread."""
    parser.add_argument("--config", metavar="PATH",
                        help="settings file (default: $UPBIT_HUB_CONFIG, else default.toml)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--reset", action="store_true", help="turn the kill switch off")
    what.add_argument("--status", action="store_true", help="only say whether it is on")
    parser.add_argument("--reason", default="halted from the command line",
                        help="why (shown in every denial and in the status view)")


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Turn the switch on, off, or report it. Runs in: the main thread."""
    from upbit_hub.actors.protocol.errors import ConfigError, CredentialsError
    from upbit_hub.config.loader import load_settings

    from .desk import default_journal_path, halt_file_of

    out = out or sys.stdout
    try:
        settings = load_settings(args.config)
        journal = settings.trading.journal_path
        if not journal:
            access_key, _ = settings.auth.read_keys()
            journal = str(default_journal_path(access_key))
    except (ConfigError, CredentialsError) as exc:
        print(f"upbit-hub halt: {exc}", file=sys.stderr)
        return 1
    switch = halt_file_of(journal)
    if args.status:
        state = switch.read_text(encoding="utf-8").strip() if switch.exists() else ""
        print(f"kill switch ON: {state}" if switch.exists() else "kill switch off", file=out)
        return 0
    if args.reset:
        existed = switch.exists()
        switch.unlink(missing_ok=True)
        print("kill switch off" + ("" if existed else " (it was not on)") + f" ({switch})",
              file=out)  # fmt: skip
        return 0
    switch.parent.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    switch.write_text(f"{args.reason} (upbit-hub halt, {stamp})\n", encoding="utf-8")
    print(f"kill switch ON ({switch}): a running hub denies new orders and cancels open "
          "ones within about a second; `upbit-hub halt --reset` turns it off", file=out)
    return 0
