"""upbit_hub.plugins: the plugin SDK (Component, Context), the event types, built-in plugins.

Event types are re-exported from :mod:`upbit_hub.actors.protocol.events`.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "TickerEvent": "upbit_hub.actors.protocol.events",
    "TradeEvent": "upbit_hub.actors.protocol.events",
    "OrderbookEvent": "upbit_hub.actors.protocol.events",
    "OrderbookUnit": "upbit_hub.actors.protocol.events",
    "CandleEvent": "upbit_hub.actors.protocol.events",
    "MyOrderEvent": "upbit_hub.actors.protocol.events",
    "MyAssetEvent": "upbit_hub.actors.protocol.events",
    "Asset": "upbit_hub.actors.protocol.events",
    "Component": "upbit_hub.plugins.sdk",
    "Context": "upbit_hub.plugins.sdk",
    "ComponentHost": "upbit_hub.plugins.sdk_host",
    "ComponentReport": "upbit_hub.plugins.sdk_host",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
