"""torchvision's released weights in and out: ``from_torchvision(state_dict, arch)``, ``to_torchvision(model, arch)``.

``arch`` is ``"inception_v3"`` (torchvision's ``Inception3``, our ``inception_v3`` preset) or ``"googlenet"``
(torchvision's ``GoogLeNet``, our ``googlenet_torchvision`` preset: torchvision's GoogLeNet is not [G]'s). A
released checkpoint holds the state dict of the model built with ``aux_logits=True``.

The key mapping is rules over names, derived from the preset's spec (never from tensor shapes, never by pairing
two key lists by position). A key of ours is ``<top>.<rest>``:

- ``head.fc.*`` -> ``fc.*``: torchvision keeps its pool, dropout and fc on the network itself.
- aux heads (``AuxLogits.conv0 / conv1 / fc``, ``aux1.conv / fc1 / fc2``) and single-layer blocks (the stem's
  ``Conv2d_1a_3x3``, ``conv1``, ...): the same name.
- a layer of an Inception block, ``<block>.<branch>.<i>.<tensor>`` (layer ``i`` of the branch) or, in a fork,
  ``<block>.<branch>.<i>.<j>.<tensor>`` (``i`` = the branch's number of layers, ``j`` the fork member):

  - ``inception_v3`` (TF-slim names; torchvision's pools are functional and hold nothing): the branch's
    convolutions are numbered from 1 (``Mixed_5b.branch5x5.0`` -> ``Mixed_5b.branch5x5_1``,
    ``Mixed_7a.branch7x7x3.3`` -> ``Mixed_7a.branch7x7x3_4``); a branch with one convolution and no fork keeps
    its bare name (``Mixed_5b.branch_pool.1`` -> ``Mixed_5b.branch_pool``, ``Mixed_6a.branch3x3.0`` ->
    ``Mixed_6a.branch3x3``); a fork's members take the next number and a letter (``Mixed_7b.branch3x3.1.0`` /
    ``.1.1`` -> ``Mixed_7b.branch3x3_2a`` / ``_2b``, ``Mixed_7b.branch3x3dbl.2.1`` -> ``branch3x3dbl_3b``).
    For the kinds ``inception_a``, ``reduction_b``, ``inception_fig6``, ``reduction_d``, ``inception_fig7``
    (torchvision's InceptionA..E).
  - ``googlenet``: branches are numbered by position (``branch1x1``, ``branch3x3``, ``branch5x5``,
    ``branch_pool`` -> ``branch1`` .. ``branch4``) and keep their ``nn.Sequential`` index (torchvision's pool
    is a module there: ``inception3a.branch_pool.1`` -> ``inception3a.branch4.1``); a one-layer branch is a
    bare BasicConv2d (``inception3a.branch1x1.0`` -> ``inception3a.branch1``). For ``custom`` blocks without forks.

Order: torchvision's registration order, ours within each top-level module (the same branch and layer order);
``AuxLogits`` comes right after the block it reads (Mixed_6e), GoogLeNet's ``aux1`` / ``aux2`` after the last
block, ``fc`` last. Every key is mapped both ways (the map is checked to be one to one) and every shape checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..spec import Conv, GoogLeNetAux, ModelSpec
from ..spec.presets import get_preset
from .build import InceptionNet, build
from .meta import uninitialized

#: How many names of each kind an error message lists.
SHOWN = 5


@dataclass(frozen=True)
class _Arch:
    name: str  # torchvision's builder
    preset: str
    naming: str  # "slim" (Inception3) or "positional" (GoogLeNet)
    kinds: frozenset[str]  # the multi-branch block kinds its rules are written for
    aux_after_block: bool  # an aux head's keys follow the block it reads (Inception3) or the last block (GoogLeNet)
    aux_pool: tuple[int, int] | None = None  # torchvision's adaptive pool in the aux heads


ARCHS: dict[str, _Arch] = {
    "inception_v3": _Arch(
        "inception_v3",
        "inception_v3",
        "slim",
        frozenset({"inception_a", "reduction_b", "inception_fig6", "reduction_d", "inception_fig7"}),
        aux_after_block=True,
    ),
    "googlenet": _Arch(
        "googlenet",
        "googlenet_torchvision",
        "positional",
        frozenset({"custom"}),
        aux_after_block=False,
        aux_pool=(4, 4),
    ),
}

# torchvision's ``_transform_input`` (inception.py, googlenet.py): ImageNet-normalised input to the [-1, 1] scaling
# the TF-ported weights expect: x_c * (std_c / 0.5) + (mean_c - 0.5) / 0.5.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CheckpointMismatch(ValueError):
    """A state dict that is not the architecture's: the keys missing, unexpected, and with the wrong shape (or not a
    tensor) as ``key -> (expected shape, what came)``; the message names the first few of each."""

    def __init__(
        self,
        what: str,
        missing: list[str],
        unexpected: list[str],
        mismatched: dict[str, tuple[tuple[int, ...], Any]],
    ):
        self.missing = tuple(missing)
        self.unexpected = tuple(unexpected)
        self.mismatched = dict(mismatched)
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: {_first(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: {_first(unexpected)}")
        if mismatched:
            shown = [f"{k} (expected {list(e)}, got {g})" for k, (e, g) in mismatched.items()]
            parts.append(f"{len(mismatched)} with the wrong shape: {_first(shown)}")
        super().__init__(f"{what}: " + "; ".join(parts))


def _first(names: list[str]) -> str:
    more = f", ... and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    return ", ".join(names[:SHOWN]) + more


def _arch(arch: str) -> _Arch:
    try:
        return ARCHS[arch]
    except KeyError:
        raise ValueError(f"unknown arch {arch!r}; choose one of: {', '.join(ARCHS)}") from None


def arch_spec(arch: str, num_classes: int = 1000, aux_logits: bool = True) -> ModelSpec:
    """The spec torchvision's ``arch`` is, at ``num_classes`` classes, with or without its aux heads."""
    spec = get_preset(_arch(arch).preset, num_classes=num_classes)
    return spec if aux_logits else spec.without_aux()


