"""Each preset's stated figures, recomputed: multiply-adds at its own input (``count``) and the smallest square
input its spec, aux heads included, validates at. (Parameter counts: tests/test_build.py.)"""

from __future__ import annotations

import pytest

from inception_explorer.errors import SpecError
from inception_explorer.spec.presets import get_preset, list_presets

PRESETS = list_presets()


def _validates(name: str, size: int) -> bool:
    try:
        spec = get_preset(name, input_size=size)
    except SpecError:
        return False
    assert spec.input_size == (size, size)
    return True


def test_every_preset_states_its_figures_as_whole_numbers():
    assert len(PRESETS) == 4
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
