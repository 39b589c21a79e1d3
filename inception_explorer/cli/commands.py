"""``python -m inception_explorer``: list presets, count a network, check it against the design principles, export a
spec, fit it to a budget of multiply-adds, show [R] Table 3's cost ladder, profile it on a device, run and list
training probes, list the exercises and check a network against one.

Bad input (an unknown preset, a file that is not a spec, a spec that cannot work) prints one clear message on
stderr and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time

from ..errors import SpecError
from ..spec import ModelSpec
from ..spec.presets import list_presets
from ..store import StoreError
from . import exercises
from .common import UsageError, read_source


def _fmt(n: int) -> str:
    return f"{n:,}"


def cmd_presets(args: argparse.Namespace) -> int:
    for p in list_presets():
        print(f"{p.name:<22} {p.params:>12,} params ({p.params_with_aux:,} with aux)  {p.summary}")
    return 0


def cmd_count(args: argparse.Namespace) -> int:
    from ..analysis.costs import count, cross_check

    spec = read_source(args.source, args.input, args.classes)
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
    print(
        f"{spec.name}: input {spec.in_channels}x{spec.input_size[0]}x{spec.input_size[1]}, "
        f"{spec.num_classes} classes (one image, eval mode)"
    )
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
        print(
            f"cross-check: fvcore FlopCountAnalysis {check.fvcore_total:,}; FlopCounterMode FLOPs/2 "
            f"{check.flop_counter_macs:,} = conv+linear {check.report_macs_conv_linear:,}: {verdict}"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    spec = read_source(args.source, args.input, args.classes)
    print(spec.to_json())
    return 0


def cmd_principles(args: argparse.Namespace) -> int:
    from ..analysis.costs import count
    from ..analysis.findings import PRINCIPLE_TITLES, findings_frame
    from ..analysis.principles import check

    spec = read_source(args.source, args.input, args.classes)
    findings = check(count(spec))
    if args.json:
        print(json.dumps(findings_frame(findings).to_dict(orient="records"), indent=2, default=str))
        return 0
    print(f"{spec.name}: {len(findings)} findings against the design principles of [R] §2, §3.1, §3.2, §5")
    if not findings:
        return 0
    table = findings_frame(findings)[["principle", "severity", "stage", "block", "rule", "value", "threshold"]]
    print(table.to_string(index=False))
    print()
    for i, f in enumerate(findings, 1):
        where = f.block or f"stage {f.stage}"
        print(f"{i:>3}. [{f.severity}] {PRINCIPLE_TITLES.get(f.principle, f.principle)} - {where}: {f.message}")
    return 0


_MACS_UNITS = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "B": 10**9, "T": 10**12}


def parse_macs(text: str) -> int:
    """``1.5e9``, ``1.5G``, ``1500M``, ``5B`` (billions) -> a whole number of multiply-adds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*([KMGBT]?)\s*", text or "", re.I)
    value = float(m.group(1)) * _MACS_UNITS[m.group(2).upper()] if m else 0.0
    if not m or not 1 <= value <= 1e15:
        raise UsageError(f"--macs must be a number of multiply-adds such as 1.5e9 or 1.5G, got {text[:40]!r}")
    return round(value)


def cmd_fit(args: argparse.Namespace) -> int:
    from ..analysis.fit import KEEP_MODES, fit_result

    if args.keep not in KEEP_MODES:
        raise UsageError(f"--keep must be one of {', '.join(KEEP_MODES)}, got {args.keep[:40]!r}")
    macs = parse_macs(args.macs)
    spec = read_source(args.source, args.input, args.classes)
    result = fit_result(spec, macs, args.keep)
    print(result.spec.to_json())
    print(result.summary(), file=sys.stderr)
    return 0


def cmd_ladder(args: argparse.Namespace) -> int:
    from ..analysis.ladder import ladder

    table = ladder()
    if args.json:
        print(table.to_json(orient="records", indent=2))
        return 0
    cols = ["network", "kind", "MACs (ours)", "Bn ops (paper)", "ours / paper", "x GoogLeNet (ours)"]
    cols += ["top-1 err % (paper)", "top-5 err % (paper)"]
    shown = table[cols].copy()
    shown["MACs (ours)"] = shown["MACs (ours)"].map(_fmt)
    print("[R] Table 3, cumulative: each row adds one change to the row before (MACs: one image, eval mode)")
    print(shown.to_string(index=False, na_rep="-"))
    print()
    for r in table.itertuples():
        print(f"{r.rung}. {r.network}: {r.change}. Recipe: {r.recipe}. {r.note}.")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    from ..analysis.profile import profile

    spec = read_source(args.source, args.input, args.classes)
    report = profile(spec, batch=args.batch, device=args.device, repeats=args.repeats, threads=args.threads)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return 0