# ---- the mapping --------------------------------------------------------------------------------------------------


def _slim_name(branch, i: int, fork: int | None) -> str:
    """Inception3's attribute for layer ``i`` (or fork member ``fork``) of ``branch``: convolutions numbered."""
    convs_before = sum(isinstance(layer, Conv) for layer in branch.layers[:i])
    if fork is not None:
        return f"{branch.name}_{convs_before + 1}{'abcdefghij'[fork]}"
    if sum(isinstance(layer, Conv) for layer in branch.layers) == 1 and not branch.fork:
        return branch.name
    return f"{branch.name}_{convs_before + 1}"


def _positional_name(branch, position: int, i: int, fork: int | None) -> str:
    """GoogLeNet's attribute path: ``branch<position + 1>``, the Sequential index unless the branch is one layer."""
    if fork is not None:
        raise ValueError(f"torchvision's GoogLeNet has no forks (branch {branch.name!r})")
    name = f"branch{position + 1}"
    return name if len(branch.layers) == 1 else f"{name}.{i}"


def _torchvision_key(key: str, spec: ModelSpec, arch: _Arch, blocks: dict[str, Any]) -> str:
    top, _, rest = key.partition(".")
    if top == "head":
        return rest
    if top in {a.name for a in spec.aux_heads}:
        return key
    block = blocks.get(top)
    if block is None:
        raise ValueError(f"no rule maps {key!r} to torchvision's {arch.name}")
    if not block.is_module:
        return key
    if block.kind not in arch.kinds:
        raise ValueError(f"no rule maps a {block.kind!r} block ({key!r}) to torchvision's {arch.name}")
    branch_name, index, *tail = rest.split(".")
    position, branch = next((p, b) for p, b in enumerate(block.branches()) if b.name == branch_name)
    i, fork = int(index), None
    if i == len(branch.layers):  # the fork, a ModuleList after the branch's layers
        fork, tail = int(tail[0]), tail[1:]
    name = _slim_name(branch, i, fork) if arch.naming == "slim" else _positional_name(branch, position, i, fork)
    return ".".join([top, name, *tail])


def _torchvision_order(spec: ModelSpec, arch: _Arch) -> list[str]:
    """Our top-level modules in the order torchvision registers its own."""
    order: list[str] = []
    for name in spec.block_names():
        order.append(name)
        if arch.aux_after_block:
            order += [a.name for a in spec.aux_heads if a.after == name]
    if not arch.aux_after_block:
        order += [a.name for a in spec.aux_heads]
    return [*order, "head"]


def key_map(spec: ModelSpec, keys: list[str], arch: str | _Arch) -> dict[str, str]:
    """Our state-dict key -> torchvision's, for the keys of a model built from ``spec``, in torchvision's order.
    ValueError if a key has no rule or two keys would map to one name."""
    arch = _arch(arch) if isinstance(arch, str) else arch
    blocks = {b.name: b for _, _, _, b in spec.iter_blocks()}
    rank = {name: r for r, name in enumerate(_torchvision_order(spec, arch))}
    ordered = sorted(keys, key=lambda k: rank.get(k.partition(".")[0], len(rank)))  # stable: ours within a module
    mapping = {k: _torchvision_key(k, spec, arch, blocks) for k in ordered}
    if len(set(mapping.values())) != len(mapping):
        raise ValueError(f"the {arch.name} key mapping is not one to one")
    return mapping


def _check(given: Mapping[str, Any], expected: Mapping[str, torch.Size], what: str) -> None:
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    mismatched: dict[str, tuple[tuple[int, ...], Any]] = {}
    for k, shape in expected.items():
        if k not in given:
            continue
        value = given[k]
        if not isinstance(value, torch.Tensor):
            mismatched[k] = (tuple(shape), type(value).__name__)
        elif value.shape != shape:
            mismatched[k] = (tuple(shape), list(value.shape))
    if missing or unexpected or mismatched:
        raise CheckpointMismatch(what, missing, unexpected, mismatched)


