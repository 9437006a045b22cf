"""Parsed plan tables, kept between requests: a stored plan never changes, so paging through a
table should not parse its CSV again on every page (it took most of the server's time under
load, benchmarks/RESULTS.md)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd


@dataclass
class TableCache:
    """The most recently used parsed tables by (job, table name), up to ``max_rows`` rows in
    all. One per app (``app.state.tables``); safe to use from the threadpool's threads."""

    max_rows: int = 2_000_000
    _items: OrderedDict[tuple[str, str], pd.DataFrame] = field(default_factory=OrderedDict)
    _rows: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: tuple[str, str], load: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """The cached table, or ``load()``'s, kept when it fits."""
        with self._lock:
            frame = self._items.get(key)
            if frame is not None:
                self._items.move_to_end(key)
                return frame
        frame = load()  # outside the lock: parsing a large table takes a while
        with self._lock:
            if key not in self._items and len(frame) <= self.max_rows:
                self._items[key] = frame
                self._rows += len(frame)
                while self._rows > self.max_rows:
                    _, old = self._items.popitem(last=False)
                    self._rows -= len(old)
        return frame

    def __len__(self) -> int:
        return len(self._items)
