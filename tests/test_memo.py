"""The block memo under threads: Streamlit sessions share ``DEFAULT_MEMO``, each counting in a thread of its own."""

from __future__ import annotations

import random
import sys
import threading

from inception_explorer.analysis.costs import DEFAULT_MEMO, CostMemo, count
from inception_explorer.analysis.fvcore_adapter import ModuleCost
from inception_explorer.analysis.memo import DEFAULT_MEMO as MEMO_DEFAULT
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
