"""Counting-only builds (nn/meta.py): the real model's shapes on shared zeroed storage, and a build mode that holds
for its own thread only."""

from __future__ import annotations

import itertools
import threading

import torch
from torch import nn

from inception_explorer.nn.build import InceptionNet, build
from inception_explorer.nn.meta import materialize, uninitialized
from inception_explorer.spec.presets import get_preset


def _convs(model: nn.Module) -> list[nn.Conv2d]:
    return [m for m in model.modules() if isinstance(m, nn.Conv2d)]


def test_a_model_built_for_counting_has_the_real_shapes_and_only_zeros(preset_model):
    """``uninitialized()`` + ``materialize()``: every tensor of the real model, on the CPU, zero (batch norm's
    int64 step counter too), conv weights channels-last."""
    spec = get_preset("inception_v3")
    with uninitialized():
        model = InceptionNet(spec)
    model = materialize(model)
    real = preset_model("inception_v3").state_dict()
    counted = model.state_dict()
    assert {k: (v.shape, v.dtype) for k, v in counted.items()} == {k: (v.shape, v.dtype) for k, v in real.items()}
    assert all(t.device.type == "cpu" and not t.any() for t in counted.values())
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in _convs(model))


def test_building_for_counting_in_one_thread_leaves_a_real_build_in_another_initialised():
    """The app counts in one session's thread while another builds a model to train: ``uninitialized()`` holds
    for its own thread only."""
    spec = get_preset("googlenet", input_size=128, num_classes=10)
    built = {}
    with uninitialized():
        worker = threading.Thread(target=lambda: built.setdefault("real", build(spec)))
        worker.start()
        worker.join()
        counted = InceptionNet(spec)
    assert all(t.is_meta for t in itertools.chain(counted.parameters(), counted.buffers()))
    real = built["real"]
    assert all(t.device.type == "cpu" for t in real.parameters())
    assert all(c.weight.std() > 0 for c in _convs(real))  # initialised, not left empty
    assert all(bn.running_var.eq(1).all() for bn in real.modules() if isinstance(bn, nn.BatchNorm2d))
