"""The factorization lab: one n x n convolution against the cheaper factorizations of [R] §3.

For given input / output widths, grid (H = W) and kernel size n, each option is built as real torch modules from
spec layers (``blocks.make_branch``, the same ``BasicConv2d`` the networks use) and counted by fvcore
(``costs.count_module``); ``time_options`` runs the same modules and times them as ``analysis.profile``
times a network's blocks (``timing.time_modules``).

Options (all convolutions stride 1, "same" padding, so every option maps C_in x H x W to C_out x H x W):

- ``nxn``: one n x n conv, C_in -> C_out.
- ``stacked_3x3``: (n-1)/2 stacked 3x3 convs with the same n x n receptive field ([R] §3.1, Fig. 5 for n = 5).
  Only for odd n >= 3; the row is left out otherwise.
- ``asymmetric``: 1 x n followed by n x 1 ([R] §3.2, Fig. 6; Fig. 6 uses n = 7 on the 17x17 grid). For n >= 2.
- ``two_2x2``: two 2x2 convs, only for n = 3 ([R] §3.2: "only a 11% saving"). An even kernel has no centre, so
  "same" padding puts the extra row / column at the bottom / right (torch's split; ``blocks._explicit_padding``).

**Widths.** The first layer of every factorized option maps C_in -> C_out and every later layer C_out -> C_out,
so the option has the same output as the n x n conv and its intermediate maps are as wide as its output. That is
the paper's premise: [R] §3.1 assumes no filter expansion (alpha = 1) and §3.2 states its 33% "if the number of
input and output filters is equal". With C_in == C_out the MAC ratios are therefore exactly the paper's
(k * 9) / n^2, 2n / n^2 and 8/9. With C_in != C_out they differ from the quoted figures (the first layer costs
C_in * C_out per tap, the rest C_out^2); ``paper_premise`` in ``compare()`` says whether the premise holds.

MACs are multiply-adds of the convolutions only (``ModuleCost.macs_conv_linear``: biases, batch norm and ReLU
excluded, as in the paper's arithmetic), for one image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from ..errors import Problem, SpecError
from ..nn.blocks import make_branch
from ..nn.devices import device_name, resolve_device
from ..spec import MAX_CHANNELS, MAX_INPUT_SIZE, MAX_KERNEL, Branch, conv
from ..spec.shapes import Shape
from .costs import count_module
from .timing import time_modules

#: Saving the paper quotes for an option, by (option name, n). [R] §3.1: "(9+9)/25 ... relative gain of 28%";
#: [R] §3.2: 3x1 then 1x3 is "33% cheaper", two 2x2 "only a 11% saving".
PAPER_SAVINGS: dict[tuple[str, int], float] = {
    ("stacked_3x3", 5): 0.28,
    ("asymmetric", 3): 0.33,
    ("two_2x2", 3): 0.11,
}

OPTION_NAMES = ("nxn", "stacked_3x3", "asymmetric", "two_2x2")

COMPARE_COLUMNS = [
    "name",
    "layers",
    "widths",
    "description",
    "receptive_field",
    "params",
    "macs",
    "analytic_macs",
    "analytic_formula",
    "macs_vs_nxn",
    "saving",
    "paper_saving",
    "paper_premise",
]

TIME_COLUMNS = [
    "name",
    "layers",
    "device",
    "batch",
    "forward_ms",
    "backward_ms",
    "forward_backward_ms",
    "saved_bytes",
    "repeats",
    "macs",
]


@dataclass(frozen=True)
class FactorizationOption:
    """One way to cover an n x n receptive field, built and counted for one image."""

    name: str
    description: str  # what it is, with the paper's figure / section
    layers: str  # e.g. "1x3 -> 3x1"
    widths: str  # channels through the option, e.g. "192 -> 192 -> 192"
    params: int  # fvcore parameter count of the built module (conv weights, + biases or batch norm)
    macs: int  # conv multiply-adds measured by fvcore (one image)
    analytic_macs: int  # the closed formula below, evaluated
    analytic_formula: str  # e.g. "H*W*C_in*C_out*n*n = 17*17*192*192*5*5"
    receptive_field: int  # side of the square input window one output sees


# ----------------------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------------------


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_range(problems: list[Problem], where: str, what: str, value, low: int, high: int) -> bool:
    """Append a problem unless ``value`` is a whole number in [low, high]; True when it is."""
    if not _is_int(value):
        problems.append(Problem(where, f"{what} must be a whole number, got {value!r}"))
    elif value < low:
        problems.append(Problem(where, f"{what} must be >= {low}, got {value}"))
    elif value > high:
        problems.append(Problem(where, f"{what} must be <= {high}, got {value}"))
    else:
        return True
    return False


def validate(c_in: int, c_out: int, grid: int, n: int) -> None:
    """Raise one SpecError listing every bad argument (each message names the argument and its value)."""
    problems: list[Problem] = []
    for where, value in (("c_in", c_in), ("c_out", c_out)):
        _check_range(problems, where, "width", value, 1, MAX_CHANNELS)
    grid_ok = _check_range(problems, "grid", "grid size", grid, 1, MAX_INPUT_SIZE)
    n_ok = _check_range(problems, "n", "kernel size", n, 1, MAX_KERNEL)
    if grid_ok and n_ok and n > grid:
        problems.append(Problem("n", f"kernel size {n} is larger than the {grid}x{grid} grid (n must be <= grid)"))
    if problems:
        raise SpecError(problems)


# ----------------------------------------------------------------------------------------------------------------
# The options as spec branches
# ----------------------------------------------------------------------------------------------------------------


def branches(c_out: int, n: int) -> dict[str, Branch]:
    """The options that exist for kernel size n, as spec branches (input width comes from the caller)."""
    out: dict[str, Branch] = {"nxn": Branch(name="nxn", layers=(conv(c_out, n),))}
    if n >= 3 and n % 2 == 1:
        out["stacked_3x3"] = Branch(name="stacked_3x3", layers=tuple(conv(c_out, 3) for _ in range((n - 1) // 2)))
    if n >= 2:
        out["asymmetric"] = Branch(name="asymmetric", layers=(conv(c_out, (1, n)), conv(c_out, (n, 1))))
    if n == 3:
        out["two_2x2"] = Branch(name="two_2x2", layers=(conv(c_out, 2), conv(c_out, 2)))
    return out


def build_modules(
    c_in: int, c_out: int, n: int, batch_norm: bool = False, bn_eps: float = 1e-3
) -> dict[str, nn.Sequential]:
    """Each option as the torch module the networks would build for it (``blocks.make_branch``)."""
    return {name: make_branch(b, c_in, batch_norm, bn_eps)[0] for name, b in branches(c_out, n).items()}


def _describe(name: str, n: int) -> str:
    if name == "nxn":
        return f"one {n}x{n} convolution (the baseline)"
    if name == "stacked_3x3":
        k = (n - 1) // 2
        if k == 1:
            return "one 3x3 convolution: for n = 3 the 'stack' is the baseline itself ([R] §3.1)"
        fig = ", Fig. 5" if n == 5 else ""
        return f"{k} stacked 3x3 convolutions with the same {n}x{n} receptive field ([R] §3.1{fig})"
    if name == "asymmetric":
        return f"asymmetric 1x{n} then {n}x1 convolution ([R] §3.2, Fig. 6)"
    return "two 2x2 convolutions ([R] §3.2: 'only a 11% saving')"


def _analytic(name: str, c_in: int, c_out: int, grid: int, n: int) -> tuple[int, str]:
    """Closed formula for the conv MACs of one image ("same" padding: every layer outputs H x W)."""
    h = w = grid
    if name == "nxn":
        return (h * w * c_in * c_out * n * n, f"H*W*C_in*C_out*n*n = {h}*{w}*{c_in}*{c_out}*{n}*{n}")
    if name == "stacked_3x3":
        k = (n - 1) // 2
        return (
            h * w * 9 * (c_in * c_out + (k - 1) * c_out * c_out),
            f"H*W*3*3*(C_in*C_out + (k-1)*C_out*C_out), k=(n-1)/2 = "
            f"{h}*{w}*9*({c_in}*{c_out} + {k - 1}*{c_out}*{c_out})",
        )
    if name == "asymmetric":
        return (
            h * w * n * (c_in * c_out + c_out * c_out),
            f"H*W*n*(C_in*C_out + C_out*C_out) = {h}*{w}*{n}*({c_in}*{c_out} + {c_out}*{c_out})",
        )
    if name == "two_2x2":
        return (
            h * w * 4 * (c_in * c_out + c_out * c_out),
            f"H*W*2*2*(C_in*C_out + C_out*C_out) = {h}*{w}*4*({c_in}*{c_out} + {c_out}*{c_out})",
        )
    raise KeyError(name)


def _layers_text(branch: Branch) -> str:
    return " -> ".join(f"{layer.kernel[0]}x{layer.kernel[1]}" for layer in branch.layers)


def _widths_text(c_in: int, branch: Branch) -> str:
    return " -> ".join([str(c_in)] + [str(layer.out_channels) for layer in branch.layers])


def _receptive_field(branch: Branch) -> int:
    """Side of the square window seen by one output (stride 1: 1 + sum of (k-1); the larger of height / width)."""
    rh = 1 + sum(layer.kernel[0] - 1 for layer in branch.layers)
    rw = 1 + sum(layer.kernel[1] - 1 for layer in branch.layers)
    return max(rh, rw)


def options(c_in: int, c_out: int, grid: int, n: int, batch_norm: bool = False) -> list[FactorizationOption]:
    """Every option that exists for n, built and counted by fvcore. SpecError for bad arguments."""
    validate(c_in, c_out, grid, n)
    result = []
    for name, branch in branches(c_out, n).items():
        module = make_branch(branch, c_in, batch_norm, 1e-3)[0]
        cost = count_module(module, Shape(c_in, grid, grid))
        analytic, formula = _analytic(name, c_in, c_out, grid, n)
        result.append(
            FactorizationOption(
                name=name,
                description=_describe(name, n),
                layers=_layers_text(branch),
                widths=_widths_text(c_in, branch),
                params=cost.params,
                macs=cost.macs_conv_linear,
                analytic_macs=analytic,
                analytic_formula=formula,
                receptive_field=_receptive_field(branch),
            )
        )
    return result


def compare(c_in: int, c_out: int, grid: int, n: int, batch_norm: bool = False) -> pd.DataFrame:
    """One row per option: measured params and conv MACs, the closed formula, the ratio to n x n, the saving, and
    the paper's quoted saving where there is one (NaN otherwise; the paper assumes ``c_in == c_out``, which
    ``paper_premise`` reports)."""
    opts = options(c_in, c_out, grid, n, batch_norm)
    base = next(o for o in opts if o.name == "nxn").macs
    rows = []
    for o in opts:
        ratio = o.macs / base
        rows.append(
            {
                "name": o.name,
                "layers": o.layers,
                "widths": o.widths,
                "description": o.description,
                "receptive_field": o.receptive_field,
                "params": o.params,
                "macs": o.macs,
                "analytic_macs": o.analytic_macs,
                "analytic_formula": o.analytic_formula,
                "macs_vs_nxn": ratio,
                "saving": 1.0 - ratio,
                "paper_saving": PAPER_SAVINGS.get((o.name, n), math.nan),
                "paper_premise": c_in == c_out,
            }
        )
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


# ----------------------------------------------------------------------------------------------------------------
# Timing
# ----------------------------------------------------------------------------------------------------------------


def time_options(
    c_in: int,
    c_out: int,
    grid: int,
    n: int,
    batch: int = 8,
    device: str = "auto",
    repeats: int = 10,
    warmup: int = 3,
    batch_norm: bool = False,
) -> pd.DataFrame:
    """Median forward and backward time in milliseconds of each option, on real modules, timed the way
    ``analysis.profile`` times a network's blocks (``timing.time_modules``: one timing path): forward in ``eval()``
    under ``no_grad``; backward alone in ``train()``, a fixed random output gradient back to the weights and the
    input, on the graph of an untimed forward; every option once per round, ``repeats`` rounds after ``warmup``,
    medians (on CUDA the device is synchronized before the clock is read). ``forward_backward_ms`` is their sum;
    ``saved_bytes`` what autograd keeps for the backward (the option's training memory beyond its weights).
    ``device='auto'`` is CUDA when available, else CPU; the ``device`` column names it."""
    validate(c_in, c_out, grid, n)
    for what, value in (("batch", batch), ("repeats", repeats)):
        if not _is_int(value) or value < 1:
            raise SpecError(Problem(what, f"{what} must be a whole number >= 1, got {value!r}"))
    if not _is_int(warmup) or warmup < 0:
        raise SpecError(Problem("warmup", f"warmup must be a whole number >= 0, got {warmup!r}"))
    dev = resolve_device(device)
    macs = {o.name: o.macs for o in options(c_in, c_out, grid, n, batch_norm)}
    opts = branches(c_out, n)
    modules = [
        (name, make_branch(branch, c_in, batch_norm, 1e-3)[0].to(dev), torch.randn(batch, c_in, grid, grid, device=dev))
        for name, branch in opts.items()
    ]
    timings = time_modules(modules, dev, repeats, warmup)
    name_of_device = device_name(dev)
    rows = [
        {
            "name": name,
            "layers": _layers_text(opts[name]),
            "device": name_of_device,
            "batch": batch,
            "forward_ms": t.forward_ms,
            "backward_ms": t.backward_ms,
            "forward_backward_ms": t.forward_ms + t.backward_ms,
            "saved_bytes": t.saved_bytes,
            "repeats": repeats,
            "macs": macs[name],
        }
        for (name, _, _), t in zip(modules, timings, strict=True)
    ]
    return pd.DataFrame(rows, columns=TIME_COLUMNS)
