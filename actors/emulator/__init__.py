"""upbit_hub.actors.emulator: a local Upbit (REST + WebSocket), market simulation, fault injection.

Exports (loaded lazily, so importing a submodule such as ``...emulator.auth`` does not pull
in aiohttp or the whole server)::

    from upbit_hub.actors.emulator import Emulator
    with Emulator(rate=200) as emu:
        print(emu.base_url, emu.ws_url, emu.private_ws_url)
"""

from __future__ import annotations

from ..lazy import lazy_exports

__all__ = [
    "DEFAULT_ACCESS_KEY",
    "DEFAULT_MARKETS",
    "DEFAULT_SECRET_KEY",
    "ConnectionInfo",
    "Emulator",
    "EmulatorConfig",
    "EmulatorStats",
    "Faults",
    "RequestRecord",
    "RestRecord",
]

_EXPORTS: dict[str, str] = {
    "Emulator": "upbit_hub.actors.emulator.server",
    "EmulatorConfig": "upbit_hub.actors.emulator.server_config",
    "EmulatorStats": "upbit_hub.actors.emulator.server_config",
    "ConnectionInfo": "upbit_hub.actors.emulator.server_config",
    "RequestRecord": "upbit_hub.actors.emulator.server_config",
    "RestRecord": "upbit_hub.actors.emulator.server_config",
    "Faults": "upbit_hub.actors.emulator.faults",
    "DEFAULT_MARKETS": "upbit_hub.actors.emulator.market",
    "DEFAULT_ACCESS_KEY": "upbit_hub.actors.emulator.auth",
    "DEFAULT_SECRET_KEY": "upbit_hub.actors.emulator.auth",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
