"""fit.py: a network scaled to a budget of multiply-adds, its stage shares kept, no new principle violation."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from inception_explorer.analysis.costs import count
from inception_explorer.analysis.fit import TOLERANCE, FitError, fit, fit_result
from inception_explorer.analysis.principles import check
from inception_explorer.cli import main
from inception_explorer.spec import ModelSpec, validate
from inception_explorer.spec.presets import get_preset, list_presets

PRESETS = [p.name for p in list_presets()]
README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _violations(spec: ModelSpec) -> set[tuple[str, str, str, str]]:
    return {(f.principle, f.rule, f.stage, f.block) for f in check(count(spec)) if f.severity == "violation"}


def _shares(spec: ModelSpec) -> list[float]:
    return count(spec).stages["macs_share"].tolist()


@pytest.fixture(scope="module")
def fits():
    cache: dict = {}

    def get(name: str, factor: float, keep: str):
        if (name, factor, keep) not in cache:
            spec = get_preset(name)
            cache[name, factor, keep] = (spec, fit_result(spec, spec_macs(spec) * factor, keep))
        return cache[name, factor, keep]

    return get


def spec_macs(spec: ModelSpec) -> int:
    return count(spec).totals.macs


@pytest.mark.parametrize("keep", ["stage-shares", "uniform"])
@pytest.mark.parametrize("factor", [0.5, 1.5])
@pytest.mark.parametrize("name", PRESETS)
def test_fit_lands_within_one_percent_validates_and_adds_no_violation(fits, name, factor, keep):
    spec, result = fits(name, factor, keep)
    budget = round(spec_macs(spec) * factor)
    fitted = result.spec
    macs = count(fitted).totals.macs  # recounted, not taken from the result
    assert abs(macs - budget) <= TOLERANCE * budget, (macs, budget)
    assert result.macs == macs and result.budget == budget
    assert ModelSpec.from_json(fitted.to_json()) == fitted
    validate(fitted)
    assert _violations(fitted) <= _violations(spec)
    # The input's channels, its size and the class count never scale; the structure stays.
    assert (fitted.in_channels, fitted.input_size, fitted.num_classes) == (
        spec.in_channels,
        spec.input_size,
        spec.num_classes,
    )
    assert fitted.block_names() == spec.block_names()
    assert [a.after for a in fitted.aux_heads] == [a.after for a in spec.aux_heads]
    widened = factor > 1
    assert all((m > 1) == widened for m in result.multipliers.values())


@pytest.mark.parametrize("name", PRESETS)
def test_stage_shares_keeps_every_stage_share(fits, name):
    for factor in (0.5, 1.5):
        spec, result = fits(name, factor, "stage-shares")
        before, after = _shares(spec), _shares(result.spec)
        for stage, b, a in zip(count(spec).stages["stage"], before, after, strict=True):
            assert a == pytest.approx(b, abs=0.005), (name, factor, stage, b, a)


def test_stage_shares_keeps_the_stem_share_that_one_multiplier_lets_drift(fits):
    # GoogLeNet's conv1 sees the image's 3 channels: its cost scales with the multiplier, the rest with its square,
    # so one multiplier for all shifts the cost towards the stem when the network shrinks.
    spec, shares = fits("googlenet", 0.5, "stage-shares")
    _, uniform = fits("googlenet", 0.5, "uniform")
    before = _shares(spec)[0]
    assert abs(_shares(shares.spec)[0] - before) < 0.003
    assert _shares(uniform.spec)[0] - before > 0.01
    assert shares.multipliers["stem"] < shares.multipliers["inception4"]


def test_uniform_is_the_width_multiplier(fits):
    spec, result = fits("inception_v3", 0.5, "uniform")
    (m,) = set(result.multipliers.values())
    expected = spec.with_width_multiplier(m).to_dict()
    got = result.spec.to_dict()
    for label in ("name", "description"):
        expected.pop(label), got.pop(label)
    assert got == expected


def test_stage_shares_scales_each_stage_by_its_own_multiplier(fits):
    spec, result = fits("googlenet", 1.5, "stage-shares")
    m = result.multipliers
    fitted = {b.name: b for _, _, _, b in result.spec.iter_blocks()}
    assert fitted["conv1"].out_channels == round(64 * m["stem"])
    assert fitted["conv3"].out_channels == round(192 * m["stem"])
    assert fitted["inception3a"].ch1x1 == round(64 * m["inception3"])
    assert fitted["inception5b"].ch3x3 == round(384 * m["inception5"])
    aux = {a.name: a for a in result.spec.aux_heads}
    assert aux["aux1"].conv_channels == round(128 * m["inception4"])  # aux1 hangs off inception4a


def test_the_papers_budgets():
    googlenet = fit(get_preset("googlenet"), macs=1.5e9)  # [G] §1: "1.5 billion multiply-adds"
    assert count(googlenet).totals.macs == pytest.approx(1.5e9, rel=TOLERANCE)
    v3 = fit(get_preset("inception_v3"), macs=5e9, keep="uniform")  # [R] abstract: "5 billion multiply-adds"
    assert count(v3).totals.macs == pytest.approx(5e9, rel=TOLERANCE)
    assert googlenet.name == "googlenet_fit" and "1,500,000,000 MACs" in googlenet.description


def test_the_readme_budget_example_runs():
    section = README[README.index("### Budgets") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    assert count(scope["v1"]).totals.macs == pytest.approx(1.5e9, rel=TOLERANCE)
    assert count(scope["v3"]).totals.macs == pytest.approx(5e9, rel=TOLERANCE)


def test_a_fit_that_would_break_a_principle_is_refused_with_the_violation_named():
    spec = get_preset("googlenet")
    # Shrinking GoogLeNet's widths to 0.4x pushes its stem's representation below half the image's: a violation
    # of principle 1 that the original does not have. A budget that needs such widths is refused.
    assert _violations(spec.with_width_multiplier(0.4)) - _violations(spec)
    with pytest.raises(FitError, match=r"would add principle violations.*principle 1 'early compression' at maxpool"):
        fit(spec, macs=2e8)


@pytest.mark.parametrize(
    ("macs", "keep", "message"),
    [
        (1000, "stage-shares", "cannot fit googlenet"),
        (1e13, "uniform", "cannot fit googlenet"),
        (0, "uniform", "positive number"),
        (math.nan, "uniform", "positive number"),
        (1.5e9, "wider", "keep must be one of"),
    ],
)
def test_budgets_out_of_reach_and_bad_arguments_raise_fit_error(macs, keep, message):
    with pytest.raises(FitError, match=message):
        fit(get_preset("googlenet"), macs=macs, keep=keep)


# ---- the command line (in this process: main() is what `python -m inception_explorer` runs) ---------------------


def test_cli_fit_prints_the_spec_on_stdout_and_one_summary_line_on_stderr(capsys):
    assert main(["fit", "googlenet", "--macs", "1.5G", "--keep", "uniform"]) == 0
    out, err = capsys.readouterr()
    spec = ModelSpec.from_dict(json.loads(out))
    assert count(spec).totals.macs == pytest.approx(1.5e9, rel=TOLERANCE)
    assert err.count("\n") == 1
    assert "googlenet_fit: 1,582,722,048 -> " in err and "budget 1,500,000,000" in err and "keep=uniform" in err


def test_cli_fit_reads_a_spec_file(tmp_path, capsys):
    path = tmp_path / "v3.json"
    path.write_text(get_preset("inception_v3").to_json())
    assert main(["fit", str(path), "--macs", "5e9"]) == 0
    out, _ = capsys.readouterr()
    assert count(ModelSpec.from_json(out)).totals.macs == pytest.approx(5e9, rel=TOLERANCE)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--macs", "lots"], "--macs must be a number"),
        (["--macs", "0"], "--macs must be a number"),
        (["--macs", "1.5G", "--keep", "wide"], "--keep must be one of"),
        (["--macs", "1000"], "cannot fit googlenet"),
        (["--macs", "2e8"], "would add principle violations"),
    ],
)
def test_cli_fit_bad_input_exits_2_with_one_line(capsys, args, message):
    assert main(["fit", "googlenet", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and message in err
