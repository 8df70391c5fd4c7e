"""Upbit's WebSocket message catalogue, shipped with the package.

``data/ws-schema.json`` is the machine-readable table of every WebSocket message type: each
field's DEFAULT key, SIMPLE key, wire type, enum values and nesting, plus the request objects
and formats. It was constructed from Upbit's documentation and the official SDK's models (see
its ``source`` block), not captured from the live service. :mod:`fields` is the hand-kept
subset the decoder and the emulator use; the tests check both against this file.

>>> schema = load_ws_schema()                                     # doctest: +SKIP
>>> sorted(schema["server_messages"])[:3]                         # doctest: +SKIP
['announcement', 'candle', 'indicator']

Pure module (reads package data, no network, no pykka). Runs in: any thread.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

__all__ = ["SCHEMA_RESOURCE", "load_ws_schema"]

#: Where the catalogue lives inside the package ``upbit_hub.actors.protocol``.
SCHEMA_RESOURCE = "data/ws-schema.json"


@functools.cache
def load_ws_schema() -> dict[str, Any]:
    """The parsed ``ws-schema.json`` shipped in this package (cached; do not mutate).

    Runs in: any thread.
    """
    text = resources.files(__package__).joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    return json.loads(text)
