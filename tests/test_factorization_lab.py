"""The factorization lab (``inception_explorer.analysis.factorization``): [R] §3's options built as real modules,
counted by fvcore, cross-checked with torch's own FLOP counter, and timed.

The exact ratios below are what [R] §3 writes with equal input and output widths (alpha = 1): (9+9)/25 for two
3x3 against a 5x5 (28%), 6/9 for 1x3 + 3x1 against a 3x3 (33%), 8/9 for two 2x2 (11%), and 14/49 for Fig. 6's
1x7 + 7x1. They are checked on the measured counts, not on the module's formulas.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from inception_explorer.analysis import factorization as fz
from inception_explorer.errors import SpecError
from inception_explorer.nn.blocks import BasicConv2d
from inception_explorer.spec import MAX_CHANNELS

C = 64
GRID = 17


def _rows(df):
    return {row["name"]: row for row in df.to_dict("records")}


@pytest.fixture(scope="module")
def by_n():
    return {n: _rows(fz.compare(C, C, GRID, n)) for n in (3, 5, 7)}


def _ratio(rows, name):
    return Fraction(int(rows[name]["macs"]), int(rows["nxn"]["macs"]))


# --------------------------------------------------------------------------------------------------------------
# The paper's ratios, measured
# --------------------------------------------------------------------------------------------------------------


def test_two_3x3_against_5x5_is_18_over_25(by_n):
    assert _ratio(by_n[5], "stacked_3x3") == Fraction(18, 25)


def test_1x3_then_3x1_against_3x3_is_6_over_9(by_n):
    assert _ratio(by_n[3], "asymmetric") == Fraction(6, 9)


def test_two_2x2_against_3x3_is_8_over_9(by_n):
    assert _ratio(by_n[3], "two_2x2") == Fraction(8, 9)


def test_1x7_then_7x1_against_7x7_is_14_over_49(by_n):
    assert _ratio(by_n[7], "asymmetric") == Fraction(14, 49)


def test_params_follow_the_same_ratio_without_biases():
    # [R] §3.1: "the same saving applies to parameter count". With batch norm the convs have no bias; subtract
    # the batch-norm parameters (2 per channel per layer) and the weights keep the MAC ratio.
    rows = _rows(fz.compare(C, C, GRID, 5, batch_norm=True))
    w5 = rows["nxn"]["params"] - 2 * C
    w33 = rows["stacked_3x3"]["params"] - 2 * 2 * C
    assert Fraction(w33, w5) == Fraction(18, 25)


def test_savings_round_to_the_papers_figures(by_n):
    quoted = {(5, "stacked_3x3"): 0.28, (3, "asymmetric"): 0.33, (3, "two_2x2"): 0.11}
    for n, rows in by_n.items():
        for name, row in rows.items():
            want = quoted.get((n, name))
            if want is None:
                assert math.isnan(row["paper_saving"]), (n, name)
            else:
                assert row["paper_saving"] == want
                assert round(row["saving"], 2) == want, (n, name, row["saving"])
                assert row["paper_premise"]


def test_ratio_and_saving_columns_agree_with_measured_macs(by_n):
    for rows in by_n.values():
        base = rows["nxn"]["macs"]
        assert rows["nxn"]["macs_vs_nxn"] == 1.0 and rows["nxn"]["saving"] == 0.0
        for row in rows.values():
            assert row["macs_vs_nxn"] == pytest.approx(row["macs"] / base, rel=1e-12)
            assert row["saving"] == pytest.approx(1 - row["macs"] / base, rel=1e-12, abs=1e-12)


# --------------------------------------------------------------------------------------------------------------
# Measured == analytic, and a second counter agrees
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "c_in,c_out,grid,n",
    [(C, C, GRID, 3), (C, C, GRID, 5), (C, C, GRID, 7), (16, 48, 9, 5), (48, 16, 8, 3), (24, 40, 12, 4), (8, 8, 5, 1)],
)
def test_measured_macs_equal_the_closed_formula(c_in, c_out, grid, n):
    df = fz.compare(c_in, c_out, grid, n)
    assert len(df) >= 1
    for row in df.to_dict("records"):
        assert row["macs"] > 0
        assert row["macs"] == row["analytic_macs"], row["name"]
        assert row["analytic_formula"].startswith("H*W*")


def test_5x5_count_matches_a_hand_count():
    # The test's own arithmetic for the baseline: every output pixel of every output channel takes C_in*5*5 MACs.
    rows = _rows(fz.compare(32, 48, 10, 5))
    assert rows["nxn"]["macs"] == 10 * 10 * 48 * 32 * 5 * 5
    assert rows["nxn"]["params"] == 48 * 32 * 5 * 5 + 48  # bias, no batch norm


@pytest.mark.parametrize("n", [3, 5])
def test_torch_flop_counter_agrees_with_fvcore(n):
    c_in, c_out, grid = 24, 40, 11
    rows = _rows(fz.compare(c_in, c_out, grid, n))
    modules = fz.build_modules(c_in, c_out, n)
    assert set(modules) == set(rows)
    for name, module in modules.items():
        x = torch.zeros(1, c_in, grid, grid)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            y = module.eval()(x)
        assert y.shape == (1, c_out, grid, grid), name  # "same": every option keeps the grid
        assert counter.get_total_flops() // 2 == rows[name]["macs"], name


def test_batch_norm_changes_params_not_conv_macs():
    plain = _rows(fz.compare(C, C, GRID, 3))
    bn = _rows(fz.compare(C, C, GRID, 3, batch_norm=True))
    for name in plain:
        assert bn[name]["macs"] == plain[name]["macs"]
        assert bn[name]["params"] != plain[name]["params"]


# --------------------------------------------------------------------------------------------------------------
# Which options exist, how they are built
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n,names",
    [
        (1, ["nxn"]),
        (2, ["nxn", "asymmetric"]),
        (3, ["nxn", "stacked_3x3", "asymmetric", "two_2x2"]),
        (4, ["nxn", "asymmetric"]),
        (5, ["nxn", "stacked_3x3", "asymmetric"]),
        (7, ["nxn", "stacked_3x3", "asymmetric"]),
    ],
)
def test_options_that_exist(n, names):
    df = fz.compare(8, 8, 9, n)
    assert list(df["name"]) == names
    assert list(df.columns[:2]) == ["name", "layers"]
    for col in ("params", "macs", "analytic_macs", "macs_vs_nxn", "saving", "paper_saving"):
        assert col in df.columns


def test_layers_receptive_field_and_widths():
    rows = _rows(fz.compare(32, 48, 9, 7))
    assert rows["nxn"]["layers"] == "7x7"
    assert rows["stacked_3x3"]["layers"] == "3x3 -> 3x3 -> 3x3"
    assert rows["asymmetric"]["layers"] == "1x7 -> 7x1"
    assert {row["receptive_field"] for row in rows.values()} == {7}
    assert rows["stacked_3x3"]["widths"] == "32 -> 48 -> 48 -> 48"
    assert "Fig. 6" in rows["asymmetric"]["description"]
    assert "Fig. 5" in _rows(fz.compare(8, 8, 9, 5))["stacked_3x3"]["description"]
    two = _rows(fz.compare(8, 8, 9, 3))["two_2x2"]
    assert two["layers"] == "2x2 -> 2x2" and two["receptive_field"] == 3


def test_options_are_the_networks_own_modules():
    modules = fz.build_modules(8, 16, 5, batch_norm=True)
    convs = [m for m in modules["asymmetric"] if isinstance(m, BasicConv2d)]
    assert [tuple(m.conv.kernel_size) for m in convs] == [(1, 5), (5, 1)]
    assert [(m.conv.in_channels, m.conv.out_channels) for m in convs] == [(8, 16), (16, 16)]
    assert all(m.bn is not None and m.conv.bias is None for m in convs)


def test_options_dataclass_is_frozen():
    opt = fz.options(8, 8, 9, 3)[0]
    assert isinstance(opt, fz.FactorizationOption)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opt.macs = 0  # type: ignore[misc]


# --------------------------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,needle",
    [
        ((8, 8, 9, 0), "got 0"),
        ((8, 8, 9, -3), "got -3"),
        ((0, 8, 9, 3), "c_in: width must be >= 1, got 0"),
        ((8, -1, 9, 3), "c_out: width must be >= 1, got -1"),
        ((8, 8, 0, 3), "grid size must be >= 1, got 0"),
        ((MAX_CHANNELS + 1, 8, 9, 3), f"got {MAX_CHANNELS + 1}"),
        ((8, 10 * MAX_CHANNELS, 9, 3), f"got {10 * MAX_CHANNELS}"),
        ((8, 8, 4, 5), "kernel size 5 is larger than the 4x4 grid"),
        ((8, 8, 9, 2.5), "got 2.5"),
        ((8, True, 9, 3), "got True"),
    ],
)
def test_bad_input_raises_spec_error_naming_the_value(args, needle):
    with pytest.raises(SpecError) as err:
        fz.compare(*args)
    assert needle in str(err.value)


def test_every_bad_argument_is_reported_at_once():
    with pytest.raises(SpecError) as err:
        fz.compare(0, MAX_CHANNELS + 1, 0, 0)
    assert {p.loc for p in err.value.problems} == {"c_in", "c_out", "grid", "n"}


def test_time_options_validates_too():
    with pytest.raises(SpecError, match="got 0"):
        fz.time_options(8, 8, 8, 0)
    with pytest.raises(SpecError, match="'tpu'"):
        fz.time_options(8, 8, 8, 3, device="tpu")
    with pytest.raises(SpecError, match="repeats"):
        fz.time_options(8, 8, 8, 3, repeats=0)


# --------------------------------------------------------------------------------------------------------------
# Timing (no comparisons between options: only that every option is timed and the numbers are sane)
# --------------------------------------------------------------------------------------------------------------


def _check_times(df, names, device_word):
    assert list(df["name"]) == names
    for col in ("forward_ms", "forward_backward_ms"):
        values = df[col].tolist()
        assert all(math.isfinite(v) and v > 0 for v in values), (col, values)
    assert all(device_word in d.lower() for d in df["device"])


@pytest.mark.parametrize(
    "n,names", [(3, ["nxn", "stacked_3x3", "asymmetric", "two_2x2"]), (5, ["nxn", "stacked_3x3", "asymmetric"])]
)
def test_time_options_on_cpu(n, names):
    df = fz.time_options(8, 8, 8, n, batch=2, device="cpu", repeats=2, warmup=1)
    _check_times(df, names, "cpu")
    assert (df["batch"] == 2).all()
    assert list(df["macs"]) == list(fz.compare(8, 8, 8, n)["macs"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_time_options_on_cuda():
    df = fz.time_options(8, 8, 8, 3, batch=2, device="cuda", repeats=2, warmup=1)
    _check_times(df, ["nxn", "stacked_3x3", "asymmetric", "two_2x2"], "")
    assert list(df["device"].unique()) == [torch.cuda.get_device_name()]
    auto = fz.time_options(8, 8, 8, 5, batch=2, device="auto", repeats=2, warmup=1)
    assert list(auto["device"].unique()) == [torch.cuda.get_device_name()]


# ---- apply to a network ------------------------------------------------------------------------------------------


def test_apply_fig5_to_googlenet_saves_the_hand_counted_macs():
    """Each 5x5 (red -> out) becomes 3x3 (red -> out) + 3x3 (out -> out): per block H*W*(25*red*out - 9*red*out -
    9*out*out) fewer MACs, summed over the nine modules, exactly (the biases are the same number of outputs)."""
    from inception_explorer.analysis.costs import count
    from inception_explorer.editing import apply_factorization
    from inception_explorer.spec.presets import get_preset
    from inception_explorer.spec.shapes import infer_shapes

    spec = get_preset("googlenet")
    modules = [b.name for _, _, _, b in spec.iter_blocks() if b.kind == "inception_v1"]
    grids = {s.block: s.output for s in infer_shapes(spec)}
    converted, notes = apply_factorization(spec, modules, "inception_fig5")
    assert set(notes) == set(modules) and len(modules) == 9
    expected = 0
    for _, _, _, b in spec.iter_blocks():
        if b.kind == "inception_v1":
            g = grids[b.name]
            expected += g.h * g.w * (25 * b.ch5x5red * b.ch5x5 - 9 * b.ch5x5red * b.ch5x5 - 9 * b.ch5x5 * b.ch5x5)
    assert count(spec).totals.macs - count(converted).totals.macs == expected
    assert all(b.kind == "inception_fig5" for _, _, _, b in converted.iter_blocks() if b.name in modules)


def test_apply_fig6_sets_n_and_bad_requests_are_clear():
    from inception_explorer.editing import EditError, apply_factorization
    from inception_explorer.spec.presets import get_preset

    spec = get_preset("googlenet")
    converted, notes = apply_factorization(spec, ["inception4b"], "inception_fig6", n=5)
    si, bi = converted.find_block("inception4b")
    assert converted.stages[si].blocks[bi].n == 5 and any(note.startswith("n = 5") for note in notes["inception4b"])
    with pytest.raises(EditError, match="no block named 'nope'"):
        apply_factorization(spec, ["nope"], "inception_fig5")
    with pytest.raises(EditError, match="cannot be converted"):
        apply_factorization(spec, ["conv1"], "inception_fig5")


@pytest.mark.parametrize("n", [2, 3, 5, 7])
def test_the_notes_of_a_conversion_name_one_n(n):
    """Issue 15: the lab once noted "defaulted n = 3" and "n = 5" for one block. Whatever n the lab sets, the
    notes of each converted block name that n and no other."""
    import re

    from inception_explorer.editing import apply_factorization
    from inception_explorer.spec.presets import get_preset

    for source in ("googlenet", "inception_v3"):
        spec = get_preset(source)
        blocks = [b.name for _, _, _, b in spec.iter_blocks() if b.kind in ("inception_v1", "inception_a")][:2]
        assert len(blocks) == 2
        _, notes = apply_factorization(spec, blocks, "inception_fig6", n=n)
        for block in blocks:
            named = set(re.findall(r"\bn = (\d+)", "; ".join(notes[block])))
            assert named == {str(n)}, (source, block, notes[block])
    _, notes = apply_factorization(get_preset("googlenet"), ["inception3a"], "inception_fig6")
    assert set(re.findall(r"\bn = (\d+)", "; ".join(notes["inception3a"]))) == {"3"}  # defaulted, said once


def test_the_lab_page_applies_fig5_to_googlenet_and_saves_it(tmp_path, monkeypatch):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from inception_explorer.store import Store
    from inception_explorer.ui import cached

    monkeypatch.setenv("INCEPTION_EXPLORER_HOME", str(tmp_path))
    cached.store.clear()
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/factorization_page.py").run()
    at.selectbox(key="fact.apply.network").select("preset googlenet").run()
    assert not at.exception
    assert len(at.multiselect(key="fact.apply.blocks.preset googlenet.inception_fig5").value) == 9
    # GoogLeNet's 5x5 branches widen their reduction (16 -> 32 ...): as drawn, two 3x3 cost more, and the page says why
    assert any("1.583 G → 1.640 G" in m.value and "3.6% more" in m.value for m in at.markdown)
    assert at.info and "as wide in as out" in at.info[-1].value
    at.text_input(key="fact.apply.name").input("googlenet fig5").run()
    at.button(key="fact.apply.save").click().run()
    assert not at.exception and at.success
    saved = Store(tmp_path / "store.sqlite").load_variant("googlenet fig5", at.session_state["workspace"]).spec
    assert sum(b.kind == "inception_fig5" for _, _, _, b in saved.iter_blocks()) == 9
    cached.store.clear()
