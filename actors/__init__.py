"""upbit_hub.actors: the runtime (connections, registry, JWT and component proxy actors).

Names are exported lazily (module ``__getattr__``) so that importing the pure
``upbit_hub.actors.protocol`` subpackage does not pull in pykka or the network libraries.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
