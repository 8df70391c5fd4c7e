"""Recordings: the recorder's JSON-lines format, and several recordings merged for a replay.

One line per event: the event Struct as ``msgspec.json`` encodes it (Upbit's DEFAULT field
names; Decimals as strings, so nothing is rounded) with a ``recv_ts`` field first (Unix
seconds when the component got it)::

    {"recv_ts":1787728554.912,"type":"trade","code":"KRW-BTC","trade_price":"109847000.0",...}

The recorder plugin (``upbit_hub.plugins.builtin.recorder``) writes with :func:`encode_record`
and its ``read_recording`` reads with :func:`read_timed`; this module lives in the actors
layer so that the backtest can read recordings without importing plugins.

A recording named ``rec.jsonl`` is the file and its rotated backups, oldest first
(``rec.jsonl.2``, ``rec.jsonl.1``, ``rec.jsonl``). :func:`merged` plays several recordings as
one stream, in the order the events were received (``recv_ts``), stable for ties (the
recording named first, then line order), optionally only ``start <= recv_ts <= end``.
:func:`scan` reads the bytes once beforehand: their SHA-256 (for the ledger hash) and the
line count (for a progress bar).

Runs in: any thread (plain functions and iterators, nothing shared).
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

from upbit_hub.actors.protocol.errors import UpbitHubError
from upbit_hub.actors.protocol.events import (
    CandleEvent,
    MyAssetEvent,
    MyOrderEvent,
    OrderbookEvent,
    TickerEvent,
    TradeEvent,
)

__all__ = [
    "CLASSES",
    "PRIVATE_TYPES",
    "RecordingError",
    "RecordingInfo",
    "backup_path",
    "decode_record",
    "encode_record",
    "merged",
    "read_files",
    "read_timed",
    "recording_files",
    "scan",
]

#: Stream kind (``type`` without the candle interval) -> event class.
CLASSES: dict[str, type] = {
    "ticker": TickerEvent,
    "trade": TradeEvent,
    "orderbook": OrderbookEvent,
    "candle": CandleEvent,
    "myOrder": MyOrderEvent,
    "myAsset": MyAssetEvent,
}
#: Kinds of the private stream (a replay gets these from its simulated exchange instead).
PRIVATE_TYPES: frozenset[str] = frozenset({"myOrder", "myAsset"})

_CHUNK = 1 << 20


class RecordingError(UpbitHubError, ValueError):
    """A recording line could not be decoded; the message names the file and line."""


# -- one line --------------------------------------------------------------------------------

_ENCODER = msgspec.json.Encoder()


def encode_record(ev: Any, recv_ts: float, encoder: msgspec.json.Encoder | None = None) -> bytes:
    """One recording line (with ``\\n``) for ``ev``. Runs in: any thread."""
    body = (encoder or _ENCODER).encode(ev)
    return b'{"recv_ts":' + repr(float(recv_ts)).encode() + b"," + body[1:] + b"\n"


class _Head(msgspec.Struct):
    type: str
    recv_ts: float = 0.0


_HEAD = msgspec.json.Decoder(_Head)
_DECODERS = {kind: msgspec.json.Decoder(cls) for kind, cls in CLASSES.items()}


def decode_record(line: bytes) -> tuple[float, Any]:
    """``(recv_ts, event)`` of one line. Raises ``msgspec.DecodeError`` (or its
    ``ValidationError``) for a line that is not a recorded event. Runs in: any thread."""
    head = _HEAD.decode(line)
    decoder = _DECODERS.get(head.type.partition(".")[0])
    if decoder is None:
        raise msgspec.ValidationError(f"unknown event type {head.type!r}")
    return head.recv_ts, decoder.decode(line)


# -- files -----------------------------------------------------------------------------------

def backup_path(path: Path, n: int) -> Path:
    """``rec.jsonl`` -> ``rec.jsonl.<n>`` (the recorder's rotated backups)."""
    return path.with_name(f"{path.name}.{n}")


def recording_files(path: str | os.PathLike[str], *, include_backups: bool = True) -> list[Path]:
    """The files of one recording, oldest first: ``path.N`` ... ``path.1`` (when
    ``include_backups``), then ``path``. Runs in: any thread."""
    base = Path(path)
    files: list[Path] = []
    if include_backups:
        n = 1
        while backup_path(base, n).exists():
            n += 1
        files = [backup_path(base, i) for i in range(n - 1, 0, -1)]
    files.append(base)
    return files


def read_timed(
    path: str | os.PathLike[str], *, include_backups: bool = False, start: float | None = None,
    end: float | None = None, skip: frozenset[str] = frozenset(),
) -> Iterator[tuple[float, Any]]:
    """Yield ``(recv_ts, event)`` for each line of a recording, in file order.

    ``include_backups`` reads the rotated files first. Lines outside ``start``/``end`` and of
    the kinds in ``skip`` (e.g. :data:`PRIVATE_TYPES`) are passed over without being decoded
    in full. A final line without its newline (the writer was killed mid-line) is skipped; any
    other bad line raises :class:`RecordingError` naming file and line. Runs in: any thread.
    """
    yield from read_files(recording_files(path, include_backups=include_backups),
                          start=start, end=end, skip=skip)


def read_files(
    files: Iterable[Path], *, start: float | None = None, end: float | None = None,
    skip: frozenset[str] = frozenset(), skipped: dict[str, int] | None = None,
) -> Iterator[tuple[float, Any]]:
    """:func:`read_timed` over a given list of files, in that order; ``skipped`` (when given)
    counts the lines passed over per kind. Runs in: any thread."""
    for file in files:
        try:
            fh = open(file, "rb")
        except OSError as exc:
            raise RecordingError(f"{file}: cannot read the recording: "
                                 f"{exc.strerror or exc}") from None  # fmt: skip
        with fh:
            yield from _read_file(file, fh, start, end, skip,
                                  skipped if skipped is not None else {})


def _read_file(file: Path, fh: BinaryIO, start: float | None, end: float | None,
               skip: frozenset[str], skipped: dict[str, int]) -> Iterator[tuple[float, Any]]:
    head_decode, decoders = _HEAD.decode, _DECODERS
    for lineno, line in enumerate(fh, 1):
        try:
            head = head_decode(line)
            ts = head.recv_ts
            if (start is not None and ts < start) or (end is not None and ts > end):
                continue
            kind = head.type.partition(".")[0]
            if kind in skip:
                skipped[kind] = skipped.get(kind, 0) + 1
                continue
            decoder = decoders.get(kind)
            if decoder is None:
                raise msgspec.ValidationError(f"unknown event type {head.type!r}")
            ev = decoder.decode(line)
        except msgspec.DecodeError as exc:
            if not line.strip():
                continue
            if not line.endswith(b"\n"):
                return  # torn last line of a killed writer
            raise RecordingError(f"{file}:{lineno}: not a recorded event: {exc}") from None
        yield ts, ev


def merged(
    groups: Sequence[Sequence[Path]], *, start: float | None = None, end: float | None = None,
    skip: frozenset[str] = frozenset(), skipped: dict[str, int] | None = None,
) -> Iterator[tuple[float, Any]]:
    """Several recordings (each a list of files, oldest first: :attr:`RecordingInfo.groups`)
    as one stream of ``(recv_ts, event)``, merged by ``recv_ts``, stable for ties (the
    earlier-named recording first). Each recording is taken in its own order (it is not
    re-sorted). ``skipped`` counts the lines of the ``skip`` kinds. Runs in: any thread."""
    streams: list[Iterable[tuple[float, Any]]] = [
        read_files(files, start=start, end=end, skip=skip, skipped=skipped)
        for files in groups if files
    ]
    if not streams:
        return iter(())
    if len(streams) == 1:
        return iter(streams[0])
    return heapq.merge(*streams, key=lambda item: item[0])


# -- the bytes, once ---------------------------------------------------------------------------

@dataclass
class RecordingInfo:
    """What :func:`scan` found: the files of each named recording (``groups``, oldest first;
    a file named twice appears once), all of them in play order (``files``), their total size,
    (when counted) lines, and the asked-for markets that have events (``found``)."""

    groups: list[list[Path]] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    bytes: int = 0
    lines: int = 0
    found: set[str] = field(default_factory=set)


def scan(recordings: Sequence[str | os.PathLike[str]], digest: Any = None, *,
         count_lines: bool = False, markets: Iterable[str] = ()) -> RecordingInfo:
    """Read every file of ``recordings`` once (the backups of each first): feed each file's
    size and bytes to ``digest`` (a ``hashlib`` object) when given, count the lines when
    ``count_lines`` (for a progress bar), and tell which of ``markets`` the recording has
    events of (``info.found``). Raises :class:`RecordingError` for a missing or unreadable
    file (naming it). Runs in: any thread."""
    info = RecordingInfo()
    wanted = {m: b'"code":"%s"' % m.encode() for m in markets}
    seen: set[Path] = set()
    for rec in recordings:
        if not Path(rec).is_file():
            raise RecordingError(f"{rec}: no such recording file (record one with the "
                                 "recorder plugin; see the README, 'Backtesting a strategy')")
        group: list[Path] = []
        info.groups.append(group)
        for file in recording_files(rec, include_backups=True):
            key = file.resolve()
            if key in seen:  # named twice (or a backup named as well): play it once
                continue
            seen.add(key)
            group.append(file)
            info.files.append(file)
            try:
                fh = open(file, "rb")
            except OSError as exc:
                raise RecordingError(f"{file}: cannot read the recording: "
                                     f"{exc.strerror or exc}") from None  # fmt: skip
            with fh:
                size = os.fstat(fh.fileno()).st_size
                if digest is not None:
                    digest.update(b"file %d\n" % size)
                while chunk := fh.read(_CHUNK):
                    if digest is not None:
                        digest.update(chunk)
                    info.bytes += len(chunk)
                    if count_lines:
                        info.lines += chunk.count(b"\n")
                    for market, needle in list(wanted.items()):
                        if needle in chunk:  # (a needle cut by the chunk edge: missed, rare)
                            info.found.add(market)
                            del wanted[market]
    return info
