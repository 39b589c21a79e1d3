"""The measured views of a profile (``analysis.roofline``): the table beside the MACs and the roofline figure, on a
real profile of a quarter-width GoogLeNet at 64 px; and the one timing path the profile and the Factorization lab
share (``analysis.timing``)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inception_explorer.analysis import factorization, timing
from inception_explorer.analysis.profile import profile
from inception_explorer.analysis.roofline import MEASURED_COLUMNS, disagreements, measured_table, roofline_figure
from inception_explorer.spec.presets import get_preset

SMALL = get_preset("googlenet").with_width_multiplier(0.25).without_aux().with_input(64)


@pytest.fixture(scope="module")
def report():
    return profile(SMALL, batch=1, device="cpu", repeats=2, warmup=1, threads=1)


def test_the_measured_table_sets_time_and_memory_beside_the_macs(report):
    b = report.blocks
    table = measured_table(b)
    assert list(table.columns) == MEASURED_COLUMNS
    assert list(table["block"]) == list(b["name"]) and list(table["MACs"]) == list(b["macs"])
    assert list(table["forward ms"]) == list(b["forward_ms"])
    assert table["output MB"].tolist() == pytest.approx((b["activation_bytes"] / 2**20).tolist())
    pools = table[table["MACs"] == 0]
    assert len(pools) >= 4 and set(pools["bound"]) == {"no MACs"} and pools["time / MAC share"].isna().all()
    convs = table[table["MACs"] > 0]
    assert convs["time / MAC share"].tolist() == pytest.approx((convs["time share"] / convs["MAC share"]).tolist())
    worst = disagreements(b, top=3)
    gaps = (worst["time share"] - worst["MAC share"]).abs().tolist()
    assert gaps == sorted(gaps, reverse=True)
    assert gaps[0] == pytest.approx((table["time share"] - table["MAC share"]).abs().max())


def test_the_roofline_draws_every_block_with_macs_under_the_measured_roofs(report):
    b, rate, bandwidth = report.blocks, report.matmul_macs_per_s, report.memory_bytes_per_s
    fig = roofline_figure(b, rate, bandwidth)
    roof = next(t for t in fig.data if t.name == "roofline")
    x = np.asarray(roof.x)
    assert np.allclose(roof.y, np.minimum(rate, bandwidth * x))
    flat = next(t for t in fig.data if t.name.startswith("matmul rate"))
    assert set(flat.y) == {rate}
    points = [t for t in fig.data if t.name.startswith("blocks bound by")]
    drawn = {name: (xi, yi) for t in points for name, xi, yi in zip(t.text, t.x, t.y, strict=True)}
    with_macs = b[b["macs"] > 0].set_index("name")
    assert set(drawn) == set(with_macs.index)  # every block with MACs, once; the pools left out ...
    for name, (xi, yi) in drawn.items():
        assert xi == pytest.approx(with_macs.at[name, "intensity"])
        assert yi == pytest.approx(with_macs.at[name, "macs_per_s"])
    for t in points:  # ... each coloured by what bounds it: left of the ridge memory, right of it compute
        ridge = rate / bandwidth
        assert all((xi < ridge) == t.name.endswith("memory") for xi in t.x)
    assert f"{len(b) - len(with_macs)} blocks without MACs (pools) not drawn" in fig.layout.title.text
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert x.min() < min(with_macs["intensity"]) and x.max() > max(with_macs["intensity"])


@pytest.mark.parametrize("rate,bandwidth", [(0.0, 1e9), (1e9, -1.0), (math.nan, 1e9)])
def test_roofs_must_be_measured_rates(report, rate, bandwidth):
    with pytest.raises(ValueError, match="roofs must be positive"):
        roofline_figure(report.blocks, rate, bandwidth)


def test_the_lab_and_the_profile_time_through_the_same_path(monkeypatch, report):
    """One timing path: the Factorization lab's options and a network's blocks are both timed by
    ``timing.interleaved`` on ``timing.TimedModule``s."""
    seen = []
    real = timing.interleaved

    def spy(calls, device, repeats, warmup):
        seen.append([getattr(fn, "__self__", None) for fn, _ in calls])
        return real(calls, device, repeats, warmup)

    monkeypatch.setattr(timing, "interleaved", spy)
    table = factorization.time_options(8, 8, 8, 3, batch=2, device="cpu", repeats=2, warmup=0)
    assert len(seen) == 2 and all(isinstance(m, timing.TimedModule) for m in seen[0])  # forward, then backward
    assert list(table["forward_backward_ms"]) == pytest.approx(list(table["forward_ms"] + table["backward_ms"]))
    assert (table["backward_ms"] > 0).all() and (table["saved_bytes"] > 0).all()
    seen.clear()
    import inception_explorer.analysis.profile as profile_module

    monkeypatch.setattr(profile_module, "_interleaved", spy)
    profile(SMALL, batch=1, device="cpu", repeats=1, warmup=0, threads=1)
    assert len(seen) == 2 and all(isinstance(m, timing.TimedModule) for m in seen[0][1:])  # the blocks
