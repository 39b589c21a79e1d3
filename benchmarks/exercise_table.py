"""Every built-in exercise checked on a right answer and on a wrong one: the table of results (issue 19's note).

    .venv/bin/python benchmarks/exercise_table.py [--probes]

The answers are built with the package, as a student would build them in the app: blocks converted with
``editing.convert``, blocks added, renamed and set with ``editing.structure``, widths scaled with ``analysis.fit``.
tests/test_exercises.py imports ``ANSWERS`` from here and checks every right answer passes and every wrong one
fails. Probe checks train only with ``--probes`` (a few seconds each); without it they show as not run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inception_explorer.analysis.costs import count  # noqa: E402
from inception_explorer.analysis.fit import fit  # noqa: E402
from inception_explorer.editing import (  # noqa: E402
    add_block,
    convert_block,
    duplicate_block,
    rename_block,
    set_block_fields,
)
from inception_explorer.exercises import (  # noqa: E402
    builtin_exercises,
    evaluate,
    get_exercise,
    run_probe_checks,
    starting_spec,
)
from inception_explorer.spec import ModelSpec  # noqa: E402
from inception_explorer.spec.heads import RethinkingAux  # noqa: E402
from inception_explorer.spec.presets import GOOGLENET_TABLE1, get_preset  # noqa: E402


def _start(exercise_id: str) -> dict:
    return starting_spec(get_exercise(exercise_id)).to_dict()


def _converted(d: dict, block: str, kind: str, **fields) -> dict:
    spec = ModelSpec.from_dict(d)
    si, bi = spec.find_block(block)
    new, _notes = convert_block(d["stages"][si]["blocks"][bi], kind)
    d = {**d, "stages": [dict(s, blocks=list(s["blocks"])) for s in d["stages"]]}
    d["stages"][si]["blocks"][bi] = new
    return set_block_fields(d, si, bi, fields) if fields else d


def _split(exercise_id: str, first: str, second: str, **fields) -> ModelSpec:
    """The start's one convolution in stage 1 replaced by two: set its fields, rename it, duplicate, rename."""
    d = set_block_fields(_start(exercise_id), 1, 0, fields)
    d = rename_block(duplicate_block(rename_block(d, 1, 0, first), 1, 0), 1, 1, second)
    return ModelSpec.from_dict(d)


def _table1(reductions: bool) -> ModelSpec:
    """googlenet_naive with every module converted to inception_v1: with Table 1's reductions (right), or with the
    converter's defaults (wrong: half of each branch's output)."""
    d = _start("table1-rows")
    for name, (_c1, c3r, _c3, c5r, _c5, pp) in GOOGLENET_TABLE1.items():
        widths = {"ch3x3red": c3r, "ch5x5red": c5r, "pool_proj": pp} if reductions else {}
        d = _converted(d, name, "inception_v1", **widths)
    return ModelSpec.from_dict(d)


def _googlenet_28(fix_maxpool4: bool) -> ModelSpec:
    """GoogLeNet at 28x28: conv1 at stride 1, maxpool1 removed; and (right) maxpool4 padded so that 7x7 -> 4x4,
    not 3x3 (a representational bottleneck, [R] §2 principle 1)."""
    d = get_preset("googlenet").to_dict()
    d["input_size"] = [28, 28]
    d = set_block_fields(d, 0, 0, {"stride": [1, 1]})
    del d["stages"][0]["blocks"][1]
    if fix_maxpool4:
        d = set_block_fields(d, 3, 0, {"padding": [1, 1]})
    return ModelSpec.from_dict(d)


def _ladder(bn_aux: bool) -> ModelSpec:
    g = get_preset("googlenet")
    heads = g.aux_heads
    if bn_aux:  # [R]'s aux head (Fig. 8) with BN-auxiliary; its second conv fits the 4x4 grid a 5x5/3 pool leaves
        heads = tuple(RethinkingAux(name=h.name, after=h.after, conv2_kernel=4, bn_fc=True) for h in heads)
    return g.model_copy(update={"batch_norm": True, "aux_heads": heads})


def _macs(spec: ModelSpec) -> int:
    return count(spec).totals.macs


