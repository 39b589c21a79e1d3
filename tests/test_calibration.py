"""The calibration of the principles checker, rule by rule: for every rule in ``principles.CHECKS``, a network that
triggers it and one that does not (presets, and presets edited as dicts), the same networks the README's
"Calibration" table names, with the sentence of the paper each rule rests on and its thresholds. Then the
severities that the paper's words set: a squeeze at the first Inception stage is early compression, an extreme one
mid-network is a violation, and a grid reduced at constant width before an expansion (pool or strided conv) is the
bottleneck of [R] Fig. 9 (left)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from inception_explorer.analysis.costs import CostMemo, count
from inception_explorer.analysis.findings import (
    DEFAULT_THRESHOLDS,
    GRID_REDUCTION,
    P1,
    PRINCIPLE_TITLES,
    SOURCES,
    Finding,
    Thresholds,
)
from inception_explorer.analysis.principles import CHECKS, RULES, check
from inception_explorer.spec import ModelSpec
from inception_explorer.spec.presets import get_preset

README = Path(__file__).resolve().parents[1] / "README.md"
MEMO = CostMemo()  # the edited presets share most blocks with their preset: count each block once


# ---- networks: presets, and presets edited as dicts ------------------------------------------------------------

Edit = Callable[[dict], None]


def _where(d: dict, name: str) -> tuple[list, int]:
    for stage in d["stages"]:
        for i, block in enumerate(stage["blocks"]):
            if block["name"] == name:
                return stage["blocks"], i
    raise KeyError(name)


def insert_after(name: str, block: dict) -> Edit:
    def edit(d: dict) -> None:
        blocks, i = _where(d, name)
        blocks.insert(i + 1, block)

    return edit


def replace(name: str, block: dict) -> Edit:
    def edit(d: dict) -> None:
        blocks, i = _where(d, name)
        blocks[i] = {"name": name, **block}

    return edit


def set_fields(name: str, **values: Any) -> Edit:
    def edit(d: dict) -> None:
        blocks, i = _where(d, name)
        blocks[i].update(values)

    return edit


def copy_after(name: str, source: str, new_name: str) -> Edit:
    def edit(d: dict) -> None:
        src, j = _where(d, source)
        blocks, i = _where(d, name)
        blocks.insert(i + 1, {**src[j], "name": new_name})

    return edit


def squeeze(width: int) -> dict:
    """A 1x1 convolution to ``width`` channels, named ``squeeze``."""
    return {"name": "squeeze", "kind": "conv", "out_channels": width, "kernel": [1, 1]}


def network(preset: str, *edits: Edit, width: float | None = None) -> ModelSpec:
    spec = get_preset(preset)
    if width is not None:
        spec = spec.with_width_multiplier(width)
    d = spec.to_dict()
    for edit in edits:
        edit(d)
    return ModelSpec.from_dict(d)


_FINDINGS: dict[str, list[Finding]] = {}


def findings_of(spec: ModelSpec, thresholds: Thresholds | None = None) -> list[Finding]:
    key = spec.canonical_json()
    if thresholds is not None:
        return check(count(spec, MEMO), thresholds)
    if key not in _FINDINGS:
        _FINDINGS[key] = check(count(spec, MEMO))
    return _FINDINGS[key]


def places(spec: ModelSpec) -> set[str]:
    return set(spec.block_names()) | {stage.name for stage in spec.stages}


def at(findings: list[Finding], place: str, rule: str | None = None) -> list[Finding]:
    """Findings at a block, or about a whole stage (``place`` the stage's name)."""
    return [
        f
        for f in findings
        if (f.block == place or (f.block == "" and f.stage == place)) and (rule is None or f.rule == rule)
    ]


# ---- the calibration table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    label: str  # the network in words, as the README names it
    build: Callable[[], ModelSpec]
    place: str  # the block (or stage) the rule fires at, or stays quiet at

    @property
    def text(self) -> str:
        return f"{self.label}: `{self.place}`"


@dataclass(frozen=True)
class Case:
    fires: Side
    quiet: Side


V3_MIXED_6A_CONV = {"kind": "conv", "out_channels": 288, "kernel": [3, 3], "stride": [2, 2], "padding": [0, 0]}
SECOND_POOL = {"name": "maxpool2b", "kind": "pool", "op": "max_pool", "kernel": [3, 3], "stride": [2, 2]}

CASES: dict[str, Case] = {
    "representation drop": Case(
        Side(
            "googlenet + 1x1 conv to 8 after inception3a",
            lambda: network("googlenet", insert_after("inception3a", squeeze(8))),
            "squeeze",
        ),
        Side(
            "googlenet + 1x1 conv to 64 after inception3a",
            lambda: network("googlenet", insert_after("inception3a", squeeze(64))),
            "squeeze",
        ),
    ),
    "early compression": Case(
        Side(
            "inception_v3 + 1x1 conv to 6 after Mixed_5b",
            lambda: network("inception_v3", insert_after("Mixed_5b", squeeze(6))),
            "squeeze",
        ),
        Side(
            "inception_v3 + 1x1 conv to 128 after Mixed_5b",
            lambda: network("inception_v3", insert_after("Mixed_5b", squeeze(128))),
            "squeeze",
        ),
    ),
    "internal squeeze": Case(
        Side(
            "inception_v3, Mixed_6c's four 1x1 widths at 16",
            lambda: network(
                "inception_v3", set_fields("Mixed_6c", ch1x1=16, chnxnred=16, chnxndblred=16, pool_proj=16)
            ),
            "Mixed_6c",
        ),
        Side("inception_v3", lambda: network("inception_v3"), "Mixed_6c"),
    ),
    "reduce before expansion": Case(
        Side(
            "inception_v3, Mixed_6a as a 3x3/2 conv at 288 channels",
            lambda: network("inception_v3", replace("Mixed_6a", V3_MIXED_6A_CONV)),
            "Mixed_6a",
        ),
        Side("inception_v3", lambda: network("inception_v3"), "Mixed_6a"),
    ),
    "low activations per tile": Case(
        Side("googlenet at width 0.25", lambda: network("googlenet", width=0.25), "inception5b"),
        Side("googlenet", lambda: network("googlenet"), "inception5b"),
    ),
    "no expanded filter bank": Case(
        Side("googlenet", lambda: network("googlenet"), "inception5b"),
        Side("inception_v3", lambda: network("inception_v3"), "Mixed_7c"),
    ),
    "no 1x1 reduction": Case(
        Side("googlenet_naive", lambda: network("googlenet_naive"), "inception3a"),
        Side("googlenet", lambda: network("googlenet"), "inception3a"),
    ),
    "large kernels": Case(
        Side("googlenet", lambda: network("googlenet"), "conv1"),
        Side(
            "googlenet, conv1 as 3x3/2",
            lambda: network("googlenet", set_fields("conv1", kernel=[3, 3], padding=[1, 1])),
            "conv1",
        ),
    ),
    "grid outside 12-20": Case(
        Side(
            "inception_v3 + a copy of Mixed_6b after Mixed_5d (35x35)",
            lambda: network("inception_v3", copy_after("Mixed_5d", "Mixed_6b", "Mixed_5e")),
            "Mixed_5e",
        ),
        Side("inception_v3", lambda: network("inception_v3"), "Mixed_6b"),
    ),
    "expand then pool": Case(
        Side("googlenet", lambda: network("googlenet"), "maxpool3"),
        Side(
            "googlenet + a second 3x3/2 max pool after maxpool2",
            lambda: network("googlenet", insert_after("maxpool2", SECOND_POOL)),
            "maxpool2b",
        ),
    ),
    "pool-only grid reduction": Case(
        Side(
            "googlenet + a second 3x3/2 max pool after maxpool2",
            lambda: network("googlenet", insert_after("maxpool2", SECOND_POOL)),
            "maxpool2b",
        ),
        Side("googlenet", lambda: network("googlenet"), "maxpool3"),
    ),
    "stage MACs share": Case(
        Side("googlenet_naive", lambda: network("googlenet_naive"), "inception4"),
        Side("googlenet", lambda: network("googlenet"), "inception4"),
    ),
    "stage params share": Case(
        Side(
            "inception_v3 + a copy of Mixed_7c",
            lambda: network("inception_v3", copy_after("Mixed_7c", "Mixed_7c", "Mixed_7d")),
            "Mixed_7",
        ),
        Side("inception_v3", lambda: network("inception_v3"), "Mixed_7"),
    ),
    "width/depth spread": Case(
        Side("googlenet_naive", lambda: network("googlenet_naive"), "inception5"),
        Side("googlenet", lambda: network("googlenet"), "inception5"),
    ),
}
RULE = {r.name: r for r in RULES}


def test_every_rule_in_checks_has_a_case():
    assert len(RULE) == len(CHECKS)  # one rule per check, no name twice
    assert set(CASES) == set(RULE)


@pytest.mark.parametrize("name", list(CASES))
def test_rule_fires_on_one_network_and_not_the_other(name):
    case, rule = CASES[name], RULE[name]
    fires, quiet_net = case.fires.build(), case.quiet.build()
    assert case.fires.place in places(fires) and case.quiet.place in places(quiet_net)  # never quiet by absence
    hits = at(findings_of(fires), case.fires.place, name)
    assert hits, f"{name} should fire on {case.fires.text}"
    for f in hits:  # filed where the rule says, with its source and the reason for its threshold
        assert (f.principle, f.source, f.reason) == (rule.principle, rule.source, rule.reason)
    quiet = at(findings_of(quiet_net), case.quiet.place, name)
    assert quiet == [], f"{name} should stay quiet on {case.quiet.text}"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_each_rule_is_filed_and_sourced(rule):
    assert rule.principle in PRINCIPLE_TITLES
    assert rule.source in SOURCES
    assert re.search(r"\[[RG]\] (§|Fig\.)", rule.quote), rule.quote  # the sentence carries its section
    assert '"' in rule.quote  # ... quoted
    assert rule.reason
    names = {f.name for f in fields(Thresholds)}
    assert rule.thresholds and set(rule.thresholds) <= names


# ---- the README's table -----------------------------------------------------------------------------------------


def _readme_table() -> dict[str, dict[str, str]]:
    text = README.read_text()
    m = re.search(r"^(#+) Calibration\b.*?$(.*?)(?=^#+ |\Z)", text, re.M | re.S)
    assert m, 'README has no "Calibration" section'
    rows = [line for line in m.group(2).splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    table = {}
    for line in rows[2:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        table[cells["rule"]] = cells
    return table


def test_readme_calibration_table_lists_every_rule_with_the_tested_networks():
    table = _readme_table()
    assert set(table) == set(RULE)
    for name, row in table.items():
        rule, case = RULE[name], CASES[name]
        assert row["filed under"] == rule.principle, name
        assert row["source"] == rule.source, name
        assert row["fires on"] == case.fires.text, name
        assert row["quiet on"] == case.quiet.text, name
        for field in rule.thresholds:
            assert f"`{field}` = {getattr(DEFAULT_THRESHOLDS, field):g}" in row["threshold"], (name, field)
        quotes = re.findall(r'"([^"]+)"', row["the paper says"])
        assert quotes, name
        for q in quotes:  # quoted as the rule quotes it, with its section
            assert q.replace("...", "[...]") in rule.quote or all(p in rule.quote for p in q.split("...")), (name, q)
        assert re.search(r"\[[RG]\] (§|Fig\.)", row["the paper says"]), name


# ---- severities, as the paper's words set them -----------------------------------------------------------------

FIRST_STAGE_SQUEEZES = [  # 1x1 squeezes of 30-48x at the first Inception stage
    ("googlenet", "inception3a", 8),  # 256 -> 8: 32x
    ("googlenet", "inception3b", 16),  # 480 -> 16: 30x
    ("googlenet", "maxpool2", 4),  # 192 -> 4: 48x
    ("inception_v3", "Mixed_5b", 8),  # 256 -> 8: 32x
    ("inception_v3", "Mixed_5d", 6),  # 288 -> 6: 48x
]


@pytest.mark.parametrize(("preset", "after", "width"), FIRST_STAGE_SQUEEZES)
def test_a_squeeze_at_the_first_inception_stage_is_early_compression(preset, after, width):
    got = findings_of(network(preset, insert_after(after, squeeze(width))))
    (early,) = at(got, "squeeze", "early compression")
    assert early.severity == "violation" and early.principle == P1 and early.value < 0.1
    (drop,) = at(got, "squeeze", "representation drop")
    assert drop.severity == "violation" and 30 <= drop.value <= 48
    assert "early in the network" in drop.message


def test_the_first_inception_stage_counts_as_early_in_a_network_of_any_length():
    # inception3b sits at 6/16 of googlenet's blocks, past the first third, on a grid of exactly 1/8 of the input
    got = findings_of(network("googlenet", insert_after("inception3b", squeeze(16))))
    assert at(got, "squeeze", "early compression")
    # the same squeeze a stage later is late: a drop, and no early compression
    late = findings_of(network("googlenet", insert_after("inception4b", squeeze(16))))
    assert at(late, "squeeze", "early compression") == []
    assert [f.severity for f in at(late, "squeeze", "representation drop")] == ["violation"]  # 32x: extreme


def test_a_mid_network_squeeze_768_to_16_is_a_violation():
    got = findings_of(network("inception_v3", insert_after("Mixed_6c", squeeze(16))))
    (drop,) = at(got, "squeeze", "representation drop")
    assert drop.severity == "violation" and drop.value == 48.0
    assert drop.threshold == DEFAULT_THRESHOLDS.extreme_drop
    assert "extreme compression" in drop.message
    assert at(got, "squeeze", "early compression") == []  # mid-network: not early
    # ... while an 8x squeeze there (768 -> 96) is beyond a halving but not extreme: a warning
    (mild,) = at(findings_of(network("inception_v3", insert_after("Mixed_6c", squeeze(96)))), "squeeze")
    assert (mild.rule, mild.severity, mild.threshold) == ("representation drop", "warning", 4.5)
    # and the bar for "extreme" is a threshold like any other
    relaxed = findings_of(network("inception_v3", insert_after("Mixed_6c", squeeze(16))), Thresholds(extreme_drop=64))
    assert [f.severity for f in at(relaxed, "squeeze", "representation drop")] == ["warning"]


def test_an_extreme_squeeze_inside_a_module_is_a_violation_mid_network():
    thin = network("inception_v3", set_fields("Mixed_6c", ch1x1=4, chnxnred=4, chnxndblred=4, pool_proj=4))
    (hit,) = at(findings_of(thin), "Mixed_6c", "internal squeeze")
    assert hit.severity == "violation" and hit.value == 48.0
    (mild,) = at(findings_of(CASES["internal squeeze"].fires.build()), "Mixed_6c", "internal squeeze")
    assert mild.severity == "warning" and mild.value == 12.0


# ---- grid reductions ([R] §5, Fig. 9) ---------------------------------------------------------------------------

MIXED_6A_POOL = {"kind": "pool", "op": "max_pool", "kernel": [3, 3], "stride": [2, 2]}


@pytest.mark.parametrize(
    "block",
    [V3_MIXED_6A_CONV, MIXED_6A_POOL, {**V3_MIXED_6A_CONV, "kernel": [1, 1]}],
    ids=["3x3/2 conv", "3x3/2 max pool", "1x1/2 conv"],
)
def test_a_reduction_at_constant_width_before_an_expansion_is_the_fig9_left_bottleneck(block):
    got = findings_of(network("inception_v3", replace("Mixed_6a", block)))
    (hit,) = at(got, "Mixed_6a")
    assert (hit.rule, hit.principle, hit.source, hit.severity) == (
        "reduce before expansion",
        P1,
        "[R] §5",
        "violation",
    )
    assert hit.value == pytest.approx(768 / 288, abs=1e-3) and "Fig. 9 (left)" in hit.message
    assert ("pooled" in hit.message) == (block["kind"] == "pool")


def test_reductions_that_widen_are_not_bottlenecks():
    # v3's own Mixed_6a (Fig. 10: conv and pool side by side, 288 -> 768), and a strided conv that widens itself
    for spec in (
        network("inception_v3"),
        network("inception_v3", replace("Mixed_6a", {**V3_MIXED_6A_CONV, "out_channels": 768})),
    ):
        assert at(findings_of(spec), "Mixed_6a") == []


@pytest.mark.parametrize(
    ("block", "widened"), [("maxpool1", 64 / 3), ("maxpool2", 3.0), ("maxpool3", 2.5), ("maxpool4", 832 / 480)]
)
def test_googlenets_expand_then_pool_is_the_expensive_way_not_a_bottleneck(block, widened):
    (hit,) = at(findings_of(network("googlenet")), block)
    assert (hit.rule, hit.principle, hit.source, hit.severity) == ("expand then pool", GRID_REDUCTION, "[R] §5", "info")
    assert hit.value == pytest.approx(widened, abs=1e-3)
    assert "3 times more expensive computationally" in hit.message and "No representational bottleneck" in hit.message
