"""Client order ids: unique without any stored state, short, and sortable by time. Pure.

A ``client_id`` is sent to Upbit as the order's ``identifier``; Upbit keeps every identifier
for one order request only (even one that failed), so ids must never repeat, also across
restarts of the hub. An id is the creation time in ms and 64 random bits, both in base 36
at a fixed width, so ids sort by time as plain strings::

    >>> import random
    >>> new_client_id(1_773_240_059_095, random.Random(7))
    'uh-0mmm5cic7-3ouclqrvpjkmw'
    >>> client_id_time_ms('uh-0mmm5cic7-3ouclqrvpjkmw')
    1773240059095

26 characters of ``[0-9a-z-]``. A seeded ``rng`` makes the ids deterministic (backtests hash
their ledgers); without one the random part comes from the operating system.

Runs in: any thread (the default random source is thread-safe; a passed ``rng`` is the
caller's to guard).
"""

from __future__ import annotations

import random
import secrets
from typing import Final

__all__ = ["CLIENT_ID_PREFIX", "client_id_time_ms", "new_client_id"]

#: Every id starts with this, so the hub's orders stand out in Upbit's order lists.
CLIENT_ID_PREFIX: Final = "uh-"
_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"
_TIME_WIDTH: Final = 9  # 36**9 ms reaches past the year 5000
_RANDOM_WIDTH: Final = 13  # 36**13 > 2**64
_MAX_MS: Final = 36**_TIME_WIDTH - 1


def _base36(value: int, width: int) -> str:
    out = []
    while value:
        value, digit = divmod(value, 36)
        out.append(_DIGITS[digit])
    return "".join(reversed(out)).rjust(width, "0")


def new_client_id(now_ms: int, rng: random.Random | None = None) -> str:
    """A new order id: ``uh-<ms, 9 base-36 digits>-<64 random bits, 13 base-36 digits>``.

    ``now_ms``: the hub clock in Unix milliseconds. ``rng``: a seeded ``random.Random`` for
    reproducible ids (backtests); None uses :mod:`secrets`.

    >>> new_client_id(0, random.Random(1))[:13]
    'uh-000000000-'

    Raises ValueError for a negative or too large ``now_ms``. Runs in: any thread.
    """
    if isinstance(now_ms, bool) or not isinstance(now_ms, int):
        raise ValueError(f"now_ms must be an int (Unix milliseconds), got {now_ms!r}")
    if not 0 <= now_ms <= _MAX_MS:
        raise ValueError(f"now_ms must be between 0 and {_MAX_MS}, got {now_ms}")
    bits = rng.getrandbits(64) if rng is not None else secrets.randbits(64)
    return f"{CLIENT_ID_PREFIX}{_base36(now_ms, _TIME_WIDTH)}-{_base36(bits, _RANDOM_WIDTH)}"


def client_id_time_ms(client_id: str) -> int | None:
    """The creation time (Unix ms) of an id made by :func:`new_client_id`, else None.

    Runs in: any thread.
    """
    prefix, _, rest = client_id.partition(CLIENT_ID_PREFIX)
    stamp, sep, tail = rest.partition("-")
    if prefix or not sep or len(stamp) != _TIME_WIDTH or len(tail) != _RANDOM_WIDTH:
        return None
    if not all(c in _DIGITS for c in stamp + tail):
        return None
    return int(stamp, 36)
