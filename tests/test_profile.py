"""``analysis.profile``: every block's measured time and memory, beside its counted MACs, on real modules.

The fast tests share one profile of a quarter-width GoogLeNet at 64 px; the slow ones time real presets and
compare within one run (ratios, generous margins), never against an absolute time.
"""

from __future__ import annotations

import json

import pytest
import torch

from inception_explorer import cli
from inception_explorer.analysis.costs import count
from inception_explorer.analysis.profile import BLOCK_COLUMNS, at_input, profile
from inception_explorer.errors import SpecError
from inception_explorer.spec import ModelSpec, estimate
from inception_explorer.spec.presets import get_preset

SMALL = get_preset("googlenet").with_width_multiplier(0.25).without_aux().with_input(64)
BATCH = 2


@pytest.fixture(scope="module")
def small():
    return profile(SMALL, batch=BATCH, device="cpu", repeats=2, warmup=1, threads=1)


def test_block_macs_and_params_are_counts(small):
    counted = count(SMALL).blocks
    assert list(small.blocks["name"]) == list(counted["block"])  # every block, in order, and the head last
    assert small.blocks["name"].iloc[-1] == "head"
    assert list(small.blocks["macs"]) == list(counted["macs"])
    assert list(small.blocks["params"]) == list(counted["params"])
    assert list(small.blocks.columns) == BLOCK_COLUMNS


def test_every_block_has_a_positive_time_and_memory(small):
    b = small.blocks
    assert (b["forward_ms"] > 0).all() and (b["backward_ms"] > 0).all()
    assert (b["activation_bytes"] > 0).all() and (b["saved_bytes"] > 0).all() and (b["input_bytes"] > 0).all()
    assert ((b["weight_bytes"] > 0) == (b["params"] > 0)).all()  # pools have none
    assert b["time_share"].sum() == pytest.approx(1.0) and b["macs_share"].sum() == pytest.approx(1.0)


def test_activation_bytes_are_the_outputs_for_the_batch(small):
    counted = count(SMALL).blocks
    expected = BATCH * 4 * counted["out_channels"] * counted["out_height"] * counted["out_width"]
    assert list(small.blocks["activation_bytes"]) == list(expected)
    # each block's input is the block before's output
    assert list(small.blocks["input_bytes"].iloc[1:]) == list(small.blocks["activation_bytes"].iloc[:-1])


def test_a_conv_saves_its_input_and_its_relu_its_output(small):
    """conv1 (no batch norm, no padding module): the conv saves its input for the weights' gradient, the in-place
    ReLU its result; the conv's weight is left out of saved_bytes (it is weight_bytes)."""
    conv1 = small.blocks.set_index("name").loc["conv1"]
    assert conv1["saved_bytes"] == conv1["input_bytes"] + conv1["activation_bytes"]
    assert conv1["weight_bytes"] == 4 * conv1["params"]


def test_derived_figures_follow_from_the_measured_ones(small):
    for r in small.blocks.itertuples():
        moved = r.weight_bytes + r.input_bytes + r.activation_bytes
        assert r.intensity == pytest.approx(BATCH * r.macs / moved)
        assert r.macs_per_s == pytest.approx(BATCH * r.macs / (r.forward_ms / 1000))
        assert r.bound == ("memory" if r.intensity * small.memory_bytes_per_s < small.matmul_macs_per_s else "compute")


def test_totals_and_the_cpu_peak_estimate(small):
    t = small.total
    assert t.forward_ms > 0 and t.backward_ms > 0 and t.train_step_ms > t.backward_ms
    assert t.weight_bytes == small.blocks["weight_bytes"].sum()  # the blocks and the head are the whole model
    assert t.peak_kind.startswith("estimate")
    image = BATCH * 4 * 3 * 64 * 64
    assert t.peak_bytes == 3 * t.weight_bytes + t.saved_bytes + image
    assert t.block_forward_ms == pytest.approx(small.blocks["forward_ms"].sum())
    assert t.block_forward_ratio > 0 and t.block_backward_ratio > 0  # per round, the median: not exactly the sums'


def test_threads_are_as_asked_and_restored(small):
    before = torch.get_num_threads()
    assert small.threads == 1 and "1 threads" in small.device
    assert torch.get_num_threads() == before


def test_json_shape(small):
    out = json.loads(json.dumps(small.to_dict()))
    assert {"blocks", "total", "device", "matmul_macs_per_s", "memory_bytes_per_s", "batch", "input"} <= set(out)
    assert out["input"] == [3, 64, 64] and out["batch"] == BATCH and out["device_type"] == "cpu"
    assert out["matmul_macs_per_s"] > 0 and out["memory_bytes_per_s"] > 0
    for block in out["blocks"]:
        assert {"name", "macs", "forward_ms", "backward_ms", "activation_bytes", "intensity"} <= set(block)
        assert isinstance(block["macs"], int) and isinstance(block["forward_ms"], float)
    assert {"forward_ms", "train_step_ms", "peak_bytes"} <= set(out["total"])
    assert isinstance(out["total"]["peak_bytes"], int)


def test_text_names_every_block(small):
    text = small.to_text()
    assert all(name in text for name in small.blocks["name"])
    assert "training step" in text and "peak memory" in text


def test_input_forms():
    spec = get_preset("googlenet")
    assert at_input(spec, 96) == at_input(spec, (96, 96)) == at_input(spec, (3, 96, 96)) == spec.with_input(96)
    assert at_input(spec, (1, 96, 128)).in_channels == 1 and at_input(spec, (1, 96, 128)).input_size == (96, 128)
    assert at_input(spec, None) == spec


