"""``recorder``: append every received event to a JSON-lines file, rotating by size.

Config (``[components.params]``)::

    [[components]]
    plugin = "recorder"
    id = "rec"
    [components.params]
    path = "recordings/krw.jsonl"      # required; parent folders are created
    types = ["ticker", "trade"]         # ticker trade orderbook candle myOrder myAsset
    symbols = ["KRW-BTC", "KRW-ETH"]
    candle_interval = "1m"
    max_bytes = 50_000_000              # rotate when the file would grow past this
    backups = 3                         # keep path.1 .. path.3 (oldest is deleted)
    flush_interval_s = 1.0              # 0 = flush after every event

One line per event: the event Struct as ``msgspec.json`` encodes it (Upbit's DEFAULT field
names; Decimals as strings, so nothing is rounded) with a ``recv_ts`` field first (Unix
seconds when the handler got it)::

    {"recv_ts":1787728554.912,"type":"trade","code":"KRW-BTC","trade_price":"109847000.0",...}

:func:`read_recording` decodes such a file back into the same event classes. Writes happen in
the component's thread (the handlers); the file is flushed when ``flush_interval_s`` has passed
since the last flush (checked at each write) and closed by ``on_stop``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, BinaryIO, Literal

import msgspec

# The line format lives in the actors layer (the backtest reads recordings without plugins).
from upbit_hub.actors.backtest.recording import (
    RecordingError,
    backup_path,
    encode_record,
    read_timed,
)
from upbit_hub.actors.protocol.events import (
    CandleEvent,
    MyAssetEvent,
    MyOrderEvent,
    OrderbookEvent,
    TickerEvent,
    TradeEvent,
)
from upbit_hub.plugins.sdk import Component, Context

__all__ = ["Recorder", "RecordingError", "read_recording", "read_recording_timed"]

StreamKind = Literal["ticker", "trade", "orderbook", "candle", "myOrder", "myAsset"]
MarketCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2,6}-[A-Z0-9]{1,20}$")]


class RecorderConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``[components.params]`` of the recorder."""

    path: Annotated[str, msgspec.Meta(min_length=1)]
    types: Annotated[list[StreamKind], msgspec.Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: ["ticker", "trade"]
    )
    symbols: list[MarketCode] = msgspec.field(default_factory=lambda: ["KRW-BTC"])
    candle_interval: Literal["1s", "1m", "3m", "5m", "10m", "15m", "30m", "60m", "240m"] = "1m"
    max_bytes: Annotated[int, msgspec.Meta(ge=1024)] = 50_000_000
    backups: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 3
    flush_interval_s: Annotated[float, msgspec.Meta(ge=0.0, le=3600.0)] = 1.0

    def __post_init__(self) -> None:
        market = {"ticker", "trade", "orderbook", "candle"}
        if market & set(self.types) and not self.symbols:
            raise ValueError("symbols: name at least one market for the market types")


class Recorder(Component):
    """Writes every event it receives as one JSON line; see the module docstring."""

    name = "recorder"
    Config = RecorderConfig

    def __init__(self, config: RecorderConfig) -> None:
        super().__init__(config)
        self.path = Path(config.path)
        self.written = 0
        self.rotations = 0
        self._fh: BinaryIO | None = None
        self._size = 0
        self._last_flush = 0.0
        self._encoder = msgspec.json.Encoder()

    def on_start(self, ctx: Context) -> None:
        """Open (append) the file, then subscribe to the configured types."""
        cfg: RecorderConfig = self.config
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open()
        self._last_flush = time.monotonic()
        types = set(cfg.types)
        if "ticker" in types:
            ctx.subscribe_ticker(cfg.symbols)
        if "trade" in types:
            ctx.subscribe_trade(cfg.symbols)
        if "orderbook" in types:
            ctx.subscribe_orderbook(cfg.symbols)
        if "candle" in types:
            ctx.subscribe_candle(cfg.symbols, interval=cfg.candle_interval)
        if "myOrder" in types:
            ctx.subscribe_my_order(cfg.symbols or None)
        if "myAsset" in types:
            ctx.subscribe_my_asset()
        ctx.logger.info("recording %s of %s to %s", ",".join(cfg.types),
                        ",".join(cfg.symbols), self.path)  # fmt: skip

    def on_ticker(self, ev: TickerEvent) -> None:
        """Record one ticker."""
        self.write(ev)

    def on_trade(self, ev: TradeEvent) -> None:
        """Record one trade."""
        self.write(ev)

    def on_orderbook(self, ev: OrderbookEvent) -> None:
        """Record one order book."""
        self.write(ev)

    def on_candle(self, ev: CandleEvent) -> None:
        """Record one candle."""
        self.write(ev)

    def on_my_order(self, ev: MyOrderEvent) -> None:
        """Record one order event."""
        self.write(ev)

    def on_my_asset(self, ev: MyAssetEvent) -> None:
        """Record one balance event."""
        self.write(ev)

    def on_stop(self) -> None:
        """Flush and close the file."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def status_lines(self) -> list[str]:
        """One line: where, how much. Runs in: the status view's thread."""
        return [f"recording to {self.path}: {self.written} events, {self.rotations} rotation(s)"]

    # -- writing ---------------------------------------------------------------------------

    def write(self, ev: Any, recv_ts: float | None = None) -> None:
        """Append ``ev`` as one line (rotating first if it would pass ``max_bytes``)."""
        line = encode_record(ev, time.time() if recv_ts is None else recv_ts, self._encoder)
        cfg: RecorderConfig = self.config
        if self._fh is None:
            self._open()
        if self._size and self._size + len(line) > cfg.max_bytes:
            self._rotate()
        assert self._fh is not None
        self._fh.write(line)
        self._size += len(line)
        self.written += 1
        now = time.monotonic()
        if now - self._last_flush >= cfg.flush_interval_s:
            self._fh.flush()
            self._last_flush = now

    def _open(self) -> None:
        self._fh = open(self.path, "ab")
        self._size = self._fh.tell()

    def _rotate(self) -> None:
        assert self._fh is not None
        self._fh.close()
        backups = self.config.backups
        if backups > 0:
            for i in range(backups - 1, 0, -1):
                src = _backup(self.path, i)
                if src.exists():
                    os.replace(src, _backup(self.path, i + 1))
            os.replace(self.path, _backup(self.path, 1))
        else:
            self.path.unlink(missing_ok=True)
        self.rotations += 1
        self._open()


def read_recording_timed(
    path: str | os.PathLike[str], *, include_backups: bool = False
) -> Iterator[tuple[float, Any]]:
    """Yield ``(recv_ts, event)`` for each line of a recording, oldest first.

    ``include_backups`` reads the rotated files first (``path.N`` ... ``path.1``, then
    ``path``). A final line without its newline (the writer was killed mid-line) is skipped;
    any other bad line raises :class:`RecordingError` naming file and line. Runs in: any.
    """
    return read_timed(path, include_backups=include_backups)


def read_recording(path: str | os.PathLike[str], *, include_backups: bool = False) -> Iterator[Any]:
    """Yield the events of a recording as the same classes they were recorded from
    (``TickerEvent``, ``TradeEvent``, ...). See :func:`read_recording_timed`. Runs in: any."""
    for _ts, ev in read_recording_timed(path, include_backups=include_backups):
        yield ev


def _backup(path: Path, n: int) -> Path:
    return backup_path(path, n)
