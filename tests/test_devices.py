"""The one timing helper: warm-up, then timed calls each ended by a device synchronize, and their median."""

from __future__ import annotations

import time

import pytest
import torch

from inception_explorer.nn import devices
from inception_explorer.nn.devices import measure_matmul_rate, median_seconds

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
