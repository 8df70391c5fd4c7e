"""Upbit's market list, so a code that does not exist is refused where it is typed.

Upbit silently ignores unknown codes (``BTC-KRW``, the reversed order people type, or
``KRW-NOPE``): the socket stays open and no data ever comes. :class:`MarketCatalog` fetches
``GET /v1/market/all?is_details=true`` once when the hub starts (in the background: the hub
starts even when Upbit is unreachable) and again every ``refresh_s``; a failed fetch is retried
with a growing delay. Then:

- a subscribe naming an unknown code raises :class:`RequestValidationError` at once, with a
  suggestion (``unknown market 'BTC-KRW': did you mean 'KRW-BTC'?``);
- codes accepted before the list could be fetched are checked when it arrives (``on_update``
  lets the registry refuse those wishes; the component hears it through ``on_error``);
- a subscribed market Upbit flags (``market_event.warning`` / caution) or stops listing
  (delisted) is reported in the log once, and shown in ``status()``.

Runs in: ``check``/``unknown``/``status`` in any thread (the tables are replaced whole);
fetching in this object's daemon thread.
"""

from __future__ import annotations

import difflib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .protocol.errors import RequestValidationError, UpbitHubError

log = logging.getLogger(__name__)

__all__ = ["MarketCatalog", "suggest_market", "unknown_market_error"]

_RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def suggest_market(code: str, known: Iterable[str]) -> str | None:
    """The market the user probably meant: the reversed pair (``BTC-KRW`` -> ``KRW-BTC``),
    else the closest code by spelling, else None. Runs in: any thread."""
    known = set(known)
    quote, _, base = code.partition("-")
    if base and f"{base}-{quote}" in known:
        return f"{base}-{quote}"
    near = difflib.get_close_matches(code, sorted(known), n=1, cutoff=0.75)
    return near[0] if near else None


def unknown_market_error(code: str, known: Iterable[str]) -> RequestValidationError:
    """The error for a code Upbit does not list, with a suggestion where one exists."""
    hint = suggest_market(code, known)
    more = f": did you mean {hint!r}?" if hint else " (see GET /v1/market/all for the list)"
    return RequestValidationError(f"unknown market {code!r}: Upbit does not list it{more}")


class MarketCatalog:
    """The markets Upbit lists, refreshed in the background (see the module docstring).

    ``fetch()`` returns :class:`~upbit_hub.actors.protocol.rest_types.MarketListing` rows;
    ``on_update(codes)`` is called (in the fetch thread) after every successful fetch.
    """

    def __init__(
        self,
        fetch: Callable[[], list[Any]],
        *,
        refresh_s: float = 600.0,
        on_update: Callable[[frozenset[str]], None] | None = None,
        name: str = "upbit-hub-markets",
    ) -> None:
        self._fetch = fetch
        self._refresh_s = refresh_s
        self.on_update = on_update
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._stop = threading.Event()
        self.first_attempt = threading.Event()  # set once the first fetch ended, either way
        self.codes: frozenset[str] = frozenset()
        self.flags: dict[str, list[str]] = {}
        self.loaded_at: float | None = None
        self.last_error = ""
        self.fetches = 0
        self._reported: set[tuple[str, str]] = set()
        self._watched: set[str] = set()

    @property
    def loaded(self) -> bool:
        """True once one fetch succeeded."""
        return self.loaded_at is not None

    def start(self) -> MarketCatalog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2)

    # -- checks (any thread) -----------------------------------------------------------------

    def unknown(self, codes: Iterable[str]) -> list[str]:
        """The codes Upbit does not list; empty while the list is not loaded yet."""
        known = self.codes
        if not self.loaded:
            return []
        return [c for c in codes if c not in known]

    def check(self, codes: Iterable[str]) -> None:
        """Raise :class:`RequestValidationError` for the first unknown code (nothing while the
        list is not loaded: those codes are checked when it arrives). Reports flagged
        markets once. Runs in: the caller's thread."""
        codes = list(codes)
        for code in self.unknown(codes):
            raise unknown_market_error(code, self.codes)
        self._watched.update(codes)
        self._report(codes)

    def status(self) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "markets": len(self.codes),
            "flagged": {c: f for c, f in self.flags.items() if c in self._watched},
            "last_error": self.last_error,
            "fetches": self.fetches,
        }

    def _report(self, codes: Iterable[str]) -> None:
        for code in codes:
            for flag in self.flags.get(code, ()):
                if (code, flag) not in self._reported:
                    self._reported.add((code, flag))
                    log.warning("market %s is flagged by Upbit: %s (market_event); trade with "
                                "care", code, flag)  # fmt: skip

    # -- fetching (own thread) ----------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                rows = self._fetch()
            except UpbitHubError as exc:
                self.last_error = str(exc)
                delay = _RETRY_S[min(attempt, len(_RETRY_S) - 1)]
                attempt += 1
                log.warning("market list not fetched (%s); codes are accepted unchecked until "
                            "it is; retrying in %.0fs", exc, delay)  # fmt: skip
                self.first_attempt.set()
                self._stop.wait(delay)
                continue
            except Exception:  # a bug must not end the refresh thread
                log.exception("market list fetch failed")
                self.first_attempt.set()
                self._stop.wait(_RETRY_S[-1])
                continue
            attempt = 0
            self._loaded(rows)
            self.first_attempt.set()
            self._stop.wait(self._refresh_s)

    def _loaded(self, rows: list[Any]) -> None:
        codes = frozenset(r.market for r in rows)
        gone = sorted(c for c in (self._watched & self.codes) if c not in codes)
        for code in gone:
            log.warning("market %s is no longer listed by Upbit (delisted?): its "
                        "subscriptions are refused", code)  # fmt: skip
        self.flags = {r.market: r.flags for r in rows if r.flags}
        self.codes = codes
        self.loaded_at = time.monotonic()
        self.last_error = ""
        self.fetches += 1
        self._report(sorted(self._watched))
        if self.on_update is not None:
            try:
                self.on_update(codes)
            except Exception:
                log.exception("market list listener failed")
