"""Training probes in-process: data, loss formulas, the prepared spec, the loop's measurements and failures."""

import math

import pytest
import torch
import torch.nn.functional as F

from inception_explorer.errors import SpecError
from inception_explorer.probes import DataError, ProbeConfig, ProbeFailed
from inception_explorer.probes.config import GOOGLENET_RECIPE, RETHINKING_RECIPE, default_recipe
from inception_explorer.probes.data import ImageFolderData, SyntheticShapes, resolve_under_root
from inception_explorer.probes.loss import probe_loss, smoothed_cross_entropy
from inception_explorer.probes.train import prepare_spec, train_probe
from inception_explorer.spec.presets import get_preset

CPU = torch.device("cpu")


def tiny_config(**overrides) -> ProbeConfig:
    data = {
        "steps": 4,
        "batch_size": 4,
        "image_size": 32,
        "width_multiplier": 0.125,
        "warmup_steps": 1,
        "data": {"num_classes": 4, "heldout": 8},
        "recipe": {"aux_heads": False},
    }
    data.update(overrides)
    return ProbeConfig.from_dict(data)


# ---- data ------------------------------------------------------------------------------------------------------


def test_synthetic_batches_are_deterministic_per_step_and_differ_between_steps():
    data = SyntheticShapes(num_classes=10, image_size=48, seed=3)
    x1, y1 = data.batch(7, 16)
    x2, y2 = SyntheticShapes(num_classes=10, image_size=48, seed=3).batch(7, 16)
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    x3, _ = data.batch(8, 16)
    assert not torch.equal(x1, x3)
    assert x1.shape == (16, 3, 48, 48) and x1.dtype == torch.float32
    other_seed, _ = SyntheticShapes(num_classes=10, image_size=48, seed=4).batch(7, 16)
    assert not torch.equal(x1, other_seed)
    held = data.heldout(40, batch_size=16)
    assert [len(y) for _, y in held] == [16, 16, 8]
    assert not torch.equal(held[0][0], data.batch(0, 16)[0])  # held-out images are not training images


def test_synthetic_labels_cover_every_class_and_name_shape_and_stripes():
    data = SyntheticShapes(num_classes=20, image_size=16, seed=0)
    _, y = data.batch(0, 2000)
    assert set(y.tolist()) == set(range(20))
    assert data.class_names[0] == "disk, vertical stripes" and data.class_names[5] == "disk, horizontal stripes"
    with pytest.raises(DataError, match="2 to 20 classes"):
        SyntheticShapes(num_classes=21)


def test_synthetic_classes_differ_in_the_pixels_that_define_them():
    """Stripe orientation is a class feature: vertical-stripe classes vary along x inside the shape, horizontal
    ones along y: the ratio of horizontal to vertical gradient energy of an image tells the two apart."""
    data = SyntheticShapes(num_classes=10, image_size=64, seed=1)
    x, y = data.batch(0, 600)
    gx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))
    gy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3))
    ratio = gx / gy
    assert (ratio[y < 5] > 1).float().mean() > 0.95  # vertical stripes: more change along x
    assert (ratio[y >= 5] < 1).float().mean() > 0.95


def _write_png(path, colour):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (20, 12), colour).save(path)


def test_image_folder_reads_classes_under_the_root_and_holds_out_every_fifth(tmp_path):
    root = tmp_path / "root"
    for i in range(6):
        _write_png(root / "set" / "red" / f"{i}.png", (255, 0, 0))
        _write_png(root / "set" / "blue" / f"{i}.png", (0, 0, 255))
    (root / "set" / "notes").mkdir()  # a folder without images is not a class
    data = ImageFolderData("set", image_size=8, root=root)
    assert data.class_names == ["blue", "red"] and data.num_classes == 2
    assert len(data.train) == 10 and len(data.held) == 2
    x, y = data.batch(0, 6)
    assert x.shape == (6, 3, 8, 8)
    red = x[y == 1]
    assert torch.allclose(red[:, 0], torch.full_like(red[:, 0], (1 - 0.5) / 0.25))  # normalised red channel
    assert torch.equal(data.batch(3, 6)[1], ImageFolderData("set", image_size=8, root=root).batch(3, 6)[1])