def _probe_config(args: argparse.Namespace, spec: ModelSpec):
    from ..probes import ProbeConfig, default_recipe

    recipe = default_recipe(spec).model_dump()
    for key, value in (
        ("optimizer", args.optimizer),
        ("lr", args.lr),
        ("label_smoothing", args.label_smoothing),
        ("clip_grad_norm", args.clip),
        ("aux_heads", args.aux),
        ("bn_auxiliary", args.bn_aux),
        ("mixed_precision", args.amp),
        ("channels_last", args.channels_last),
    ):
        if value is not None:
            recipe[key] = value
    if args.clip == 0:
        recipe["clip_grad_norm"] = None
    if args.data is not None:  # an empty --data is a folder not given, refused by the data's check
        data = {"source": "folder", "folder": args.data}
    else:
        data = {"source": "synthetic", "num_classes": args.classes}
    return ProbeConfig.from_dict(
        {
            "steps": args.steps,
            "batch_size": args.batch,
            "image_size": args.image_size,
            "width_multiplier": args.width,
            "device": args.device,
            "seed": args.seed,
            "cpu_threads": args.threads,
            "data": data,
            "recipe": recipe,
        }
    )


def cmd_probe(args: argparse.Namespace) -> int:
    from ..probes import RunLog, RunStatus, follow, submit
    from ..probes.report import format_duration
    from ..store import Store

    spec = read_source(args.source)
    config = _probe_config(args, spec)
    store = Store()
    run = submit(store, spec, config, label=args.label or spec.name)
    print(
        f"run {run.id}: {spec.name} at {config.image_size}x{config.image_size}, width x{config.width_multiplier}, "
        f"{config.steps} steps of {config.batch_size} on {run.device} (store {store.path})",
        flush=True,
    )
    if args.detach:
        return 0
    runs, last_print, run_id = RunLog(store), 0.0, run.id
    try:
        for run in follow(store, run_id):
            if run.status == RunStatus.QUEUED:
                print(f"  queued, {runs.queue_position(run)} in line for {run.device}", flush=True)
            elif (
                run.status == RunStatus.RUNNING
                and run.step
                and (time.monotonic() - last_print > 2 or run.step == run.steps_total)
            ):
                last_print = time.monotonic()
                m = runs.metrics([run.id]).iloc[-1]
                eta = run.eta_seconds()
                left = f"  ETA {format_duration(eta)}" if eta is not None else ""
                print(
                    f"  step {run.step:>5}/{run.steps_total}  loss {m.loss:.4f}  acc {m.accuracy:.3f}  "
                    f"{m.step_time * 1000:.0f} ms/step{left}",
                    flush=True,
                )
    except KeyboardInterrupt:
        print("  cancelling…", flush=True)
        runs.request_cancel(run_id)
        for _ in follow(store, run_id):
            pass
    return _print_run_summary(runs.get(run_id))


def _print_run_summary(run) -> int:
    from ..probes import RunStatus

    print(f"run {run.id}: {run.status}" + (f" — {run.error}" if run.error else ""))
    s = run.summary
    if s:
        aux = ", aux heads included)" if run.spec.aux_heads else ")"
        rows = [
            ("device", f"{s.device_name} ({s.precision}{', channels_last' if s.channels_last else ''})"),
            ("steps", f"{s.steps_done}/{s.steps_total}"),
            ("params", f"{s.params:,}"),
            ("MACs / image", f"{s.macs_per_image:,} (forward{aux}"),
            ("throughput", f"{s.images_per_s:.1f} images/s" if s.images_per_s else "-"),
            ("time per step", f"{s.time_per_step * 1000:.1f} ms (median after warm-up)" if s.time_per_step else "-"),
            ("peak memory", f"{s.peak_memory_bytes / 2**20:,.0f} MB ({s.peak_memory_kind})"),
            ("final loss", f"{s.final_loss:.4f}" if s.final_loss is not None else "-"),
            ("train accuracy", f"{s.train_accuracy:.3f}" if s.train_accuracy is not None else "-"),
            ("held-out accuracy", f"{s.heldout_accuracy:.3f}" if s.heldout_accuracy is not None else "-"),
            (
                "MACs/s achieved",
                f"{s.achieved_macs_per_s:.3g} = {s.matmul_fraction:.1%} of the measured matmul rate "
                f"{s.matmul_macs_per_s:.3g}"
                if s.matmul_fraction
                else "-",
            ),
        ]
        for k, v in rows:
            print(f"  {k:<18} {v}")
    return 0 if run.status == RunStatus.DONE else 1


