"""upbit_hub.actors.emulator: a local Upbit (REST + WebSocket) with market simulation and fault injection."""
