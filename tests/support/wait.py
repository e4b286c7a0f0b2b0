"""Polling with a deadline, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(
    probe: Callable[[], T | None], timeout: float = 10, what: str = "condition"
) -> T:
    """Call *probe* until it returns something other than None or False.

    :raises AssertionError: *timeout* seconds passed first.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
