"""Timestamps as Upbit sends them, normalised for comparison. Pure: no I/O.

Upbit documents every timestamp as Unix **milliseconds**, but public recordings show it once
sent an orderbook ``timestamp`` in microseconds (``1691530805062000``, August 2023). Code that
orders or compares times across sources (WebSocket against REST, say) must not be thrown by
such a value: :func:`epoch_ms` reads seconds, milliseconds, microseconds or nanoseconds by
their magnitude and returns milliseconds.

>>> epoch_ms(1691530805062), epoch_ms(1691530805062000), epoch_ms(1691530805.062)
(1691530805062, 1691530805062, 1691530805062)

Events keep the value exactly as received; only comparisons use the normalised one.
Runs in: any thread.
"""

from __future__ import annotations

__all__ = ["epoch_ms"]

# Unix times between 2001 and 2286 in each unit: seconds < 1e10 <= ms < 1e13 <= us < 1e16...
_MS_MAX = 10**13
_US_MAX = 10**16
_S_MAX = 10**10


def epoch_ms(value: int | float | None) -> int:
    """``value`` (Unix seconds, ms, µs or ns, told apart by magnitude) in milliseconds; 0 for
    None or a non-positive value. Runs in: any thread."""
    if value is None or value <= 0:
        return 0
    if value < _S_MAX:
        return round(value * 1000)
    if value < _MS_MAX:
        return int(value)
    if value < _US_MAX:
        return int(value) // 1000
    return int(value) // 1_000_000
