"""Subjects, payloads and message ids of the hub's events on NATS. Pure: no I/O.

- Subject: ``upbit.<type>.<market>`` (``upbit.trade.KRW-BTC``, ``upbit.candle.1m.KRW-BTC``);
  private events under the account: ``upbit.account.<account>.myOrder.<market>`` and
  ``upbit.account.<account>.myAsset``.
- Payload: the event Struct as msgspec msgpack, Upbit's DEFAULT field names (so ``code`` and,
  for trades, ``sequential_id`` are top-level keys; Decimals travel as strings, exact).
- ``Nats-Msg-Id``: a trade's ``sequential_id`` as a decimal string; other events
  ``<type>:<code>:<timestamp>:<stream_type>``. The same event always gets the same id, so a
  republish after a reconnect is de-duplicated by the server.
- ``Upbit-Hub-Seq``: ``<epoch>.<n>``, the bridge's own counter per (type, market), so a
  remote consumer can tell a hole (a gap) from a late message.
- ``Upbit-Hub-Ts``: hub receipt time (Unix ns) for the lag/latency figures.
- A gap marker (``{"type": "gap", "code": ..., "of": "trade", "first": n, "last": m}``) is
  published on the subject of the events that were lost when the spill buffer overflowed.

Runs in: any thread.
"""

from __future__ import annotations

from typing import Any

import msgspec

from upbit_hub.actors.protocol.events import (
    CandleEvent,
    MyAssetEvent,
    MyOrderEvent,
    OrderbookEvent,
    TickerEvent,
    TradeEvent,
)

__all__ = [
    "HDR_SEQ",
    "HDR_TS",
    "MSG_ID",
    "PREFIX",
    "GapMarker",
    "decode",
    "encode",
    "msg_id",
    "subject",
    "subject_of_wish",
]

PREFIX = "upbit"
MSG_ID = "Nats-Msg-Id"
HDR_SEQ = "Upbit-Hub-Seq"
HDR_TS = "Upbit-Hub-Ts"
PRIVATE = frozenset({"myOrder", "myAsset"})

_CLASSES: dict[str, type] = {
    "ticker": TickerEvent,
    "trade": TradeEvent,
    "orderbook": OrderbookEvent,
    "candle": CandleEvent,
    "myOrder": MyOrderEvent,
    "myAsset": MyAssetEvent,
}


class GapMarker(msgspec.Struct, frozen=True, kw_only=True):
    """Published where events were lost (the bridge's spill buffer overflowed)."""

    type: str = "gap"
    code: str | None = None
    of: str = "trade"  # the type of the lost events
    first: int = 0  # first and last Upbit-Hub-Seq numbers lost (same epoch)
    last: int = 0
    epoch: str = ""
    stream_type: str = "GAP"


_encoder = msgspec.msgpack.Encoder()
_decoders: dict[str, msgspec.msgpack.Decoder[Any]] = {
    k: msgspec.msgpack.Decoder(cls) for k, cls in _CLASSES.items()
}
_decoders["gap"] = msgspec.msgpack.Decoder(GapMarker)


def subject(ev: Any, account: str) -> str:
    """The subject of ``ev`` (``account`` labels private events)."""
    t = ev.type
    if t in PRIVATE:
        base = f"{PREFIX}.account.{account}.{t}"
        return f"{base}.{ev.code}" if t == "myOrder" and ev.code else base
    return f"{PREFIX}.{t}.{ev.code}"


def subject_of_wish(type_: str, code: str | None, account: str) -> str:
    """The subject (maybe with a wildcard) that carries the events of one wish."""
    if type_ in PRIVATE:
        base = f"{PREFIX}.account.{account}.{type_}"
        if type_ == "myOrder":
            return f"{base}.{code}" if code else f"{base}.>"
        return base
    return f"{PREFIX}.{type_}.{code}"


def msg_id(ev: Any) -> str:
    """``Nats-Msg-Id`` of ``ev``: stable for the same event."""
    if ev.type == "trade" and ev.sequential_id is not None:
        return str(ev.sequential_id)
    ts = getattr(ev, "timestamp", None)
    return f"{ev.type}:{getattr(ev, 'code', None) or ''}:{ts}:{ev.stream_type}"


def encode(ev: Any) -> bytes:
    """msgpack of ``ev`` (DEFAULT field names)."""
    return _encoder.encode(ev)


def kind_of(subject_: str) -> str | None:
    """The event type a subject carries (``candle.1m`` for candles), or None."""
    parts = subject_.split(".")
    if len(parts) < 3 or parts[0] != PREFIX:
        return None
    if parts[1] == "account":
        return parts[3] if len(parts) > 3 else None
    if parts[1] == "candle":
        return f"candle.{parts[2]}" if len(parts) > 3 else None
    return parts[1]


def decode(subject_: str, data: bytes) -> Any:
    """The event (or :class:`GapMarker`) in ``data`` published on ``subject_``.

    Raises ``msgspec.DecodeError``/``ValueError`` on a payload that is not one of ours.
    """
    kind = kind_of(subject_)
    if kind is None:
        raise ValueError(f"not an upbit-hub subject: {subject_!r}")
    dec = _decoders.get(kind.partition(".")[0])
    if dec is None:
        raise ValueError(f"unknown event type in subject {subject_!r}")
    try:
        ev = dec.decode(data)
    except msgspec.ValidationError:
        ev = _decoders["gap"].decode(data)  # a marker on the same subject
        if ev.type != "gap":
            raise
        return ev
    if ev.type != kind and not (kind.startswith("candle") and ev.type.startswith("candle")):
        if ev.type == "gap":
            return _decoders["gap"].decode(data)
        raise ValueError(f"payload type {ev.type!r} does not match subject {subject_!r}")
    return ev