def test_the_data_root_is_enforced(tmp_path):
    root = tmp_path / "root"
    (root / "inside" / "a").mkdir(parents=True)
    outside = tmp_path / "outside"
    (outside / "a").mkdir(parents=True)
    (root / "escape").symlink_to(outside)
    assert resolve_under_root("inside", root) == (root / "inside").resolve()
    assert resolve_under_root(str(root / "inside"), root) == (root / "inside").resolve()
    for bad in ("../outside", str(outside), "inside/../../outside", "escape", "/etc", "~"):
        with pytest.raises(DataError):
            resolve_under_root(bad, root)
    with pytest.raises(DataError, match="outside the data root"):
        resolve_under_root("../outside", root)
    with pytest.raises(DataError, match="not a folder"):
        resolve_under_root("missing", root)
    with pytest.raises(DataError, match="two class sub-folders"):
        ImageFolderData("inside", image_size=8, root=root)


def test_an_image_symlinked_from_outside_the_root_is_not_read(tmp_path):
    root = tmp_path / "root"
    for i in range(3):
        _write_png(root / "set" / "a" / f"{i}.png", (1, 2, 3))
        _write_png(root / "set" / "b" / f"{i}.png", (4, 5, 6))
    _write_png(tmp_path / "secret.png", (9, 9, 9))
    (root / "set" / "a" / "secret.png").symlink_to(tmp_path / "secret.png")
    data = ImageFolderData("set", image_size=8, root=root)
    assert all("secret" not in p.name for p, _ in data.train + data.held)


def test_a_file_that_is_not_an_image_fails_with_its_name(tmp_path):
    root = tmp_path / "root"
    _write_png(root / "set" / "a" / "0.png", (1, 2, 3))
    (root / "set" / "b").mkdir(parents=True)
    (root / "set" / "b" / "0.png").write_text("not a png")
    data = ImageFolderData("set", image_size=8, root=root)
    with pytest.raises(DataError, match="cannot read image .*0.png"):
        data._stack(data.train)


# ---- loss ------------------------------------------------------------------------------------------------------


def _smoothed_by_hand(logits: torch.Tensor, target: torch.Tensor, eps: float) -> torch.Tensor:
    """[R] §7 written out: q'(k) = (1 - eps) delta_{k,y} + eps / K, loss = -sum_k q'(k) log p(k), batch mean."""
    n, k = logits.shape
    p = logits.double().softmax(1)
    q = torch.full((n, k), eps / k, dtype=torch.float64)
    q[torch.arange(n), target] += 1 - eps
    return -(q * p.log()).sum(1).mean()


def test_label_smoothing_is_the_formula_of_rethinking_section_7():
    g = torch.Generator().manual_seed(0)
    logits, target = torch.randn(6, 5, generator=g), torch.tensor([0, 1, 2, 3, 4, 0])
    eps = 0.1
    expected = _smoothed_by_hand(logits, target, eps)
    assert torch.allclose(smoothed_cross_entropy(logits, target, eps).double(), expected, atol=1e-6)
    assert torch.allclose(
        smoothed_cross_entropy(logits, target, 0.0).double(), _smoothed_by_hand(logits, target, 0.0), atol=1e-6
    )
    assert torch.allclose(smoothed_cross_entropy(logits, target, 0.0), F.cross_entropy(logits, target))
    # smoothing pulls a confident correct prediction's loss up: the target is no longer one-hot
    confident, zero = torch.tensor([[10.0, 0, 0, 0, 0]]), torch.tensor([0])
    assert smoothed_cross_entropy(confident, zero, eps) > smoothed_cross_entropy(confident, zero, 0.0) + 0.1
    # the loss is fp32 whatever the logits' dtype (autocast gives bf16 logits on CUDA)
    half = smoothed_cross_entropy(logits.bfloat16(), target, eps)
    assert half.dtype == torch.float32
    assert torch.allclose(half.double(), _smoothed_by_hand(logits.bfloat16().float(), target, eps), atol=1e-6)


