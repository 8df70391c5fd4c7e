"""The values of a backtest: what goes in (:class:`BacktestConfig`), what comes out
(:class:`BacktestResult`), and the simulated clock it runs on (:class:`ReplayClock`).

Runs in: any thread (plain values); the clock in the backtest's thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from upbit_hub.actors.protocol.trading_rules import DEFAULT_FEE_RATE
from upbit_hub.actors.trading.clock import SimClock

from .ledger import EquityPoint, Ledger
from .recording import RecordingInfo

__all__ = ["BacktestConfig", "BacktestResult", "ReplayClock"]


@dataclass(frozen=True)
class BacktestConfig:
    """The inputs of a backtest. ``balances`` None: ``[trading] paper_balances``; fee rates
    are fractions (``Decimal("0.0005")`` = 5 bps); ``start``/``end`` Unix seconds."""

    settings: Any
    recordings: tuple[Path, ...]
    balances: Mapping[str, Decimal] | None = None
    maker_fee_rate: Decimal = DEFAULT_FEE_RATE
    taker_fee_rate: Decimal = DEFAULT_FEE_RATE
    latency_s: float = 0.05
    seed: int = 1
    start: float | None = None
    end: float | None = None
    speed: float | None = None
    split_probability: float = 0.0
    equity_interval_s: float = 1.0
    stop_grace_s: float = 1.0

    def start_balances(self) -> dict[str, Decimal]:
        """The account at the start (currency -> amount)."""
        raw = self.balances
        if raw is None:
            raw = {k: Decimal(v) for k, v in self.settings.trading.paper_balances.items()}
        return {k.upper(): Decimal(v) for k, v in sorted(raw.items())}

    def params(self) -> dict[str, Any]:
        """Everything besides settings and recordings that changes the result (hashed)."""
        return {
            "seed": self.seed,
            "balances": {k: str(v) for k, v in self.start_balances().items()},
            "maker_fee_rate": str(self.maker_fee_rate),
            "taker_fee_rate": str(self.taker_fee_rate),
            "latency_ms": round(self.latency_s * 1000, 6),
            "start": self.start,
            "end": self.end,
            "split_probability": self.split_probability,
            "equity_interval_s": self.equity_interval_s,
            "stop_grace_s": self.stop_grace_s,
        }


@dataclass
class BacktestResult:
    """What a run produced; :mod:`.report` turns it into files and a summary."""

    config: BacktestConfig
    info: RecordingInfo
    digest: Any
    ledger: Ledger
    points: list[EquityPoint]
    events: int
    skipped: dict[str, int]
    sim_start: float
    sim_end: float
    start_balances: dict[str, Decimal]
    end_balances: dict[str, tuple[Decimal, Decimal]]
    realized: Decimal
    unrealized: Decimal
    max_drawdown: Decimal
    max_drawdown_pct: Decimal
    unpriced: list[str]
    components: list[dict[str, Any]]
    manager: dict[str, Any] = field(default_factory=dict)
    interrupted: bool = False


class ReplayClock(SimClock):
    """A :class:`SimClock` that remembers a lower bound of its next deadline (``earliest``),
    so the per-event loop asks the heap only when something may be due. A cancelled call
    leaves the bound early, never late: at worst one needless look."""

    def __init__(self, start: float) -> None:
        super().__init__(start)
        self.earliest = math.inf

    def call_later(self, delay: float, fn: Callable[[], object]) -> Any:
        handle = super().call_later(delay, fn)
        due = self.time() + max(0.0, delay)
        if due < self.earliest:
            self.earliest = due
        return handle

    def advance_to(self, t: float) -> int:
        ran = super().advance_to(t)
        due = self.next_due()
        self.earliest = math.inf if due is None else due
        return ran

    def move_to(self, t: float) -> None:
        """Set the time to ``t`` when nothing is due before it (the caller checked)."""
        SimClock.advance_to(self, t)
