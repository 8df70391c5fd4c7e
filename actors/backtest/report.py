"""The report of a backtest: ledger, equity curve, summary, picture, and the ledger hash.

``write_report(out_dir, result)`` writes:

==================  ===========================================================================
``ledger.jsonl``    one object per order event (``"type": "order"``, as the component saw it)
                    and per fill (``"type": "fill"``: ``price``, ``volume``, ``funds``, ``fee``,
                    ``side``, ``client_id``, ``trade_uuid``, ``is_maker``, ...), simulated time
``equity.csv``      ``time,equity_krw,cash_krw,drawdown_krw`` (Unix s; KRW, exact decimals)
``summary.json``    realized and unrealized PnL (KRW, net of fees), fees, max drawdown, orders
                    (placed, filled, cancelled, denied, rejected), fills, equity at start and
                    end, events replayed, simulated start and end, balances, ``ledger_hash``;
                    money as decimal strings
``equity.png``      equity and drawdown over simulated time (matplotlib, Agg backend)
==================  ===========================================================================

The ledger hash is SHA-256 over, in order: a version line, the resolved settings as JSON
(keys sorted), the run's parameters as JSON (seed, balances, fees, latency, start/end...),
every recording file's size and bytes (in play order), then the ledger lines. It never
covers ``--speed`` or ``--out``, so the same inputs give the same hash at any speed.

Runs in: the caller's thread.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from .ledger import plain

__all__ = ["format_summary", "new_digest", "summary_of", "write_png", "write_report"]

log = logging.getLogger(__name__)

_VERSION = b"upbit-hub backtest ledger v1\n"


def new_digest(settings: Any, params: dict[str, Any]) -> Any:
    """The ledger hash's SHA-256, fed with the settings and parameters (the recordings and
    the ledger follow). Runs in: any thread."""
    digest = hashlib.sha256(_VERSION)
    digest.update(b"config\n" + msgspec.json.encode(settings, order="sorted") + b"\n")
    digest.update(b"params\n" + msgspec.json.encode(params, order="sorted") + b"\n")
    return digest


def ledger_hash(result: Any) -> str:
    """Finish the hash with the ledger lines (on a copy: callable more than once)."""
    digest = result.digest.copy()
    digest.update(b"ledger\n")
    for line in result.ledger.lines:
        digest.update(line)
    return digest.hexdigest()


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")


def summary_of(result: Any) -> dict[str, Any]:
    """The summary object (what ``summary.json`` holds). Runs in: any thread."""
    led, cfg = result.ledger, result.config
    points = result.points
    start_eq = points[0].equity if points else Decimal(0)
    end_eq = points[-1].equity if points else Decimal(0)
    fees = led.fees.get("KRW", Decimal(0))
    total = result.realized + result.unrealized
    ret = (end_eq - start_eq) / start_eq * 100 if start_eq else Decimal(0)
    out: dict[str, Any] = {
        "realized_pnl": plain(result.realized),
        "unrealized_pnl": plain(result.unrealized),
        "total_pnl": plain(total),
        "fees": plain(fees),
        "max_drawdown": plain(result.max_drawdown),
        "max_drawdown_pct": f"{result.max_drawdown_pct:.4f}",
        "equity_start": plain(start_eq),
        "equity_end": plain(end_eq),
        "return_pct": f"{ret:.4f}",
        "orders": len(led.orders),
        "filled": led.count("done"),
        "cancelled": led.count("cancel"),
        "denied": led.count("denied"),
        "rejected": led.count("rejected"),
        "fills": led.fills,
        "events": result.events,
        "skipped_private_events": sum(result.skipped.values()),
        "sim_start": _iso(result.sim_start),
        "sim_end": _iso(result.sim_end),
        "sim_start_ts": result.sim_start,
        "sim_end_ts": result.sim_end,
        "balances_start": {c: plain(v) for c, v in result.start_balances.items()},
        "balances_end": {c: {"balance": plain(b), "locked": plain(lk)}
                         for c, (b, lk) in sorted(result.end_balances.items())},
        "unpriced": result.unpriced,
        "fees_by_quote": {q: plain(v) for q, v in sorted(led.fees.items())},
        "seed": cfg.seed,
        "maker_fee_rate": plain(cfg.maker_fee_rate),
        "taker_fee_rate": plain(cfg.taker_fee_rate),
        "latency_ms": round(cfg.latency_s * 1000, 3),
        "recordings": [str(p) for p in result.info.files],
        "components": result.components,
        "interrupted": result.interrupted,
        "ledger_hash": ledger_hash(result),
    }
    return out


def write_report(out_dir: str | os.PathLike[str], result: Any, *, png: bool = True
                 ) -> dict[str, Any]:
    """Write the four files into ``out_dir`` (created); returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summary_of(result)
    with open(out / "ledger.jsonl", "wb") as fh:
        fh.writelines(result.ledger.lines)
    with open(out / "equity.csv", "w", encoding="utf-8", newline="") as fh:
        fh.write("time,equity_krw,cash_krw,drawdown_krw\n")
        for p in result.points:
            fh.write(f"{p.time!r},{plain(p.equity)},{plain(p.cash)},{plain(p.drawdown)}\n")
    (out / "summary.json").write_bytes(
        msgspec.json.format(msgspec.json.encode(summary), indent=2) + b"\n")
    if png:
        try:
            write_png(out / "equity.png", result.points)
        except ImportError as exc:
            log.warning("equity.png not written: %s (pip install matplotlib)", exc)
    return summary


