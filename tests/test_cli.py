"""``python -m inception_explorer``, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each test runs the CLI in a fresh interpreter (torch's import)

ROOT = Path(__file__).resolve().parents[1]
PRESET_NAMES = ("googlenet", "googlenet_naive", "googlenet_torchvision", "inception_v2", "inception_v3")


def run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-m", "inception_explorer", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def googlenet_json():
    result = run("count", "googlenet", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_presets_lists_every_preset():
    result = run("presets")
    assert result.returncode == 0, result.stderr
    names = [line.split()[0] for line in result.stdout.splitlines() if line.strip()]
    assert names == list(PRESET_NAMES)
    assert "23,834,568" in result.stdout and "27,161,264" in result.stdout


def test_count_json_has_totals_stages_and_blocks(googlenet_json):
    out = googlenet_json
    assert {"params", "macs", "stages", "blocks"} <= set(out)
    assert out["params"] == 6_998_552
    assert out["params_with_aux"] == 13_378_280
    assert out["input"] == [3, 224, 224] and out["num_classes"] == 1000
    assert sum(b["macs"] for b in out["blocks"]) == out["macs"]
    assert sum(s["params"] for s in out["stages"]) == out["params"]
    conv1 = next(b for b in out["blocks"] if b["block"] == "conv1")
    assert conv1["macs_conv_linear"] == 112 * 112 * 64 * 3 * 49
    assert [s["stage"] for s in out["stages"]] == ["stem", "inception3", "inception4", "inception5", "head"]
    assert {"aten::max_pool2d", "aten::cat", "aten::relu_"} <= {u["operator"] for u in out["uncounted_ops"]}


def _keys(obj) -> set[str]:
    if isinstance(obj, dict):
        return set(obj) | {k for v in obj.values() for k in _keys(v)}
    if isinstance(obj, list):
        return {k for v in obj for k in _keys(v)}
    return set()


def test_count_json_labels_multiply_adds_as_macs(googlenet_json):
    assert not [k for k in _keys(googlenet_json) if "flop" in k.lower()]
    assert "multiply-add" in googlenet_json["units"]["macs"]


def test_count_text_labels_multiply_adds_as_macs():
    result = run("count", "googlenet")
    assert result.returncode == 0, result.stderr
    assert "flop" not in result.stdout.lower()
    header = next(line for line in result.stdout.splitlines() if line.split()[:2] == ["stage", "block"])
    assert "MACs" in header.split()
    assert "1,582,722,048" in result.stdout  # total MACs
    assert "6,998,552" in result.stdout


def test_count_at_another_input_and_class_count():
    result = run("count", "inception_v3", "--input", "3x299x299", "--classes", "10", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["num_classes"] == 10 and out["input"] == [3, 299, 299]
    # the 2048 -> 1000 classifier (2,049,000 parameters) becomes 2048 -> 10 (20,490)
    assert out["params"] == 23_834_568 - (2048 * 1000 + 1000) + (2048 * 10 + 10)
    assert out["macs_conv_linear"] == 5_713_216_096 - 2048 * 1000 + 2048 * 10


def test_export_then_count_the_file_gives_the_same_totals(tmp_path, googlenet_json):
    exported = run("export", "googlenet")
    assert exported.returncode == 0, exported.stderr
    path = tmp_path / "googlenet.json"
    path.write_text(exported.stdout)
    again = run("count", str(path), "--json")
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    for key in ("params", "macs", "macs_conv_linear", "aux_params", "aux_macs", "activations"):
        assert out[key] == googlenet_json[key], key
    assert out["blocks"] == googlenet_json["blocks"]


def test_count_cross_check_agrees():
    result = run("count", "googlenet", "--cross-check", "--json")
    assert result.returncode == 0, result.stderr
    check = json.loads(result.stdout)["cross_check"]
    assert check["agrees"] is True
    assert check["fvcore_total"] == check["report_macs"]
    assert check["flop_counter_macs"] == check["report_macs_conv_linear"]


def _bad_inputs(tmp_path):
    not_json = tmp_path / "not.json"
    not_json.write_text("{this is not json")
    not_spec = tmp_path / "not_spec.json"
    not_spec.write_text(json.dumps({"hello": "world"}))
    a_list = tmp_path / "list.json"
    a_list.write_text("[1, 2, 3]")
    return {
        "unknown preset": ["count", "alexnet"],
        "file that is not JSON": ["count", str(not_json)],
        "JSON object that is not a spec": ["count", str(not_spec)],
        "JSON list": ["count", str(a_list)],
        "grid collapse": ["count", "inception_v3", "--input", "3x64x64"],
        "googlenet at 32x32": ["count", "googlenet", "--input", "3x32x32"],
        "malformed --input": ["count", "googlenet", "--input", "3by224"],
        "export of an unknown preset": ["export", "alexnet"],
        "zero classes": ["count", "googlenet", "--classes", "0"],
    }


# each case, and a word its message must contain
BAD = {
    "unknown preset": "'alexnet'",
    "file that is not JSON": "not a JSON spec",
    "JSON object that is not a spec": "stages",
    "JSON list": "JSON object",
    "grid collapse": "Mixed_7a",
    "googlenet at 32x32": "aux1",
    "malformed --input": "3x299x299",
    "export of an unknown preset": "'alexnet'",
    "zero classes": "num_classes",
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_exits_2_with_one_line_on_stderr(case, tmp_path):
    result = run(*_bad_inputs(tmp_path)[case])
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("error:")
    assert BAD[case] in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"{case}: stderr has {len(lines)} lines:\n{result.stderr}"
