"""The live order desk of a hub: journal, pacer, REST venue and order actor, wired together.

The hub starts it on first use of the order API (``hub.order_gateway()``), because it needs
API keys and a journal file, which a hub that only watches never does. Where the journal
lives: ``[trading] journal_path``, else ``$XDG_STATE_HOME/upbit-hub/journal-<key id>.jsonl``
(``~/.local/state`` without XDG), one per access key, so two accounts never share one; the
kill switch file is ``<journal>.halt``.

Runs in: the caller's thread (``start_desk``: a component's, on its first order).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from .actor import OrderActor
from .gateway import OrderGateway
from .journal import Journal
from .manager import OrderManager
from .pacing import GroupPacer, limits_from_settings
from .venue_rest import RestVenue

__all__ = ["default_journal_path", "halt_file_of", "start_desk"]


def default_journal_path(access_key: str, environ: Any = os.environ) -> Path:
    """The per-user, per-key journal file (see the module docstring). Runs in: any thread."""
    base = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                         "state")  # fmt: skip
    key_id = hashlib.sha256(access_key.encode()).hexdigest()[:12]  # never the key itself
    return Path(base) / "upbit-hub" / f"journal-{key_id}.jsonl"


def halt_file_of(journal_path: str | os.PathLike[str]) -> Path:
    """``<journal>.halt``: the kill switch file. Runs in: any thread."""
    path = Path(journal_path)
    return path.with_name(path.name + ".halt")


def start_desk(hub: Any) -> OrderGateway:
    """Open the journal, start the order actor for ``hub``'s account, return its gateway.

    Raises ``CredentialsError`` (keys missing, naming the variables) or ``JournalError``
    (another upbit-hub uses the journal). Runs in: the caller's thread.
    """
    from upbit_hub.actors.rest import RestClient

    settings = hub.settings
    trading = settings.trading
    access_key, _secret = settings.auth.read_keys(hub.environ)
    path = Path(trading.journal_path) if trading.journal_path else default_journal_path(
        access_key, hub.environ)  # fmt: skip
    journal = Journal(path, clock=hub.clock.time).open()
    try:
        journal.compact()  # keep what is open or recent: the file never grows without end
        recovered = [(e.request, e.state, e.uuid) for e in journal.state.open_entries()]
        rest = RestClient(
            settings.upbit.rest_url, timeout=trading.request_timeout_s,
            token_factory=hub.rest.token_factory, auth_hint=hub.rest.auth_hint, paced=False,
        )  # fmt: skip
        pacer = GroupPacer(limits_from_settings(trading))
        clock = hub.clock

        def manager(deliver: Any, needs_book: Any) -> OrderManager:
            return OrderManager(trading, clock=clock, pacer=pacer, deliver=deliver,
                                journal=journal, market_problem=hub.market_problem,
                                needs_book=needs_book)  # fmt: skip

        holder: list[OrderGateway] = []
        ref = OrderActor.start(
            manager, RestVenue(rest), call_later=hub.timers.call_later, hub=hub,
            recovered=recovered, halt_file=halt_file_of(path),
            publish=lambda balances: holder[0].publish(balances) if holder else None,
            on_stop=journal.close,
        )  # fmt: skip
    except BaseException:
        journal.close()
        raise
    gateway = OrderGateway(ref, clock)
    holder.append(gateway)
    gateway.journal_path = path  # type: ignore[attr-defined]
    return gateway
