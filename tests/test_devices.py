"""The one timing helper (warm-up, then timed calls each ended by a device synchronize, their median) and the
yardsticks measured with it: the matmul rate and the memory bandwidth."""

from __future__ import annotations

import time

import pytest
import torch

from inception_explorer.nn import devices
from inception_explorer.nn.devices import BANDWIDTH_BYTES, measure_matmul_rate, measure_memory_bandwidth, median_seconds

CPU = torch.device("cpu")


def test_median_seconds_is_a_positive_float_and_calls_fn_warmup_plus_repeats_times():
    calls = []
    t = median_seconds(lambda: calls.append(1), CPU, repeats=5, warmup=3)
    assert isinstance(t, float) and t > 0
    assert len(calls) == 3 + 5
    calls.clear()
    median_seconds(lambda: calls.append(1), CPU, repeats=1, warmup=0)
    assert len(calls) == 1


def test_the_device_is_synchronized_before_each_clock_reading(monkeypatch):
    events = []
    monkeypatch.setattr(devices, "synchronize", lambda device: events.append(("sync", device)))
    median_seconds(lambda: events.append("fn"), CPU, repeats=3, warmup=2)
    # the warm-up's queued work is finished before the first timed call; each timed call ends in a synchronize
    assert events == ["fn", "fn", ("sync", CPU), "fn", ("sync", CPU), "fn", ("sync", CPU), "fn", ("sync", CPU)]


def test_a_slower_function_measures_slower():
    def fast():
        return sum(range(10))

    def slow():
        time.sleep(0.02)

    ratio = median_seconds(slow, CPU, repeats=5, warmup=1) / median_seconds(fast, CPU, repeats=5, warmup=1)
    assert ratio > 5


def test_median_seconds_takes_the_median_not_the_mean(monkeypatch):
    """Five timed calls of which one stalls: the median ignores the stall."""
    clock = iter([0.0, 1.0, 10.0, 11.0, 20.0, 21.0, 30.0, 130.0, 200.0, 201.0])  # start / end of each call
    monkeypatch.setattr(devices.time, "perf_counter", lambda: next(clock))
    assert median_seconds(lambda: None, CPU, repeats=5, warmup=0) == 1.0


def test_median_seconds_needs_a_timed_call():
    with pytest.raises(ValueError, match="repeats"):
        median_seconds(lambda: None, CPU, repeats=0)


def test_matmul_rate_is_a_rate_through_median_seconds(monkeypatch):
    seen = {}

    def fake(fn, device, repeats, warmup):
        seen.update(device=device, repeats=repeats, warmup=warmup, result=fn())
        return 0.5

    monkeypatch.setattr(devices, "median_seconds", fake)
    rate = measure_matmul_rate(CPU, repeats=4)
    assert rate == 1024**3 / 0.5
    assert seen["device"] == CPU and seen["repeats"] == 4 and seen["warmup"] == 2
    assert tuple(seen["result"].shape) == (1024, 1024)  # what is timed is the 1024 x 1024 matmul


def test_matmul_rate_on_this_cpu_is_positive():
    assert measure_matmul_rate(CPU, repeats=1) > 0


def test_with_setup_only_fn_is_timed_on_what_setup_returns(monkeypatch):
    """``setup`` runs before each call, warm-up ones too, and the device is synchronized before the clock starts:
    how a backward pass is timed alone, on the graph of an untimed forward."""
    events = []
    ticks = iter(range(100))
    monkeypatch.setattr(devices, "synchronize", lambda device: events.append("sync"))
    monkeypatch.setattr(devices.time, "perf_counter", lambda: events.append("clock") or float(next(ticks)))

    def setup():
        events.append("setup")
        return len(events)

    median_seconds(lambda arg: events.append(("fn", arg)), CPU, repeats=2, warmup=1, setup=setup)
    timed = ["setup", "sync", "clock", "fn", "sync", "clock"]
    shown = [e if isinstance(e, str) else e[0] for e in events]
    assert shown == ["setup", "fn", "sync", *timed, *timed]
    assert [e[1] for e in events if isinstance(e, tuple)] == [1, 4, 10]  # each fn got its own setup's result


def test_memory_bandwidth_is_bytes_read_plus_written_per_second_through_median_seconds(monkeypatch):
    seen = {}

    def fake(fn, device, repeats, warmup):
        out = fn()
        seen.update(device=device, repeats=repeats, warmup=warmup, numel=out.numel(), copied=bool((out == 1).all()))
        return 0.25

    monkeypatch.setattr(devices, "median_seconds", fake)
    assert measure_memory_bandwidth(CPU, repeats=3, nbytes=4000) == 2 * 4000 / 0.25
    # what is timed is a copy of 1,000 float32 ones into another tensor
    assert seen == {"device": CPU, "repeats": 3, "warmup": 1, "numel": 1000, "copied": True}


def test_memory_bandwidth_on_this_cpu_is_positive_and_copies_past_the_cache():
    assert BANDWIDTH_BYTES["cpu"] * 2 > 300 * 2**20  # source + destination past this machine's 300 MiB L3
    assert measure_memory_bandwidth(CPU, repeats=1) > 0
