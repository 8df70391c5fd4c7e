"""upbit_hub.actors.backtest: the same strategy code on recorded data, with simulated fills.

- :mod:`.recording`: the recorder's line format; several recordings merged by receive time;
- :mod:`.books`: :class:`LatestBooks`, the matching engine's book source fed with real books
  (recorded here, live in paper trading);
- :mod:`.engine`: :class:`Backtest`, the one-threaded driver on a ``SimClock``;
  :mod:`.values`: its config, result and clock;
- :mod:`.proxy` / :mod:`.gateway` / :mod:`.host` / :mod:`.state`: what the unchanged
  ``Context`` of a component talks to in a replay;
- :mod:`.ledger` / :mod:`.report`: the ledger, equity curve, summary, picture and hash;
- :mod:`.progress`, :mod:`.cli` (``upbit-hub backtest``).

The simulated venue itself (``SimVenue``) lives with the other venues in
:mod:`upbit_hub.actors.trading.venue_sim`. Names are exported lazily: importing the line
format (as the recorder plugin does) pulls in nothing else.

Runs in: see each module.
"""

from __future__ import annotations

from upbit_hub.actors.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Backtest": ".engine",
    "BacktestConfig": ".values",
    "BacktestResult": ".values",
    "ComponentSpec": ".host",
    "LatestBooks": ".books",
    "format_summary": ".report",
    "write_report": ".report",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
