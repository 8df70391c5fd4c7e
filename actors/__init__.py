"""upbit_hub.actors: the runtime (connections, registry, JWT and component proxy actors).

Names are exported lazily (module ``__getattr__``) so that importing the pure
``upbit_hub.actors.protocol`` subpackage does not pull in pykka or the network libraries.
"""

from __future__ import annotations

from .lazy import lazy_exports

# public name -> module (relative to this package) that defines it
_EXPORTS: dict[str, str] = {
    "WebSocketClientProxy": ".client",
    "Subscription": ".client",
    "start_hub": ".hub",
    "stop_hub": ".hub",
    "get_hub": ".hub",
    "Hub": ".hub",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