#: exercise id -> (what the right answer is, its spec; what the wrong answer is, its spec), built lazily.
ANSWERS: dict[str, tuple[str, Callable[[], ModelSpec], str, Callable[[], ModelSpec]]] = {
    "naive-module-cost": (
        "module converted to inception_naive",
        lambda: ModelSpec.from_dict(_converted(_start("naive-module-cost"), "inception", "inception_naive")),
        "the start (module 3b, with reductions)",
        lambda: starting_spec(get_exercise("naive-module-cost")),
    ),
    "bottleneck-module-cost": (
        "inception_v1 with reductions 64/64/64",
        lambda: ModelSpec.from_dict(
            _converted(
                _start("bottleneck-module-cost"), "inception", "inception_v1", ch3x3red=64, ch5x5red=64, pool_proj=64
            )
        ),
        "inception_v1 with the converter's default reductions",
        lambda: ModelSpec.from_dict(_converted(_start("bottleneck-module-cost"), "inception", "inception_v1")),
    ),
    "ng-5x5-bottleneck": (
        "1x1 of 16 added before the 5x5",
        lambda: ModelSpec.from_dict(
            add_block(
                _start("ng-5x5-bottleneck"), 1, {"kind": "conv", "name": "reduce", "out_channels": 16, "kernel": 1}, 0
            )
        ),
        "a 1x1 of 64 instead",
        lambda: ModelSpec.from_dict(
            add_block(
                _start("ng-5x5-bottleneck"), 1, {"kind": "conv", "name": "reduce", "out_channels": 64, "kernel": 1}, 0
            )
        ),
    ),
    "factorize-5x5": (
        "two 3x3 of 64",
        lambda: _split("factorize-5x5", "conv3x3a", "conv3x3b", kernel=3),
        "two 5x5 (named as asked)",
        lambda: _split("factorize-5x5", "conv3x3a", "conv3x3b"),
    ),
    "asymmetric-3x3": (
        "1x3 then 3x1",
        lambda: ModelSpec.from_dict(
            set_block_fields(
                _split("asymmetric-3x3", "conv1x3", "conv3x1", kernel=[1, 3]).to_dict(), 1, 1, {"kernel": [3, 1]}
            )
        ),
        "two 3x3",
        lambda: _split("asymmetric-3x3", "conv1x3", "conv3x1"),
    ),
    "two-2x2": (
        "two 2x2",
        lambda: _split("two-2x2", "conv2x2a", "conv2x2b", kernel=2),
        "1x3 then 3x1 (cheaper than asked)",
        lambda: ModelSpec.from_dict(
            set_block_fields(
                _split("two-2x2", "conv2x2a", "conv2x2b", kernel=[1, 3]).to_dict(), 1, 1, {"kernel": [3, 1]}
            )
        ),
    ),
    "table1-rows": (
        "every module inception_v1 with Table 1's reductions",
        lambda: _table1(True),
        "inception_v1 with the converter's default reductions",
        lambda: _table1(False),
    ),
    "googlenet-min-input": (
        "googlenet at 79x79",
        lambda: get_preset("googlenet", input_size=79),
        "googlenet at 80x80",
        lambda: get_preset("googlenet", input_size=80),
    ),
    "googlenet-28px": (
        "conv1 stride 1, no maxpool1, maxpool4 padded",
        lambda: _googlenet_28(True),
        "conv1 stride 1, no maxpool1 (maxpool4 7x7 -> 3x3)",
        lambda: _googlenet_28(False),
    ),
    "cut-googlenet-macs-20": (
        "fit(googlenet, 0.78 x its MACs)",
        lambda: fit(get_preset("googlenet"), 0.78 * _macs(get_preset("googlenet"))),
        "fit(googlenet, 0.85 x its MACs)",
        lambda: fit(get_preset("googlenet"), 0.85 * _macs(get_preset("googlenet"))),
    ),
    "fit-v3-budget": (
        "fit(inception_v3, 2e9)",
        lambda: fit(get_preset("inception_v3"), 2e9),
        "fit(inception_v3, 2.5e9)",
        lambda: fit(get_preset("inception_v3"), 2.5e9),
    ),
    "ladder-probe": (
        "batch norm + [R]'s aux heads with BN-auxiliary",
        lambda: _ladder(True),
        "batch norm only",
        lambda: _ladder(False),
    ),
}


def _passes(report) -> str:
    done = sum(c.passed is True for c in report.checks)
    pending = sum(c.passed is None for c in report.checks)
    not_run = f", {pending} not run" if pending else ""
    return f"{'pass' if report.passed else 'fail'} ({done}/{len(report.checks)}{not_run})"


def _figures(report) -> str:
    """The measured values of the checks, short."""
    out = []
    for c in report.checks:
        v = c.value
        if isinstance(v, int) and not isinstance(v, bool):
            out.append(f"{v:,}")
        elif isinstance(v, float):
            out.append(f"{v:.4g}")
        elif isinstance(v, dict) and "rows reproduced" in v:
            out.append(f"{v['rows reproduced']} rows; params off: {len(v['params disagree'])}")
    return ", ".join(out)


def table(probes: bool = False) -> str:
    lines = [
        "| exercise | right answer | result | wrong answer | result | measured (right; wrong) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for exercise in builtin_exercises():
        right_text, right, wrong_text, wrong = ANSWERS[exercise.id]
        check = run_probe_checks if probes else evaluate
        r, w = check(exercise, right()), check(exercise, wrong())
        lines.append(
            f"| `{exercise.id}` | {right_text} | {_passes(r)} | {wrong_text} | {_passes(w)} | "
            f"{_figures(r)}; {_figures(w)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", action="store_true", help="also train the probe checks (seconds each)")
    args = parser.parse_args(argv)
    print(table(args.probes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
