"""Weights a user brings, in the ``safetensors`` format only (no pickle from a user is ever loaded), for a network.

``load_safetensors(path_or_bytes, spec)`` returns the model ``build(spec)`` with the weights loaded strictly, from
either layout:

- torchvision's (``Inception3`` / ``GoogLeNet`` key names, what ``checkpoints.to_torchvision`` writes), for a spec
  that is torchvision's architecture (``inception_v3`` or ``googlenet_torchvision``, any name, input size or class
  count; with or without its aux heads): mapped by ``checkpoints.from_torchvision``;
- this package's own (``build(spec).state_dict()`` key names), for any spec.

Anything else is refused with ``CheckpointMismatch`` (the keys missing, unexpected, or of the wrong shape), a file
over ``settings().max_weights_bytes`` or that is not safetensors with ``WeightsError``.

``keep_weights(data, spec, workspace)`` checks and keeps an upload for a workspace, under
``settings().home / "weights" / <workspace>`` (beside the store), in this package's own layout
(``<digest>.safetensors``) with a note of the network it is for (``<digest>.json``: name, canonical spec JSON, the
layout it came in); ``kept_weights`` lists them, newest first, so that a training probe can start from them
(``load_safetensors(kept.path, kept.spec)``).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as _load_bytes
from safetensors.torch import save as _save_bytes
from torch import nn

from ..settings import settings
from ..spec import ModelSpec
from .build import build
from .checkpoints import ARCHS, CheckpointMismatch, _check, _shapes, arch_spec, from_torchvision, key_map

__all__ = [
    "CheckpointMismatch",
    "KeptWeights",
    "WeightsError",
    "keep_weights",
    "kept_weights",
    "load_safetensors",
    "read_safetensors",
    "torchvision_arch",
    "weights_dir",
]

_WORKSPACE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class WeightsError(ValueError):
    """A weights file that is not read at all: too large, not safetensors, or a workspace that cannot hold it."""


@dataclass(frozen=True)
class KeptWeights:
    """Weights kept for a workspace: the file, the network they are for, how they came (``layout``), when."""

    path: Path
    network: str
    spec_json: str
    layout: str
    tensors: int
    parameters: int
    kept_at: float

    @property
    def spec(self) -> ModelSpec:
        return ModelSpec.from_json(self.spec_json)


def read_safetensors(path_or_bytes: str | Path | bytes, max_bytes: int | None = None) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file (a path or its bytes), at most ``max_bytes`` (default: the setting)."""
    limit = settings().max_weights_bytes if max_bytes is None else max_bytes
    if isinstance(path_or_bytes, (str, Path)):
        path = Path(path_or_bytes)
        size = path.stat().st_size
        if size > limit:
            raise WeightsError(f"{path.name} is {size:,} bytes; weights files may be at most {limit:,} bytes")
        data = path.read_bytes()
    elif isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        data = bytes(path_or_bytes)
    else:
        raise TypeError(f"weights are a path or bytes, got {type(path_or_bytes).__name__}")
    if len(data) > limit:
        raise WeightsError(f"the file is {len(data):,} bytes; weights files may be at most {limit:,} bytes")
    try:
        tensors = _load_bytes(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise WeightsError(
            f"not a safetensors file ({exc}); save the state dict with safetensors.torch.save_file"
        ) from None
    if not tensors:
        raise WeightsError("the safetensors file holds no tensors")
    return tensors


def _structure(spec: ModelSpec) -> dict:
    d = spec.to_dict()
    for key in ("name", "description", "input_size", "num_classes"):
        d.pop(key, None)
    return d


def torchvision_arch(spec: ModelSpec) -> str | None:
    """``"inception_v3"`` or ``"googlenet"`` when ``spec`` is that torchvision architecture (whatever its name,
    input size and class count, with or without its aux heads), else None."""
    for arch in ARCHS:
        reference = arch_spec(arch, spec.num_classes, aux_logits=bool(spec.aux_heads))
        if _structure(reference) == _structure(spec):
            return arch
    return None


def _load(tensors: dict[str, torch.Tensor], spec: ModelSpec) -> tuple[nn.Module, str]:
    ours = _shapes(spec)
    arch = torchvision_arch(spec)
    if arch is not None:  # the layout whose key names the file shares more of
        reference = arch_spec(arch, spec.num_classes, aux_logits=bool(spec.aux_heads))
        theirs = set(key_map(reference, list(_shapes(reference)), arch).values())
        if len(set(tensors) & theirs) <= len(set(tensors) & set(ours)):
            arch = None
    if arch is None:
        _check(tensors, ours, f"not weights of {spec.name} (this package's key names)")
        model = build(spec)
        model.load_state_dict(tensors, strict=True)
        return model, "native"
    loaded = from_torchvision(
        tensors, arch, num_classes=spec.num_classes, aux_logits=bool(spec.aux_heads), fill_num_batches_tracked=True
    )
    model = build(spec)  # the spec's own input size and name; the same keys and shapes as torchvision's build
    model.load_state_dict(loaded.state_dict(), strict=True)
    return model, f"torchvision {arch}"


def load_safetensors(path_or_bytes: str | Path | bytes, spec: ModelSpec, max_bytes: int | None = None) -> nn.Module:
    """``build(spec)`` with the weights of a safetensors file loaded strictly (see the module docstring)."""
    return _load(read_safetensors(path_or_bytes, max_bytes), spec)[0]


def weights_dir(workspace: str) -> Path:
    if not isinstance(workspace, str) or not _WORKSPACE.fullmatch(workspace):
        raise WeightsError("weights are kept per workspace, and this session has no workspace id")
    return settings().home / "weights" / workspace  # beside the store (the data root holds images, maybe read-only)


def keep_weights(data: bytes, spec: ModelSpec, workspace: str) -> KeptWeights:
    """Check ``data`` (safetensors bytes) against ``spec`` and keep it for ``workspace`` in this package's layout."""
    tensors = read_safetensors(data)
    model, layout = _load(tensors, spec)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    blob = _save_bytes(state)
    digest = hashlib.sha256(blob + spec.canonical_json().encode()).hexdigest()[:20]
    folder = weights_dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}.safetensors"
    path.write_bytes(blob)
    kept = KeptWeights(
        path,
        spec.name,
        spec.canonical_json(),
        layout,
        len(state),
        sum(p.numel() for p in model.parameters()),
        time.time(),
    )
    note = {k: getattr(kept, k) for k in ("network", "spec_json", "layout", "tensors", "parameters", "kept_at")}
    path.with_suffix(".json").write_text(json.dumps(note))
    return kept


