"""Shared helpers of the benchmark scripts: frame corpus, server processes, hub setup, stats.

Every server here runs in ANOTHER process (``multiprocessing`` spawn), so its CPU does not
share the measured client's GIL. One server process serves every mode of a benchmark; what a
connection gets is chosen by the URL path (the hub's ``websocket_url`` is a full URL, so the
hub can be pointed at any path):

``/burst/<n>``
    At connect, encode ``n`` varied SIMPLE trade/ticker frames plus the end frame (a trade of
    ``CODES[0]`` with ``sid`` = :data:`END_SID`) with websockets' own framing and, when
    negotiated, its permessage-deflate compressor. When a subscription request (any JSON
    array) naming the trigger code ``KRW-GO`` arrives, write the start frame (a trade of
    ``CODES[0]`` whose ``sid`` is ``time.time_ns()`` at that moment, sent uncompressed, which
    RFC 7692 allows, so the compressor's context is untouched) and the whole burst in one
    piece. Clients time from that stamp to the end frame: the same clock for every mode, and
    encoding never counts. Once per connection.
``/pace/<rate>/<seconds>``
    After the first JSON-array request, send trade frames at ``rate`` per second for
    ``seconds``, each stamped just before it is written with ``time.time_ns()`` as its
    ``sid`` (``sequential_id``: nanoseconds since the epoch, kept strictly increasing), then
    the end frame.

Both answer WebSocket pings (websockets does) and ignore the text ``PING``; neither sends
``{"status":"UP"}``.

Runs in: the benchmark's main thread, except the ``_serve*`` functions (the server process).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import random
import statistics
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_decode  # bench/ is not a package: reuse its frame generators

from upbit_hub.actors.protocol import fields as F

TRIGGER = "KRW-GO"
END_SID = 1  # the end frame's sequential_id (real ones are ~1.7e16)
_SID_MARK = 987654321987654321
CODES: tuple[str, ...] = tuple(
    f"{q}-{b}" for q in ("KRW", "BTC") for b in bench_decode.BASES[:8]
)


# -- frames ----------------------------------------------------------------------------------

class FrameSet:
    """Varied SIMPLE trade/ticker frames; trades get a fresh ``sid`` each time they are used.

    Trades carry unique ``sequential_id`` values because the hub drops duplicate trades.
    """

    def __init__(self, codes: Sequence[str], distinct: int = 1000, seed: int = 11,
                 trade_share: float = 0.6) -> None:
        rng = random.Random(seed)
        self.trades: list[tuple[bytes, bytes]] = []
        self.tickers: list[bytes] = []
        self.kinds: list[bool] = [rng.random() < trade_share for _ in range(distinct)]
        for is_trade in self.kinds:
            code = rng.choice(list(codes))
            if is_trade:
                obj = bench_decode.trade(rng, code)
                obj["sequential_id"] = _SID_MARK
                raw = bench_decode.dumps(F.to_simple(obj, F.TRADE_FIELDS)).encode()
                head, tail = raw.split(str(_SID_MARK).encode())
                self.trades.append((head, tail))
            else:
                obj = bench_decode.ticker(rng, code)
                self.tickers.append(bench_decode.dumps(F.to_simple(obj, F.TICKER_FIELDS)).encode())
        head, tail = self.trades[0]
        first = json.loads(head + b"0" + tail)
        end = dict(first, cd=CODES[0], sid=END_SID)
        self.end_frame = json.dumps(end, separators=(",", ":")).encode()

    def trade(self, i: int, sid: int) -> bytes:
        head, tail = self.trades[i % len(self.trades)]
        return b"%s%d%s" % (head, sid, tail)

    def burst(self, n: int, sid0: int = 17_518_548_559_340_000) -> tuple[list[bytes], int]:
        """``n`` frames in the corpus's trade/ticker mix; returns (frames, number of trades)."""
        out: list[bytes] = []
        kinds, k = self.kinds, len(self.kinds)
        ti = ki = 0
        for i in range(n):
            if kinds[i % k]:
                out.append(self.trade(ti, sid0 + ti))
                ti += 1
            else:
                out.append(self.tickers[ki % len(self.tickers)])
                ki += 1
        return out, ti