@pytest.mark.parametrize(
    "kwargs, place",
    [
        ({"batch": 0}, "batch"),
        ({"batch": True}, "batch"),
        ({"batch": 1.5}, "batch"),
        ({"batch": 10**6}, "batch"),
        ({"repeats": 0}, "repeats"),
        ({"warmup": -1}, "warmup"),
        ({"threads": 0}, "threads"),
        ({"device": "gpu"}, "device"),
        ({"input": ()}, "input"),
        ({"input": (1, 2, 3, 4)}, "input"),
        ({"input": "224"}, "input"),
        ({"input": 0}, "input_size"),
    ],
)
def test_bad_input_is_a_spec_error_naming_the_setting(kwargs, place):
    with pytest.raises(SpecError) as exc:
        profile(SMALL, **kwargs)
    assert exc.value.problems[0].loc == place, exc.value.problems


def test_a_batch_past_the_activation_budget_is_refused(monkeypatch):
    """One image fits the budget, a batch of 8 does not: refused before anything is built."""
    monkeypatch.setenv("INCEPTION_EXPLORER_MAX_ACTIVATIONS", str(2 * estimate(SMALL).activations))
    with pytest.raises(SpecError, match="INCEPTION_EXPLORER_MAX_ACTIVATIONS") as exc:
        profile(SMALL, batch=8)
    assert exc.value.problems[0].loc == "batch"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_cuda_device_is_a_spec_error_naming_device():
    with pytest.raises(SpecError, match="no CUDA device") as exc:
        profile(SMALL, device="cuda")
    assert exc.value.problems[0].loc == "device"


def test_batch_norm_on_a_single_value_per_channel_names_the_batch():
    spec = get_preset("googlenet_torchvision").with_width_multiplier(0.25)  # batch norm; 1x1 grid at 32 px
    with pytest.raises(SpecError, match="batch norm") as exc:
        profile(spec, input=32, batch=1, device="cpu", repeats=1, warmup=0)
    assert exc.value.problems[0].loc == "batch"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_on_cuda_the_peak_is_measured():
    report = profile(SMALL, batch=BATCH, device="cuda", repeats=2, warmup=1)
    assert report.device_type == "cuda" and report.threads is None
    assert report.total.peak_kind.startswith("torch.cuda.max_memory_allocated")
    assert report.total.peak_bytes >= report.total.weight_bytes * 3  # weights, gradients, momentum at least
    assert (report.blocks["forward_ms"] > 0).all()


def _widened(spec, block_name: str, factor: int = 2):
    """``spec`` with every width of block ``block_name`` (all its convolutions' output channels) times ``factor``:
    the block alone in a one-block spec, scaled by ``ModelSpec.with_width_multiplier``."""
    si, bi = spec.find_block(block_name)
    block = spec.stages[si].blocks[bi].model_dump(mode="json", by_alias=True)
    alone = ModelSpec.from_dict({"name": "_", "stages": [{"name": "_", "blocks": [block]}]})
    return spec.with_block(si, bi, alone.with_width_multiplier(factor).stages[0].blocks[0])


@pytest.mark.slow
def test_a_block_twice_as_wide_measures_slower():
    spec = get_preset("googlenet").with_input(96)
    wide = _widened(spec, "inception3b")  # the widest block, on a 12x12 grid here
    a, b = (profile(s, device="cpu", repeats=7, warmup=2).blocks.set_index("name") for s in (spec, wide))
    macs_ratio = b.at["inception3b", "macs"] / a.at["inception3b", "macs"]
    time_ratio = b.at["inception3b", "forward_ms"] / a.at["inception3b", "forward_ms"]
    print(f"inception3b x2 wide: MACs x{macs_ratio:.2f}, forward time x{time_ratio:.2f}")
    assert macs_ratio > 3
    assert time_ratio > 1.3  # generous: x2.3 measured on the 2-core CPU, at one thread
    assert b.at["inception3b", "backward_ms"] > a.at["inception3b", "backward_ms"]


@pytest.mark.slow
def test_blocks_add_up_to_the_whole_forward_within_30_percent():
    report = profile(get_preset("googlenet"), input=160, device="cpu", repeats=7, warmup=2)
    t = report.total
    print(
        f"googlenet 160: blocks {t.block_forward_ms:.1f} ms / whole {t.forward_ms:.1f} ms = {t.block_forward_ratio:.3f}"
    )
    assert 0.7 <= t.block_forward_ratio <= 1.3


@pytest.mark.slow
def test_cli_profile_json(capsys):
    assert cli.main(["profile", "googlenet", "--input", "3x96x96", "--repeats", "1", "--batch", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [b["name"] for b in out["blocks"]] == [*get_preset("googlenet").block_names(), "head"]
    assert out["batch"] == 2 and out["input"] == [3, 96, 96]
    assert {"forward_ms", "train_step_ms", "peak_bytes"} <= set(out["total"])


@pytest.mark.parametrize(
    "args, word",
    [
        (["googlenet", "--input", "3by224"], "3x299x299"),
        (["googlenet", "--batch", "0"], "--batch"),
        (["googlenet", "--repeats", "0"], "--repeats"),
        (["alexnet"], "'alexnet'"),
        (["googlenet", "--device", "gpu"], "device"),
        pytest.param(
            ["googlenet", "--device", "cuda"],
            "no CUDA device",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device"),
        ),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(args, word, capsys):
    try:
        code = cli.main(["profile", *args])
    except SystemExit as exc:  # argparse's own refusals
        code = exc.code
    err = capsys.readouterr()
    assert code == 2 and err.out == ""
    assert err.err.startswith("error:") and word in err.err and len(err.err.strip().splitlines()) == 1, err.err
