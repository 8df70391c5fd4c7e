"""Counters the emulator keeps for tests and ``GET /_emulator/stats``.

Runs in: the emulator loop thread only (no locks); :meth:`StatsRecorder.snapshot` builds the
immutable :class:`EmulatorStats` that crosses to other threads.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import asdict

from upbit_hub.actors.emulator.server_config import EmulatorStats, RequestRecord, RestRecord

__all__ = ["StatsRecorder", "stats_to_json"]


class StatsRecorder:
    """Mutable counters; one per emulator."""

    def __init__(self, request_log_size: int = 10_000) -> None:
        self.requests: deque[RequestRecord] = deque(maxlen=request_log_size)
        self.rest_log: deque[RestRecord] = deque(maxlen=request_log_size)
        self.frames_sent: Counter[str] = Counter()
        self.bytes_sent = 0
        self.connects_accepted = 0
        self.connects_refused = 0
        self.refused_by_status: Counter[int] = Counter()
        self.rest_requests: Counter[str] = Counter()
        self.rest_status: Counter[int] = Counter()
        self.dropped_slow = 0
        self.ticks = 0

    def refuse(self, status: int) -> None:
        """Count an upgrade refused with HTTP ``status``."""
        self.connects_refused += 1
        self.refused_by_status[status] += 1

    def snapshot(self, open_connections: dict[str, int]) -> EmulatorStats:
        """Freeze the counters. Runs in: the emulator loop thread."""
        return EmulatorStats(
            open_connections=dict(open_connections),
            requests=tuple(self.requests),
            frames_sent=dict(self.frames_sent),
            bytes_sent=self.bytes_sent,
            connects_accepted=self.connects_accepted,
            connects_refused=self.connects_refused,
            refused_by_status=dict(self.refused_by_status),
            rest_requests=dict(self.rest_requests),
            rest_status=dict(self.rest_status),
            dropped_slow=self.dropped_slow,
            ticks=self.ticks,
            rest_log=tuple(self.rest_log),
        )


def stats_to_json(stats: EmulatorStats, *, last_requests: int = 100) -> dict:
    """A JSON-ready dict of ``stats`` (the newest ``last_requests`` WebSocket requests and REST
    log records only)."""
    out = asdict(stats)
    out["requests"] = [asdict(r) for r in stats.requests[-last_requests:]] if last_requests else []
    out["rest_log"] = [asdict(r) for r in stats.rest_log[-last_requests:]] if last_requests else []
    out["refused_by_status"] = {str(k): v for k, v in stats.refused_by_status.items()}
    out["rest_status"] = {str(k): v for k, v in stats.rest_status.items()}
    return out
