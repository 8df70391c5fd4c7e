"""Number spelling for emulator frames: how Upbit's Java backend prints numbers.

Upbit serialises numbers like a Java service (protocol.md 3.1, live probe 2026-09):

- DEFAULT orderbook prices as ``Double.toString``: ``1.16539E8``;
- DEFAULT sizes with BigDecimal trailing zeros: ``0.00077720``, ``1.83604250``;
- other DEFAULT prices plain with ``.0``: ``109847000.0``;
- SIMPLE prices plain: ``116606000``; SIMPLE small sizes in exponent form: ``7.9276E-4``.

Every spelling here is a valid JSON number and parses back (``Decimal(text)``) to exactly the
Decimal it was made from: the digits are the Decimal's own, never a float round trip.

Pure functions. Runs in: any thread (the emulator loop thread in practice).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Context, Decimal
from typing import Final

__all__ = [
    "SPELLERS",
    "java_double",
    "plain",
    "plain_dot0",
    "plain_int",
    "scale8",
]

_ZERO: Final = Decimal(0)
_MILLI: Final = Decimal("0.001")
_TEN_MILLION: Final = Decimal(10_000_000)
_CTX: Final = Context(prec=200)


def java_double(value: Decimal) -> str:
    """Spell ``value`` as Java's ``Double.toString`` would, using the Decimal's digits.

    Plain with at least one fractional digit for ``1e-3 <= |x| < 1e7``, else
    ``d.ddddE±n`` (``1.16539E8``, ``7.9276E-4``, ``5.0E-4``); zero is ``0.0``.

    >>> java_double(Decimal("116539000")), java_double(Decimal("0.00079276"))
    ('1.16539E8', '7.9276E-4')
    """
    if not value:
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return "0.0"
    if not value.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    mag = value.copy_abs()
    if _MILLI <= mag < _TEN_MILLION:
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0")
            return text + "0" if text[-1] == "." else text
        return text + ".0"
    text = format(value.normalize(_CTX), "E")  # '1.16539E+8', '5E-4'
    mant, _, exp = text.partition("E")
    if "." not in mant:
        mant += ".0"
    return f"{mant}E{exp[1:] if exp[0] == '+' else exp}"


def plain(value: Decimal) -> str:
    """Plain decimal text, never an exponent, the Decimal's own scale: ``0.00509799``."""
    return format(value, "f")


def plain_dot0(value: Decimal) -> str:
    """Plain decimal text with at least one fractional digit: ``109847000.0``."""
    text = format(value, "f")
    if "." not in text:
        return text + ".0"
    return text


def plain_int(value: Decimal) -> str:
    """Integral values without a fraction (``116606000``), others plain (``0.5``)."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(_CTX), "f")


def scale8(value: Decimal) -> str:
    """BigDecimal scale-8 text with trailing zeros (``0.00077720``); more digits stay plain."""
    text = format(value, "f")
    dot = text.find(".")
    if dot < 0:
        return text + ".00000000"
    short = 9 - (len(text) - dot)
    return text + "0" * short if short > 0 else text


#: Spelling functions by style name (see render.py for which field uses which style).
SPELLERS: Final[dict[str, Callable[[Decimal], str]]] = {
    "java": java_double,
    "plain": plain,
    "dot0": plain_dot0,
    "int": plain_int,
    "scale8": scale8,
}
