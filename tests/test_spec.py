"""The spec as data: JSON round trip, and broken specs rejected with every problem named by its place."""

from __future__ import annotations

import copy
import json

import pytest

from inception_explorer.errors import Problem, SpecError
from inception_explorer.spec import (
    Branch,
    Conv,
    ConvBlock,
    CustomBlock,
    InceptionFig7,
    InceptionV1,
    ModelSpec,
    Pool,
    PoolBlock,
    StageSpec,
    block_from_dict,
)
from inception_explorer.spec.presets import get_preset, list_presets
from inception_explorer.spec.validation import load_spec

PRESET_NAMES = ("googlenet", "googlenet_naive", "googlenet_torchvision", "inception_v2", "inception_v3")

# --------------------------------------------------------------------------------------------------------------
# JSON round trip
# --------------------------------------------------------------------------------------------------------------


def test_every_preset_is_registered():
    assert [p.name for p in list_presets()] == list(PRESET_NAMES)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_json_round_trip(name):
    spec = get_preset(name)
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec
    assert hash(again) == hash(spec)
    assert again.canonical_json() == spec.canonical_json()
    # compact JSON and the canonical form parse back to the same spec too
    assert ModelSpec.from_json(spec.to_json(indent=None)) == spec
    assert ModelSpec.from_json(spec.canonical_json()) == spec


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_canonical_json_is_sorted_compact_and_stable(name):
    a, b = get_preset(name), get_preset(name)
    text = a.canonical_json()
    assert text == b.canonical_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert json.loads(text) == json.loads(a.to_json())


def test_canonical_json_changes_when_one_width_changes():
    spec = get_preset("googlenet")
    si, bi = spec.find_block("inception4c")
    edited = spec.with_block(si, bi, spec.stages[si].blocks[bi].model_copy(update={"ch5x5": 96}))
    assert edited != spec
    assert edited.canonical_json() != spec.canonical_json()
    # the original is untouched (frozen data)
    assert spec.stages[si].blocks[bi].ch5x5 == 64
    assert edited.stages[si].blocks[bi].ch5x5 == 96


def _custom_spec() -> ModelSpec:
    """A spec with every layer feature: custom branches, a fork, pair kernels, explicit and 'same' padding."""
    mix = CustomBlock(
        name="mix",
        branches=(
            Branch(name="b1", layers=(Conv(out_channels=8, kernel=1),)),
            Branch(
                name="b2",
                layers=(Conv(out_channels=8, kernel=(1, 3)), Conv(out_channels=8, kernel=(3, 1), padding=(1, 0))),
            ),
            Branch(
                name="b3",
                layers=(Conv(out_channels=4, kernel=1),),
                fork=(Conv(out_channels=4, kernel=(1, 3)), Conv(out_channels=4, kernel=(3, 1))),
            ),
            Branch(
                name="b4", layers=(Pool(op="avg_pool", kernel=3, stride=1, padding=1), Conv(out_channels=4, kernel=2))
            ),
        ),
    )
    return ModelSpec(
        name="custom",
        in_channels=3,
        input_size=(32, 32),
        num_classes=7,
        batch_norm=True,
        stages=(
            StageSpec(name="stem", blocks=(ConvBlock(name="c1", out_channels=16, kernel=3, stride=2, padding=1),)),
            StageSpec(name="body", blocks=(mix, PoolBlock(name="p", kernel=2, stride=2, ceil_mode=True))),
        ),
    )


def test_custom_block_json_round_trip_uses_the_field_name_branches():
    spec = _custom_spec()
    data = json.loads(spec.to_json())
    block = data["stages"][1]["blocks"][0]
    assert block["kind"] == "custom"
    assert [b["name"] for b in block["branches"]] == ["b1", "b2", "b3", "b4"]
    assert "branches_" not in block
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec
    assert again.stages[1].blocks[0].branches()[2].fork[1].kernel == (3, 1)
    load_spec(again)  # and it is a working network: 16 + 8 + 8 + 4 + 4 + 4 channels at 16x16


