"""The googlenet preset against [G] Table 1 (shared/reference/googlenet_table1.csv), row by row.

What the printed table matches, and where it does not, is stated here row by row rather than hidden:
- ops (multiply-adds, millions): every Inception row within the printed rounding except 4a (ours 73.6M, printed
  73M) and 5a (ours 51.1M, printed 54M);
- params (K): the rows use no single convention; 3a, 3b and 4b match weights-only in units of 1024, the others
  match no convention within +-1K;
- conv1 is misprinted (2.7K / 34M for a 7x7/2 conv from 3 to 64 channels: 9,408 weights and 118M MACs).
"""

from __future__ import annotations

import re

import pytest
import torch

from inception_explorer.nn.build import build
from inception_explorer.spec import Conv
from inception_explorer.spec.presets import get_preset
from inception_explorer.spec.shapes import infer_shapes

INCEPTION_ROWS = ["3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"]


def _k(text: str) -> float:
    assert text.endswith("K"), text
    return float(text[:-1])


def _m(text: str) -> float:
    assert text.endswith("M"), text
    return float(text[:-1])


def _depth(row) -> int:
    return int(row["output_size"].split("x")[2])


def _inception_rows(table) -> dict[str, tuple[dict, int]]:
    """Inception rows by label ('3a'), each with its input depth: the depth of the row printed before it."""
    out, prev = {}, None
    for row in table:
        m = re.fullmatch(r"inception \((\w+)\)", row["type"])
        if m:
            out[m.group(1)] = (row, prev)
        prev = _depth(row) if row["output_size"] else prev
    return out


def _hand_weights(row, c_in: int) -> tuple[int, int, int]:
    """Weights, biases and MACs per output pixel of a [G] Fig. 2b module from the table's widths."""
    columns = ("n1x1", "n3x3_reduce", "n3x3", "n5x5_reduce", "n5x5", "pool_proj")
    c1, c3r, c3, c5r, c5, pp = (int(row[k]) for k in columns)
    weights = c_in * c1 + c_in * c3r + c3r * c3 * 9 + c_in * c5r + c5r * c5 * 25 + c_in * pp
    biases = c1 + c3r + c3 + c5r + c5 + pp
    return weights, biases, weights  # a conv does one multiply-add per weight per output pixel


@pytest.fixture(scope="module")
def rows(googlenet_table1):
    return _inception_rows(googlenet_table1)


@pytest.fixture(scope="module")
def report(preset_report):
    return preset_report("googlenet")


def test_the_table_has_the_nine_inception_rows(rows):
    assert list(rows) == INCEPTION_ROWS
    assert rows["3a"][1] == 192  # 3a reads the 28x28x192 of the pool before it


@pytest.mark.parametrize("label", INCEPTION_ROWS)
def test_block_equals_the_hand_count_from_the_table_widths(label, rows, report, block_row):
    row, c_in = rows[label]
    ours = block_row(report, f"inception{label}")
    weights, biases, per_pixel = _hand_weights(row, c_in)
    h = int(row["output_size"].split("x")[0])
    assert ours["params"] == weights + biases
    assert ours["macs_conv_linear"] == h * h * per_pixel


# ops: "within" = |ours/1e6 - printed| <= 0.5, the printed rounding. The exceptions, with our exact figure.
OPS_VERDICT = {
    "3a": "within",
    "3b": "within",
    "4a": ("off", 73_608_192),
    "4b": "within",
    "4c": "within",
    "4d": "within",
    "4e": "within",
    "5a": ("off", 51_079_168),
    "5b": "within",
}


@pytest.mark.parametrize("label", INCEPTION_ROWS)
def test_inception_row_ops_against_the_printed_millions(label, rows, report, block_row):
    row, _ = rows[label]
    printed = _m(row["ops"])
    ours = block_row(report, f"inception{label}")["macs_conv_linear"]
    verdict = OPS_VERDICT[label]
    if verdict == "within":
        assert abs(ours / 1e6 - printed) <= 0.5, (label, ours, printed)
    else:
        assert ours == verdict[1]
        assert abs(ours / 1e6 - printed) > 0.5, f"{label} now matches the table: update the documented verdict"


def test_inception4a_ops_are_a_hair_above_the_printed_73m(rows, report, block_row):
    # 14x14 x (480*192 + 480*96 + 96*208*9 + 480*16 + 16*48*25 + 480*64) = 73,608,192: rounds to 74M, not 73M
    ours = block_row(report, "inception4a")["macs_conv_linear"]
    assert ours == 14 * 14 * (480 * 192 + 480 * 96 + 96 * 208 * 9 + 480 * 16 + 16 * 48 * 25 + 480 * 64)
    assert round(ours / 1e6) == 74 and _m(rows["4a"][0]["ops"]) == 73


def test_inception5a_ops_differ_from_the_printed_54m(rows, report, block_row):
    # 7x7 x (832*256 + 832*160 + 160*320*9 + 832*32 + 32*128*25 + 832*128) = 51,079,168: 51.1M against 54M
    ours = block_row(report, "inception5a")["macs_conv_linear"]
    assert ours == 7 * 7 * (832 * 256 + 832 * 160 + 160 * 320 * 9 + 832 * 32 + 32 * 128 * 25 + 832 * 128)
    assert round(ours / 1e6, 1) == 51.1
    assert _m(rows["5a"][0]["ops"]) == 54


