"""Reconnect backoff bookkeeping of the reader thread, with a scripted connect function (no
network: what is tested is which delay follows which history)."""

from __future__ import annotations

import threading

from upbit_hub.actors.ratelimit import RateLimiter
from upbit_hub.actors.reader import Reader


class _Refused(Exception):
    pass


class _DroppedSocket:
    """A socket the server closes at once: recv() fails on the first call."""

    buffered_bytes = 0

    def recv(self):
        raise ConnectionResetError("closed by the server")

    def shutdown(self):
        pass

    def abort(self):
        pass


class _Sink:
    def tell(self, message):
        pass


def _run(script: list[str]) -> list[int]:
    """Feed connect outcomes ("refuse" or "drop") to a reader; return the reader's failure
    count seen at each connect attempt after the first."""
    seen: list[int] = []
    done = threading.Event()
    steps = iter(script)

    def connect():
        seen.append(reader.failures)
        step = next(steps, None)
        if step is None:
            done.set()
            reader.request_stop()
            raise _Refused("script over")
        if step == "refuse":
            raise _Refused("HTTP 503 on the upgrade")
        return _DroppedSocket()

    reader = Reader(name="test-reader", connect=connect, actor_ref=_Sink(),
                    connect_limiter=RateLimiter([(10_000, 1.0)]), reconnect_min_s=0.0005,
                    reconnect_max_s=0.001, stable_after_s=60.0, private=False)
    reader.set_want(True)
    reader.start()
    assert done.wait(10)
    reader.join(5)
    return seen[1:]


def test_a_session_that_opens_forgets_the_refused_connects_before_it():
    # five refusals, then a session that opens and drops at once: the retry after it counts
    # that one short session, not the whole refusal episode
    seen = _run(["refuse"] * 5 + ["drop", "drop"])
    assert seen[:5] == [1, 2, 3, 4, 5]
    assert seen[5] == 1  # after the session that opened and dropped
    assert seen[6] == 2  # a second short session in a row


def test_a_server_that_accepts_and_drops_at_once_meets_a_growing_backoff():
    seen = _run(["drop"] * 8)
    assert seen == [1, 2, 3, 4, 5, 6, 7, 8]


def test_the_backoff_is_immediate_once_then_grows_to_the_cap():
    reader = Reader(name="t", connect=lambda: None, actor_ref=_Sink(),
                    connect_limiter=RateLimiter([(4, 1.0)]), reconnect_min_s=0.5,
                    reconnect_max_s=30.0, stable_after_s=60.0, private=False)
    delays = []
    for n in range(1, 12):
        reader._failed_connects = n
        delays.append(reader._backoff())
    assert delays[0] == 0.0
    assert 0.25 <= delays[1] <= 0.5 and 0.5 <= delays[2] <= 1.0
    assert all(15.0 <= d <= 30.0 for d in delays[8:])
