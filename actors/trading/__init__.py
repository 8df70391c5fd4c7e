"""upbit_hub.actors.trading: orders for plugins, with no order ever placed twice.

- :mod:`.types`: the values (order requests, updates, fills, states);
- :mod:`.risk`: pre-trade risk rules, pure functions over a snapshot (the same code live, in
  paper trading and in backtests);
- :mod:`.pacing`: per rate-limit-group pacing (``order`` 12/s, ``default``, cancel-all),
  ``Remaining-Req``, 429 pauses and 418 halts;
- :mod:`.journal`: the write-ahead journal of every order intent;
- :mod:`.manager`: the order state machine (no threads, no I/O of its own);
- :mod:`.actor`: the pykka shell that runs the manager for one account;
- :mod:`.clock` / :mod:`.timers`: the hub's clock and the component timers built on it.

Runs in: see each module.
"""
