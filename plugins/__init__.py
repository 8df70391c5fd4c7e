"""upbit_hub.plugins: the plugin SDK (Component, Context), the event types, built-in plugins.

Event types are re-exported from :mod:`upbit_hub.actors.protocol.events`.
"""

from __future__ import annotations

from upbit_hub.actors.lazy import lazy_exports

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
