"""Property tests: decode never fails with anything but FrameDecodeError; formats agree."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upbit_hub.actors.protocol import Event, FrameDecodeError, decode
from upbit_hub.actors.protocol import fields as F
from upbit_hub.actors.protocol.decode import _decode_general

SETTINGS = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,  # deterministic runs
    database=None,  # no .hypothesis folder in the tree
    suppress_health_check=[HealthCheck.too_slow],
)

KNOWN_KEYS = sorted(
    {k for table in F.FIELDS_BY_TYPE.values() for d, s, _ in table for k in (d, s)}
    | {"status", "error", "method", "mthd", "result", "rslt", "name", "message"}
)
TYPE_NAMES = [*F.FIELDS_BY_TYPE, "announcement", "indicator", ""]

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=6), inner, max_size=5),
    max_leaves=20,
)


def _decodes_or_raises_frame_decode_error(frame: bytes | str) -> None:
    try:
        events = decode(frame)
    except FrameDecodeError as exc:
        assert exc.head == (frame.encode("utf-8", "replace") if isinstance(frame, str)
                            else frame)[: FrameDecodeError.HEAD_BYTES]
        return
    assert isinstance(events, list)
    assert all(isinstance(event, Event) for event in events)


@SETTINGS
@given(st.binary(max_size=300))
def test_decode_of_arbitrary_bytes_returns_events_or_raises_frame_decode_error(frame):
    _decodes_or_raises_frame_decode_error(frame)


@SETTINGS
@given(json_values)
def test_decode_of_arbitrary_json_returns_events_or_raises_frame_decode_error(value):
    text = json.dumps(value)
    _decodes_or_raises_frame_decode_error(text.encode())
    _decodes_or_raises_frame_decode_error(text)


@settings(SETTINGS, max_examples=120)
@given(
    st.sampled_from(["type", "ty"]),
    st.sampled_from(TYPE_NAMES),
    st.dictionaries(st.sampled_from(KNOWN_KEYS), json_scalars | st.lists(json_scalars), max_size=8),
    st.booleans(),
)
def test_upbit_shaped_objects_with_wrong_field_types_never_escape_other_errors(
    key, type_name, extra, as_list
):
    obj = {key: type_name, **{k: v for k, v in extra.items() if k not in ("type", "ty")}}
    frame = json.dumps([obj] if as_list else obj).encode()
    _decodes_or_raises_frame_decode_error(frame)


def _number_text(kind: str) -> st.SearchStrategy[str]:
    if kind == "int":
        return st.integers(min_value=0, max_value=2**63 - 1).map(str)
    digits = st.integers(min_value=0, max_value=10**20)
    plain = st.tuples(digits, st.integers(0, 12)).map(
        lambda t: str(Decimal(t[0]).scaleb(-t[1]))
    )
    java = st.tuples(st.integers(1, 9), st.integers(0, 99999), st.integers(-9, 12)).map(
        lambda t: f"{t[0]}.{t[1]}E{t[2]}"
    )
    return plain | java


def _value_text(kind: str, nested: tuple[F.Field, ...] | None) -> st.SearchStrategy[str]:
    if kind in ("int", "dec"):
        return _number_text(kind)
    if kind == "str":
        return st.none().map(lambda _: "null") | st.text(max_size=10).map(json.dumps)
    if kind == "bool":
        return st.sampled_from(["true", "false", "null"])
    if kind == "any":
        return json_scalars.map(json.dumps)
    assert nested is not None
    return st.lists(_object_pairs(nested, None), max_size=4).map(
        lambda items: items  # list of pair-lists, rendered by _render
    )


def _object_pairs(table: tuple[F.Field, ...], type_name: str | None) -> st.SearchStrategy:
    """A random subset of the table's fields, in wire order, as (default, simple, text)."""
    strategies = []
    for default, simple, kind in table:
        if default == "type":
            continue
        nested = F.NESTED_FIELDS.get(kind)
        strategies.append(
            st.tuples(st.just(default), st.just(simple), _value_text(kind, nested)) | st.none()
        )
    pairs = st.tuples(*strategies).map(lambda items: [i for i in items if i is not None])
    if type_name is None:
        return pairs
    return pairs.map(lambda items: [("type", "ty", json.dumps(type_name)), *items])


def _render(pairs: list, simple: bool) -> str:
    parts = []
    for default, short, text in pairs:
        if isinstance(text, list):
            text = "[" + ",".join(_render(item, simple) for item in text) + "]"
        parts.append(f"{json.dumps(short if simple else default)}:{text}")
    return "{" + ",".join(parts) + "}"


@settings(SETTINGS, max_examples=120)
@given(st.sampled_from(sorted(F.FIELDS_BY_TYPE)).flatmap(
    lambda t: _object_pairs(F.FIELDS_BY_TYPE[t], t)
))
def test_any_valid_message_decodes_alike_from_default_simple_and_list_frames(pairs):
    default_frame = _render(pairs, simple=False)
    simple_frame = _render(pairs, simple=True)
    (from_default,) = decode(default_frame.encode())
    (from_simple,) = decode(simple_frame.encode())
    assert type(from_default) is type(from_simple)
    assert from_default == from_simple
    assert decode(f"[{simple_frame},{default_frame}]".encode()) == [from_default, from_default]
    # every number arrives exactly as its text says
    for default, _, text in pairs:
        value = getattr(from_default, default)
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            assert value == Decimal(text), default


# ---- compact list frames: the fast path and the general path agree ---------------------------

_SAMPLES = Path(__file__).resolve().parent / "data" / "upbit" / "samples"
_LIST_ITEMS = [
    (_SAMPLES / f"{kind}.{fmt}.json").read_bytes().strip()
    for kind in ("ticker", "trade", "orderbook", "candle", "myOrder", "myAsset")
    for fmt in ("DEFAULT", "SIMPLE")
] + [b'{"type":"indicator","code":"KRW-BTC","value":1.5}', b'{"status":"UP"}']


@SETTINGS
@given(st.lists(st.sampled_from(_LIST_ITEMS), min_size=1, max_size=6))
def test_the_fast_and_general_list_decoders_agree_on_any_list(items):
    compact = b"[" + b",".join(items) + b"]"
    spaced = b"[ " + b", ".join(items) + b" ]"  # a leading space forces the general path
    fast = decode(compact)
    assert fast == decode(spaced) == _decode_general(compact)
    assert [type(e) for e in fast] == [type(decode(item)[0]) for item in items]
    assert fast == [decode(item)[0] for item in items]