def test_smoothed_aux_losses_are_weighted_as_the_formula_says():
    """With label smoothing and two aux heads: total = H(q', p_main) + sum_i w_i H(q', p_aux_i), by hand."""
    g = torch.Generator().manual_seed(2)
    main, aux1, aux2 = (torch.randn(5, 7, generator=g) for _ in range(3))
    y = torch.tensor([0, 6, 3, 3, 1])
    eps, weights = 0.1, {"aux1": 0.3, "aux2": 0.5}
    loss = probe_loss(main, {"aux1": aux1, "aux2": aux2}, y, weights, label_smoothing=eps)
    by_hand_main = _smoothed_by_hand(main, y, eps)
    by_hand_aux = 0.3 * _smoothed_by_hand(aux1, y, eps) + 0.5 * _smoothed_by_hand(aux2, y, eps)
    assert torch.allclose(loss.main.double(), by_hand_main, atol=1e-6)
    assert torch.allclose(loss.aux.double(), by_hand_aux, atol=1e-6)
    assert torch.allclose(loss.total.double(), by_hand_main + by_hand_aux, atol=1e-6)


def test_aux_heads_add_their_loss_times_their_weight():
    g = torch.Generator().manual_seed(1)
    main, aux1, aux2 = (torch.randn(4, 3, generator=g) for _ in range(3))
    y = torch.tensor([0, 1, 2, 1])
    loss = probe_loss(main, {"aux1": aux1, "aux2": aux2}, y, {"aux1": 0.3, "aux2": 0.3})
    ce = F.cross_entropy
    assert torch.allclose(loss.main, ce(main, y))
    assert torch.allclose(loss.aux, 0.3 * ce(aux1, y) + 0.3 * ce(aux2, y))
    assert torch.allclose(loss.total, ce(main, y) + 0.3 * (ce(aux1, y) + ce(aux2, y)))
    no_aux = probe_loss(main, {}, y, {})
    assert no_aux.aux is None and torch.equal(no_aux.total, no_aux.main)


def test_a_googlenet_forward_pass_gives_the_weighted_aux_loss():
    """The formula on the real network: total - main = 0.3 x (CE of aux1 + CE of aux2), from InceptionOutputs."""
    from inception_explorer.nn.build import build

    spec = prepare_spec(get_preset("googlenet"), tiny_config(image_size=96, recipe={"aux_heads": True}), 4)
    torch.manual_seed(0)
    model = build(spec).train()
    x, y = SyntheticShapes(4, 96).batch(0, 3)
    out = model(x)
    assert set(out.aux_logits) == {"aux1", "aux2"}
    loss = probe_loss(out.logits, out.aux_logits, y, {h.name: h.loss_weight for h in spec.aux_heads})
    expected = sum(0.3 * F.cross_entropy(a, y) for a in out.aux_logits.values())
    assert torch.allclose(loss.total - loss.main, expected, atol=1e-5)


# ---- the spec a probe trains -----------------------------------------------------------------------------------


def test_prepare_spec_applies_size_classes_width_and_the_aux_switches():
    v3 = get_preset("inception_v3")
    config = tiny_config(image_size=299, width_multiplier=0.5, recipe={"aux_heads": True, "bn_auxiliary": True})
    spec = prepare_spec(v3, config, 7)
    assert spec.input_size == (299, 299) and spec.num_classes == 7
    assert spec.stages[0].blocks[0].layer().out_channels == 16  # Conv2d_1a_3x3: 32 channels x 0.5
    assert spec.aux_heads[0].bn_fc is True and spec.aux_heads[0].conv_channels == 64
    no_aux = prepare_spec(v3, tiny_config(image_size=139, recipe={"aux_heads": False}), 7)
    assert no_aux.aux_heads == ()


