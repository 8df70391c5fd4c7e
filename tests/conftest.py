"""Shared fixtures. Tests import the installed package (``--import-mode=importlib``), so
helpers live here as fixtures rather than as importable modules."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest


def _eventually(pred: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s: {pred}")
        time.sleep(interval)


@pytest.fixture
def eventually() -> Callable[..., object]:
    """``eventually(pred, timeout=5.0)``: poll until ``pred()`` is truthy, else fail.

    Waits on a condition, never a fixed delay: it returns as soon as the condition holds.
    """
    return _eventually


@pytest.fixture(autouse=True)
def _stop_all_actors() -> Iterator[None]:
    """Every test ends with no pykka actor left running."""
    yield
    try:
        import pykka
    except ImportError:  # pragma: no cover
        return
    pykka.ActorRegistry.stop_all(block=True, timeout=10)
