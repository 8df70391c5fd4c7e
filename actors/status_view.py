"""The live status view of ``upbit-hub run``: connections, wire subscriptions, rates, components.

Rendering is pure (:func:`render_table`, :func:`render_line` take a :class:`StatusSnapshot` and
:class:`Rates`); :class:`StatusView` takes snapshots, computes rates from the deltas of the
hub's counters between two refreshes and writes:

- on a terminal, a table redrawn in place (ANSI cursor-home + clear screen, no curses)::

    upbit-hub  up 0:01:05  refresh 5s  Ctrl-C to stop

    ENDPOINT  STATE      SESSIONS  RECONNECTS  FAILS  COMPRESSION  WIRE     PAYLOAD  EV/S  ...
    public    connected         1           0      0  on (8.1x)    1.1 MiB  8.9 MiB  312.4 ...
    private   idle              0           0      0  off          0 B      0 B        0.0 ...

    ON THE WIRE  public: ticker(6) trade(2) orderbook(2)   private: -
    EVENTS/S     ticker 120.2  trade 80.0  orderbook 112.2   total 312.4

    COMPONENT  PLUGIN        STATE    HANDLED  RECEIVED  QUEUE  DROPPED  ERRORS  NOTE
    board      ticker-board  running     1234      1240      0        0       0  -

- otherwise one plain line per refresh (through logging)::

    status: public=connected private=idle 312 ev/s ticker=120/s trade=80/s components=3
    running=3 failed=0 handled=5120 errors=0 dropped=0 queued=0 | bridge: nats connected
    (nats://127.0.0.1:4222): published 5120 (310/s), acked 5120 (310/s), pending 0, ...

  (each plugin's ``status_line()`` after a ``|``)

Runs in: the main thread of ``upbit-hub run`` (``StatusView.run``); the render functions in
any thread.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = [
    "CLEAR",
    "Rates",
    "StatusSnapshot",
    "StatusView",
    "compute_rates",
    "render_line",
    "render_table",
]

log = logging.getLogger(__name__)

CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """What the view shows at one instant.

    ``hub`` is :meth:`Hub.status` (``{"running": bool, "connections": {endpoint: {...}},
    "registry": {...}, "components": {...}}``); ``components`` are the host's reports
    (objects with ``id``, ``plugin``, ``state``, ``handled``, ``received``, ``queued``,
    ``dropped``, ``handler_errors``, ``error``, ``last_handler_error``); ``panels`` are
    ``(component id, lines)`` from plugins' ``status_lines()``.
    """

    at: float
    hub: Mapping[str, Any]
    components: Sequence[Any] = ()
    panels: Sequence[tuple[str, Sequence[str]]] = ()
    started_at: float | None = None
    interval_s: float = 5.0


@dataclass(frozen=True, slots=True)
class Rates:
    """Events per second between two snapshots (0 for the first)."""

    by_type: dict[str, float] = field(default_factory=dict)
    by_endpoint: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    seconds: float = 0.0


def compute_rates(prev: StatusSnapshot | None, cur: StatusSnapshot) -> Rates:
    """Events/s per type and per endpoint from the counter deltas of ``prev`` -> ``cur``.

    A counter that went down (an actor was restarted) counts from zero. Runs in: any thread.
    """
    if prev is None or cur.at <= prev.at:
        return Rates()
    dt = cur.at - prev.at
    before, after = _connections(prev.hub), _connections(cur.hub)
    by_type: dict[str, float] = {}
    by_endpoint: dict[str, float] = {}
    for ep, conn in after.items():
        old = before.get(ep, {})
        new_types = _int_map(conn.get("events_by_type"))
        old_types = _int_map(old.get("events_by_type"))
        for t, n in new_types.items():
            delta = n - old_types.get(t, 0)
            delta = n if delta < 0 else delta
            by_type[t] = by_type.get(t, 0.0) + delta / dt
        ev_new, ev_old = _int(conn.get("events")), _int(old.get("events"))
        delta = ev_new - ev_old
        by_endpoint[ep] = (ev_new if delta < 0 else delta) / dt
    return Rates(by_type, by_endpoint, sum(by_endpoint.values()), dt)


# -- rendering ---------------------------------------------------------------------------


def render_line(snapshot: StatusSnapshot, rates: Rates) -> str:
    """One plain status line (for logs). Runs in: any thread."""
    hub = snapshot.hub
    if not hub.get("running"):
        parts = ["status: hub=stopped"]
    else:
        conns = _connections(hub)
        parts = ["status:"] + [f"{ep}={c.get('state', '?')}" for ep, c in conns.items()]
        parts.append(f"{rates.total:.0f} ev/s")
        parts += [f"{t}={r:.0f}/s" for t, r in sorted(rates.by_type.items()) if r > 0]
    comps = list(snapshot.components)
    running = sum(getattr(c, "state", "") == "running" for c in comps)
    failed = sum(getattr(c, "state", "") == "failed" for c in comps)
    parts += [
        f"components={len(comps)}",
        f"running={running}",
        f"failed={failed}",
        f"handled={sum(_int(getattr(c, 'handled', 0)) for c in comps)}",
        f"errors={sum(_int(getattr(c, 'handler_errors', 0)) for c in comps)}",
        f"dropped={sum(_int(getattr(c, 'dropped', 0)) for c in comps)}",
        f"queued={sum(_int(getattr(c, 'queued', 0)) for c in comps)}",
    ]
    for cid, c in _source(hub).items():  # a remote source (run --source): lag per component
        lag = c.get("lag_ms")
        parts.append(f"remote[{cid}]=lag:{lag:.1f}ms" if isinstance(lag, (int, float))
                     else f"remote[{cid}]=lag:-")  # fmt: skip
        parts.append(f"pending:{_int(c.get('pending'))},redelivered:"
                     f"{_int(c.get('redelivered'))},gaps:{_int(c.get('gaps'))}")
    desk = hub.get("orders") if isinstance(hub.get("orders"), Mapping) else None
    if desk is not None:
        parts += [f"orders_open={_int(desk.get('open'))}",
                  f"kill_switch={'ON' if desk.get('halted') else 'off'}"]
    for cid, lines in snapshot.panels:  # plugins' status_line() (the bridge's rates ...)
        if lines:
            parts.append(f"| {cid}: " + "; ".join(str(x) for x in lines))
    return " ".join(parts)


def render_table(snapshot: StatusSnapshot, rates: Rates, width: int | None = None) -> str:
    """The full status table (no ANSI codes; the view adds them). Lines longer than ``width``
    are cut. Runs in: any thread."""
    hub = snapshot.hub
    up = ""
    if snapshot.started_at is not None:
        up = f"  up {_duration(snapshot.at - snapshot.started_at)}"
    lines = [f"upbit-hub{up}  refresh {snapshot.interval_s:g}s  Ctrl-C to stop", ""]
    if not hub.get("running"):
        lines.append("hub: not running")
    else:
        conns = _connections(hub)
        rows = [("ENDPOINT", "STATE", "SESSIONS", "RECONNECTS", "FAILS", "COMPRESSION",
                 "WIRE", "PAYLOAD", "EV/S", "LAST ERROR")]  # fmt: skip
        for ep, c in conns.items():
            sessions = _int(c.get("sessions"))
            wire, payload = _int(c.get("wire_bytes")), _int(c.get("payload_bytes"))
            compression = "off"
            if c.get("compression"):
                compression = f"on ({payload / wire:.1f}x)" if wire else "on"
            rows.append((
                ep, str(c.get("state", "?")), str(sessions), str(max(sessions - 1, 0)),
                str(_int(c.get("connect_failures"))), compression, _bytes(wire),
                _bytes(payload), f"{rates.by_endpoint.get(ep, 0.0):.1f}",
                str(c.get("last_error") or c.get("error") or "-"),
            ))  # fmt: skip
        lines += _align(rows, right={2, 3, 4, 8})
        lines.append("")
        wire_parts = [f"{ep}: {_wire_summary(c.get('wire'))}" for ep, c in conns.items()]
        lines.append("ON THE WIRE  " + "   ".join(wire_parts))
        rate_parts = [f"{t} {r:.1f}" for t, r in sorted(rates.by_type.items())]
        lines.append("EVENTS/S     " + "  ".join([*rate_parts, f"  total {rates.total:.1f}"]))
        lines += _source_lines(hub)
    lines.append("")
    comps = list(snapshot.components)
    if not comps:
        lines.append("no components configured or none usable: see [[components]] in the config")
    else:
        rows = [("COMPONENT", "PLUGIN", "STATE", "HANDLED", "RECEIVED", "QUEUE", "DROPPED",
                 "ERRORS", "ORDERS o/f/c/d/r", "NOTE")]  # fmt: skip
        for c in comps:
            note = getattr(c, "error", None) or getattr(c, "last_handler_error", None) or "-"
            rows.append((
                str(c.id), str(c.plugin), str(c.state), str(_int(c.handled)),
                str(_int(c.received)), str(_int(c.queued)), str(_int(c.dropped)),
                str(_int(c.handler_errors)), _orders_cell(getattr(c, "orders", None)),
                str(note),
            ))  # fmt: skip
        lines += _align(rows, right={3, 4, 5, 6, 7})
    desk = hub.get("orders") if isinstance(hub.get("orders"), Mapping) else None
    if desk is not None:
        halted = desk.get("halted")
        lines += ["", "KILL SWITCH  " + (f"ON: {halted}" if halted else "off")
                  + f"   orders open {_int(desk.get('open'))}, queued "
                  f"{_int(desk.get('queued'))}, unknown {_int(desk.get('unknown'))}, "
                  f"P&L today {desk.get('daily_pnl_krw', '0')} KRW"
                  + ("   PAPER TRADING: nothing reaches an exchange" if desk.get("paper")
                     else "")]  # fmt: skip
    for cid, panel in snapshot.panels:
        lines += ["", f"[{cid}]", *panel]
    if width is not None and width > 0:
        lines = [line if len(line) <= width else line[: width - 1] + "…" for line in lines]
    return "\n".join(line.rstrip() for line in lines) + "\n"


# -- the view ----------------------------------------------------------------------------


class StatusView:
    """Refreshes the status from ``source()`` every ``interval_s`` (first after
    ``first_after_s``), as a table on a terminal, else as a log line.

    ``tty`` None means ``out.isatty()``. Runs in: the thread that calls :meth:`run`.
    """

    def __init__(
        self,
        source: Callable[[], StatusSnapshot],
        out: TextIO,
        *,
        interval_s: float = 5.0,
        first_after_s: float = 1.0,
        tty: bool | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.source = source
        self.out = out
        self.interval_s = interval_s
        self.first_after_s = min(first_after_s, interval_s)
        self.tty = _isatty(out) if tty is None else tty
        self.logger = logger or log
        self.refreshes = 0
        self._prev: StatusSnapshot | None = None

    def refresh(self) -> str:
        """Take one snapshot and show it; returns what was shown. Runs in: the view's thread."""
        snap = self.source()
        rates = compute_rates(self._prev, snap)
        self._prev = snap
        self.refreshes += 1
        if self.tty:
            width = shutil.get_terminal_size((120, 40)).columns
            text = render_table(snap, rates, width=width)
            self.out.write(CLEAR + text)
            self.out.flush()
            return text
        line = render_line(snap, rates)
        self.logger.info("%s", line)
        return line

    def run(self, stop: threading.Event) -> None:
        """Refresh until ``stop`` is set (a quick first refresh, then every ``interval_s``).

        A refresh that fails is logged and the view goes on. Runs in: the caller's thread.
        """
        try:  # a baseline, so the first refresh already shows rates
            self._prev = self.source()
        except Exception:
            self.logger.exception("status snapshot failed")
        wait = self.first_after_s
        while not stop.wait(wait):
            started = time.monotonic()
            try:
                self.refresh()
            except Exception:
                self.logger.exception("status refresh failed")
            wait = max(0.05, self.interval_s - (time.monotonic() - started))


