"""Who publishes on this broker: each hub's bridge answers ``_upbit_hub.hello``.

One hub per Upbit account publishes to a broker, and its bridge labels that account's private
events and order calls with an account label (``[bridge] account``, else a short hash of the
access key). So that a remote source with no ``[source] account`` agrees with its hub without
anyone copying a hash by hand, every bridge answers a hello request with its label, stream and
whether it serves orders; the remote picks the one hub of its stream (several: it refuses to
guess). A bridge that would serve orders under a label another live hub already serves refuses
to start (two hubs answering one order call would place it on both accounts).

Runs in: the loop thread (coroutines); :func:`choose` in any thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgspec

from ..protocol.errors import BrokerConfigError

log = logging.getLogger(__name__)

SUBJECT = "_upbit_hub.hello"


class Hello(msgspec.Struct, frozen=True, kw_only=True):
    """One bridge's answer."""

    account: str
    stream: str
    orders: bool = False
    name: str = ""  # the bridge's NATS client name (component id)


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(Hello)


async def serve(nc: Any, hello: Hello) -> Any:
    """Answer hello requests with ``hello``; returns the subscription."""
    data = _enc.encode(hello)

    async def answer(msg: Any) -> None:
        if msg.reply:
            await nc.publish(msg.reply, data)

    return await nc.subscribe(SUBJECT, cb=answer)


async def gather(nc: Any, wait_s: float = 0.5) -> list[Hello]:
    """Ask every bridge; collect the answers (up to ``wait_s`` for the first, then 0.1 s for
    the others; malformed ones are skipped)."""
    inbox = nc.new_inbox()
    got: list[Hello] = []
    first = asyncio.Event()

    async def on_reply(msg: Any) -> None:
        if not msg.data:  # the server's "no responders" status (503): no bridge is up
            first.set()
            return
        try:
            got.append(_dec.decode(msg.data))
        except Exception as exc:
            log.warning("a hello answer that is not ours was skipped (%s)", exc)
        first.set()

    sub = await nc.subscribe(inbox, cb=on_reply)
    try:
        await nc.publish(SUBJECT, b"", reply=inbox)
        try:
            await asyncio.wait_for(first.wait(), wait_s)
            await asyncio.sleep(min(0.1, wait_s))  # the others answer within a round trip
        except TimeoutError:
            pass
    finally:
        await sub.unsubscribe()
    return got


def choose(hellos: list[Hello], stream: str, url: str) -> str | None:
    """The account label of the one hub publishing to ``stream``; None when no hub
    answered; ``BrokerConfigError`` when several different ones did."""
    labels = sorted({h.account for h in hellos if h.stream == stream})
    if not labels:
        return None
    if len(labels) > 1:
        raise BrokerConfigError(
            f"several hubs publish to stream {stream!r} on {url} (accounts "
            f"{', '.join(labels)}): set [source] account to the one this process trades for")
    return labels[0]


async def check_unique(nc: Any, hello: Hello, url: str) -> None:
    """Refuse to serve orders under a label another live hub serves orders for."""
    if not hello.orders:
        return
    twins = [h for h in await gather(nc, 0.3) if h.account == hello.account and h.orders]
    if twins:
        raise BrokerConfigError(
            f"another hub ({twins[0].name or 'unnamed'}) already serves orders for account "
            f"{hello.account!r} on {url}: two hubs answering one order call would place it "
            "twice. Give each hub its own [bridge] account")
