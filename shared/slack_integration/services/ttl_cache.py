"""A small per-container cache: warm invocations reuse recent answers, cold ones start empty."""

from __future__ import annotations

import threading
import time
from typing import Any


class TtlCache:
    def __init__(self, seconds: float, size: int = 1024) -> None:
        self._seconds = seconds
        self._size = size
        self._items: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or hit[0] < time.monotonic():
                self._items.pop(key, None)
                return None
            return hit[1]

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            if len(self._items) >= self._size:
                self._items.pop(next(iter(self._items)))
            self._items[key] = (time.monotonic() + self._seconds, value)
