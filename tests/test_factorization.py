"""[R] §3's factorization savings, measured by fvcore on real modules (not by formula).

With C input and C output channels on the same grid ([R] §3.1 assumes no filter expansion, alpha = 1):
- two stacked 3x3 convolutions cost (9+9)/25 = 18/25 of one 5x5: the paper's 28% saving;
- 1x3 followed by 3x1 costs 6/9 of a 3x3: 33% cheaper;
- two 2x2 convolutions cost 8/9 of a 3x3: "only a 11% saving".
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from inception_explorer.analysis.costs import CostMemo, count, count_module
from inception_explorer.nn.blocks import make_block
from inception_explorer.spec import Branch, Conv, CustomBlock, InceptionFig5, InceptionV1, ModelSpec, StageSpec
from inception_explorer.spec.shapes import Shape

C = 64
GRID = 17


def _block(*kernels) -> CustomBlock:
    """A one-branch block: 'same' convolutions C -> C with the given kernels, in sequence."""
    return CustomBlock(
        name="f", branches=(Branch(name="b", layers=tuple(Conv(out_channels=C, kernel=k) for k in kernels)),)
    )


def _conv_macs(*kernels) -> int:
    """Conv multiply-adds of the block, counted by fvcore on the built module, biasless (batch norm on)."""
    block = _block(*kernels)
    cost = count_module(make_block(block, C, batch_norm=True, bn_eps=1e-3), Shape(C, GRID, GRID))
    assert cost.macs_by_op["conv"] == cost.macs_conv_linear
    return cost.macs_by_op["conv"]


def _conv_macs_in_a_spec(*kernels) -> tuple[int, str]:
    """The same through count() on a one-block ModelSpec: the block's row and its output shape."""
    spec = ModelSpec(
        name="f",
        in_channels=C,
        input_size=GRID,
        batch_norm=True,
        stages=(StageSpec(name="s", blocks=(_block(*kernels),)),),
    )
    row = count(spec, CostMemo()).blocks.iloc[0]
    return int(row["macs_conv_linear"]), row["output"]


def test_one_5x5_against_a_hand_count():
    assert _conv_macs(5) == GRID * GRID * C * C * 25


def test_two_3x3_cost_18_25_of_one_5x5():
    one_5x5, two_3x3 = _conv_macs(5), _conv_macs(3, 3)
    assert Fraction(two_3x3, one_5x5) == Fraction(18, 25)
    assert 1 - two_3x3 / one_5x5 == pytest.approx(0.28)


def test_1x3_then_3x1_cost_6_9_of_a_3x3():
    one_3x3, asym = _conv_macs(3), _conv_macs((1, 3), (3, 1))
    assert Fraction(asym, one_3x3) == Fraction(6, 9)
    assert 1 - asym / one_3x3 == pytest.approx(1 / 3)


def test_two_2x2_cost_8_9_of_a_3x3():
    one_3x3, two_2x2 = _conv_macs(3), _conv_macs(2, 2)
    assert Fraction(two_2x2, one_3x3) == Fraction(8, 9)
    assert 1 - two_2x2 / one_3x3 == pytest.approx(0.11, abs=0.005)


def test_1x7_then_7x1_against_one_7x7():
    # [R] §3.2's n = 7 on the 17x17 grid: 14/49 of the full 7x7
    assert Fraction(_conv_macs((1, 7), (7, 1)), _conv_macs(7)) == Fraction(14, 49)


@pytest.mark.parametrize("kernels", [(5,), (3, 3), (3,), ((1, 3), (3, 1)), (2, 2), ((1, 7), (7, 1))])
def test_count_of_a_one_block_spec_agrees_and_keeps_the_grid(kernels):
    macs, output = _conv_macs_in_a_spec(*kernels)
    assert macs == _conv_macs(*kernels)
    assert output == f"{GRID}x{GRID}x{C}"  # 'same' padding: every variant keeps the grid, so they compare


def test_fig5_module_against_fig2b_with_the_same_widths():
    """Replacing the 5x5 of a Fig. 2b module by two 3x3 (Fig. 5): the 5x5 branch's conv MACs go from 25 to 18 per
    reduce-output pair when the 3x3s keep the branch's width."""
    shape = Shape(192, 28, 28)
    v1 = InceptionV1(name="m", ch1x1=64, ch3x3red=96, ch3x3=128, ch5x5red=32, ch5x5=32, pool_proj=32)
    fig5 = InceptionFig5(
        name="m", ch1x1=64, ch3x3red=96, ch3x3=128, ch3x3dblred=32, ch3x3dbl=32, pool_proj=32, pool="max_pool"
    )
    a = count_module(make_block(v1, 192, True, 1e-3), shape).macs_by_op["conv"]
    b = count_module(make_block(fig5, 192, True, 1e-3), shape).macs_by_op["conv"]
    assert a - b == 28 * 28 * 32 * 32 * (25 - 18)