def test_a_grid_that_collapses_at_the_probe_size_fails_before_anything_starts():
    with pytest.raises(SpecError) as err:
        prepare_spec(get_preset("inception_v3"), tiny_config(image_size=48), 10)
    assert "collapses" in str(err.value) or "grid" in str(err.value)
    with pytest.raises(SpecError, match="aux1.*does not fit"):
        prepare_spec(get_preset("googlenet"), tiny_config(image_size=32, recipe={"aux_heads": True}), 10)


def test_batch_norm_needs_two_images_per_batch():
    with pytest.raises(SpecError, match="batch_size"):
        prepare_spec(get_preset("inception_v3"), tiny_config(image_size=96, batch_size=1), 4)


def test_default_recipes_follow_the_papers():
    assert default_recipe(get_preset("googlenet")) == GOOGLENET_RECIPE
    assert GOOGLENET_RECIPE.optimizer == "sgd" and GOOGLENET_RECIPE.momentum == 0.9
    r = default_recipe(get_preset("inception_v3"))
    assert r == RETHINKING_RECIPE
    assert (r.optimizer, r.rmsprop_decay, r.rmsprop_eps, r.label_smoothing, r.clip_grad_norm) == (
        "rmsprop",
        0.9,
        1.0,
        0.1,
        2.0,
    )


def test_bad_config_values_are_located():
    with pytest.raises(SpecError) as err:
        ProbeConfig.from_dict({"steps": 0, "recipe": {"lr": -1, "optimizer": "adam"}})
    text = str(err.value)
    assert "steps" in text and "recipe.lr" in text and "recipe.optimizer" in text


# ---- the loop --------------------------------------------------------------------------------------------------


def test_a_probe_trains_with_monotone_steps_finite_losses_and_measurements():
    config = tiny_config(steps=6)
    spec = prepare_spec(get_preset("googlenet"), config, 4)
    steps = []
    summary = train_probe(spec, config, SyntheticShapes(4, 32), CPU, on_step=steps.append, matmul_rate=1e10)
    assert [m.step for m in steps] == list(range(1, 7))
    assert all(math.isfinite(m.loss) and math.isfinite(m.main_loss) and m.aux_loss is None for m in steps)
    assert all(0 <= m.accuracy <= 1 and m.step_time > 0 for m in steps)
    assert summary.steps_done == 6 and not summary.cancelled
    assert summary.images_per_s == pytest.approx(4 * 5 / sum(m.step_time for m in steps[1:]))
    assert summary.time_per_step == pytest.approx(sorted(m.step_time for m in steps[1:])[2])
    assert 0 <= summary.heldout_accuracy <= 1
    assert summary.peak_memory_bytes > 50 * 2**20 and "resident" in summary.peak_memory_kind
    assert summary.matmul_fraction == pytest.approx(summary.achieved_macs_per_s / 1e10)
    assert summary.achieved_macs_per_s == pytest.approx(3 * summary.macs_per_image * summary.images_per_s)
    assert summary.precision == "fp32" and summary.device == "cpu"


def test_probes_are_reproducible_on_cpu():
    config = tiny_config(steps=3, seed=5)
    spec = prepare_spec(get_preset("inception_v2"), config.model_copy(update={"image_size": 80}), 4)
    runs = []
    for _ in range(2):
        steps = []
        train_probe(
            spec,
            config.model_copy(update={"image_size": 80}),
            SyntheticShapes(4, 80, seed=5),
            CPU,
            on_step=steps.append,
        )
        runs.append([m.loss for m in steps])
    assert runs[0] == runs[1]


