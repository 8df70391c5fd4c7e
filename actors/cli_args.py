"""Checked option values for the ``upbit-hub`` subcommands: argparse ``type=`` functions.

Pure: no I/O, no pykka. Each function takes the option's text and returns the parsed value or
raises :class:`argparse.ArgumentTypeError` with a message that says what is wanted, so a bad
option is one line on stderr and exit status 2, through argparse's own error path::

    $ upbit-hub emulate --port 99999
    usage: upbit-hub emulate [-h] [--host HOST] [--port PORT] ...
    upbit-hub emulate: error: argument --port: must be a port number from 0 to 65535, got 99999

Use::

    parser.add_argument("--status-interval", type=positive_float, default=5.0)
    parser.add_argument("--log-level", type=log_level, default="WARNING")

Runs in: the main thread (argparse calls them while parsing).
"""

from __future__ import annotations

import argparse
import math
import re

__all__ = [
    "LOG_LEVELS",
    "log_level",
    "market_codes",
    "non_negative_float",
    "non_negative_int",
    "port",
    "positive_float",
    "positive_int",
    "replay_speed",
    "speed",
]

LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
# the same shape as config.settings.MarketCode
_MARKET = re.compile(r"^[A-Z]{2,6}-[A-Z0-9]{1,20}$")


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_float(text: str) -> float:
    """A finite number > 0 (intervals, periods, timeouts): ``"0.5"`` -> ``0.5``."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0 (rates where 0 means paused): ``"0"`` -> ``0.0``."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (counts, milliseconds): ``"10"`` -> ``10``."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """A whole number >= 0: ``"0"`` -> ``0``."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def port(text: str) -> int:
    """A TCP port 0 to 65535 (0 lets the system pick a free one): ``"8080"`` -> ``8080``."""
    value = _integer(text)
    if not 0 <= value <= 65_535:
        raise argparse.ArgumentTypeError(
            f"must be a port number from 0 to 65535 (0 picks a free port), got {text}"
        )
    return value


def log_level(text: str) -> str:
    """A logging level name in any case, returned upper case: ``"debug"`` -> ``"DEBUG"``.

    ``warn`` and ``fatal`` are taken as ``WARNING`` and ``CRITICAL``.
    """
    name = text.strip().upper()
    name = _LEVEL_ALIASES.get(name, name)
    if name not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"unknown log level {text!r}: use one of {', '.join(LOG_LEVELS)} (any case)"
        )
    return name


def market_codes(text: str) -> tuple[str, ...]:
    """Comma-separated market codes: ``"KRW-BTC, KRW-ETH"`` -> ``("KRW-BTC", "KRW-ETH")``."""
    codes = tuple(c.strip() for c in text.split(",") if c.strip())
    if not codes:
        raise argparse.ArgumentTypeError("needs at least one market code, e.g. KRW-BTC,KRW-ETH")
    bad = [c for c in codes if not _MARKET.match(c)]
    if bad:
        raise argparse.ArgumentTypeError(
            f"market codes look like KRW-BTC (upper case QUOTE-BASE), got {', '.join(bad)}"
        )
    dups = sorted({c for c in codes if codes.count(c) > 1})
    if dups:
        raise argparse.ArgumentTypeError(f"lists {', '.join(dups)} more than once")
    return codes


def speed(text: str) -> float | None:
    """A replay speed: ``max`` -> None (as fast as possible), ``1x`` -> 1.0, ``10x`` -> 10.0,
    ``0.5x`` (the ``x`` may be left out)."""
    t = text.strip().lower()
    if t == "max":
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)x?", t)
    if not m or float(m.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"expected max, 1x or Nx (e.g. 10x), got {text!r}")
    return float(m.group(1))


def replay_speed(text: str) -> float:
    """A wall-clock replay speed, as :func:`speed` but without ``max``: ``"10x"`` -> 10.0."""
    value = speed(text)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"expected 1x or Nx (e.g. 10x; a server replays on a clock, so no max), got {text!r}")
    return value
