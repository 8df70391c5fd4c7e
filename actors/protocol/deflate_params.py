"""permessage-deflate (RFC 7692) negotiation: the offer and the check of the server's answer.

Pure: no sockets. :mod:`upbit_hub.actors.wsdeflate` uses it during the handshake.

Runs in: the thread that connects (any thread).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from upbit_hub.actors.protocol.errors import ProtocolError

__all__ = ["EXTENSION_OFFER", "DeflateParams", "parse_extension_response"]

EXTENSION_OFFER = "permessage-deflate; client_max_window_bits"


@dataclass(frozen=True, slots=True)
class DeflateParams:
    """The permessage-deflate parameters the server accepted (RFC 7692 section 7.1).

    ``server_*`` describe the frames we receive, ``client_*`` the frames we would compress
    (we never compress, so those two are only recorded).
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15


def _split_params(text: str) -> list[tuple[str, str | None]]:
    """``"a; b=1; c=\\"9\\""`` -> ``[("a", None), ("b", "1"), ("c", "9")]`` (names lower-cased)."""
    out: list[tuple[str, str | None]] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            raise ProtocolError(f"empty parameter in Sec-WebSocket-Extensions: {text!r}")
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if not eq:
            out.append((name, None))
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        out.append((name, value))
    return out


def _window_bits(name: str, value: str | None) -> int:
    if value is None or not value.isdigit() or value != value.lstrip("0") or not (
        8 <= int(value) <= 15
    ):
        raise ProtocolError(
            f"server sent {name}={value!r} in Sec-WebSocket-Extensions; RFC 7692 requires "
            f"an integer 8..15"
        )
    return int(value)


def parse_extension_response(value: str | None, *, offered: bool) -> DeflateParams | None:
    """Check the server's ``Sec-WebSocket-Extensions`` answer against what we offered.

    Returns the accepted parameters, or None when the server declined (no header). Raises
    :class:`ProtocolError` when the server names an extension we did not offer, repeats one,
    or sends unknown, repeated or out-of-range parameters.

    >>> parse_extension_response("permessage-deflate; server_max_window_bits=10", offered=True)
    DeflateParams(server_no_context_takeover=False, client_no_context_takeover=False, \
server_max_window_bits=10, client_max_window_bits=15)

    Runs in: the thread that connects.
    """
    if value is None or not value.strip():
        return None
    if not offered:
        raise ProtocolError(
            f"server answered with extension(s) {value!r} although none was offered"
        )
    elements = [e for e in value.split(",")]
    if len(elements) != 1:
        raise ProtocolError(
            f"server accepted {len(elements)} extensions ({value!r}); only one "
            f"permessage-deflate was offered"
        )
    params = _split_params(elements[0])
    name = params[0][0]
    if name != "permessage-deflate" or params[0][1] is not None:
        raise ProtocolError(f"server accepted extension {elements[0].strip()!r}, not offered")
    seen: dict[str, str | None] = {}
    for pname, pvalue in params[1:]:
        if pname in seen:
            raise ProtocolError(f"parameter {pname!r} repeated in {value!r}")
        seen[pname] = pvalue
    kwargs: dict[str, Any] = {}
    for pname, pvalue in seen.items():
        if pname in ("server_no_context_takeover", "client_no_context_takeover"):
            if pvalue is not None:
                raise ProtocolError(f"{pname} takes no value, got {pvalue!r} in {value!r}")
            kwargs[pname] = True
        elif pname in ("server_max_window_bits", "client_max_window_bits"):
            kwargs[pname] = _window_bits(pname, pvalue)
        else:
            raise ProtocolError(f"unknown permessage-deflate parameter {pname!r} in {value!r}")
    return DeflateParams(**kwargs)
