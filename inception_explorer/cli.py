"""``python -m inception_explorer``: list presets, count a network, check it against the design principles, export a spec.

Bad input (an unknown preset, a file that is not a spec, a spec that cannot work) prints one clear message on
stderr and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from .errors import SpecError
from .spec import ModelSpec

MAX_SPEC_BYTES = 2_000_000


class UsageError(Exception):
    """A command-line mistake: printed as one line, exit status 2."""


def load_spec(source: str, input_arg: str | None = None, classes: int | None = None) -> ModelSpec:
    """A preset name or a path to a spec JSON file, optionally at another input size / class count."""
    from .presets import _PRESETS, get_preset
    from .shapes import validate

    if source in _PRESETS:
        spec = get_preset(source)
    else:
        path = Path(source)
        if not path.is_file():
            raise UsageError(f"{source!r} is neither a preset ({', '.join(_PRESETS)}) nor a spec file")
        if path.stat().st_size > MAX_SPEC_BYTES:
            raise UsageError(f"{source}: larger than {MAX_SPEC_BYTES // 1_000_000} MB; not a spec")
        spec = ModelSpec.from_json(path.read_bytes())
    if input_arg is not None or classes is not None:
        size = None
        if input_arg is not None:
            channels, size = parse_input(input_arg)
            if channels != spec.in_channels:
                spec = ModelSpec.from_dict({**spec.to_dict(), "in_channels": channels})
        spec = spec.with_input(size, classes)
    return validate(spec)


def parse_input(text: str) -> tuple[int, tuple[int, int]]:
    """``3x299x299`` -> (3, (299, 299)); ``299`` -> (3, (299, 299))."""
    m = re.fullmatch(r"\s*(?:(\d+)\s*x\s*)?(\d+)(?:\s*x\s*(\d+))?\s*", text)
    if not m:
        raise UsageError(f"--input must look like 3x299x299 (channels x height x width), got {text!r}")
    c, h, w = m.groups()
    if w is None:  # "299" or "3x299": a square of the last number
        w = h
    return int(c) if c else 3, (int(h), int(w))


def _fmt(n: int) -> str:
    return f"{n:,}"


def cmd_presets(args: argparse.Namespace) -> int:
    from .presets import list_presets

    for p in list_presets():
        print(f"{p.name:<16} {p.params:>12,} params ({p.params_with_aux:,} with aux)  {p.summary}")
    return 0


def cmd_count(args: argparse.Namespace) -> int:
    from .costs import count, cross_check

    spec = load_spec(args.source, args.input, args.classes)
    report = count(spec)
    check = cross_check(spec, report) if args.cross_check else None
    if args.json:
        out = {
            "name": spec.name,
            "input": [spec.in_channels, *spec.input_size],
            "num_classes": spec.num_classes,
            "units": {"macs": "multiply-adds (fvcore 'flops'), one image, eval mode"},
            **report.totals.as_dict(),
            "stages": report.stages.to_dict(orient="records"),
            "blocks": report.blocks.to_dict(orient="records"),
            "aux_heads": report.aux.to_dict(orient="records"),
            "uncounted_ops": report.uncounted.to_dict(orient="records"),
        }
        if check is not None:
            out["cross_check"] = vars(check) | {"agrees": check.agrees}
        print(json.dumps(out, indent=2, default=int))
        return 0
    t = report.totals
    cols = ["stage", "block", "kind", "output", "params", "macs", "activations"]
    table = report.blocks[cols].copy()
    for c in ("params", "macs", "activations"):
        table[c] = table[c].map(_fmt)
    table = table.rename(columns={"output": "output HxWxC", "macs": "MACs"})
    print(f"{spec.name}: input {spec.in_channels}x{spec.input_size[0]}x{spec.input_size[1]}, "
          f"{spec.num_classes} classes (one image, eval mode)")
    print(table.to_string(index=False))
    print()
    stages = report.stages[["stage", "blocks", "output", "params", "macs", "macs_share"]].copy()
    stages["params"] = stages["params"].map(_fmt)
    stages["macs"] = stages["macs"].map(_fmt)
    stages["macs_share"] = stages["macs_share"].map(lambda v: f"{v:.1%}")
    print(stages.rename(columns={"macs": "MACs", "macs_share": "share of MACs"}).to_string(index=False))
    print()
    print(f"total params            {t.params:>16,}   (+{t.aux_params:,} in aux heads = {t.params_with_aux:,})")
    print(f"total MACs              {t.macs:>16,}   (aux heads, training only: +{t.aux_macs:,})")
    print(f"  of which conv+linear  {t.macs_conv_linear:>16,}")
    print(f"  batch norm, avg pool  {t.macs_other:>16,}   (fvcore counts these too)")
    print(f"activations             {t.activations:>16,}")
    if not report.uncounted.empty:
        ops = ", ".join(f"{r.operator} x{r.calls}" for r in report.uncounted.itertuples() if r.scope == "inference")
        print(f"not counted (no multiply-adds in fvcore's model): {ops}")
    if check is not None:
        verdict = "agree" if check.agrees else "DISAGREE"
        print(f"cross-check: fvcore FlopCountAnalysis {check.fvcore_total:,}; FlopCounterMode FLOPs/2 "
              f"{check.flop_counter_macs:,} = conv+linear {check.report_macs_conv_linear:,}: {verdict}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    spec = load_spec(args.source, args.input, args.classes)
    print(spec.to_json())
    return 0


def cmd_principles(args: argparse.Namespace) -> int:
    from .costs import count
    from .principles import PRINCIPLE_TITLES, check, findings_frame

    spec = load_spec(args.source, args.input, args.classes)
    findings = check(count(spec))
    if args.json:
        print(json.dumps(findings_frame(findings).to_dict(orient="records"), indent=2, default=str))
        return 0
    print(f"{spec.name}: {len(findings)} findings against the design principles of [R] §2, §3.2, §5")
    if not findings:
        return 0
    table = findings_frame(findings)[["principle", "severity", "stage", "block", "rule", "value", "threshold"]]
    print(table.to_string(index=False))
    print()
    for i, f in enumerate(findings, 1):
        where = f.block or f"stage {f.stage}"
        print(f"{i:>3}. [{f.severity}] {PRINCIPLE_TITLES.get(f.principle, f.principle)} - {where}: {f.message}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m inception_explorer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("presets", help="list the preset networks").set_defaults(func=cmd_presets)

    def add_source(p: argparse.ArgumentParser) -> None:
        p.add_argument("source", help="a preset name or a spec .json file")
        p.add_argument("--input", help="input as CxHxW, e.g. 3x299x299")
        p.add_argument("--classes", type=int, help="number of classes")

    p = sub.add_parser("count", help="parameters and multiply-adds per block, stage and in total")
    add_source(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--cross-check", action="store_true", help="also count with plain fvcore and FlopCounterMode")
    p.set_defaults(func=cmd_count)
    p = sub.add_parser("principles", help="check every block against the design principles of [R] §2")
    add_source(p)
    p.add_argument("--json", action="store_true", help="print the findings as a JSON list")
    p.set_defaults(func=cmd_principles)
    p = sub.add_parser("export", help="print a preset (or spec) as JSON")
    add_source(p)
    p.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 with a usage line on bad flags
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. piped into head
        return 0
    except SpecError as exc:
        problems = "; ".join(str(p) for p in exc.problems)
        print(f"error: invalid spec ({len(exc.problems)} problem{'s' if len(exc.problems) > 1 else ''}): {problems}",
              file=sys.stderr)
    except (UsageError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
    return 2
