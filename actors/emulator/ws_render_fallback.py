"""TEMPORARY stand-in for render.py (MARKET helper) until it lands. Plain number spelling."""

from __future__ import annotations

import msgspec

from upbit_hub.actors.protocol.fields import FIELDS_BY_TYPE, to_simple

_ENCODER = msgspec.json.Encoder(decimal_format="number")


def render(obj: dict, fmt: str, *, stream_type: str | None = None, spelling: str = "java") -> bytes:
    o = dict(obj)
    if stream_type is not None:
        o["stream_type"] = stream_type
    if fmt.startswith("SIMPLE"):
        o = to_simple(o, FIELDS_BY_TYPE.get(o.get("type", ""), ()))
    out = [o] if fmt.endswith("LIST") else o
    return _ENCODER.encode(out)


def render_orderbook(obj: dict, fmt: str, *, depth: int = 30, level: int = 0,
                     stream_type: str | None = None, spelling: str = "java") -> bytes | None:
    if level not in (0, None):
        return None
    o = dict(obj)
    o["orderbook_units"] = o["orderbook_units"][:depth]
    return render(o, fmt, stream_type=stream_type, spelling=spelling)
