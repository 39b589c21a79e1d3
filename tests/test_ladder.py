"""ladder.py: [R] Table 3's cumulative ablation as rungs, each differing from the one before by its row's change
only, counted beside the paper's cost."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from inception_explorer.analysis.costs import count
from inception_explorer.analysis.ladder import GAP_TOLERANCE, TABLE3, changes, covered, diff_paths, ladder, rungs
from inception_explorer.cli import main
from inception_explorer.probes.config import Recipe
from inception_explorer.spec import infer_shapes
from inception_explorer.spec.presets import get_preset

FACTS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "paper_facts.md"
LABELS = ("name", "description")


def _network(spec) -> dict:
    return {k: v for k, v in spec.to_dict().items() if k not in LABELS}


@pytest.fixture(scope="module")
def steps():
    return rungs()


@pytest.fixture(scope="module")
def table():
    return ladder()


def _percent(text: str) -> float | None:
    text = text.strip()
    return None if text == "-" else float(text.rstrip("%"))


def test_table3_is_the_reference_table():
    if not FACTS.exists():
        pytest.fail(f"{FACTS} missing: CI clones the repo with ../shared beside it")
    facts = FACTS.read_text()
    block = facts[facts.index("| Network | Top-1 err") :].split("\n\n")[0]
    rows = [[c.strip() for c in line.strip("| ").split("|")] for line in block.splitlines()[2:]]
    assert len(rows) == len(TABLE3) == 8
    for (network, top1, top5, cost), row in zip(rows, TABLE3, strict=True):
        assert network == row.network
        assert (_percent(top1), _percent(top5), float(cost)) == (row.top1, row.top5, row.bn_ops)


def test_diff_paths():
    a = {"x": 1, "l": [1, 2], "d": {"k": 1, "j": [0]}, "gone": 1}
    b = {"x": 1, "l": [1, 3], "d": {"k": 2, "j": [0, 0]}, "new": 1}
    assert diff_paths(a, b) == ["d.j", "d.k", "gone", "l[1]", "new"]
    assert covered("stages[1].blocks[2].ch1x1", ("stages[1].blocks",))
    assert not covered("stages[10].blocks", ("stages[1]",))


def test_every_rung_differs_from_the_one_before_by_exactly_its_change(steps):
    assert [r.name for r in steps] == [row.network for row in TABLE3]
    assert steps[0].kind == "start" and steps[0].changed == ()
    for before, after in zip(steps, steps[1:], strict=False):
        found = changes(before, after)
        assert found, after.name
        assert all(covered(p, after.changed) for p in found), (after.name, found)
        for declared in after.changed:  # and nothing declared that did not change
            assert any(covered(p, (declared,)) for p in found), (after.name, declared)
        if after.kind == "recipe":
            assert _network(after.spec) == _network(before.spec)
            assert all(p.startswith("recipe.") for p in found)
        else:
            assert dict(after.recipe) == dict(before.recipe)
            assert not any(p.startswith("recipe.") for p in found)


def test_the_network_changes_field_by_field(steps):
    g, bn_g, bn_i, v2_7x7, rms, ls, v2, v3 = steps
    assert _network(g.spec) == _network(get_preset("googlenet"))
    assert _network(bn_g.spec) == {**_network(g.spec), "batch_norm": True}
    # BN-Inception keeps GoogLeNet's stem, heads, input and batch norm; only the stages after the stem change.
    assert bn_i.spec.stages[0] == bn_g.spec.stages[0]
    assert (bn_i.spec.head, bn_i.spec.aux_heads, bn_i.spec.input_size) == (
        bn_g.spec.head,
        bn_g.spec.aux_heads,
        bn_g.spec.input_size,
    )
    # Inception-v2 of Table 3 is the preset with one 7x7/2 first layer in place of the three 3x3, at 147x147.
    preset = get_preset("inception_v2")
    assert v2_7x7.spec.stages[1:] == preset.stages[1:] and v2_7x7.spec.aux_heads == preset.aux_heads
    assert v2_7x7.spec.stages[0].blocks[1:] == preset.stages[0].blocks[3:]
    first = v2_7x7.spec.stages[0].blocks[0]
    assert (first.kernel, first.stride, first.out_channels) == ((7, 7), (2, 2), 64)
    assert infer_shapes(v2_7x7.spec)[0].output == infer_shapes(preset)[2].output  # 147x147x64 either way
    assert rms.spec is v2_7x7.spec and ls.spec is v2_7x7.spec
    assert _network(v2.spec) == _network(preset)  # + Factorized 7x7 is the inception_v2 preset
    assert v3.spec.aux_heads[0].bn_fc and not v2.spec.aux_heads[0].bn_fc


def test_bn_inception_widths_are_the_bn_papers(steps):
    report = count(steps[2].spec)
    widths = report.blocks.set_index("block")["out_channels"]
    expected = {"inception3a": 256, "inception3b": 320, "inception3c": 576, "inception4a": 576}
    expected |= {"inception4c": 608, "inception4d": 608, "inception4e": 1056, "inception5a": 1024}
    assert {k: int(widths[k]) for k in expected} == expected
    grids = report.blocks.set_index("block")["out_height"]
    assert (grids["inception3c"], grids["inception4e"]) == (14, 7)  # Table 1's grids: 28 -> 14 -> 7


def test_recipes_are_probe_recipes_and_change_where_table3_says(steps):
    recipes = [Recipe(**r.recipe) for r in steps]
    assert [r.optimizer for r in recipes] == ["sgd"] * 4 + ["rmsprop"] * 4
    assert [r.label_smoothing for r in recipes] == [0.0] * 5 + [0.1] * 3
    assert (recipes[4].rmsprop_decay, recipes[4].rmsprop_eps) == (0.9, 1.0)  # [R] §8
    assert recipes[0].momentum == 0.9  # [G] §6


def test_ladder_recounts_each_rung_and_computes_the_ratios(steps, table):
    assert len(table) == len(steps)
    macs = [count(r.spec).totals.macs for r in steps]
    assert table["MACs (ours)"].tolist() == macs
    for (_, row), rung, m in zip(table.iterrows(), steps, macs, strict=True):
        assert row["Bn ops (paper)"] == rung.paper.bn_ops
        assert row["ours / paper"] == pytest.approx(m / (rung.paper.bn_ops * 1e9), abs=5e-4)
        assert row["x GoogLeNet (ours)"] == pytest.approx(m / macs[0], abs=0.005)
        assert (row["top-1 err % (paper)"], row["spec"]) == (rung.paper.top1, rung.spec.name)
    ratios = table.set_index("network")["ours / paper"]
    assert ratios["BN-Inception"] == pytest.approx(1.0, abs=GAP_TOLERANCE)  # the BN paper's widths: 2.0 Bn
    assert ratios["Inception-v2"] > 1 + GAP_TOLERANCE  # the released v3's widths cost more than Table 3's


def test_notes_say_where_widths_came_from_and_why_a_cost_is_off(table):
    for _, row in table.iterrows():
        assert "widths:" in row["note"]
        off = abs(row["MACs (ours)"] / (row["Bn ops (paper)"] * 1e9) - 1) > GAP_TOLERANCE
        assert ("x the paper's" in row["note"]) == off, row["network"]
        assert "no explanation recorded" not in row["note"]
    notes = table.set_index("network")["note"]
    assert "Ioffe & Szegedy" in notes["BN-Inception"]
    v3 = count(get_preset("inception_v3")).totals.macs
    assert f"{v3 / 1e9:.2f} G" in notes["Inception-v2"] and f"{v3 / 4.8e9:.2f}x" in notes["Inception-v2"]
    assert "2.5" in notes["Inception-v2"] and "fit(" in notes["Inception-v2"]
    step = (table["MACs (ours)"][6] - table["MACs (ours)"][5]) / 1e9
    assert f"adds {step:.2f} G" in notes["+ Factorized 7x7"]
    assert re.search(r"conv1, whose row prints 34M .* counts 118M", notes["GoogLeNet"])


def test_cli_ladder(capsys):
    assert main(["ladder", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["network"] for r in rows] == [row.network for row in TABLE3]
    assert all(r["MACs (ours)"] > 0 and r["note"] for r in rows)
    assert main(["ladder"]) == 0
    out = capsys.readouterr().out
    assert "+ Factorized 7x7" in out and "5,512,044,160" in out


def test_the_readme_table_is_the_ladder(table):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("| Table 3 row | ours (G MACs)") :].split("\n\n")[0]
    rows = [[c.strip() for c in line.strip("| ").split("|")] for line in section.splitlines()[2:]]
    assert [r[0] for r in rows] == table["network"].tolist()
    assert [float(r[1]) for r in rows] == table["G MACs (ours)"].tolist()
    assert [float(r[3]) for r in rows] == table["ours / paper"].tolist()