def _shapes(spec: ModelSpec) -> dict[str, torch.Size]:
    """The state-dict keys and shapes of ``build(spec)``, from a build on the meta device (nothing allocated)."""
    with uninitialized():
        return {k: t.shape for k, t in build(spec).state_dict().items()}


# ---- loading and saving -------------------------------------------------------------------------------------------


def from_torchvision(
    state_dict: Mapping[str, torch.Tensor],
    arch: str,
    *,
    transform_input: bool = False,
    num_classes: int = 1000,
    aux_logits: bool = True,
    fill_num_batches_tracked: bool = False,
) -> InceptionNet:
    """Our ``InceptionNet`` for torchvision's ``arch``, loaded strictly from torchvision's ``state_dict``.

    Every key of the architecture must be there with its shape and nothing else (``CheckpointMismatch`` names
    what is missing, unexpected or the wrong shape). ``aux_logits=False``: a state dict without the aux heads' keys
    (the model has none). ``transform_input=True``: forward applies torchvision's ``_transform_input`` first, as
    torchvision does for its pretrained weights (which expect it). ``fill_num_batches_tracked=True``: a state dict
    saved before torch 0.4.1, without ``num_batches_tracked`` buffers, loads with those (only those) set to 0, as
    torch's BatchNorm does for such a state dict.

    GoogLeNet's aux heads get torchvision's adaptive 4x4 average pool in place of the spec's 5x5/3 (see the
    ``googlenet_torchvision`` preset): no weights, but other windows, so that training logits match too.
    """
    spec_arch = _arch(arch)
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"a state dict is a mapping of names to tensors, got {type(state_dict).__name__}")
    spec = arch_spec(arch, num_classes, aux_logits)
    ours = _shapes(spec)
    mapping = key_map(spec, list(ours), spec_arch)
    expected = {tv: ours[k] for k, tv in mapping.items()}
    given = dict(state_dict)
    if fill_num_batches_tracked:
        for tv in expected:
            if tv.endswith(".num_batches_tracked") and tv not in given:
                given[tv] = torch.tensor(0, dtype=torch.long)
    _check(given, expected, f"not a state dict of torchvision's {arch}")
    model = build(spec)
    model.load_state_dict({k: given[tv] for k, tv in mapping.items()}, strict=True)
    if spec_arch.aux_pool is not None:
        for aux in model.spec.aux_heads:
            if isinstance(aux, GoogLeNetAux):
                getattr(model, aux.name).avgpool = nn.AdaptiveAvgPool2d(spec_arch.aux_pool)
    if transform_input:
        with_input_transform(model)
    return model


def to_torchvision(model: nn.Module, arch: str) -> dict[str, torch.Tensor]:
    """``model``'s state dict under torchvision's key names, in torchvision's order: what ``arch``'s
    ``load_state_dict`` takes. The model must be that architecture (``CheckpointMismatch`` otherwise, in our key
    names); its class count and whether it has aux heads are read from its spec."""
    spec_arch = _arch(arch)
    spec = getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"to_torchvision takes a model built from a spec (an InceptionNet), got {type(model).__name__}")
    reference = arch_spec(arch, spec.num_classes, bool(spec.aux_heads))
    expected = _shapes(reference)
    ours = model.state_dict()
    _check(ours, expected, f"not torchvision's {arch}")
    return {tv: ours[k] for k, tv in key_map(reference, list(expected), spec_arch).items()}


# ---- torchvision's input transform --------------------------------------------------------------------------------


class TorchvisionInputTransform(nn.Module):
    """torchvision's ``_transform_input`` for its pretrained Inception-v3 and GoogLeNet: per channel c,
    ``x_c * (std_c / 0.5) + (mean_c - 0.5) / 0.5`` with ImageNet's mean and std. It takes an ImageNet-normalised
    image to the [-1, 1] scaling the weights (ported from TensorFlow) were trained on. No parameters or buffers."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = [
            torch.unsqueeze(x[:, c], 1) * (std / 0.5) + (mean - 0.5) / 0.5
            for c, (mean, std) in enumerate(zip(IMAGENET_MEAN, IMAGENET_STD, strict=True))
        ]
        return torch.cat(channels, 1)


def _transform_first_input(module: nn.Module, args: tuple) -> tuple:
    return (module.input_transform(args[0]), *args[1:])


def with_input_transform(model: InceptionNet) -> InceptionNet:
    """``model`` (changed in place) applying ``TorchvisionInputTransform`` to its input before anything else: a
    submodule ``input_transform`` run by a forward pre-hook, so that state-dict keys stay as they are."""
    if isinstance(getattr(model, "input_transform", None), TorchvisionInputTransform):
        return model
    model.add_module("input_transform", TorchvisionInputTransform())
    model.register_forward_pre_hook(_transform_first_input)
    return model
