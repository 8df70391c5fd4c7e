"""The one exception tree of upbit-hub.

Every error the library raises on purpose derives from :class:`UpbitHubError`, so
``except UpbitHubError`` catches all of them. Pure module: no I/O, no pykka.

::

    UpbitHubError
     +-- ProtocolError                 the wire did not look like Upbit
     |    +-- FrameDecodeError         a frame is not valid JSON / not a known shape
     +-- RequestValidationError        (also ValueError) a request Upbit would reject;
     |                                 raised before anything is sent
     +-- ServerError                   Upbit answered a WebSocket request with {"error": ...}
     +-- RestError                     a REST call failed (HTTP status + Upbit error name)
     |    +-- RateLimitedError         429 / 418 from REST
     |    +-- AuthError                401 / INVALID_AUTH: keys wrong or token rejected
     |    +-- RestConnectError         the request never left: connect refused, DNS, timeout
     |    +-- RestOutcomeUnknownError  sent, but no usable answer: read timeout, reset, 5xx,
     |                                 unreadable body (an order may or may not exist)
     +-- CredentialsError              API key environment variables missing
     +-- ConfigError                   settings file wrong (lists every problem at once)
     +-- HubError                      the hub is not running / an actor did not answer
     |    +-- SubscriptionError        a subscribe/cancel could not be carried out
     +-- TradingError                  the order API could not do what was asked
     |    +-- JournalError             the order journal cannot be opened, read or written
     |                                 (locked by another hub, a corrupt line, disk full)
     +-- BacktestError                 a backtest cannot do what was asked: a call that would
     |                                 reach the network, a snapshot the recording cannot
     |                                 answer, a recording with nothing to replay
     +-- BrokerError                   the NATS JetStream bridge or remote source failed
          +-- BrokerConnectError       the NATS server cannot be reached (URL, TLS, creds)
          +-- BrokerConfigError        the stream or consumer exists with an incompatible
                                       configuration, or a bridge/source setting is wrong

Messages say how to fix the problem. They never contain a key, secret or token.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BacktestError",
    "BrokerConfigError",
    "BrokerConnectError",
    "BrokerError",
    "ConfigError",
    "CredentialsError",
    "FrameDecodeError",
    "HubError",
    "JournalError",
    "ProtocolError",
    "RateLimitedError",
    "RequestValidationError",
    "RestConnectError",
    "RestError",
    "RestOutcomeUnknownError",
    "ServerError",
    "SubscriptionError",
    "TradingError",
    "UpbitHubError",
]


class UpbitHubError(Exception):
    """Base class of every error upbit-hub raises on purpose."""


class ProtocolError(UpbitHubError):
    """Something on the wire did not match Upbit's protocol."""


class FrameDecodeError(ProtocolError):
    """A WebSocket frame could not be decoded.

    ``head`` holds the first bytes of the offending frame (at most 200) so the frame
    can be logged and reproduced; ``reason`` says what was wrong.
    """

    HEAD_BYTES = 200

    def __init__(self, reason: str, frame: bytes | str) -> None:
        raw = frame.encode("utf-8", "replace") if isinstance(frame, str) else bytes(frame)
        self.reason = reason
        self.head: bytes = raw[: self.HEAD_BYTES]
        self.size = len(raw)
        super().__init__(f"cannot decode frame ({reason}); {self.size} bytes, first: {self.head!r}")


class RequestValidationError(UpbitHubError, ValueError):
    """A subscription request that Upbit would reject; raised before anything is sent."""


class ServerError(UpbitHubError):
    """Upbit sent ``{"error": {"name": ..., "message": ...}}`` and will close the socket."""

    def __init__(self, name: str, message: str, endpoint: str = "") -> None:
        self.name = name
        self.message = message
        self.endpoint = endpoint
        where = f" on {endpoint}" if endpoint else ""
        super().__init__(f"Upbit error {name}{where}: {message}")


class RestError(UpbitHubError):
    """A REST call answered with an error status."""

    def __init__(self, status: int, name: str | int | None, message: str, path: str = "") -> None:
        self.status = status
        self.name = name
        self.message = message
        self.path = path
        super().__init__(f"HTTP {status} from {path or 'Upbit'}: {name}: {message}")


class RateLimitedError(RestError):
    """429 (too many requests) or 418 (temporarily blocked). Back off before retrying."""


class RestConnectError(RestError):
    """The request never reached the server (connection refused, DNS failure, connect
    timeout): nothing was processed, so it is safe to send again. ``status`` is 0."""

    def __init__(self, url: str, reason: str, path: str = "") -> None:
        self.url = url
        self.reason = reason
        RestError.__init__(self, 0, "connect_error", reason, path)
        Exception.__init__(
            self, f"cannot reach {url} ({reason}){f' for {path}' if path else ''}: is the "
            "server up and the rest_url right?"
        )


class RestOutcomeUnknownError(RestError):
    """The request was sent but no usable answer came back (read timeout, connection reset,
    HTTP 5xx, a body that is not JSON). The server may have acted on it: for an order, only
    Upbit's own answer (the private stream or ``GET /v1/order?identifier=``) tells."""

    def __init__(self, status: int, name: str | int | None, message: str, path: str = "") -> None:
        super().__init__(status, name, message, path)
        if status == 0:  # no HTTP answer at all
            Exception.__init__(self, f"no answer from {path or 'Upbit'}: {name}: {message}")


class AuthError(RestError):
    """Upbit rejected the credentials (REST 401 or WebSocket INVALID_AUTH).

    Check the access/secret key pair, its permissions and its IP allow-list.
    """


class CredentialsError(UpbitHubError):
    """API keys are needed but the environment variables naming them are not set."""


class ConfigError(UpbitHubError):
    """The settings are wrong. ``problems`` lists every problem found, each naming its key."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        head = f"invalid settings in {source}" if source else "invalid settings"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class HubError(UpbitHubError):
    """The hub is not running, or one of its actors did not answer in time."""


class SubscriptionError(HubError):
    """A subscribe or cancel could not be carried out."""


class TradingError(UpbitHubError):
    """The order API could not do what was asked (base of the trading errors)."""


class JournalError(TradingError):
    """The order journal cannot be opened, read or written.

    The message names the file (and the line, for an unreadable line) and says what to do:
    stop the other hub that holds the journal's lock, or move a corrupt journal aside.
    """


class BacktestError(UpbitHubError):
    """A backtest cannot do what was asked.

    Raised for anything that would reach the network in a replay (a REST call, the live
    hub's connections), for a snapshot the recording cannot answer yet, and for inputs with
    nothing to replay. The message says what the backtest can do instead (record that data,
    ask later, use the replayed state).
    """


class BrokerError(UpbitHubError):
    """The NATS JetStream bridge or remote source could not do what was asked."""


class BrokerConnectError(BrokerError):
    """The NATS server cannot be reached (wrong URL, refused, TLS or credentials rejected)."""


class BrokerConfigError(BrokerError):
    """A stream or consumer exists with an incompatible configuration, or a bridge/source
    setting is wrong; the message names what differs and how to fix it."""
