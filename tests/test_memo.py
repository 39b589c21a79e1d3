"""The block memo under threads: Streamlit sessions share ``DEFAULT_MEMO``, each counting in a thread of its own."""

from __future__ import annotations

import random
import sys
import threading

from inception_explorer.analysis.costs import DEFAULT_MEMO, CostMemo, count
from inception_explorer.analysis.fvcore_adapter import ModuleCost
from inception_explorer.analysis.memo import DEFAULT_MEMO as MEMO_DEFAULT
from inception_explorer.analysis.memo import MAX_BYTES, approx_bytes
from inception_explorer.spec.presets import get_preset

THREADS = 8
OPS_PER_THREAD = 6000
KEYS = 200
MAXSIZE = 32


def _cost(key: int) -> ModuleCost:
    return ModuleCost(params=key, macs_by_op={"conv": 2 * key}, activations=3 * key, uncounted={})


def _run_threads(target, n: int = THREADS) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(i: int) -> None:
        try:
            target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below, with the thread's traceback
            errors.append(exc)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can: races show up at once
    try:
        threads = [threading.Thread(target=guarded, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    return errors


def test_the_default_memo_is_one_object():
    assert DEFAULT_MEMO is MEMO_DEFAULT


def test_many_threads_on_one_memo_keep_the_counters_and_the_bound():
    memo = CostMemo(maxsize=MAXSIZE)
    seen = [[0, 0, 0] for _ in range(THREADS)]  # per thread: gets, hits, wrong values
    over_bound = []

    def hammer(i: int) -> None:
        rng = random.Random(i)
        mine = seen[i]
        for _ in range(OPS_PER_THREAD):
            key = rng.randrange(KEYS)
            if rng.random() < 0.5:
                memo.put(key, _cost(key))
            else:
                got = memo.get(key)
                mine[0] += 1
                if got is not None:
                    mine[1] += 1
                    mine[2] += got.params != key
            if len(memo) > MAXSIZE:
                over_bound.append(len(memo))

    errors = _run_threads(hammer)
    assert not errors, errors
    gets = sum(s[0] for s in seen)
    hits, misses, entries = memo.stats()
    assert hits + misses == gets
    assert hits == sum(s[1] for s in seen)  # every hit a thread saw was counted, and no other
    assert sum(s[2] for s in seen) == 0  # a hit is always the value put under that key
    assert not over_bound
    assert entries == len(memo) == MAXSIZE  # 24,000 puts over 200 keys fill it
    assert 0 < hits < gets


def test_clear_resets_entries_and_counters_together():
    memo = CostMemo(maxsize=4)
    memo.put("a", _cost(1))
    memo.get("a")
    memo.get("b")
    assert memo.stats() == (1, 1, 1)
    memo.clear()
    assert memo.stats() == (0, 0, 0)


def test_counting_in_threads_through_one_memo_gives_the_serial_counts(preset_report):
    names = ["googlenet", "inception_v3", "googlenet", "inception_v3"]
    memo = CostMemo()
    results: dict[int, object] = {}

    def worker(i: int) -> None:
        results[i] = count(get_preset(names[i]), memo)

    errors = _run_threads(worker, n=len(names))
    assert not errors, errors
    for i, name in enumerate(names):
        assert results[i].totals == preset_report(name).totals, name
        assert results[i].blocks.equals(preset_report(name).blocks), name
    assert count(get_preset("googlenet"), memo).traced == 0


# ---- the bound on bytes ----------------------------------------------------------------------------------------


def _big_key(i: int, layers: int = 32) -> tuple:
    """A memo key as ``count`` makes it, holding a custom block of 16 branches of ``layers`` layers (about 170 kB)."""
    from inception_explorer.spec import block_from_dict

    branch = [
        {"name": f"b{j}", "layers": [{"op": "conv", "out_channels": 1 + i, "kernel": 1}] * layers} for j in range(16)
    ]
    return ("block", block_from_dict({"name": "m", "kind": "custom", "branches": branch}), i, False)


def test_approx_bytes_is_of_the_order_of_what_the_objects_take():
    import gc
    import tracemalloc

    _big_key(1)  # pydantic's first use of the kinds, outside the measurement
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    key = _big_key(2)
    gc.collect()
    taken = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    estimate = approx_bytes(key)
    assert estimate > 100_000 and 0.3 * taken < estimate < 3 * taken, (estimate, taken)
    assert approx_bytes(_cost(5)) < 2_000  # a value is small; keys hold the specs


def test_the_memo_is_bounded_by_bytes_least_recently_used_first():
    size = approx_bytes((_big_key(0), _cost(0)))
    memo = CostMemo(maxsize=1000, max_bytes=int(3.5 * size))
    keys = [_big_key(i) for i in range(6)]
    for i, key in enumerate(keys[:3]):
        memo.put(key, _cost(i))
    assert len(memo) == 3 and memo.nbytes <= memo.max_bytes
    memo.get(keys[0])  # now the most recently used
    memo.put(keys[3], _cost(3))
    assert len(memo) == 3 and memo.nbytes <= memo.max_bytes
    assert memo.get(keys[1]) is None  # the least recently used went first
    assert memo.get(keys[0]) is not None and memo.get(keys[3]) is not None
    memo.put(keys[3], _cost(33))  # putting a key again replaces it: its bytes are not counted twice
    assert len(memo) == 3 and memo.nbytes == sum(approx_bytes((k, memo.get(k))) for k in (keys[0], keys[2], keys[3]))
    tiny = CostMemo(max_bytes=size // 2)  # an entry larger than the bound alone is not kept
    tiny.put(keys[4], _cost(4))
    assert len(tiny) == 0 and tiny.nbytes == 0
    memo.clear()
    assert memo.nbytes == 0


def test_the_default_memo_is_bounded_by_entries_and_bytes():
    assert DEFAULT_MEMO.maxsize == 4096 and DEFAULT_MEMO.max_bytes == MAX_BYTES == 64 * 2**20


def test_many_threads_keep_the_byte_count_true():
    memo = CostMemo(maxsize=MAXSIZE, max_bytes=40 * approx_bytes((7, _cost(7))))

    def hammer(i: int) -> None:
        rng = random.Random(i)
        for _ in range(2000):
            key = rng.randrange(KEYS)
            memo.put(key, _cost(key)) if rng.random() < 0.5 else memo.get(key)

    errors = _run_threads(hammer)
    assert not errors, errors
    assert 0 < len(memo) <= MAXSIZE and memo.nbytes <= memo.max_bytes
    assert memo.nbytes == sum(approx_bytes((k, v)) for k, (v, _) in memo._items.items())
