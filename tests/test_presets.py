"""Each preset's stated figures, recomputed: multiply-adds at its own input (``count``) and the smallest square
input its spec, aux heads included, validates at. (Parameter counts: tests/test_build.py.)"""

from __future__ import annotations

import json
import math

import pytest
from conftest import reference_path

from inception_explorer.analysis.compare import diff_specs
from inception_explorer.errors import SpecError
from inception_explorer.spec.layers import Conv, Pool
from inception_explorer.spec.presets import GOOGLENET_TABLE1, get_preset, list_presets

PRESETS = list_presets()


def _validates(name: str, size: int) -> bool:
    try:
        spec = get_preset(name, input_size=size)
    except SpecError:
        return False
    assert spec.input_size == (size, size)
    return True


def test_every_preset_states_its_figures_as_whole_numbers():
    assert len(PRESETS) == 5
    for p in PRESETS:
        for value in (p.params, p.params_with_aux, p.macs, p.min_input_size):
            assert isinstance(value, int) and not isinstance(value, bool) and value > 0, p.name


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_preset_states_its_macs(preset, preset_report):
    report = preset_report(preset.name)
    assert report.spec == preset.make()
    assert preset.macs == report.totals.macs


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_preset_states_its_minimum_input_size(preset):
    spec = preset.make()
    low = preset.min_input_size
    assert _validates(preset.name, low)
    assert not _validates(preset.name, low - 1)
    # the smallest: nothing below it validates either
    assert [s for s in range(1, low) if _validates(preset.name, s)] == []
    # the preset's own input is at least that; aux heads are kept as the preset has them
    assert min(spec.input_size) >= low
    assert get_preset(preset.name, input_size=low).aux_heads == spec.aux_heads


def test_the_aux_heads_set_inception_v3s_minimum():
    """Without its aux head the released v3 takes 75x75 (torchvision's ``min_size``); the 5x5 conv of
    ``AuxLogits`` needs the 17x17 grid of a 299x299 input."""
    preset = next(p for p in PRESETS if p.name == "inception_v3")
    assert preset.min_input_size == 299
    bare = preset.make().without_aux()
    bare.with_input(75)
    with pytest.raises(SpecError):
        bare.with_input(74)
    with pytest.raises(SpecError, match="AuxLogits"):
        get_preset("inception_v3", input_size=298)


# --------------------------------------------------------------------------------------------------------------
# googlenet_torchvision: torchvision's GoogLeNet, which is not [G]'s
# --------------------------------------------------------------------------------------------------------------


def test_googlenet_torchvision_has_torchvisions_parameter_count():
    """Its figures are those of torchvision's own state dict (shared/reference/torchvision_state_dicts.json):
    parameters, buffers left out, with and without aux1 / aux2."""
    layout = json.loads(reference_path("torchvision_state_dicts.json").read_text())["torchvision_googlenet"]["keys"]
    params = [(k, math.prod(s)) for k, s in layout if not k.endswith(("running_mean", "running_var", "tracked"))]
    total = sum(n for _, n in params)
    aux = sum(n for k, n in params if k.startswith(("aux1.", "aux2.")))
    preset = next(p for p in PRESETS if p.name == "googlenet_torchvision")
    assert (preset.params_with_aux, preset.params) == (total, total - aux) == (13_004_888, 6_624_904)


def test_googlenet_torchvision_differs_from_the_paper_where_torchvision_does():
    paper, tv = get_preset("googlenet"), get_preset("googlenet_torchvision")
    assert paper.block_names() == tv.block_names() and paper.input_size == tv.input_size == (224, 224)
    assert (paper.batch_norm, tv.batch_norm, tv.bn_eps) == (False, True, 1e-3)
    assert (paper.head.dropout, tv.head.dropout) == (0.4, 0.2)
    blocks = {b.name: b for _, _, _, b in tv.iter_blocks()}
    for name, widths in GOOGLENET_TABLE1.items():
        branches = {br.name: br for br in blocks[name].branches()}
        # Table 1's widths, in torchvision's order of branches
        convs = [layer.out_channels for br in branches.values() for layer in br.layers if isinstance(layer, Conv)]
        assert tuple(convs) == widths, name
        # the "5x5" branch is a 3x3 (pytorch/vision#906); the pool branch's max pool has ceil_mode
        assert branches["branch5x5"].layers[1].kernel == (3, 3), name
        pool = branches["branch_pool"].layers[0]
        assert isinstance(pool, Pool) and pool.op == "max_pool" and pool.ceil_mode, name
    assert blocks["maxpool4"].kernel == (2, 2) and blocks["maxpool3"].kernel == (3, 3)
    assert all(blocks[f"maxpool{i}"].ceil_mode for i in range(1, 5))
    # what Compare shows between the two
    diff = diff_specs(paper, tv).set_index("block")["details"].to_dict()
    assert diff["(network)"] == "batch_norm: False -> True"
    assert diff["maxpool4"] == "kernel: (3, 3) -> (2, 2)"
    assert diff["inception3a"] == "inception_v1 -> custom"
    assert {"conv1", "conv2", "conv3", "maxpool1"}.isdisjoint(diff)