# -- helpers -----------------------------------------------------------------------------


def _connections(hub: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    conns = hub.get("connections") or {}
    return {str(k): v for k, v in conns.items() if isinstance(v, Mapping)}


def _source(hub: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    src = hub.get("source")
    if not isinstance(src, Mapping):
        return {}
    return {str(k): v for k, v in src.items() if isinstance(v, Mapping)}


def _source_lines(hub: Mapping[str, Any]) -> list[str]:
    """The remote source's consumers (``upbit-hub run --source``): lag per component."""
    src = _source(hub)
    if not src:
        return []
    rows = [("REMOTE", "RECEIVED", "ACKED", "PENDING", "REDELIVERED", "DUPLICATES", "GAPS",
             "MALFORMED", "LAG")]  # fmt: skip
    for cid, c in src.items():
        lag = c.get("lag_ms")
        rows.append((cid, *(str(_int(c.get(k))) for k in ("received", "acked", "pending",
                     "redelivered", "duplicates", "gaps", "malformed")),
                     f"{lag:.1f} ms" if isinstance(lag, (int, float)) else "-"))  # fmt: skip
    return ["", *_align(rows, right={1, 2, 3, 4, 5, 6, 7})]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _int_map(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): _int(v) for k, v in value.items()}


def _orders_cell(counts: Any) -> str:
    """``open/filled/cancelled/denied/rejected`` of a component that trades, else ``-``."""
    if not isinstance(counts, Mapping):
        return "-"
    return "/".join(str(_int(counts.get(k))) for k in ("open", "filled", "cancelled", "denied",
                                                        "rejected"))  # fmt: skip


def _wire_summary(wire: Any) -> str:
    if not wire:
        return "-"
    counts: dict[str, int] = {}
    for item in wire:
        t = str(item).split(":", 1)[0]
        counts[t] = counts.get(t, 0) + 1
    return " ".join(f"{t}({n})" for t, n in counts.items())


def _bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def _duration(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _align(rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            c.rjust(widths[i]) if i in right else c.ljust(widths[i])
            for i, c in enumerate(r[:-1])
        ]
        out.append("  ".join([*cells, r[-1]]))
    return out


def _isatty(out: TextIO) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False