#: How a probe names kept weights (``ProbeConfig.init_weights``): ``WORKSPACE/DIGEST``, under ``weights_dir``.
WEIGHTS_REF = r"[A-Za-z0-9_-]{16,64}/[0-9a-f]{20}"


def weights_ref(kept: KeptWeights) -> str:
    """The name a probe's config gives ``kept`` (``WORKSPACE/DIGEST``)."""
    return f"{kept.path.parent.name}/{kept.path.stem}"


def weights_path(ref: str) -> Path:
    """The file ``ref`` (``WORKSPACE/DIGEST``) names; ``WeightsError`` if it is no such name or no longer kept."""
    if not isinstance(ref, str) or not re.fullmatch(WEIGHTS_REF, ref):
        raise WeightsError(f"{str(ref)[:64]!r} names no kept weights (WORKSPACE/DIGEST)")
    workspace, digest = ref.split("/")
    path = weights_dir(workspace) / f"{digest}.safetensors"
    if not path.is_file():
        raise WeightsError("those weights are no longer kept: upload them again on the Build page")
    return path


def matching_weights(spec: ModelSpec, workspace: str) -> list[KeptWeights]:
    """The weights kept for ``workspace`` that fit ``spec`` (the same network, whatever its name, input size or
    class count), newest first."""
    return [k for k in kept_weights(workspace) if _structure(k.spec) == _structure(spec)]


def _classifier(key: str) -> bool:
    """The layers whose shape follows the class count: the head's and the aux heads' last linear layers."""
    return key.startswith("head.fc.") or (key.startswith("aux") and ".fc" in key)


def load_for_probe(model: nn.Module, ref: str) -> list[str]:
    """Load the kept weights ``ref`` into ``model`` (a probe's network at full width, any input and class count):
    every tensor strictly, except the classifiers, whose class count is the probe's, which keep their fresh
    initialisation (fine-tuning). Returns the keys left as initialised. ``WeightsError`` when the weights are not
    this network's (another width, another structure), naming the first keys that differ."""
    tensors = read_safetensors(weights_path(ref))
    own = model.state_dict()
    fresh = [k for k, v in own.items() if _classifier(k) and (k not in tensors or tensors[k].shape != v.shape)]
    wrong = [
        k for k, v in own.items() if k not in fresh and (k not in tensors or tuple(tensors[k].shape) != tuple(v.shape))
    ]
    if wrong:
        raise WeightsError(
            f"the weights do not fit this network ({len(wrong)} tensors differ, e.g. {', '.join(wrong[:3])}): "
            "probe the network they were uploaded for, at width x1.0"
        )
    model.load_state_dict({k: tensors[k] for k in own if k not in fresh}, strict=False)
    return fresh


def kept_weights(workspace: str) -> list[KeptWeights]:
    """The weights kept for ``workspace``, newest first (a note that does not read is left out)."""
    try:
        folder = weights_dir(workspace)
    except WeightsError:
        return []
    out = []
    for note in folder.glob("*.json") if folder.is_dir() else []:
        path = note.with_suffix(".safetensors")
        try:
            d = json.loads(note.read_text())
            out.append(
                KeptWeights(
                    path,
                    str(d["network"]),
                    str(d["spec_json"]),
                    str(d["layout"]),
                    int(d["tensors"]),
                    int(d["parameters"]),
                    float(d["kept_at"]),
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted((k for k in out if k.path.is_file()), key=lambda k: -k.kept_at)
