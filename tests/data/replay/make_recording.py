"""Writes ``sim_3s.jsonl``: three seconds of the emulator's simulated KRW-BTC and KRW-ETH
market (seed 11, 120 messages/s, every public type incl. candles) in the recorder's format,
each event received 3 ms after its ``timestamp``, plus one private ``myOrder`` line (a replay
skips it). Run from the repo root: ``python tests/data/replay/make_recording.py``."""

from __future__ import annotations

from pathlib import Path

import msgspec

from upbit_hub.actors.backtest.recording import CLASSES, encode_record
from upbit_hub.actors.emulator.market import MarketSimulator

START_MS = 1_800_000_000_000
OUT = Path(__file__).with_name("sim_3s.jsonl")


def main() -> None:
    sim = MarketSimulator(("KRW-BTC", "KRW-ETH"), seed=11, rate=120.0, start_ms=START_MS)
    lines = []
    for step in range(1, 31):
        for obj in sim.advance(START_MS + 100 * step):
            ev = msgspec.convert({**obj, "stream_type": "REALTIME"},
                                 CLASSES[obj["type"].partition(".")[0]])
            lines.append((obj["timestamp"] / 1000 + 0.003, ev))
        if step == 15:
            order = CLASSES["myOrder"](type="myOrder", code="KRW-BTC", uuid="recorded-order",
                                       state="wait", stream_type="REALTIME")
            lines.append((START_MS / 1000 + 1.5, order))
    with open(OUT, "wb") as fh:
        for ts, ev in lines:
            fh.write(encode_record(ev, ts))


if __name__ == "__main__":
    main()
