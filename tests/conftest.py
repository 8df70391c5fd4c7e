"""Shared fixtures. Tests import the installed package (``--import-mode=importlib``)."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(pred: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> object:
    """Poll ``pred`` until it returns something truthy; fail after ``timeout`` seconds.

    This waits on a condition, not a fixed delay: it returns as soon as ``pred`` holds.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s: {pred}")
        time.sleep(interval)