def test_block_from_dict_parses_a_kind():
    block = block_from_dict(
        {
            "kind": "inception_v1",
            "name": "x",
            "ch1x1": 64,
            "ch3x3red": 96,
            "ch3x3": 128,
            "ch5x5red": 16,
            "ch5x5": 32,
            "pool_proj": 32,
        }
    )
    assert isinstance(block, InceptionV1)
    assert [b.name for b in block.branches()] == ["branch1x1", "branch3x3", "branch5x5", "branch_pool"]
    # the 5x5 branch really is 5x5 ([G] Fig. 2b), unlike torchvision's 3x3
    assert block.branches()[2].layers[1].kernel == (5, 5)
    with pytest.raises(SpecError) as err:
        block_from_dict({"kind": "inception_v1", "name": "x", "ch1x1": 64})
    assert any(p.loc.endswith("ch3x3red") and "missing" in p.message for p in err.value.problems)


def test_fig7_fork_counts_both_halves():
    block = InceptionFig7(name="m", ch1x1=320, ch3x3red=384, ch3x3=384, ch3x3dblred=448, ch3x3dbl=384, pool_proj=192)
    # 320 + 2x384 + 2x384 + 192 = 2048, the released Mixed_7b/7c width
    spec = ModelSpec(name="one", in_channels=64, input_size=8, stages=(StageSpec(name="s", blocks=(block,)),))
    assert load_spec(spec) == spec
    from inception_explorer.spec.shapes import infer_shapes

    assert infer_shapes(spec)[0].output.c == 320 + 2 * 384 + 2 * 384 + 192


# --------------------------------------------------------------------------------------------------------------
# Broken specs: SpecError naming the place
# --------------------------------------------------------------------------------------------------------------

GOOGLENET = get_preset("googlenet").to_dict()
V3 = get_preset("inception_v3").to_dict()


def _edit(base: dict, fn) -> dict:
    data = copy.deepcopy(base)
    fn(data)
    return data


def _custom(name: str, *branches: dict) -> dict:
    return {"kind": "custom", "name": name, "branches": list(branches)}


def _conv(out: int, kernel, **kw) -> dict:
    return {"op": "conv", "out_channels": out, "kernel": kernel, **kw}


def _block(data: dict, name: str) -> dict:
    for stage in data["stages"]:
        for block in stage["blocks"]:
            if block["name"] == name:
                return block
    raise KeyError(name)


INCEPTION4B = 'stages[2] "inception4" blocks[2] "inception4b"'

