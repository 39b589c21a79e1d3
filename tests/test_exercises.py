"""Exercises as data (issue 19 §1-2): every built-in loads, a right answer passes and a wrong one fails, the
courses' figures come out of the checks exactly, a bad exercise file is one located ExerciseError.

The answers are built with the package (``benchmarks/exercise_table.py``'s ``ANSWERS``): blocks converted with
``editing.convert``, edited with ``editing.structure``, widths scaled with ``analysis.fit``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from inception_explorer.analysis.costs import count
from inception_explorer.analysis.findings import PRINCIPLE_TITLES
from inception_explorer.analysis.principles import RULES
from inception_explorer.exercises import (
    CheckResult,
    Exercise,
    ExerciseError,
    ExerciseReport,
    builtin_exercises,
    evaluate,
    get_exercise,
    load_exercises,
    probe_plan,
    run_probe_checks,
    starting_spec,
)
from inception_explorer.exercises.schema import PRINCIPLES, FindingsCheck, ProbeCheck
from inception_explorer.probes import ProbeConfig
from inception_explorer.spec import ModelSpec
from inception_explorer.spec.presets import get_preset, list_presets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from exercise_table import ANSWERS  # noqa: E402

REQUIRED = (
    "naive-module-cost",
    "bottleneck-module-cost",
    "ng-5x5-bottleneck",
    "factorize-5x5",
    "asymmetric-3x3",
    "two-2x2",
    "table1-rows",
    "googlenet-min-input",
    "googlenet-28px",
    "cut-googlenet-macs-20",
    "fit-v3-budget",
    "ladder-probe",
)
BUILTIN = builtin_exercises()
IDS = [e.id for e in BUILTIN]


def _answer(exercise_id: str, which: str) -> ModelSpec:
    _, right, _, wrong = ANSWERS[exercise_id]
    return right() if which == "right" else wrong()


def _by_name(report: ExerciseReport) -> dict[str, CheckResult]:
    return {c.name: c for c in report.checks}


# ---------------------------------------------------------------------------------------------------------------
# The built-ins as data
# ---------------------------------------------------------------------------------------------------------------


def test_every_required_exercise_is_built_in_once():
    assert set(REQUIRED) <= set(IDS) and len(IDS) == len(set(IDS)) >= 10
    assert set(ANSWERS) == set(IDS)


@pytest.mark.parametrize("exercise", BUILTIN, ids=IDS)
def test_builtin_loads_validates_and_opens_its_start(exercise):
    path = Path(__file__).resolve().parents[1] / "inception_explorer" / "exercises" / "builtin" / f"{exercise.id}.json"
    (again,) = load_exercises(path.read_bytes())  # the shipped file is an instructor's file like any other
    assert again == exercise
    assert "[G]" in exercise.instructions or "[R]" in exercise.instructions
    assert all(c.hint for c in exercise.checks), "every check says which page and section help"
    names = [c.name for c in evaluate(exercise, starting_spec(exercise)).checks]
    assert len(names) == len(set(names)), names
    starting_spec(exercise)  # a valid network


def test_findings_checks_name_real_principles_and_rules():
    assert set(PRINCIPLES) == set(PRINCIPLE_TITLES)
    rules = {r.name for r in RULES}
    for exercise in BUILTIN:
        for check in exercise.checks:
            if isinstance(check, FindingsCheck) and check.rule is not None:
                assert check.rule in rules, (exercise.id, check.rule)


# ---------------------------------------------------------------------------------------------------------------
# Right answers pass, wrong answers fail
# ---------------------------------------------------------------------------------------------------------------


#: Their answers come from ``analysis.fit``, which counts the network a dozen times or more: seconds each.
FITTED = ("fit-v3-budget", "cut-googlenet-macs-20")


@pytest.mark.parametrize(
    "exercise_id",
    [pytest.param(i, marks=pytest.mark.slow) if i in FITTED else i for i in IDS if i != "ladder-probe"],
)
def test_right_answer_passes_and_wrong_answer_fails(exercise_id):
    exercise = get_exercise(exercise_id)
    right = evaluate(exercise, _answer(exercise_id, "right"))
    assert right.passed, [c for c in right.checks if not c.passed]
    wrong = evaluate(exercise, _answer(exercise_id, "wrong"))
    assert not wrong.passed and any(c.passed is False for c in wrong.checks)
    start = evaluate(exercise, starting_spec(exercise))
    assert not start.passed, "an exercise the starting network already passes asks nothing"


def test_ladder_probe_without_training_leaves_the_probe_open():
    exercise = get_exercise("ladder-probe")
    right = evaluate(exercise, _answer("ladder-probe", "right"))
    probe = right.checks[-1]
    assert [c.passed for c in right.checks[:-1]] == [True, True]
    assert probe.passed is None and not probe.required  # shown, not probed yet, and not needed ...
    assert right.passed  # ... so the network checks decide (a minute's probe is noise: the exercise says why)
    assert right.to_dict()["checks"][-1]["required"] is False


def test_a_check_that_is_not_required_is_shown_but_does_not_decide():
    data = {
        "id": "two-checks",
        "title": "t",
        "instructions": "i",
        "start": {"preset": "googlenet"},
        "checks": [
            {"kind": "totals", "metric": "macs", "max_fraction": 1.0},
            {"kind": "totals", "metric": "macs", "max_fraction": 0.5, "required": False},
        ],
    }
    (exercise,) = load_exercises(data)
    report = evaluate(exercise, get_preset("googlenet"))
    assert [c.passed for c in report.checks] == [True, False] and report.passed
    data["checks"][1]["required"] = True
    assert not evaluate(load_exercises(data)[0], get_preset("googlenet")).passed
    wrong = evaluate(exercise, _answer("ladder-probe", "wrong"))
    assert False in [c.passed for c in wrong.checks]  # no BN-auxiliary: fails before any training


def test_a_network_that_does_not_work_fails_checks_instead_of_raising():
    exercise = get_exercise("googlenet-28px")
    broken = get_preset("googlenet").model_copy(update={"input_size": (28, 28)})  # unvalidated: collapses
    report = evaluate(exercise, broken)
    by_kind = dict(zip([c.kind for c in exercise.checks], report.checks, strict=True))
    assert by_kind["network"].passed is True
    assert by_kind["valid_at"].passed is False and "grid collapses" in by_kind["valid_at"].detail
    assert by_kind["findings"].passed is False and by_kind["findings"].detail.startswith("invalid:")


# ---------------------------------------------------------------------------------------------------------------
# The courses' figures, computed by the checks from the networks
# ---------------------------------------------------------------------------------------------------------------


def test_cs231n_naive_module():
    report = evaluate(get_exercise("naive-module-cost"), _answer("naive-module-cost", "right"))
    macs, output = report.checks[2], report.checks[1]
    assert macs.value == 854_196_224 == 28 * 28 * 256 * (128 + 9 * 192 + 25 * 96)
    assert output.value == {"output": "28x28x672"}


def test_cs231n_bottleneck_module_and_the_slides_358m():
    spec = _answer("bottleneck-module-cost", "right")
    report = evaluate(get_exercise("bottleneck-module-cost"), spec)
    assert report.checks[2].value == 271_351_808
    assert report.checks[1].value == {"output": "28x28x480"}
    assert "0.3177 x the start's 854,196,224" in report.checks[3].detail
    # The slide's 358M: our six convolutions plus the 3x3 conv's term once more (28x28x192 x 3x3x64 = 86.7M).
    blocks = count(spec).blocks.set_index("block")
    assert blocks.loc["inception", "macs"] == 271_351_808
    three_by_three = 28 * 28 * 192 * 3 * 3 * 64
    assert round((271_351_808 + three_by_three) / 1e6) == 358


def test_ng_5x5_bottleneck():
    exercise = get_exercise("ng-5x5-bottleneck")
    start = count(starting_spec(exercise)).blocks.set_index("block")
    assert start.loc["conv5x5", "macs"] == 120_422_400
    spec = _answer("ng-5x5-bottleneck", "right")
    blocks = count(spec).blocks.set_index("block")
    assert (blocks.loc["reduce", "macs"], blocks.loc["conv5x5", "macs"]) == (2_408_448, 10_035_200)
    report = evaluate(exercise, spec)
    assert report.checks[2].value == 12_443_648
    assert "start's 120,422,400" in report.checks[3].bound


@pytest.mark.parametrize(
    ("exercise_id", "ratio", "saving"),
    [("factorize-5x5", 18 / 25, 28), ("asymmetric-3x3", 6 / 9, 33), ("two-2x2", 8 / 9, 11)],
)
def test_rethinking_savings_on_the_students_block(exercise_id, ratio, saving):
    exercise = get_exercise(exercise_id)
    start = count(starting_spec(exercise)).stages.set_index("stage").loc["factorize", "macs"]
    report = evaluate(exercise, _answer(exercise_id, "right"))
    stage_macs = next(c.value for c, chk in zip(report.checks, exercise.checks, strict=True) if chk.kind == "totals")
    assert stage_macs / start == pytest.approx(ratio, abs=1e-12)
    assert round((1 - stage_macs / start) * 100) == saving


def test_table1_rows_report_which_rows_disagree_with_their_widths():
    report = evaluate(get_exercise("table1-rows"), _answer("table1-rows", "right"))
    value = report.checks[0].value
    assert value["rows reproduced"] == 9
    assert value["params disagree"] == [f"inception ({r})" for r in ("4a", "4c", "4d", "4e", "5a", "5b")]
    assert value["ops disagree"] == ["inception (5a)"]


def test_googlenet_smallest_inputs():
    report = evaluate(get_exercise("googlenet-min-input"), _answer("googlenet-min-input", "right"))
    with_aux, _, without_aux = (c.value for c in report.checks)
    assert with_aux == next(p for p in list_presets() if p.name == "googlenet").min_input_size == 79
    assert without_aux == 31
    get_preset("googlenet").without_aux().with_input(31)


@pytest.mark.slow
def test_fit_v3_budget_passes_with_fits_output_and_reports_the_shares():
    report = evaluate(get_exercise("fit-v3-budget"), _answer("fit-v3-budget", "right"))
    totals, shares, _ = report.checks
    assert abs(totals.value - 2e9) <= 0.01 * 2e9
    assert 0 <= shares.value <= 5 and shares.detail.startswith("worst:")


# ---------------------------------------------------------------------------------------------------------------
# Probe checks
# ---------------------------------------------------------------------------------------------------------------


def test_probe_plan_and_results_given():
    exercise = get_exercise("ladder-probe")
    spec = _answer("ladder-probe", "right")
    plan = probe_plan(exercise, spec)
    (mine, mine_spec, mine_config), (start, start_spec, start_config) = plan
    assert mine.endswith(": yours") and start.endswith(": start")
    assert mine_spec == spec and start_spec == get_preset("googlenet")
    assert isinstance(mine_config, ProbeConfig) and mine_config.recipe.label_smoothing == 0.1
    assert start_config.recipe.label_smoothing == 0.0
    assert (mine_config.steps, mine_config.seed, mine_config.data) == (start_config.steps, 0, start_config.data)
    probe = exercise.checks[-1]
    assert isinstance(probe, ProbeCheck)
    beat = evaluate(exercise, spec, probe_results={mine: 0.5, start: 0.5 - probe.margin - 0.01})
    assert beat.passed and beat.checks[-1].value == 0.5
    tie = evaluate(exercise, spec, probe_results={mine: 0.5, start: 0.5})
    assert tie.checks[-1].passed is False and "0.5" in tie.checks[-1].bound

    class Summary:  # what a finished run's ProbeSummary gives
        heldout_accuracy = 0.9

    assert evaluate(exercise, spec, probe_results={mine: Summary(), start: 0.25}).passed


@pytest.mark.slow
def test_ladder_probe_trained_here():
    """Both runs train here and the comparison is made. Whether the right answer wins is the probe's to say: at the
    exercise's small default budget both networks sit near chance on the built-in shapes (measured 0.258 against
    0.258 held-out accuracy on four classes), so the outcome is not asserted."""
    exercise = get_exercise("ladder-probe")
    right = run_probe_checks(exercise, _answer("ladder-probe", "right"), device="cpu")
    probe = right.checks[-1]
    assert isinstance(probe.passed, bool) and 0.0 <= probe.value <= 1.0
    assert probe.detail.startswith(f"yours {probe.value:.4g}, start ") and "40 steps of 16" in probe.detail
    assert [c.passed for c in right.checks[:-1]] == [True, True]
    assert not probe.required and right.passed  # measured and shown; the network checks decide


# ---------------------------------------------------------------------------------------------------------------
# An instructor's file
# ---------------------------------------------------------------------------------------------------------------

MINE = {
    "id": "my-lab",
    "title": "Halve GoogLeNet",
    "instructions": "At most half of [G]'s MACs.",
    "start": {"preset": "googlenet"},
    "checks": [{"kind": "totals", "max_fraction": 0.5, "hint": "Costs page"}],
}


def test_an_instructors_exercise_loads_and_checks():
    (mine,) = load_exercises(json.dumps(MINE))
    assert isinstance(mine, Exercise)
    assert get_exercise("my-lab", [mine]) is mine
    assert not evaluate(mine, get_preset("googlenet")).passed
    small = evaluate(mine, get_preset("googlenet", input_size=150))  # (150 / 224)^2: 45% of the MACs
    assert small.passed and "<= 0.5 x the start's 1,582,722,048" in small.checks[0].bound
    assert load_exercises([MINE, {**MINE, "id": "my-lab-2"}])[1].id == "my-lab-2"
    assert load_exercises({"exercises": [MINE]})[0] == mine


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(KeyError, match="naive-module-cost"):
        get_exercise("no-such-exercise")


def _check(**fields):
    return {**MINE, "checks": [MINE["checks"][0], fields]}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_check(kind="totals", min="many"), r"^checks\[1\]\.min: Input should be a valid integer"),
        (_check(kind="totals"), r"^checks\[1\]: give at least one bound"),
        (_check(kind="bogus"), r"^checks\[1\]: Input tag 'bogus' found using 'kind' does not match"),
        (_check(kind="block", block="x", block_kind="inception_v9"), r"^checks\[1\]: block_kind must be one of"),
        (_check(kind="findings", principle="9"), r"^checks\[1\]: principle must be one of 1, 2"),
        (_check(kind="probe", recipe={"lr": -1}), r"^checks\[1\]: recipe\.lr: Input should be greater than 0"),
        (_check(kind="totals", max=1, colour="red"), r"^checks\[1\]\.colour: Extra inputs are not permitted"),
        ({**MINE, "start": {"preset": "resnet"}}, r"^start: unknown preset 'resnet'"),
        ({**MINE, "start": {}}, r"^start: give exactly one of preset, published, spec"),
        ({**MINE, "start": {"spec": {"name": "x", "stages": []}}}, r"^start: spec: stages"),
        ({**MINE, "id": "Not An Id"}, r"^id: String should match pattern"),
        ({k: v for k, v in MINE.items() if k != "checks"}, r"^checks: Field required"),
    ],
)
def test_a_bad_exercise_is_one_located_error(data, message):
    with pytest.raises(ExerciseError, match=message) as info:
        load_exercises(json.dumps(data))
    assert "\n" not in str(info.value)


def test_a_bad_file_names_the_exercise_in_a_list():
    with pytest.raises(ExerciseError, match=r'^exercises\[1\] "bad": checks\[0\]\.max: Input should be'):
        load_exercises([MINE, {**MINE, "id": "bad", "checks": [{"kind": "totals", "max": "x"}]}])
    with pytest.raises(ExerciseError, match="repeated: my-lab"):
        load_exercises([MINE, MINE])
    with pytest.raises(ExerciseError, match="not a JSON exercise file"):
        load_exercises("{nope")
    with pytest.raises(ExerciseError, match="one exercise .* or a non-empty list"):
        load_exercises("[]")
    with pytest.raises(ExerciseError, match="at most 1,000,000 are read"):
        load_exercises(b" " * 1_000_001)


def test_a_published_start_opens_through_the_store(store):
    token = store.publish("room copy", get_preset("googlenet", input_size=96))
    (exercise,) = load_exercises({**MINE, "start": {"published": token}})
    with pytest.raises(ValueError, match="pass the store"):
        starting_spec(exercise)
    assert starting_spec(exercise, store=store).input_size == (96, 96)
    assert evaluate(exercise, get_preset("googlenet", input_size=96), store=store).checks[0].passed is False


def test_report_to_dict_has_the_cli_shape():
    report = evaluate(get_exercise("googlenet-min-input"), get_preset("googlenet", input_size=79))
    out = report.to_dict()
    assert out["passed"] is True
    assert all({"name", "passed", "value", "bound"} <= set(c) for c in out["checks"])
    json.dumps(out)


def test_a_probe_that_cannot_run_at_its_size_fails_its_check_without_training():
    (exercise,) = load_exercises(
        {**MINE, "checks": [{"kind": "probe", "image_size": 16, "steps": 1, "recipe": {"aux_heads": False}}]}
    )
    report = run_probe_checks(exercise, get_preset("googlenet"), device="cpu")
    (probe,) = report.checks
    assert probe.passed is False and not report.passed
    assert probe.detail.startswith("your network cannot be probed at 16x16: ") and "grid collapses" in probe.detail


def test_the_start_does_not_beat_itself_and_each_run_is_trained():
    """Both runs of a probe check train here, with the same seed and data: the start against itself with the same
    recipe gives exactly its own figure, which is not better (the bound is strict); a changed recipe trains a
    different run."""
    probe = {"kind": "probe", "metric": "final_loss", "steps": 3, "batch_size": 4, "image_size": 32, "heldout": 8}
    same = {**probe, "recipe": {"aux_heads": False}, "start_recipe": {"aux_heads": False}}
    (exercise,) = load_exercises({**MINE, "checks": [same]})
    (check,) = run_probe_checks(exercise, get_preset("googlenet"), device="cpu").checks
    assert check.passed is False and check.detail.startswith(f"yours {check.value:.4g}, start {check.value:.4g},")
    changed = {**same, "recipe": {"aux_heads": False, "lr": 0.001}}
    (exercise,) = load_exercises({**MINE, "checks": [changed]})
    (other,) = run_probe_checks(exercise, get_preset("googlenet"), device="cpu").checks
    assert other.value != check.value and f"start {check.value:.4g}," in other.detail