def request(codes: Iterable[str], types: Sequence[str] = ("trade", "ticker")) -> str:
    """A SIMPLE-format subscription request for the bare-loop clients."""
    req: list[dict[str, Any]] = [{"ticket": "bench"}]
    req += [{"type": t, "codes": list(codes), "is_only_realtime": True} for t in types]
    req.append({"format": "SIMPLE"})
    return json.dumps(req)


# -- the server process ------------------------------------------------------------------------

def raw_frame(payload: bytes) -> bytes:
    """One unmasked, uncompressed binary WebSocket frame (server to client)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x82, n))
    elif n < 65536:
        head = bytes((0x82, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x82, 127)) + n.to_bytes(8, "big")
    return head + payload


def _serve(port_q: Any, codes: Sequence[str]) -> None:
    """Server process main: the burst/pace WebSocket server. Runs in: the server process."""
    import logging

    from websockets.asyncio.server import serve

    logging.getLogger("websockets").setLevel(logging.CRITICAL)

    frames = FrameSet(codes)

    def encode_burst(conn: Any, n: int) -> bytes:
        data, _ = frames.burst(n)
        proto = conn.protocol
        for frame in data:
            proto.send_binary(frame)
        proto.send_binary(frames.end_frame)
        return b"".join(proto.data_to_send())

    async def pace(conn: Any, rate: float, seconds: float) -> None:
        total = int(rate * seconds)
        sent = 0
        last = 0
        start = time.perf_counter()
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            while sent < due:
                stamp = max(time.time_ns(), last + 1)
                last = stamp
                await conn.send(frames.trade(sent, stamp))
                sent += 1
            await asyncio.sleep(0.0002)
        await conn.send(frames.end_frame)

    async def handler(conn: Any) -> None:
        from websockets.exceptions import ConnectionClosed

        parts = conn.request.path.strip("/").split("/")
        stash = encode_burst(conn, int(parts[1])) if parts[0] == "burst" else b""
        started = False
        try:
            async for msg in conn:
                if started or not isinstance(msg, str) or not msg.startswith("["):
                    continue  # the text PING, or a later request
                if parts[0] == "burst" and TRIGGER in msg:
                    started = True
                    conn.transport.write(raw_frame(frames.trade(0, time.time_ns())) + stash)
                elif parts[0] == "pace":
                    started = True
                    asyncio.get_running_loop().create_task(
                        pace(conn, float(parts[1]), float(parts[2])))
        except ConnectionClosed:
            pass  # clients abort their sockets at the end of a run

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, compression="deflate", max_queue=None,
                         max_size=None) as srv:
            port_q.put(srv.sockets[0].getsockname()[1])
            await asyncio.Future()

    asyncio.run(main())


@contextmanager
def server_process(codes: Sequence[str] = CODES) -> Iterator[str]:
    """Start the burst/pace server in a spawned process; yields ``ws://127.0.0.1:PORT``."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(q, tuple(codes)), daemon=True)
    proc.start()
    try:
        yield f"ws://127.0.0.1:{q.get(timeout=60)}"
    finally:
        proc.terminate()
        proc.join(10)


# -- the hub -----------------------------------------------------------------------------------

def hub_settings(ws_url: str, *, compression: bool, **hub_fields: Any) -> Any:
    """Settings pointing both endpoints at ``ws_url`` (SIMPLE); ``hub_fields`` replace
    ``[hub]`` values (public settings only)."""
    import msgspec

    from upbit_hub.config.settings import HubSettings, Settings, UpbitSettings

    http = "http://" + ws_url.split("://", 1)[1].split("/", 1)[0]
    upbit = UpbitSettings(rest_url=http, websocket_url=ws_url,
                          private_websocket_url=ws_url + "/private",
                          format="SIMPLE", compression=compression)
    hub = msgspec.structs.replace(HubSettings(), **hub_fields)
    return Settings(upbit=upbit, hub=hub)