def write_png(path: str | os.PathLike[str], points: list[Any]) -> None:
    """Equity (top) and drawdown (bottom) over simulated time, UTC. Imports matplotlib (Agg
    backend) here, so a backtest without a picture never pays for it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    times = [dt.datetime.fromtimestamp(p.time, dt.UTC) for p in points]
    equity = [float(p.equity) for p in points]
    drawdown = [-float(p.drawdown) for p in points]
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 6),
                                      gridspec_kw={"height_ratios": [3, 1]})
    try:
        top.plot(times, equity, color="tab:blue", linewidth=1.2)
        top.set_ylabel("equity (KRW)")
        top.set_title("backtest equity")
        top.grid(True, alpha=0.3)
        top.ticklabel_format(axis="y", style="plain", useOffset=False)
        bottom.fill_between(times, drawdown, 0, color="tab:red", alpha=0.4, step="post")
        bottom.set_ylabel("drawdown (KRW)")
        bottom.set_xlabel("simulated time (UTC)")
        bottom.grid(True, alpha=0.3)
        bottom.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M:%S"))
        fig.autofmt_xdate()
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as the CLI prints it; the last line is ``ledger hash: <hex>``."""
    s = summary
    lines = [
        f"backtest {s['sim_start']} .. {s['sim_end']}  ({s['events']:,} events"
        + (", interrupted" if s["interrupted"] else "") + ")",
        f"equity      {_krw(s['equity_start'])} -> {_krw(s['equity_end'])} KRW "
        f"({s['return_pct']} %)",
        f"pnl         realized {_krw(s['realized_pnl'])}  unrealized "
        f"{_krw(s['unrealized_pnl'])}  total {_krw(s['total_pnl'])} KRW (net of fees)",
        f"fees        {_krw(s['fees'])} KRW",
        f"drawdown    max {_krw(s['max_drawdown'])} KRW ({s['max_drawdown_pct']} %)",
        f"orders      {s['orders']} placed, {s['filled']} filled, {s['cancelled']} cancelled, "
        f"{s['denied']} denied, {s['rejected']} rejected; {s['fills']} fills",
    ]
    if s["unpriced"]:
        lines.append(f"unpriced    {', '.join(s['unpriced'])} (no KRW market data in the "
                     "recording: left out of equity)")
    for c in s["components"]:
        note = f"  ({c['error']})" if c.get("error") else ""
        lines.append(f"component   {c['id']} ({c['plugin']}): {c['state']}, {c['handled']} "
                     f"handled, {c['errors']} errors{note}")
    lines.append(f"ledger hash: {s['ledger_hash']}")
    return "\n".join(lines)


def _krw(text: str) -> str:
    value = Decimal(text)
    return f"{value:,.2f}" if value != value.to_integral_value() else f"{value:,.0f}"
