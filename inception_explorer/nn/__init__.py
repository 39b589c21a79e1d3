"""The torch layer: a spec becomes ``nn.Module``s here and nowhere else.

May import: torch, numpy, ``errors``, ``settings`` and ``spec``. Not ``analysis``, ``editing``, ``ui`` or
``probes``.

``blocks`` (BasicConv2d, Inception, the heads), ``build`` (``build(spec)`` -> ``InceptionNet``), ``meta``
(counting-only builds on the meta device), ``devices`` (choosing, naming and timing a device),
``checkpoints`` (torchvision's released state dicts in and out).
"""