# (id, the broken spec as dict or JSON text, the place the problem must name, words its message must contain)
BAD_SPECS = [
    (
        "zero kernel in a custom branch layer",
        _edit(
            GOOGLENET,
            lambda d: d["stages"][1]["blocks"].insert(
                1, _custom("mix", {"name": "a", "layers": [_conv(8, 0)]}, {"name": "b", "layers": [_conv(8, 3)]})
            ),
        ),
        'stages[1] "inception3" blocks[1] "mix" (custom) branches[0] "a" layers[0] (conv) kernel',
        ["kernel must be >= 1, got 0"],
    ),
    (
        "negative width in an inception_v1 block",
        _edit(GOOGLENET, lambda d: _block(d, "inception4b").update(ch5x5=-3)),
        f"{INCEPTION4B} (inception_v1) ch5x5",
        [">= 1", "-3"],
    ),
    (
        "unknown kind",
        _edit(GOOGLENET, lambda d: _block(d, "inception4b").update(kind="inception_v9")),
        INCEPTION4B,
        ["inception_v9", "inception_v1"],
    ),
    (
        "unknown field",
        _edit(GOOGLENET, lambda d: _block(d, "inception4b").update(ch7x7=3)),
        f"{INCEPTION4B} (inception_v1) ch7x7",
        ["unknown field"],
    ),
    (
        "wrong type: a width given as a string",
        _edit(GOOGLENET, lambda d: _block(d, "inception4b").update(ch1x1="192")),
        f"{INCEPTION4B} (inception_v1) ch1x1",
        ["whole number", "'192'"],
    ),
    (
        "missing field",
        _edit(GOOGLENET, lambda d: _block(d, "inception4b").pop("pool_proj")),
        f"{INCEPTION4B} (inception_v1) pool_proj",
        ["missing"],
    ),
    (
        "duplicate block names",
        _edit(GOOGLENET, lambda d: _block(d, "inception4b").update(name="inception4a")),
        'stages[2] "inception4" blocks[2] "inception4a" (inception_v1)',
        ["'inception4a'", 'blocks[1] "inception4a"', "unique"],
    ),
    (
        "aux head after a block that does not exist",
        _edit(GOOGLENET, lambda d: d["aux_heads"][0].update(after="inception9z")),
        'aux_heads[0] "aux1"',
        ["'inception9z'", "not in the network"],
    ),
    (
        "'same' padding with stride 2",
        _edit(GOOGLENET, lambda d: _block(d, "conv1").update(padding="same")),
        'stages[0] "stem" blocks[0] "conv1" (conv)',
        ["'same'", "stride"],
    ),
    (
        "'same' padding with stride 2 in a custom branch",
        _edit(
            GOOGLENET,
            lambda d: d["stages"][1]["blocks"].insert(
                1, _custom("mix", {"name": "a", "layers": [_conv(8, 3, stride=2, padding="same")]})
            ),
        ),
        'stages[1] "inception3" blocks[1] "mix" (custom) branches[0] "a" layers[0] (conv)',
        ["'same'", "stride"],
    ),
    (
        "pool padding more than half its kernel",
        _edit(GOOGLENET, lambda d: _block(d, "maxpool1").update(padding=2)),
        'stages[0] "stem" blocks[1] "maxpool1" (pool)',
        ["padding 2", "kernel 3"],
    ),
    (
        "branches of a custom block end on different grids",
        _edit(
            GOOGLENET,
            lambda d: d["stages"][1]["blocks"].insert(
                1,
                _custom(
                    "mix",
                    {"name": "a", "layers": [_conv(8, 3, stride=2, padding=1)]},
                    {"name": "b", "layers": [_conv(8, 3)]},
                ),
            ),
        ),
        'stages[1] "inception3" blocks[1] "mix" (custom)',
        ["different grids", "a 14x14", "b 28x28"],
    ),
    (
        "fork layers end on different grids",
        _edit(
            GOOGLENET,
            lambda d: d["stages"][1]["blocks"].insert(
                1,
                _custom(
                    "mix",
                    {"name": "a", "layers": [_conv(8, 1)], "fork": [_conv(8, 3, stride=2, padding=1), _conv(8, 3)]},
                ),
            ),
        ),
        'stages[1] "inception3" blocks[1] "mix" (custom) branches[0] "a"',
        ["fork", "different grids"],
    ),
    (
        "grid collapse at a small input size (inception_v3 at 64x64)",
        _edit(V3, lambda d: d.update(input_size=[64, 64])),
        'stages[3] "Mixed_7" blocks[0] "Mixed_7a" (reduction_d)',
        ["collapses", "2x2"],
    ),
    (
        "block name that is not an identifier",
        _edit(GOOGLENET, lambda d: _block(d, "inception4b").update(name="4b-block")),
        'stages[2] "inception4" blocks[2] "4b-block" (inception_v1) name',
        ["identifier", "'4b-block'"],
    ),
    (
        "block name reserved by the built model",
        _edit(GOOGLENET, lambda d: _block(d, "inception4b").update(name="head")),
        'stages[2] "inception4" blocks[2] "head" (inception_v1) name',
        ["reserved"],
    ),
    (
        "duplicate stage names",
        _edit(GOOGLENET, lambda d: d["stages"][2].update(name="inception3")),
        'stages[2] "inception3"',
        ["unique"],
    ),
    (
        "aux head named like a block",
        _edit(GOOGLENET, lambda d: d["aux_heads"][1].update(name="inception4a")),
        'aux_heads[1] "inception4a"',
        ["already used"],
    ),
    (
        "input size zero",
        _edit(GOOGLENET, lambda d: d.update(input_size=[0, 224])),
        "input_size",
        [">= 1", "0"],
    ),
    ("not JSON at all", '{"name": "x", stages: [', "", ["not a JSON spec"]),
    ("a JSON list instead of an object", "[1, 2, 3]", "", ["JSON object", "list"]),
]


@pytest.mark.parametrize("data, loc, words", [c[1:] for c in BAD_SPECS], ids=[c[0] for c in BAD_SPECS])
def test_bad_spec_raises_spec_error_naming_the_place(data, loc, words):
    with pytest.raises(SpecError) as err:
        load_spec(data)
    problems = err.value.problems
    assert problems and all(isinstance(p, Problem) for p in problems)
    matching = [p for p in problems if p.loc.startswith(loc) and all(w in p.message for w in words)]
    assert matching, f"no problem at {loc!r} mentioning {words}; got {[str(p) for p in problems]}"
    assert isinstance(err.value, ValueError)  # SpecError is a ValueError, as the style guide asks
    # the exception's text shows every problem as "place: message"
    for p in problems:
        assert str(p) in str(err.value)


