"""``upbit-hub backtest``: run the configured components on recorded data, with simulated fills.

::

    upbit-hub backtest --config hub.toml --recording recordings/sim.jsonl \\
        [--speed max|1x|Nx] [--start TIME] [--end TIME] [--balances KRW=1000000,BTC=0.01] \\
        [--fee-bps 5] [--latency-ms 50] [--seed 1] [--out backtest-report]

The components are the config's ``[[components]]`` (``recorder`` entries are skipped), run
unchanged with the same ``Context``, order API and ``[trading]`` risk rules as live, on a
simulated clock; orders fill in the emulator's matching engine against the recorded order
books. Each ``--recording`` includes its rotated backups (``FILE.1``...); several are merged
by the time their events were received. ``--balances`` defaults to ``[trading]
paper_balances``. ``TIME`` is Unix seconds or ISO 8601 (no zone: UTC).

Writes ``ledger.jsonl``, ``equity.csv``, ``summary.json`` and ``equity.png`` into ``--out``
and prints the summary, ending with ``ledger hash: <hex>`` (the same for the same config,
recordings, seed and options at any ``--speed``). A progress bar shows on a terminal.

Exit status: 0 done; 1 a settings, recording or backtest error (one line saying what to fix);
2 bad options; 130 interrupted (the report of what ran is still written).

Runs in: the main thread.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from upbit_hub.actors.cli_args import log_level
from upbit_hub.actors.cli_args import speed as parse_speed

__all__ = ["add_arguments", "main", "parse_balances", "parse_speed", "parse_time"]

_CURRENCY = re.compile(r"^[A-Z0-9]{1,20}$")


def parse_time(text: str) -> float:
    """Unix seconds (``1787728554.9``) or ISO 8601 (``2026-12-03T14:27:19+09:00``; no zone:
    UTC) -> Unix seconds."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected Unix seconds or an ISO 8601 time (2026-12-03T14:27:19+09:00), "
            f"got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def parse_balances(text: str) -> dict[str, Decimal]:
    """``KRW=1000000,BTC=0.01`` -> ``{"KRW": Decimal("1000000"), "BTC": Decimal("0.01")}``.
    Any currency may be named, traded in the recording or not."""
    out: dict[str, Decimal] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        currency, eq, amount = part.partition("=")
        currency = currency.strip().upper()
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            value = Decimal("NaN")
        if not eq or not _CURRENCY.match(currency) or not value.is_finite() or value < 0:
            raise argparse.ArgumentTypeError(
                f"expected CURRENCY=AMOUNT pairs like KRW=1000000,BTC=0.01, got {part!r}")
        out[currency] = value
    if not out:
        raise argparse.ArgumentTypeError("name at least one balance, e.g. KRW=1000000")
    return out


def _non_negative(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add this subcommand's arguments. Runs in: the main thread."""
    parser.add_argument("--config", metavar="PATH", required=True,
                        help="settings file (TOML) naming the components to run")
    parser.add_argument("--recording", metavar="FILE", nargs="+", required=True, type=Path,
                        help="recorder JSON-lines file(s), each with its rotated backups")
    parser.add_argument("--speed", type=parse_speed, default=None, metavar="max|1x|Nx",
                        help="max (default): as fast as possible; Nx: N times real time")
    parser.add_argument("--start", type=parse_time, metavar="TIME",
                        help="replay events received at or after TIME")
    parser.add_argument("--end", type=parse_time, metavar="TIME",
                        help="replay events received at or before TIME")
    parser.add_argument("--balances", type=parse_balances, metavar="CUR=AMOUNT,...",
                        help="starting account (default: [trading] paper_balances)")
    parser.add_argument("--fee-bps", type=_non_negative, default=Decimal(5), metavar="N",
                        help="maker and taker fee in basis points (default 5, Upbit's 0.05 %%)")
    parser.add_argument("--maker-fee-bps", type=_non_negative, metavar="N",
                        help="the maker fee alone (default: --fee-bps)")
    parser.add_argument("--taker-fee-bps", type=_non_negative, metavar="N",
                        help="the taker fee alone (default: --fee-bps)")
    parser.add_argument("--latency-ms", type=_non_negative, default=Decimal(50), metavar="N",
                        help="time from an order call to the exchange acting on it (default 50)")
    parser.add_argument("--seed", type=int, default=1, metavar="N",
                        help="seed of the matching engine and the order ids (default 1)")
    parser.add_argument("--out", type=Path, default=Path("backtest-report"), metavar="DIR",
                        help="report folder (default ./backtest-report)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar, even on a terminal")
    parser.add_argument("--log-level", type=log_level, default="WARNING", metavar="LEVEL",
                        help="log level on stderr (default WARNING)")


def main(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the backtest and write its report. Runs in: the main thread."""
    out = out or sys.stdout
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(args.log_level)
    try:
        return _main(args, out)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _main(args: argparse.Namespace, out: TextIO) -> int:
    from upbit_hub.actors.protocol.errors import ConfigError, UpbitHubError
    from upbit_hub.config.loader import load_settings

    from .engine import Backtest, BacktestConfig
    from .progress import Progress
    from .report import format_summary, write_report

    try:
        settings = load_settings(args.config, environ={})  # no URL overrides: not hashed
    except ConfigError as exc:
        print(f"{exc.source or 'settings'}: {len(exc.problems)} problem(s)", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    bps = Decimal(10_000)
    maker = args.maker_fee_bps if args.maker_fee_bps is not None else args.fee_bps
    taker = args.taker_fee_bps if args.taker_fee_bps is not None else args.fee_bps
    if args.start is not None and args.end is not None and args.end < args.start:
        print("upbit-hub backtest: --end is before --start", file=sys.stderr)
        return 2
    config = BacktestConfig(
        settings=settings, recordings=tuple(args.recording), balances=args.balances,
        maker_fee_rate=maker / bps, taker_fee_rate=taker / bps,
        latency_s=float(args.latency_ms) / 1000, seed=args.seed, start=args.start,
        end=args.end, speed=args.speed,
    )  # fmt: skip
    progress: Any = None if args.no_progress else (lambda total: Progress(total))
    try:
        result = Backtest(config, progress=progress).run()
    except UpbitHubError as exc:
        print(f"upbit-hub backtest: {exc}", file=sys.stderr)
        return 1
    summary = write_report(args.out, result)
    print(format_summary(summary), file=out)
    print(f"report in {args.out}/ (ledger.jsonl, equity.csv, summary.json, equity.png)",
          file=sys.stderr)
    return 130 if result.interrupted else 0
