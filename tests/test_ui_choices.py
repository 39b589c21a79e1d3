"""NetworkChoice: a picked network is a (kind, name) value; its label is only for display and never parsed."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from inception_explorer.ui.choices import BUILD_NETWORK, DRAFT, NETWORK_KINDS, NetworkChoice, preset, variant


def test_labels_are_the_ones_the_pages_have_always_shown():
    assert preset("googlenet").label == "preset googlenet"
    assert variant("narrow 4c").label == "variant narrow 4c"
    assert NetworkChoice("published", "lab start").label == "published lab start"
    assert NetworkChoice("file", "my net.json").label == "file my net.json"
    assert DRAFT.kind == "draft" and DRAFT.label == DRAFT.name == BUILD_NETWORK == "the network on the Build page"


def test_a_name_is_kept_whole_whatever_it_looks_like():
    # A variant may be named like another choice's label: splitting labels apart would mistake it for a preset.
    tricky = variant("preset googlenet")
    assert tricky.kind == "variant" and tricky.name == "preset googlenet"
    assert tricky != preset("googlenet") and tricky.label == "variant preset googlenet"
    assert variant(" lab 3  variant").name == " lab 3  variant"


def test_choices_are_frozen_values_usable_as_keys():
    assert preset("googlenet") == NetworkChoice("preset", "googlenet")
    assert hash(preset("googlenet")) == hash(NetworkChoice("preset", "googlenet"))
    choices = {preset("googlenet"): "a", variant("googlenet"): "b"}
    assert len(choices) == 2 and choices[NetworkChoice("variant", "googlenet")] == "b"
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset("googlenet").name = "inception_v3"


def test_an_unknown_kind_is_refused():
    assert set(NETWORK_KINDS) == {"preset", "variant", "draft", "published", "file"}
    with pytest.raises(ValueError, match="unknown network kind 'model'"):
        NetworkChoice("model", "googlenet")


def test_choices_and_views_need_neither_streamlit_nor_torch():
    code = (
        "import sys; import inception_explorer.ui.choices, inception_explorer.ui.views; "
        "print(sorted(m for m in ('streamlit', 'torch', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[]"
