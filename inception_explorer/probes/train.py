"""One training probe, in the current process: build the network, train it for a few hundred steps with the
papers' recipe, and measure it. ``worker.py`` runs this in its own OS process and records what it reports.

What is measured, per run:
- per step: the loss minimised (main + weighted aux), the main and aux losses apart, training accuracy, step time;
- throughput in images/s over the steps after ``warmup_steps`` (timm ``benchmark.py``'s convention), and the
  median time per step; both time forward, backward and the optimizer step, not making the batch;
- held-out accuracy at the end; peak memory (CUDA: ``torch.cuda.max_memory_allocated``; CPU: the process's
  peak resident set, which includes torch itself);
- achieved MACs/s = 3 x (forward MACs per image, aux heads included) x images/s (a backward pass costs about two
  forwards), and that as a fraction of the device's measured dense matmul rate.
"""

from __future__ import annotations

import math
import resource
import statistics
import time
from collections.abc import Callable

import torch

from ..errors import Problem, SpecError
from ..nn.build import build
from ..nn.devices import device_name, synchronize
from ..spec import ModelSpec
from .config import ProbeConfig
from .loss import probe_loss
from .results import ProbeFailed, ProbeSummary, StepMetrics


def prepare_spec(spec: ModelSpec, config: ProbeConfig, num_classes: int) -> ModelSpec:
    """The network a probe trains: ``spec`` with the width multiplier, at the probe's image size and class count,
    with aux heads dropped when the recipe does not train them and BN-auxiliary set when the recipe says.

    Raises ``SpecError`` before anything starts when it cannot work (a grid that collapses at that size, a batch
    of one with batch norm)."""
    recipe = config.recipe
    spec = spec.with_width_multiplier(config.width_multiplier)
    if not recipe.aux_heads:
        spec = spec.without_aux()
    elif recipe.bn_auxiliary is not None:
        heads = [
            h.model_copy(update={"bn_fc": recipe.bn_auxiliary}) if h.kind == "rethinking" else h for h in spec.aux_heads
        ]
        spec = spec.model_copy(update={"aux_heads": tuple(heads)})
    spec = spec.with_input(config.image_size, num_classes)
    if config.init_weights is not None and config.width_multiplier != 1.0:
        raise SpecError(
            Problem("width_multiplier", "uploaded weights are for the full-width network: set the width to 1.0")
        )
    if config.batch_size < 2 and (spec.batch_norm or any(getattr(h, "bn_fc", False) for h in spec.aux_heads)):
        raise SpecError(Problem("batch_size", "batch norm needs at least 2 images per batch in training"))
    return spec


def init_for_training(model: torch.nn.Module) -> torch.nn.Module:
    """He (Kaiming) normal initialisation for every conv, fan-in mode, biases zero; linear layers N(0, 0.01).

    torch's default (uniform with a = sqrt(5)) shrinks the signal layer after layer: GoogLeNet, which has no batch
    norm, then sits at chance for hundreds of steps. He et al.'s rule keeps the activations' variance through the
    ReLUs, so short probes of networks without batch norm learn too."""
    for m in model.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        elif isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, std=0.01)
        else:
            continue
        if m.bias is not None:
            torch.nn.init.zeros_(m.bias)
    return model


def _optimizer(model: torch.nn.Module, config: ProbeConfig) -> torch.optim.Optimizer:
    r = config.recipe
    if r.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            model.parameters(),
            lr=r.lr,
            alpha=r.rmsprop_decay,
            eps=r.rmsprop_eps,
            momentum=r.momentum,
            weight_decay=r.weight_decay,
        )
    return torch.optim.SGD(model.parameters(), lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)


def precision(device: torch.device, recipe) -> tuple[torch.dtype | None, torch.memory_format]:
    """The autocast dtype (None: fp32) and memory format ``recipe`` asks for on ``device``: mixed precision (bf16
    where supported, else fp16) and channels_last apply on CUDA only."""
    if device.type != "cuda":
        return None, torch.contiguous_format
    amp_dtype = None
    if recipe.mixed_precision:
        amp_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return amp_dtype, torch.channels_last if recipe.channels_last else torch.contiguous_format


def training_step(model, optimizer, scaler, x, y, aux_weights, recipe, amp_dtype):
    """One step: forward (under autocast when ``amp_dtype``), the probe loss, backward (scaled when ``scaler``),
    gradient clipping when the recipe asks, optimizer step. Returns the model's outputs and the ``ProbeLoss``."""
    with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
        out = model(x)
        loss = probe_loss(out.logits, out.aux_logits, y, aux_weights, recipe.label_smoothing)
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss.total).backward()
        scaler.unscale_(optimizer)
    else:
        loss.total.backward()
    if recipe.clip_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.clip_grad_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return out, loss


def _is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        isinstance(exc, MemoryError) or "out of memory" in text or "can't allocate memory" in text
    )


def peak_memory(device: torch.device) -> tuple[int, str]:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device), "torch.cuda.max_memory_allocated"
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "peak resident memory of the process"


