"""Pure Upbit protocol layer: event structs, frame decoder, request encoder, errors.

No pykka, no sockets, no threads here (a test guards it)::

    from upbit_hub.actors.protocol import TypeRequest, decode, encode_request

    encode_request([TypeRequest("ticker", ("KRW-BTC",))], ticket="t1")
    # b'[{"ticket":"t1"},{"type":"ticker","codes":["KRW-BTC"]},{"format":"SIMPLE"}]'
    decode(b'{"ty":"ticker","cd":"KRW-BTC","tp":1.16539E8,"st":"REALTIME"}')
    # [TickerEvent(type='ticker', code='KRW-BTC', ..., trade_price=Decimal('1.16539E+8'), ...)]
"""

from upbit_hub.actors.protocol.decode import (
    decode,
    decode_rest_ticker,
    decode_stats,
    reset_decode_stats,
)
from upbit_hub.actors.protocol.errors import (
    FrameDecodeError,
    ProtocolError,
    RequestValidationError,
    ServerError,
    UpbitHubError,
)
from upbit_hub.actors.protocol.events import (
    Asset,
    CandleEvent,
    Event,
    ListSubscriptionsEvent,
    MarketEvent,
    MyAssetEvent,
    MyOrderEvent,
    OrderbookEvent,
    OrderbookUnit,
    ServerErrorEvent,
    StatusEvent,
    SubscriptionItem,
    TickerEvent,
    TradeEvent,
    UnknownEvent,
)
from upbit_hub.actors.protocol.requests import (
    TypeRequest,
    encode_list_subscriptions,
    encode_request,
    new_ticket,
    orderbook_code,
    validate_market_code,
    validate_types,
)

__all__ = [
    "Asset",
    "CandleEvent",
    "Event",
    "FrameDecodeError",
    "ListSubscriptionsEvent",
    "MarketEvent",
    "MyAssetEvent",
    "MyOrderEvent",
    "OrderbookEvent",
    "OrderbookUnit",
    "ProtocolError",
    "RequestValidationError",
    "ServerError",
    "ServerErrorEvent",
    "StatusEvent",
    "SubscriptionItem",
    "TickerEvent",
    "TradeEvent",
    "TypeRequest",
    "UnknownEvent",
    "UpbitHubError",
    "decode",
    "decode_rest_ticker",
    "decode_stats",
    "encode_list_subscriptions",
    "encode_request",
    "new_ticket",
    "orderbook_code",
    "reset_decode_stats",
    "validate_market_code",
    "validate_types",
]
