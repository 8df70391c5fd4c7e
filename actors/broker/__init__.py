"""upbit_hub.actors.broker: the hub's events over NATS JetStream, and components fed from it.

One job per module:

- :mod:`.loop`: :class:`LoopThread`, the one thread that owns an asyncio loop for nats-py
  (nats never runs in a component's or a reader's thread).
- :mod:`.connect`: settings -> ``nats.connect`` keyword arguments (TLS, credentials read from
  the environment variables the settings name), reconnect forever, logged callbacks.
- :mod:`.codec`: subjects ``upbit.<type>.<market>``, msgpack payloads, ``Nats-Msg-Id``.
- :mod:`.stream`: create-or-check the stream at start.
- :mod:`.publisher`: the bridge's bounded spill buffer and hybrid batched publishing.
- :mod:`.consumer`: one durable push consumer per remote component (acks after handlers).
- :mod:`.source`: the remote hub (``upbit-hub run --source``) behind the usual Component API.
- :mod:`.orders`: the hub side of remote components' orders (request/reply, numbered updates).
- :mod:`.remote_orders`: the remote side (the order gateway interface over NATS).
- :mod:`.hello`: each bridge tells its account label, so a remote agrees with its hub.

Names are exported lazily so importing this package does not import nats.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "LoopThread": ".loop",
    "Publisher": ".publisher",
    "RemoteHub": ".source",
    "StreamSpec": ".stream",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