def test_aux_heads_train_and_are_reported_apart():
    config = tiny_config(steps=2, image_size=96, recipe={"aux_heads": True})
    spec = prepare_spec(get_preset("googlenet"), config, 4)
    steps = []
    summary = train_probe(spec, config, SyntheticShapes(4, 96), CPU, on_step=steps.append)
    assert all(m.aux_loss is not None and m.loss == pytest.approx(m.main_loss + m.aux_loss, rel=1e-5) for m in steps)
    assert summary.macs_per_image > 0


def test_should_stop_ends_the_run_early_and_keeps_what_was_measured():
    config = tiny_config(steps=50)
    spec = prepare_spec(get_preset("googlenet"), config, 4)
    steps = []
    summary = train_probe(
        spec, config, SyntheticShapes(4, 32), CPU, on_step=steps.append, should_stop=lambda: len(steps) >= 3
    )
    assert summary.cancelled and summary.steps_done == 3 and len(steps) == 3
    assert summary.heldout_accuracy is None and summary.images_per_s > 0


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: "
            "you tried to allocate 1 bytes"
        ),
    ],
)
def test_out_of_memory_gives_the_message_with_batch_and_device(monkeypatch, error):
    import inception_explorer.probes.train as train

    real_build = train.build

    def build_that_runs_out(spec):
        model = real_build(spec)

        def forward(*args, **kwargs):
            raise error

        model.forward = forward
        return model

    monkeypatch.setattr(train, "build", build_that_runs_out)
    config = tiny_config(batch_size=6)
    spec = prepare_spec(get_preset("googlenet"), config, 4)
    with pytest.raises(ProbeFailed) as err:
        train_probe(spec, config, SyntheticShapes(4, 32), CPU)
    assert str(err.value).startswith("out of memory at batch size 6 on cpu (")
    assert str(err.value).endswith("— try a smaller batch or input size")


def test_other_errors_are_not_reported_as_out_of_memory(monkeypatch):
    import inception_explorer.probes.train as train

    monkeypatch.setattr(train, "build", lambda spec: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
    config = tiny_config()
    with pytest.raises(RuntimeError, match="shape mismatch"):
        train_probe(prepare_spec(get_preset("googlenet"), config, 4), config, SyntheticShapes(4, 32), CPU)


def test_a_diverging_loss_fails_with_advice():
    config = tiny_config(steps=30, recipe={"aux_heads": False, "lr": 10.0, "momentum": 0.99})
    spec = prepare_spec(get_preset("googlenet"), config, 4)
    with pytest.raises(ProbeFailed, match="stopped being finite at step .* smaller learning rate"):
        train_probe(spec, config, SyntheticShapes(4, 32), CPU)


def test_width_multiplier_scales_the_cost():
    from inception_explorer.analysis.costs import count

    def params(width: float) -> int:
        return count(
            prepare_spec(get_preset("googlenet"), tiny_config(image_size=96, width_multiplier=width), 10)
        ).totals.params

    full, half = params(1.0), params(0.5)
    assert 0.2 < half / full < 0.3  # convolutions' weights scale with both widths: about a quarter


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_a_probe_on_cuda_uses_mixed_precision_and_channels_last():
    config = tiny_config(steps=3, device="cuda", batch_size=8, image_size=96, recipe={"aux_heads": True})
    spec = prepare_spec(get_preset("inception_v3"), config.model_copy(update={"image_size": 299}), 4)
    summary = train_probe(
        spec, config.model_copy(update={"image_size": 299}), SyntheticShapes(4, 299), torch.device("cuda")
    )
    assert summary.precision in ("bf16 autocast", "fp16 autocast") and summary.channels_last
    assert summary.peak_memory_kind == "torch.cuda.max_memory_allocated" and summary.peak_memory_bytes > 0
    fp32_recipe = config.recipe.model_copy(update={"mixed_precision": False, "channels_last": False})
    fp32 = config.model_copy(update={"image_size": 299, "recipe": fp32_recipe})
    assert train_probe(spec, fp32, SyntheticShapes(4, 299), torch.device("cuda")).precision == "fp32"
