"""The spec layer: an Inception network as plain data, its shapes, its checks and the presets. No torch.

May import: the standard library, pydantic, and the package's top-level ``errors`` and ``settings``. Nothing
else of the package (``nn``, ``analysis``, ``editing``, ``ui``, ``probes`` all stand on this layer).

Modules, in dependency order: ``fields`` (field types and limits) <- ``layers`` (conv, pool, branch) <- ``kinds``
(block kinds with the papers' names, their conversion roles and fixed pools) and ``heads`` (classifier, aux
heads) <- ``problems`` (pydantic's errors as located problems) ; ``shapes`` (every block's input and output, the
check that a spec works at its size) <- ``budget`` (size limits, ``validate``) <- ``model`` (``ModelSpec``,
JSON) <- ``validation`` (the one entry for untrusted input) <- ``presets``.
"""

from .budget import Estimate, NetworkSize, check_budget, check_size, checked_shapes, estimate, network_size, validate
from .fields import (
    MAX_BLOCKS_PER_STAGE,
    MAX_BRANCHES,
    MAX_CHANNELS,
    MAX_CLASSES,
    MAX_INPUT_SIZE,
    MAX_KERNEL,
    MAX_LAYERS_PER_BRANCH,
    MAX_NAME_LENGTH,
    MAX_STAGES,
    MAX_STRIDE,
    RESERVED_NAMES,
    SCHEMA_VERSION,
    Pair,
    check_name,
)
from .heads import AuxSpec, GoogLeNetAux, HeadSpec, RethinkingAux
from .kinds import (
    BLOCK_KINDS,
    BlockSpec,
    ConvBlock,
    CustomBlock,
    InceptionA,
    InceptionFig5,
    InceptionFig6,
    InceptionFig7,
    InceptionNaive,
    InceptionV1,
    PoolBlock,
    ReductionB,
    ReductionD,
    ReductionFig10,
)
from .layers import Branch, Conv, Layer, Pool, avg_pool, conv, max_pool
from .model import ModelSpec, StageSpec, block_from_dict
from .problems import format_loc, locate
from .shapes import BlockShape, Shape, StageInfo, infer_shapes, layer_output, stage_info
from .validation import MAX_SPEC_BYTES, load_spec, spec_text

__all__ = [
    "BLOCK_KINDS",
    "MAX_BLOCKS_PER_STAGE",
    "MAX_BRANCHES",
    "MAX_CHANNELS",
    "MAX_CLASSES",
    "MAX_INPUT_SIZE",
    "MAX_KERNEL",
    "MAX_LAYERS_PER_BRANCH",
    "MAX_NAME_LENGTH",
    "MAX_SPEC_BYTES",
    "MAX_STAGES",
    "MAX_STRIDE",
    "RESERVED_NAMES",
    "SCHEMA_VERSION",
    "AuxSpec",
    "BlockShape",
    "BlockSpec",
    "Branch",
    "Conv",
    "ConvBlock",
    "CustomBlock",
    "Estimate",
    "GoogLeNetAux",
    "HeadSpec",
    "InceptionA",
    "InceptionFig5",
    "InceptionFig6",
    "InceptionFig7",
    "InceptionNaive",
    "InceptionV1",
    "Layer",
    "ModelSpec",
    "NetworkSize",
    "Pair",
    "Pool",
    "PoolBlock",
    "ReductionB",
    "ReductionD",
    "ReductionFig10",
    "RethinkingAux",
    "Shape",
    "StageInfo",
    "StageSpec",
    "avg_pool",
    "block_from_dict",
    "check_budget",
    "check_name",
    "check_size",
    "checked_shapes",
    "conv",
    "estimate",
    "format_loc",
    "infer_shapes",
    "layer_output",
    "load_spec",
    "locate",
    "max_pool",
    "network_size",
    "spec_text",
    "stage_info",
    "validate",
]
