"""``exercises`` and ``check`` on the command line: the list, the JSON report, exit status 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inception_explorer.cli import main
from inception_explorer.exercises import builtin_exercises

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from exercise_table import ANSWERS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_exercises_lists_every_builtin(capsys):
    code, out, _ = _run(capsys, "exercises")
    assert code == 0
    ids = [line.split()[0] for line in out.splitlines()]
    assert ids == [e.id for e in builtin_exercises()]
    code, out, _ = _run(capsys, "exercises", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["id"] for r in rows] == ids
    assert all({"id", "title"} <= set(r) and r["title"] for r in rows)


def test_check_passes_a_right_answer_with_exit_0(capsys, tmp_path):
    path = tmp_path / "answer.json"
    path.write_text(ANSWERS["bottleneck-module-cost"][1]().to_json())
    code, out, err = _run(capsys, "check", "bottleneck-module-cost", str(path), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["passed"] is True
    assert [set(c) >= {"name", "passed", "value", "bound"} for c in report["checks"]] == [True] * 5
    assert report["checks"][2]["value"] == 271_351_808
    code, out, _ = _run(capsys, "check", "bottleneck-module-cost", str(path))
    assert code == 0 and "5 of 5 checks pass: done." in out


def test_check_fails_a_wrong_answer_with_exit_1(capsys):
    code, out, _ = _run(capsys, "check", "googlenet-min-input", "googlenet", "--json")
    report = json.loads(out)
    assert code == 1 and report["passed"] is False
    assert report["checks"][0] == {**report["checks"][0], "passed": False, "value": 79}
    code, out, _ = _run(capsys, "check", "googlenet-min-input", "googlenet")
    assert code == 1 and "[FAIL]" in out and "hint:" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("check", "no-such-exercise", "googlenet"), "unknown exercise 'no-such-exercise'; choose one of: "),
        (("check", "naive-module-cost", "no-such-network"), "is neither a preset"),
        (("check", "naive-module-cost", "{bad}"), "is neither a preset"),
        (("exercises", "--exercises", "missing.json"), "is not a file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert message in err and err.count("\n") == 1


def test_a_bad_spec_or_exercise_file_is_exit_2(capsys, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text('{"name": "x", "stages": []}')
    code, _, err = _run(capsys, "check", "naive-module-cost", str(spec))
    assert code == 2 and err.startswith("error: invalid spec") and err.count("\n") == 1
    bad = tmp_path / "lab.json"
    bad.write_text(
        json.dumps(
            [
                {
                    "id": "lab",
                    "title": "t",
                    "instructions": "i",
                    "start": {"preset": "googlenet"},
                    "checks": [{"kind": "totals", "max": "lots"}],
                }
            ]
        )
    )
    code, _, err = _run(capsys, "check", "lab", "googlenet", "--exercises", str(bad))
    assert code == 2 and err.count("\n") == 1
    assert 'lab.json: exercises[0] "lab": checks[0].max: Input should be a valid integer' in err


def test_an_instructors_file_adds_exercises(capsys, tmp_path):
    lab = tmp_path / "lab.json"
    lab.write_text(
        json.dumps(
            {
                "id": "lab",
                "title": "Under 1 G MACs",
                "instructions": "[G] §4",
                "start": {"preset": "googlenet"},
                "checks": [{"kind": "totals", "max": 1_000_000_000, "hint": "Costs page"}],
            }
        )
    )
    code, out, _ = _run(capsys, "exercises", "--exercises", str(lab), "--json")
    assert code == 0 and json.loads(out)[0]["id"] == "lab"
    code, out, _ = _run(capsys, "check", "lab", "googlenet", "--exercises", str(lab), "--json")
    assert code == 1 and json.loads(out)["checks"][0]["value"] == 1_582_722_048


@pytest.mark.slow
def test_python_dash_m_check_in_a_fresh_interpreter(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(
        [sys.executable, "-m", "inception_explorer", "check", "naive-module-cost", "googlenet", "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["passed"] is False
