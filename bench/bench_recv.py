"""Receive throughput: plain websocket-client vs. upbit_hub.actors.wsdeflate.open_websocket.

A `websockets` server in a separate process (so its CPU does not share our GIL) sends N varied
~300-byte JSON binary frames (SIMPLE-ticker-like) as fast as it can after the client says
``go``: it encodes the burst with websockets' own framing/compressor first and writes it in
one piece, so the client's receive loop, not the server, sets the pace. Modes, interleaved
and repeated, medians reported:

  a  websocket.create_connection(url, skip_utf8_validation=True); recv() loop   (baseline)
  b  open_websocket(url, compression=False); recv() loop
  c  open_websocket(url, compression=True); server compresses (context takeover)

Printed: wall frames/s, client CPU microseconds per frame (process_time: independent of how
fast the server can produce), ratios against (a), and wire bytes per frame.

Usage: python bench/bench_recv.py [--quick] [--frames N] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import statistics
import time

import websocket

from upbit_hub.actors.wsdeflate import open_websocket

MARKETS = [f"KRW-{c}" for c in ("BTC", "ETH", "XRP", "SOL", "DOGE", "ADA", "AVAX", "DOT")]


def make_frames(n_distinct: int, seed: int = 7) -> list[bytes]:
    """Deterministic, varied SIMPLE-ticker-like JSON frames of roughly 300 bytes."""
    rng = random.Random(seed)
    frames = []
    for i in range(n_distinct):
        price = round(rng.uniform(100, 150_000_000), 2)
        frame = {
            "ty": "ticker", "cd": rng.choice(MARKETS), "op": price * 0.99, "hp": price * 1.01,
            "tp": price, "pcp": price * 0.995, "c": rng.choice(["RISE", "FALL"]),
            "cp": round(rng.uniform(0, 1e5), 2), "scp": round(rng.uniform(-1e5, 1e5), 2),
            "cr": round(rng.uniform(0, 0.1), 8), "scr": round(rng.uniform(-0.1, 0.1), 8),
            "tv": round(rng.uniform(0, 10), 8), "atv": round(rng.uniform(0, 1e4), 8),
            "tdt": "20250101", "ttm": f"{rng.randrange(24):02d}{rng.randrange(60):02d}00",
            "ttms": 1735689600000 + i * 37, "ab": rng.choice(["ASK", "BID"]),
            "tms": 1735689600000 + i * 41, "st": "REALTIME",
        }
        frames.append(json.dumps(frame, separators=(",", ":")).encode())
    return frames


def _server_main(port_q, frames: list[bytes], n: int) -> None:
    from websockets.asyncio.server import serve

    async def handler(conn) -> None:
        async for msg in conn:
            if msg != "go":
                continue
            # Encode the whole burst with websockets' own sans-I/O protocol (its framing and its
            # per-connection permessage-deflate compressor, if negotiated), then write it in
            # one go: the server is never the bottleneck, the client's recv loop is measured.
            proto = conn.protocol
            k = len(frames)
            for i in range(n):
                proto.send_binary(frames[i % k])
            conn.transport.write(b"".join(proto.data_to_send()))
            await conn.send("done")

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression="deflate", max_queue=None) as srv:
            port_q.put(srv.sockets[0].getsockname()[1])
            await asyncio.Future()

    asyncio.run(main())


def verify(mode: str, url: str, n: int, frames: list[bytes]) -> None:
    """Untimed pass: every mode must deliver exactly the frames the server sent, in order."""
    ws = (websocket.create_connection(url, skip_utf8_validation=True, timeout=30) if mode == "a"
          else open_websocket(url, compression=(mode == "c"), timeout=30))
    try:
        ws.send("go")
        for i in range(n):
            got = ws.recv()
            if got != frames[i % len(frames)]:
                raise SystemExit(f"mode {mode}: frame {i} differs: {got[:60]!r}")
        if ws.recv() != "done":
            raise SystemExit(f"mode {mode}: more frames than sent")
    finally:
        ws.close()


def run_once(mode: str, url: str, n: int) -> tuple[float, float, float]:
    """Returns (wall seconds, client CPU seconds, wire bytes per frame or nan)."""
    if mode == "a":
        ws = websocket.create_connection(url, skip_utf8_validation=True, timeout=30)
    else:
        ws = open_websocket(url, compression=(mode == "c"), timeout=30)
    try:
        recv = ws.recv
        ws.send("go")
        first = recv()  # start the clock at the first frame: excludes the server's wake-up
        t0, c0 = time.perf_counter(), time.process_time()
        count = 1
        while True:
            msg = recv()
            if msg == "done":
                break
            count += 1
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        assert count == n and first, (count, n)
        wire = ws.wire_bytes_received / n if mode != "a" else float("nan")
        if mode == "c":
            assert ws.extension is not None, "server did not negotiate compression"
        return wall, cpu, wire
    finally:
        ws.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer frames and rounds")
    ap.add_argument("--frames", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args()
    n = args.frames or (20_000 if args.quick else 100_000)
    rounds = args.rounds or (3 if args.quick else 5)
    frames = make_frames(1000)
    avg = sum(map(len, frames)) / len(frames)

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_server_main, args=(q, frames, n), daemon=True)
    proc.start()
    try:
        url = f"ws://127.0.0.1:{q.get(timeout=30)}/"
        results: dict[str, list[tuple[float, float, float]]] = {"a": [], "b": [], "c": []}
        for mode in "abc":  # warm-up and correctness check
            verify(mode, url, n, frames)
        for _ in range(rounds):
            for mode in "abc":
                results[mode].append(run_once(mode, url, n))
    finally:
        proc.terminate()
        proc.join(10)

    fps = {m: statistics.median(n / w for w, _, _ in r) for m, r in results.items()}
    cpu_us = {m: statistics.median(c / n * 1e6 for _, c, _ in r) for m, r in results.items()}
    wire = {m: statistics.median(x for _, _, x in r) for m, r in results.items() if m != "a"}
    print(f"{n} frames x {rounds} rounds, payload {avg:.0f} B/frame average (medians)")
    names = {"a": "websocket-client plain", "b": "open_websocket no compression",
             "c": "open_websocket deflate"}
    for m in "abc":
        w = f"{wire[m]:7.1f} wire B/frame" if m in wire else " " * 20
        print(f"  ({m}) {names[m]:32s} {fps[m]:9.0f} frames/s  {cpu_us[m]:6.2f} us CPU/frame  {w}")
    rb, rc = fps["b"] / fps["a"], fps["c"] / fps["a"]
    cb, cc = cpu_us["a"] / cpu_us["b"], cpu_us["a"] / cpu_us["c"]
    print(f"  wall ratio b/a {rb:.2f}  c/a {rc:.2f};  "
          f"CPU-efficiency ratio (a's CPU/frame over yours) b/a {cb:.2f}  c/a {cc:.2f}")
    print(
        f"frames={n} rounds={rounds} fps_a={fps['a']:.0f} fps_b={fps['b']:.0f} fps_c={fps['c']:.0f}"
        f" ratio_b_a={rb:.2f} ratio_c_a={rc:.2f} cpu_ratio_b_a={cb:.2f} cpu_ratio_c_a={cc:.2f}"
        f" wire_b={wire['b']:.1f} wire_c={wire['c']:.1f} payload={avg:.1f}"
    )


if __name__ == "__main__":
    main()