def test_zero_kernel_message_reads_exactly_like_the_spec():
    data = BAD_SPECS[0][1]
    with pytest.raises(SpecError) as err:
        ModelSpec.from_dict(data)
    assert str(err.value) == (
        'stages[1] "inception3" blocks[1] "mix" (custom) branches[0] "a" layers[0] (conv) kernel: '
        "kernel must be >= 1, got 0"
    )


def test_json_text_goes_through_the_same_checks():
    text = json.dumps(_edit(GOOGLENET, lambda d: _block(d, "inception4b").update(ch5x5=-3)))
    with pytest.raises(SpecError) as err:
        ModelSpec.from_json(text)
    assert err.value.problems[0].loc == f"{INCEPTION4B} (inception_v1) ch5x5"


def test_every_problem_is_reported_not_just_the_first():
    data = _edit(
        GOOGLENET, lambda d: (_block(d, "inception4b").update(ch5x5=0), _block(d, "inception5a").update(ch1x1="x"))
    )
    with pytest.raises(SpecError) as err:
        load_spec(data)
    locs = [p.loc for p in err.value.problems]
    assert locs == [
        f"{INCEPTION4B} (inception_v1) ch5x5",
        'stages[3] "inception5" blocks[1] "inception5a" (inception_v1) ch1x1',
    ]
    assert str(err.value).startswith("2 problems in the spec:")


def test_every_shape_problem_is_reported_not_just_the_first():
    # a duplicate name and an aux head after a missing block: both found by one validation
    data = _edit(
        GOOGLENET,
        lambda d: (_block(d, "inception4c").update(name="inception4b"), d["aux_heads"][1].update(after="nowhere")),
    )
    with pytest.raises(SpecError) as err:
        load_spec(data)
    messages = [str(p) for p in err.value.problems]
    assert len(messages) == 2, messages
    assert any("inception4b" in m and "unique" in m for m in messages)
    assert any(m.startswith('aux_heads[1] "aux2"') and "'nowhere'" in m for m in messages)


def test_a_collapsing_grid_names_every_branch_that_collapses():
    # inception_v3 at 64x64 reaches Mixed_7a with a 2x2 grid: all three of its stride-2 branches fail there
    with pytest.raises(SpecError) as err:
        load_spec(_edit(V3, lambda d: d.update(input_size=[64, 64])))
    collapsed = [p.loc for p in err.value.problems if "collapses" in p.message]
    prefix = 'stages[3] "Mixed_7" blocks[0] "Mixed_7a" (reduction_d)'
    assert collapsed == [
        f'{prefix} branches[0] "branch3x3" layers[1]',
        f'{prefix} branches[1] "branch7x7x3" layers[3]',
        f'{prefix} branches[2] "branch_pool" layers[0]',
    ]


def test_googlenet_at_32_is_rejected_because_its_aux_heads_do_not_fit():
    # At 32x32 inception4a / 4d are 2x2: the 5x5/3 average pool of both aux heads cannot run.
    with pytest.raises(SpecError) as err:
        load_spec(_edit(GOOGLENET, lambda d: d.update(input_size=[32, 32])))
    aux = [p for p in err.value.problems if p.loc.startswith("aux_heads[")]
    assert [p.loc for p in aux] == ['aux_heads[0] "aux1"', 'aux_heads[1] "aux2"']
    assert all("2x2" in p.message for p in aux)


def test_get_preset_at_a_collapsing_size_raises_spec_error():
    # presets.get_preset's docstring: "optionally at another input size or class count (SpecError if the grid
    # collapses)"; ModelSpec.with_input: "(checked again)".
    with pytest.raises(SpecError):
        get_preset("inception_v3", input_size=64)


def test_get_preset_unknown_name_lists_the_presets():
    with pytest.raises(KeyError) as err:
        get_preset("alexnet")
    assert "alexnet" in str(err.value) and "inception_v3" in str(err.value)


def test_spec_error_from_a_string_or_problem():
    assert SpecError("plain").problems == [Problem("", "plain")]
    e = SpecError(Problem("stages[0]", "bad"))
    assert str(e) == "stages[0]: bad"
