"""The profiler, per preset, in one run: its whole-forward time against a bare timing loop, its blocks against the
whole, and a block made twice as wide.

    .venv/bin/python benchmarks/bench_profile.py [--size 128] [--repeats 5] [--rounds 3] [--device auto]

For each preset (at ``--size`` px, aux heads left out, batch 1, on the device ``profile`` picks, with the threads
it uses):

- **overhead**: ``profile()``'s whole-network forward (``total.forward_ms``) against a bare loop of the same
  forward (the same network built from the spec just before, as ``profile`` builds it, ``eval()``, ``no_grad``,
  the same input size), each the median of ``--repeats`` calls after 2 warm-up. Target: within 5%. A large
  network's forward includes page faults (glibc's malloc, under torch's CPU allocator, maps big buffers afresh
  and unmaps them when freed: ~54,000 minor faults a forward for googlenet_naive at 128 px), whose cost varies
  with the machine's load.
- **blocks / whole**: ``total.block_forward_ratio``, the blocks timed alone added up against the whole forward
  (per round of the profile, the median). The library states 30%.
- **x2 wide**: the middle Inception block with every width doubled, profiled beside the original: its MACs ratio
  and its forward-time ratio (it must measure slower).

Each figure is the median of ``--rounds`` rounds (profile, wide profile, bare loop), with the lowest and highest,
so that a noisy stretch of a shared machine shows as spread; the overhead also as the fastest profiled forward over
the fastest bare loop (the rounds least disturbed by other work). Each preset's first profile is also timed whole
(``profile()`` wall time: MAC count, yardsticks, build and every measurement).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from inception_explorer.analysis.profile import at_input, profile
from inception_explorer.nn.build import build
from inception_explorer.nn.devices import median_seconds, resolve_device
from inception_explorer.spec import ModelSpec
from inception_explorer.spec.presets import get_preset, list_presets


def widened(spec, block_name: str, factor: int = 2):
    """``spec`` with every width of block ``block_name`` (all its convolutions' output channels) times ``factor``:
    the block alone in a one-block spec, scaled by ``ModelSpec.with_width_multiplier``."""
    si, bi = spec.find_block(block_name)
    block = spec.stages[si].blocks[bi].model_dump(mode="json", by_alias=True)
    alone = ModelSpec.from_dict({"name": "_", "stages": [{"name": "_", "blocks": [block]}]})
    return spec.with_block(si, bi, alone.with_width_multiplier(factor).stages[0].blocks[0])


def bare_forward_ms(spec, device, repeats: int, warmup: int) -> float:
    """A bare timing loop of the network's forward: built from the spec just before (as ``profile`` builds it),
    ``eval()``, ``no_grad``, one image."""
    model = build(spec).to(device).eval()
    x = torch.randn(1, spec.in_channels, *spec.input_size, device=device)

    def forward():
        with torch.no_grad():
            model(x)

    return median_seconds(forward, device, repeats=repeats, warmup=warmup) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--presets", nargs="*", default=[p.name for p in list_presets()])
    args = parser.parse_args()
    device = resolve_device(args.device)
    warmup = 2
    for name in args.presets:
        spec = at_input(get_preset(name).without_aux(), args.size)
        modules = [b.name for _, _, _, b in spec.iter_blocks() if b.is_module]
        target = modules[len(modules) // 2]
        wide = widened(spec, target)
        overheads, profiled, bares, ratios, time_x, wall = [], [], [], [], [], None
        for _ in range(args.rounds):
            start = time.perf_counter()
            report = profile(spec, device=args.device, repeats=args.repeats, warmup=warmup)
            wall = wall if wall is not None else time.perf_counter() - start
            wide_report = profile(wide, device=args.device, repeats=args.repeats, warmup=warmup)
            before = torch.get_num_threads()  # the bare loop runs with the threads the profile ran with
            torch.set_num_threads(report.threads or before)
            bare_ms = bare_forward_ms(spec, device, args.repeats, warmup)
            torch.set_num_threads(before)
            overheads.append(report.total.forward_ms / bare_ms)
            profiled.append(report.total.forward_ms)
            bares.append(bare_ms)
            ratios.append(report.total.block_forward_ratio)
            a, b = (r.blocks.set_index("name").loc[target] for r in (report, wide_report))
            time_x.append(b["forward_ms"] / a["forward_ms"])
        macs_x = b["macs"] / a["macs"]
        print(
            f"{name:<22} first profile {wall:5.1f}s  forward {report.total.forward_ms:7.2f} ms, profiled / bare "
            f"{statistics.median(overheads) - 1:+.1%} [{min(overheads) - 1:+.1%} to {max(overheads) - 1:+.1%}], "
            f"fastest rounds {min(profiled) / min(bares) - 1:+.1%}  "
            f"blocks/whole {statistics.median(ratios):.3f} [{min(ratios):.3f}-{max(ratios):.3f}]  "
            f"{target} x2 wide: MACs x{macs_x:.2f}, time x{statistics.median(time_x):.2f} "
            f"[{min(time_x):.2f}-{max(time_x):.2f}]",
            flush=True,
        )
    print(f"\n{report.device}, {args.size}x{args.size}, batch 1, medians of {args.repeats} after {warmup} warm-up; ")
    print(f"each figure the median of {args.rounds} rounds [lowest to highest]")
    print("targets: profiled forward within 5% of the bare loop; blocks/whole within 30%; x2 wide slower (time x > 1)")


if __name__ == "__main__":
    main()
