"""spec/shapes.py: every block's shape from the spec alone, against the papers' outlines and against what torch
really computes, layer by layer."""

from __future__ import annotations

import itertools
import re

import torch
from torch import nn

from inception_explorer.nn.blocks import BasicConv2d
from inception_explorer.nn.build import build
from inception_explorer.spec import Conv, ModelSpec, Pool
from inception_explorer.spec.presets import get_preset
from inception_explorer.spec.shapes import Shape, _ShapeProblem, infer_shapes, layer_output, stage_info

# --------------------------------------------------------------------------------------------------------------
# Grid sizes against the papers' outlines
# --------------------------------------------------------------------------------------------------------------


def test_inception_v3_stage_grids_are_35_17_8():
    info = {s.name: s for s in stage_info(get_preset("inception_v3"))}
    assert [(info[n].output.h, info[n].output.w, info[n].output.c) for n in ("Mixed_5", "Mixed_6", "Mixed_7")] == [
        (35, 35, 288),
        (17, 17, 768),
        (8, 8, 2048),
    ]
    assert info["Mixed_5"].input == Shape(192, 71, 71)


def test_googlenet_stage_reductions_are_4_8_16_32():
    info = stage_info(get_preset("googlenet"))
    assert [(s.name, s.output.h, s.reduction) for s in info] == [
        ("stem", 56, 4),
        ("inception3", 28, 8),
        ("inception4", 14, 16),
        ("inception5", 7, 32),
    ]


def _shape(text: str) -> tuple[int, int, int]:
    h, w, c = (int(v) for v in text.split("x"))
    return c, h, w


def test_inception_v2_reproduces_every_row_of_rethinking_table1(inception_v3_table1):
    spec = get_preset("inception_v2")
    shapes = infer_shapes(spec)
    stages = {s.name: s for s in stage_info(spec)}
    by_name = {s.block: s for s in shapes}
    rows = inception_v3_table1
    assert [r["type"] for r in rows] == [
        "conv",
        "conv",
        "conv padded",
        "pool",
        "conv",
        "conv",
        "conv",
        "3xInception",
        "5xInception",
        "2xInception",
        "pool",
        "linear",
        "softmax",
    ]
    # the stem: each row is one block's input, and its patch size / stride
    stem = [
        "Conv2d_1a_3x3",
        "Conv2d_2a_3x3",
        "Conv2d_2b_3x3",
        "maxpool1",
        "Conv2d_3b_3x3",
        "Conv2d_4a_3x3",
        "Conv2d_4b_3x3",
    ]
    for row, name in zip(rows[:7], stem, strict=True):
        s = by_name[name]
        assert (s.input.c, s.input.h, s.input.w) == _shape(row["input_size"]), (row, name)
        block = spec.stages[s.stage_index].blocks[s.block_index]
        k, stride = re.fullmatch(r"(\d+)x\d+/(\d+)", row["patch_size_stride_or_remarks"]).groups()
        assert block.kernel == (int(k), int(k)) and block.stride == (int(stride), int(stride)), (row, name)
        if row["type"] == "conv padded":  # (the last stem row keeps 35x35 too, so it is padded though not marked)
            assert block.padding not in ("same", (0, 0)), (row, name)
    # "3xInception" etc.: the input of the stage's first block, and that many blocks in the stage
    for row in rows[7:10]:
        n = int(row["type"].split("x")[0])
        stage = next(s for s in stages.values() if s.name.startswith(row["type"]))
        assert stage.blocks == n, row
        assert (stage.input.c, stage.input.h, stage.input.w) == _shape(row["input_size"]), row
        figure = re.search(r"figure (\d+)", row["patch_size_stride_or_remarks"]).group(1)
        assert f"Fig. {figure}" in stage.name
    # "pool 8x8" at 8x8x2048: the last block's output, which the head pools
    assert (shapes[-1].output.c, shapes[-1].output.h, shapes[-1].output.w) == _shape(rows[10]["input_size"])
    # linear at 1x1x2048, softmax over 1000 classes
    model = build(spec)
    assert model.head.fc.in_features == int(rows[11]["input_size"].split("x")[2])
    assert model.head.fc.out_features == int(rows[12]["input_size"].split("x")[2]) == spec.num_classes


# --------------------------------------------------------------------------------------------------------------
# shapes.py against torch, layer by layer
# --------------------------------------------------------------------------------------------------------------


def _torch_len(layer, size: int) -> int | None:
    x = torch.zeros(1, 1, size, size)
    try:
        if isinstance(layer, Pool):
            y = nn.functional.max_pool2d(x, layer.kernel, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)
        else:
            y = BasicConv2d(1, layer, batch_norm=False)(x)
    except RuntimeError:  # torch: "Output size is too small"
        return None
    return y.shape[-1] if y.shape[-1] > 0 else None


def _our_len(layer, size: int) -> int | None:
    try:
        return layer_output(layer, Shape(1, size, size)).h
    except _ShapeProblem:
        return None


def test_conv_output_sizes_agree_with_torch():
    mismatches = []
    for size, k, s, p in itertools.product(range(1, 10), range(1, 6), range(1, 4), [0, 1, 2, "same"]):
        if p == "same" and s != 1:
            continue
        layer = Conv(out_channels=1, kernel=k, stride=s, padding=p)
        if _our_len(layer, size) != _torch_len(layer, size):
            mismatches.append((size, k, s, p, _our_len(layer, size), _torch_len(layer, size)))
    assert mismatches == [], "\n".join(map(str, mismatches))


def test_pool_output_sizes_agree_with_torch_including_ceil_mode():
    """(grid, kernel, stride, padding, ceil_mode, ours, torch's) for every disagreement; None = cannot run."""
    mismatches = []
    for size, k, s, p, ceil in itertools.product(range(1, 10), range(1, 6), range(1, 4), range(0, 3), (False, True)):
        if p > k // 2:
            continue
        layer = Pool(op="max_pool", kernel=k, stride=s, padding=p, ceil_mode=ceil)
        ours, theirs = _our_len(layer, size), _torch_len(layer, size)
        if ours != theirs:
            mismatches.append((size, k, s, p, ceil, ours, theirs))
    assert mismatches == [], "(grid, kernel, stride, padding, ceil_mode, ours, torch):\n" + "\n".join(
        map(str, mismatches)
    )


def test_googlenet_maxpool4_on_a_2x2_grid_does_not_collapse():
    """GoogLeNet's pools use ceil_mode: torch pools a 2x2 grid with a 3x3/2 window to 1x1 (googlenet at 32x32
    runs through maxpool4 in torch). shapes.py must not report that pool as a collapse."""
    x = torch.zeros(1, 832, 2, 2)
    assert nn.MaxPool2d(3, 2, ceil_mode=True)(x).shape == (1, 832, 1, 1)
    data = get_preset("googlenet").to_dict()
    data["input_size"] = [32, 32]
    data["aux_heads"] = []  # the aux heads genuinely do not fit at 32x32; leave only the main path
    spec = ModelSpec.from_dict(data)
    shapes = infer_shapes(spec)  # must not raise
    assert shapes[-1].output == Shape(1024, 1, 1)
    with torch.no_grad():
        assert build(spec).eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 1000)