def emulator_process(markets: Sequence[str], rate: float, extra: Sequence[str] = ()) -> Any:
    """``upbit-hub emulate`` in a subprocess; returns (Popen, base_url). See stop_process."""
    import subprocess

    cmd = [sys.executable, "-m", "upbit_hub.actors.cli", "emulate", "--markets",
           ",".join(markets), "--rate", str(rate), "--idle-timeout", "600", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip() if proc.stdout else ""
    if not line.startswith("http"):
        proc.kill()
        raise SystemExit(f"emulator did not start: {line!r}")
    return proc, line


def stop_process(proc: Any) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except Exception:
        proc.kill()


# -- numbers and output ------------------------------------------------------------------------

def median(values: Iterable[float]) -> float:
    vals = list(values)
    return statistics.median(vals) if vals else float("nan")


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (p in 0..100)."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


def rss_kib() -> int:
    """This process's resident set size in KiB (``VmRSS`` of /proc/self/status)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table, columns sized to fit; floats get up to 3 significant decimals."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            if v != v:
                return "-"
            return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    cells = [[cell(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in
                       enumerate(zip(headers, widths, strict=True)))]
    for r in cells:
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                               enumerate(zip(r, widths, strict=True))))
    return "\n".join(lines)


def key_line(values: dict[str, Any]) -> str:
    """The final ``key=value ...`` line (floats with 4 significant digits)."""
    out = []
    for k, v in values.items():
        if isinstance(v, float):
            v = f"{v:.4g}" if v == v else "nan"
        out.append(f"{k}={v}")
    return " ".join(out)


def parse_key_line(text: str) -> dict[str, str]:
    """The ``key=value`` pairs of the last line of ``text`` that has any."""
    for line in reversed(text.strip().splitlines()):
        pairs = [p.split("=", 1) for p in line.split() if "=" in p]
        if pairs and len(pairs) == len(line.split()):
            return {k: v for k, v in pairs}
    return {}


def wait_until(pred: Any, timeout: float, interval: float = 0.01) -> bool:
    """Poll ``pred`` until true or ``timeout``; for setup steps only, never inside a timing."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return bool(pred())


# -- profiling (diagnostic) --------------------------------------------------------------------

class ThreadProfiles:
    """cProfile the hub's hot threads: the reader's receive loop and the components' drains.

    Wraps ``Reader._receive`` and ``ComponentProxyActor._drain`` (the benchmark process only;
    the runtime files are untouched) with a per-thread ``cProfile.Profile``; :meth:`report`
    prints the top functions by own time per thread kind.
    """

    def __init__(self) -> None:
        import cProfile

        self._new = cProfile.Profile
        self.profiles: dict[str, list[Any]] = {"reader": [], "component": []}
        self._by_thread: dict[int, Any] = {}
        self._saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> ThreadProfiles:
        import threading

        from upbit_hub.actors.component import ComponentProxyActor
        from upbit_hub.actors.reader import Reader

        orig_receive, orig_drain = Reader._receive, ComponentProxyActor._drain
        profiles, by_thread, new = self.profiles, self._by_thread, self._new

        def receive(reader: Any, session: Any) -> Any:
            prof = new()
            profiles["reader"].append(prof)
            prof.enable()
            try:
                return orig_receive(reader, session)
            finally:
                prof.disable()

        def drain(actor: Any) -> Any:
            ident = threading.get_ident()
            prof = by_thread.get(ident)
            if prof is None:
                prof = by_thread[ident] = new()
                profiles["component"].append(prof)
            prof.enable()
            try:
                return orig_drain(actor)
            finally:
                prof.disable()

        self._saved = [(Reader, "_receive", orig_receive),
                       (ComponentProxyActor, "_drain", orig_drain)]
        Reader._receive = receive
        ComponentProxyActor._drain = drain
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, fn in self._saved:
            setattr(owner, name, fn)

    def report(self, top: int = 14) -> None:
        import io
        import pstats

        for kind, profs in self.profiles.items():
            if not profs:
                continue
            buf = io.StringIO()
            st = pstats.Stats(profs[0], stream=buf)
            for p in profs[1:]:
                st.add(p)
            st.sort_stats("tottime").print_stats(top)
            text = buf.getvalue()
            body = text[text.find("   ncalls"):] if "   ncalls" in text else text
            print(f"--- profile: {kind} thread(s), top {top} by own time ---")
            print(body.rstrip())