def train_probe(
    spec: ModelSpec,
    config: ProbeConfig,
    dataset,
    device: torch.device,
    *,
    on_step: Callable[[StepMetrics], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    matmul_rate: float | None = None,
) -> ProbeSummary:
    """Train ``spec`` (already ``prepare_spec``-ed) on ``dataset`` for ``config.steps`` steps and measure it.

    ``on_step`` gets each step's metrics; ``should_stop`` is asked before each step and ends the run early
    (the summary then says ``cancelled`` and has what was measured so far). Raises ``ProbeFailed`` when the
    run runs out of memory or its loss stops being finite."""
    from ..analysis.costs import count

    recipe, batch = config.recipe, config.batch_size
    name = device_name(device)
    cuda = device.type == "cuda"
    amp_dtype, memory_format = precision(device, recipe)
    channels_last = memory_format == torch.channels_last
    aux_weights = {h.name: h.loss_weight for h in spec.aux_heads}
    report = count(spec)
    macs_per_image = report.totals.macs + (report.totals.aux_macs if spec.aux_heads else 0)

    torch.manual_seed(config.seed)
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats(device)
    times: list[float] = []
    accuracies: list[float] = []
    last_loss = None
    cancelled = False
    try:
        model = init_for_training(build(spec))
        if config.init_weights is not None:  # fine-tuning: uploaded weights, the classifier fresh
            from ..nn.weights import WeightsError, load_for_probe

            try:
                load_for_probe(model, config.init_weights)
            except WeightsError as exc:
                raise ProbeFailed(f"cannot start from the weights: {exc}") from None
        model = model.to(device=device, memory_format=memory_format).train()
        optimizer = _optimizer(model, config)
        scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
        for step in range(1, config.steps + 1):
            if should_stop is not None and should_stop():
                cancelled = True
                break
            x, y = dataset.batch(step - 1, batch)
            x = x.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            y = y.to(device, non_blocking=True)
            start = time.perf_counter()
            out, loss = training_step(model, optimizer, scaler, x, y, aux_weights, recipe, amp_dtype)
            values = torch.stack(
                [
                    loss.total.detach(),
                    loss.main.detach(),
                    loss.aux.detach() if loss.aux is not None else loss.main.new_zeros(()),
                    (out.logits.detach().argmax(1) == y).float().mean(),
                ]
            ).tolist()  # one sync
            synchronize(device)
            elapsed = time.perf_counter() - start
            total, main, aux, accuracy = values
            if not all(math.isfinite(v) for v in values):
                raise ProbeFailed(
                    f"the loss stopped being finite at step {step} ({total}) — try a smaller learning "
                    f"rate or turn on gradient clipping"
                )
            times.append(elapsed)
            accuracies.append(accuracy)
            last_loss = total
            if on_step is not None:
                on_step(StepMetrics(step, total, main, aux if loss.aux is not None else None, accuracy, elapsed))
        heldout = None if cancelled else _heldout_accuracy(model, dataset, config, device, memory_format, amp_dtype)
    except Exception as exc:
        if _is_out_of_memory(exc):
            raise ProbeFailed(
                f"out of memory at batch size {batch} on {name} — try a smaller batch or input size"
            ) from None
        raise

    measured = times[config.warmup_steps :] if len(times) > config.warmup_steps else times
    images_per_s = batch * len(measured) / sum(measured) if measured else None
    achieved = 3 * macs_per_image * images_per_s if images_per_s else None
    tail = accuracies[-max(1, len(accuracies) // 10) :]
    memory, memory_kind = peak_memory(device)
    return ProbeSummary(
        device=str(device),
        device_name=name,
        precision={None: "fp32", torch.bfloat16: "bf16 autocast", torch.float16: "fp16 autocast"}[amp_dtype],
        channels_last=channels_last,
        params=report.totals.params_with_aux if spec.aux_heads else report.totals.params,
        macs_per_image=macs_per_image,
        steps_done=len(times),
        steps_total=config.steps,
        cancelled=cancelled,
        images_per_s=images_per_s,
        time_per_step=statistics.median(measured) if measured else None,
        peak_memory_bytes=memory,
        peak_memory_kind=memory_kind,
        final_loss=last_loss,
        train_accuracy=statistics.fmean(tail) if accuracies else None,
        heldout_accuracy=heldout,
        achieved_macs_per_s=achieved,
        matmul_macs_per_s=matmul_rate,
        matmul_fraction=achieved / matmul_rate if achieved and matmul_rate else None,
    )


@torch.no_grad()
def _heldout_accuracy(model, dataset, config: ProbeConfig, device, memory_format, amp_dtype) -> float:
    model.eval()
    correct = seen = 0
    for x, y in dataset.heldout(config.data.heldout, batch_size=max(config.batch_size, 16)):
        x = x.to(device).contiguous(memory_format=memory_format)
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
        correct += (logits.argmax(1).cpu() == y).sum().item()
        seen += len(y)
    model.train()
    return correct / seen