# params: which conventions land within +-1 of the printed K. W = weights only, WB = weights + biases.
PARAMS_VERDICT = {
    "3a": {"W/1024", "WB/1024"},
    "3b": {"W/1024", "WB/1024"},
    "4a": set(),
    "4b": {"W/1024"},
    "4c": set(),
    "4d": set(),
    "4e": set(),
    "5a": set(),
    "5b": set(),
}


@pytest.mark.parametrize("label", INCEPTION_ROWS)
def test_inception_row_params_convention(label, rows, report, block_row):
    row, c_in = rows[label]
    ours = block_row(report, f"inception{label}")["params"]  # weights + biases of the built block
    weights, biases, _ = _hand_weights(row, c_in)
    assert ours == weights + biases
    conventions = {
        "W/1000": weights / 1000,
        "W/1024": weights / 1024,
        "WB/1000": ours / 1000,
        "WB/1024": ours / 1024,
    }
    printed = _k(row["params"])
    matching = {name for name, value in conventions.items() if abs(value - printed) <= 1}
    assert matching == PARAMS_VERDICT[label], {k: round(v, 2) for k, v in conventions.items()}


def test_conv1_row_is_misprinted_and_we_show_the_true_figure(googlenet_table1, report, block_row):
    row = googlenet_table1[0]
    assert (row["type"], row["patch_size_stride"], row["output_size"]) == ("convolution", "7x7/2", "112x112x64")
    assert (_k(row["params"]), _m(row["ops"])) == (2.7, 34)
    ours = block_row(report, "conv1")
    weights = 7 * 7 * 3 * 64
    assert weights == 9_408
    assert ours["params"] == weights + 64
    assert ours["macs_conv_linear"] == 112 * 112 * 64 * 7 * 7 * 3 == 118_013_952
    # far from the printed figures, whatever the unit
    assert weights / 1024 > 3 * _k(row["params"])
    assert ours["macs_conv_linear"] / 1e6 > 3 * _m(row["ops"])


def test_depth_2_conv_row_matches_weights_only_in_units_of_1024(googlenet_table1, report, block_row):
    row = googlenet_table1[2]
    assert (row["type"], row["patch_size_stride"], row["depth"]) == ("convolution", "3x3/1", "2")
    conv2, conv3 = block_row(report, "conv2"), block_row(report, "conv3")
    weights = 64 * 64 + 64 * 192 * 9  # 1x1 64 -> 64, 3x3 64 -> 192
    assert conv2["params"] + conv3["params"] == weights + 64 + 192
    assert weights / 1024 == _k(row["params"]) == 112
    macs = conv2["macs_conv_linear"] + conv3["macs_conv_linear"]
    assert macs == 56 * 56 * weights
    assert round(macs / 1e6) == _m(row["ops"]) == 360


def test_linear_row(googlenet_table1, report, block_row):
    row = next(r for r in googlenet_table1 if r["type"] == "linear")
    head = block_row(report, "head")
    assert head["macs_conv_linear"] == 1024 * 1000
    assert head["params"] == 1024 * 1000 + 1000
    assert 1024 * 1000 / 1024 == _k(row["params"]) == 1000
    assert round(head["macs_conv_linear"] / 1e6) == _m(row["ops"]) == 1


# Each printed row and the module whose output it is.
ROW_MODULES = [
    "conv1",
    "maxpool1",
    "conv3",
    "maxpool2",
    "inception3a",
    "inception3b",
    "maxpool3",
    "inception4a",
    "inception4b",
    "inception4c",
    "inception4d",
    "inception4e",
    "maxpool4",
    "inception5a",
    "inception5b",
    "head.avgpool",
    "head.dropout",
    "head.fc",
    "softmax",
]


def test_every_row_output_size_is_our_module_output(googlenet_table1):
    assert len(googlenet_table1) == len(ROW_MODULES)
    spec = get_preset("googlenet")
    inferred = {s.block: s.output for s in infer_shapes(spec)}
    model = build(spec).eval()
    seen = {}
    hooks = [
        model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: seen.__setitem__(n, tuple(o.shape[1:])))
        for n in ROW_MODULES
        if n != "softmax"
    ]
    with torch.no_grad():
        logits = model(torch.zeros(1, 3, 224, 224))
    for h in hooks:
        h.remove()
    seen["softmax"] = tuple(torch.softmax(logits, 1).shape[1:])
    for row, name in zip(googlenet_table1, ROW_MODULES, strict=True):
        h, w, c = (int(v) for v in row["output_size"].split("x"))
        shape = seen[name]
        real = (shape[0], 1, 1) if len(shape) == 1 else shape  # flattened head outputs are 1x1xC
        assert real == (c, h, w), (row["type"], name, shape)
        if name in inferred:
            assert str(inferred[name]) == row["output_size"], (row["type"], name)


def test_patch_sizes_and_depths(googlenet_table1):
    spec = get_preset("googlenet")
    blocks = {b.name: b for _, _, _, b in spec.iter_blocks()}
    for row, name in zip(googlenet_table1, ROW_MODULES, strict=True):
        if row["patch_size_stride"] and name in blocks and not name.startswith("inception"):
            k, s = re.fullmatch(r"(\d+)x\d+/(\d+)", row["patch_size_stride"]).groups()
            block = blocks[name]
            assert block.kernel == (int(k), int(k)) and block.stride == (int(s), int(s)), (row["type"], name)
        if name.startswith("inception"):
            # depth 2: the longest chain of convolutions through a module
            block = blocks[name]
            longest = max(sum(isinstance(layer, Conv) for layer in b.layers) for b in block.branches())
            assert longest == int(row["depth"]) == 2, name
