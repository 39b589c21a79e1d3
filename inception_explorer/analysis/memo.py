"""The block memo: counts by (what a module is, its input shape), shared by the threads that count.

Streamlit runs each session's script in a thread of its own, and all of them count through ``DEFAULT_MEMO``, so
every read and write of the memo, and its hit / miss counters, happen under one lock.

The memo is bounded twice: by entries and by their approximate size in bytes. An entry of a preset is about 2-3 kB,
but a key holds its block's spec, and one custom block of 16 branches of 32 layers is some 300 kB: 4,096 of those
would keep more than a gigabyte.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from .fvcore_adapter import ModuleCost

#: The default bounds of a memo: entries, and their approximate size.
MAX_ENTRIES = 4096
MAX_BYTES = 64 * 2**20


def approx_bytes(obj: Any) -> int:
    """About how much memory ``obj`` holds: ``sys.getsizeof`` of it and of everything it holds (tuples, lists, sets,
    dicts, and the attributes of objects such as pydantic models and dataclasses), each object once. Objects that
    ``obj`` shares with others are counted too, so a memo's total is an upper bound of what dropping it frees."""
    seen: set[int] = set()
    total = 0
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        total += sys.getsizeof(o)
        if isinstance(o, (str, bytes, int, float, bool, type(None))):
            continue
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (tuple, list, set, frozenset)):
            stack.extend(o)
        elif hasattr(o, "__dict__") and not isinstance(o, type):
            stack.append(vars(o))
    return total


class CostMemo:
    """Least-recently-used memo of ``ModuleCost`` by (what the module is, its input shape). Thread-safe.

    Bounded by ``maxsize`` entries and ``max_bytes`` (their keys and values as ``approx_bytes`` measures them):
    past either, the least recently used entries go first; an entry larger than ``max_bytes`` alone is not kept.
    Pass your own to ``count()`` to keep a separate one; ``DEFAULT_MEMO`` is shared by callers that do not.
    ``hits`` and ``misses`` count the ``get`` calls that found an entry and those that did not.
    """

    def __init__(self, maxsize: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES):
        self.maxsize = maxsize
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[ModuleCost, int]] = OrderedDict()
        self._bytes = 0
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
            return item[0]

    def put(self, key: Hashable, value: ModuleCost) -> None:
        size = approx_bytes((key, value))  # outside the lock: it walks the key's spec
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while self._items and (len(self._items) > self.maxsize or self._bytes > self.max_bytes):
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
            self.hits = self.misses = 0

    def stats(self) -> tuple[int, int, int]:
        """(hits, misses, entries), read together."""
        with self._lock:
            return self.hits, self.misses, len(self._items)

    @property
    def nbytes(self) -> int:
        """The approximate size of what the memo holds, keys and values (``approx_bytes``)."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


DEFAULT_MEMO = CostMemo()
