"""Training-probe speed, per preset, in one run: images/s through the probe runner vs a bare training loop of the
same module on the same batches, peak memory, and achieved MACs/s as a fraction of the measured matmul rate.

    .venv/bin/python benchmarks/bench_probes.py [--steps 30] [--repeats 3] [--device cpu|cuda] [--presets ...]

Target (issue 6): runner overhead <= 5% (runner images/s >= 0.95x the bare loop's).

Both sides train the same freshly initialised network with the same optimizer, loss and pre-made batches; both are
timed by the wall clock over the steps after warm-up. The runner side is ``train_probe`` with what a worker adds:
the per-step metrics and loss read-back, the ``Reporter`` thread writing them to a real store every 0.5 s and
beating every second, the cancel check. Each preset runs in its own process (so that its peak memory is its own),
bare and runner alternating ``--repeats`` times; the ratio is of the medians. On CUDA each preset is also run in
fp32 without channels_last, to show what bf16 autocast + channels_last buy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRESETS = ("googlenet", "googlenet_naive", "inception_v2", "inception_v3")


class _Batches:
    """A dataset that hands out pre-made batches: neither side pays for making images."""

    def __init__(self, batches, heldout):
        self.batches, self._heldout = batches, heldout

    def batch(self, step, batch_size):
        return self.batches[step % len(self.batches)]

    def heldout(self, n, batch_size=64):
        return self._heldout


def _bare_loop(spec, config, batches, device) -> float:
    """images/s of the plainest honest training loop: the same ``training_step`` (forward, loss, backward, clip,
    optimizer step) with nothing around it, no metrics read back, no reporting."""
    import torch

    from inception_explorer.nn.build import build
    from inception_explorer.nn.devices import synchronize
    from inception_explorer.probes.train import _optimizer, init_for_training, precision, training_step

    amp, fmt = precision(device, config.recipe)
    torch.manual_seed(config.seed)
    model = init_for_training(build(spec)).to(device=device, memory_format=fmt).train()
    opt = _optimizer(model, config)
    weights = {h.name: h.loss_weight for h in spec.aux_heads}
    scaler = torch.amp.GradScaler("cuda") if amp == torch.float16 else None
    start = None
    for step, (x, y) in enumerate(batches):
        if step == config.warmup_steps:
            synchronize(device)
            start = time.perf_counter()
        x = x.to(device).contiguous(memory_format=fmt)
        training_step(model, opt, scaler, x, y.to(device), weights, config.recipe, amp)
    synchronize(device)
    return config.batch_size * (len(batches) - config.warmup_steps) / (time.perf_counter() - start)


def _runner(spec, config, batches, device, store_dir: Path):
    """images/s through train_probe with a worker's reporting (store writes, heartbeat thread, cancel flag), and
    the run's ``ProbeSummary``."""
    from inception_explorer.probes.records import RunLog
    from inception_explorer.probes.train import train_probe
    from inception_explorer.probes.worker import Reporter
    from inception_explorer.store import Store

    runs = RunLog(Store(store_dir / "store.sqlite"))
    run = runs.create("bench", spec, config, str(device))
    runs.claim(1000)
    runs.start(run.id, "bench")
    reporter = Reporter(runs, run.id)
    reporter.start()
    stamps = {}

    def on_step(m):
        stamps[m.step] = time.perf_counter()
        reporter.add(m)

    data = _Batches(batches, batches[:1])
    summary = train_probe(spec, config, data, device, on_step=on_step, should_stop=reporter.cancel.is_set)
    reporter.stop()
    w, n = config.warmup_steps, config.steps
    # step w's callback ends warm-up; steps w+1..n are timed, as in the bare loop
    return config.batch_size * (n - w) / (stamps[n] - stamps[w]), summary


def one_preset(name: str, args) -> dict:
    import torch

    from inception_explorer.nn.devices import device_name, measure_matmul_rate, resolve_device
    from inception_explorer.probes import ProbeConfig
    from inception_explorer.probes.config import default_recipe
    from inception_explorer.probes.data import SyntheticShapes
    from inception_explorer.probes.train import peak_memory, prepare_spec
    from inception_explorer.spec.presets import get_preset

    device = resolve_device(args.device)
    spec = get_preset(name)
    out = {"preset": name, "device": device_name(device), "rows": []}
    variants = [("bf16+channels_last" if device.type == "cuda" else "fp32", True)]
    if device.type == "cuda":
        variants.append(("fp32", False))
    for label, fast in variants:
        recipe = default_recipe(spec).model_copy(
            update={"aux_heads": False, "mixed_precision": fast, "channels_last": fast}
        )
        config = ProbeConfig(
            steps=args.steps,
            batch_size=args.batch,
            image_size=args.image_size,
            width_multiplier=args.width,
            warmup_steps=args.warmup,
            device=str(device),
            recipe=recipe,
        )
        prepared = prepare_spec(spec, config, 10)
        data = SyntheticShapes(10, args.image_size, 0)
        batches = [data.batch(i, args.batch) for i in range(args.steps)]
        bare, runner, summary = [], [], None
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.repeats):
                bare.append(_bare_loop(prepared, config, batches, device))
                ips, summary = _runner(prepared, config, batches, device, Path(tmp))
                runner.append(ips)
        dtype = torch.bfloat16 if fast and device.type == "cuda" else torch.float32
        rate = measure_matmul_rate(device, dtype)
        r_ips, b_ips = statistics.median(runner), statistics.median(bare)
        memory, kind = peak_memory(device)
        out["rows"].append(
            {
                "precision": label,
                "bare_images_per_s": b_ips,
                "runner_images_per_s": r_ips,
                "ratio": r_ips / b_ips,
                "peak_memory_mb": memory / 2**20,
                "memory_kind": kind,
                "macs_per_image": summary.macs_per_image,
                "matmul_fraction": 3 * summary.macs_per_image * r_ips / rate,
                "matmul_rate": rate,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="*", default=list(PRESETS))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure one preset in this process, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_preset(args.one, args)))
        return
    print(
        f"{args.steps} steps ({args.warmup} warm-up) of batch {args.batch} at {args.image_size}px, "
        f"width x{args.width}, aux heads off, median of {args.repeats}; each preset in its own process"
    )
    print(
        f"{'preset':<16} {'precision':<19} {'bare img/s':>10} {'runner img/s':>12} {'ratio':>6} {'peak MB':>8} "
        f"{'MACs/img':>12} {'of matmul':>9}"
    )
    worst = float("inf")
    for name in args.presets:
        cmd = [sys.executable, __file__, "--one", name, *sys.argv[1:]]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            why = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode
            print(f"{name:<16} failed: {why}")
            continue
        out = json.loads(result.stdout.strip().splitlines()[-1])
        for r in out["rows"]:
            worst = min(worst, r["ratio"])
            print(
                f"{name:<16} {r['precision']:<19} {r['bare_images_per_s']:>10.1f} {r['runner_images_per_s']:>12.1f} "
                f"{r['ratio']:>6.3f} {r['peak_memory_mb']:>8.0f} {r['macs_per_image']:>12,} "
                f"{r['matmul_fraction']:>9.1%}"
            )
    print(
        f"device: {out['device']}; peak memory: {out['rows'][0]['memory_kind']}; "
        f"matmul rate {out['rows'][0]['matmul_rate'] / 1e9:.1f} G MACs/s"
    )
    verdict = "met" if worst >= 0.95 else "NOT met"
    print(f"worst runner/bare ratio {worst:.3f} (target >= 0.95: runner overhead <= 5%): {verdict}")


if __name__ == "__main__":
    main()
