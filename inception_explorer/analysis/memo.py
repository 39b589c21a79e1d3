"""The block memo: counts by (what a module is, its input shape), shared by the threads that count.

Streamlit runs each session's script in a thread of its own, and all of them count through ``DEFAULT_MEMO``, so
every read and write of the memo, and its hit / miss counters, happen under one lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

from .fvcore_adapter import ModuleCost


class CostMemo:
    """Least-recently-used memo of ``ModuleCost`` by (what the module is, its input shape). Thread-safe.

    Pass your own to ``count()`` to keep a separate one; ``DEFAULT_MEMO`` is shared by callers that do not.
    ``hits`` and ``misses`` count the ``get`` calls that found an entry and those that did not.
    """

    def __init__(self, maxsize: int = 4096):
        self.maxsize = maxsize
        self._items: OrderedDict[Hashable, ModuleCost] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> ModuleCost | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self.hits += 1
            self._items.move_to_end(key)
            return item

    def put(self, key: Hashable, value: ModuleCost) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def stats(self) -> tuple[int, int, int]:
        """(hits, misses, entries), read together."""
        with self._lock:
            return self.hits, self.misses, len(self._items)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


DEFAULT_MEMO = CostMemo()