def cmd_runs(args: argparse.Namespace) -> int:
    from ..probes import RunLog, reap
    from ..probes.report import runs_table
    from ..store import Store

    store = Store()
    reap(store)
    runs = RunLog(store).list(limit=args.limit)
    table = runs_table(runs)
    if args.json:
        print(table.to_json(orient="records", date_format="iso"))
        return 0
    if table.empty:
        print(f"no probe runs in {store.path}")
        return 0
    cols = ["run", "variant", "status", "steps", "device", "images/s", "ms/step", "peak memory (MB)", "held-out acc"]
    print(table[cols].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    from ..probes import RunLog
    from ..store import Store

    run = RunLog(Store()).request_cancel(args.run_id)
    print(
        f"run {run.id}: {run.status}"
        + (
            " (cancel requested; the worker stops within a couple of seconds)"
            if run.cancel_requested and run.is_active
            else ""
        )
    )
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
    p = sub.add_parser("fit", help="scale a network's widths to a budget of multiply-adds; prints the spec JSON")
    add_source(p)
    p.add_argument("--macs", required=True, help="the budget, e.g. 1.5e9 or 1.5G ([G]) or 5G ([R])")
    p.add_argument("--keep", default="stage-shares", help="stage-shares (default: each stage's share) or uniform")
    p.set_defaults(func=cmd_fit)
    p = sub.add_parser("ladder", help="[R] Table 3's cost ladder, each row counted beside the paper's cost")
    p.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    p.set_defaults(func=cmd_ladder)

    p = sub.add_parser("profile", help="time, memory and MACs/s of every block on a device (analysis/profile.py)")
    add_source(p)
    p.add_argument("--batch", type=bounded_int(1, 1024), default=1, help="images per batch (1-1,024)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--repeats", type=bounded_int(1, 1000), default=5, help="timed calls per median (1-1,000)")
    p.add_argument("--threads", type=bounded_int(1, 256), help="CPU threads (default: all cores but one)")
    p.add_argument("--json", action="store_true", help="print JSON: blocks, total, device, yardsticks")
    p.set_defaults(func=cmd_profile)
    _one_line_errors(p)
    p = sub.add_parser("probe", help="train a short probe in a background worker and follow it (Ctrl-C cancels)")
    p.add_argument("source", help="a preset name or a spec .json file")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--image-size", type=int, default=128)
    p.add_argument("--width", type=float, default=0.25, help="width multiplier applied to every channel count")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--classes", type=int, default=10, help="classes of the built-in synthetic set")
    p.add_argument("--data", help="an ImageFolder tree under the data root ($INCEPTION_EXPLORER_DATA_ROOT)")
    p.add_argument("--optimizer", choices=["sgd", "rmsprop"])
    p.add_argument("--lr", type=float)
    p.add_argument("--label-smoothing", type=float)
    p.add_argument("--clip", type=float, help="gradient-norm clipping (0 turns it off)")
    p.add_argument("--aux", action=argparse.BooleanOptionalAction, help="train the aux heads")
    p.add_argument("--bn-aux", action=argparse.BooleanOptionalAction, help="BN-auxiliary ([R] §10)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, help="mixed precision on CUDA")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, help="channels_last on CUDA")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="CPU threads (default: all cores but one)")
    p.add_argument("--label", help="the name the run is listed under")
    p.add_argument("--detach", action="store_true", help="queue it and return at once")
    p.set_defaults(func=cmd_probe)
    _one_line_errors(p)
    p = sub.add_parser("runs", help="list stored probe runs")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--limit", type=bounded_int(1, MAX_RUNS_LISTED), default=50, help=f"at most 1-{MAX_RUNS_LISTED:,} runs"
    )
    p.set_defaults(func=cmd_runs)
    _one_line_errors(p)
    p = sub.add_parser("cancel", help="cancel a queued or running probe")
    p.add_argument("run_id")
    p.set_defaults(func=cmd_cancel)
    _one_line_errors(p)
    exercises.add_commands(sub, _one_line_errors)
    return parser


MAX_RUNS_LISTED = 100_000


def bounded_int(lowest: int, highest: int):
    """An argparse type: a whole number from ``lowest`` to ``highest``, else a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {text[:40]!r}") from None
        if not lowest <= value <= highest:
            shown = text if len(text) <= 24 else text[:21] + "..."
            raise argparse.ArgumentTypeError(f"must be from {lowest:,} to {highest:,}, got {shown}")
        return value

    return parse


def _one_line_errors(parser: argparse.ArgumentParser) -> None:
    """A bad argument to this subcommand is one line on stderr (``error: PROG: ...``) and exit status 2, like every
    other bad input of the CLI, rather than argparse's usage block."""

    def error(message: str):
        parser.exit(2, f"error: {parser.prog}: {message}\n")

    parser.error = error


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse itself exits 2 with a usage line on bad flags
    try:
        return args.func(args)
    except BrokenPipeError:  # e.g. piped into head
        return 0
    except SpecError as exc:
        problems = "; ".join(str(p) for p in exc.problems)
        print(
            f"error: invalid spec ({len(exc.problems)} problem{'s' if len(exc.problems) > 1 else ''}): {problems}",
            file=sys.stderr,
        )
    except (UsageError, KeyError, OSError, ValueError, StoreError) as exc:  # DataError, ExerciseError: ValueErrors
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"error: {message}", file=sys.stderr)
    return 2
