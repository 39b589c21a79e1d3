"""The design-principle checks of [R] §2 (plus the rules of §3.1, §3.2, §5 and this tool's heuristics), calibrated on
the presets and on small networks that break one principle each: every rule fires where it should (positive) and
stays quiet where it should not (negative). tests/test_calibration.py holds the rule-by-rule table of the README."""

from __future__ import annotations

import json

import pytest

from inception_explorer.analysis.costs import CostMemo, count
from inception_explorer.analysis.findings import (
    ASYMMETRIC,
    FACTORIZATION,
    FINDING_COLUMNS,
    GRID_REDUCTION,
    HEURISTIC,
    P1,
    P2,
    P3,
    P4,
    PRINCIPLE_TITLES,
    SOURCES,
    Finding,
    Thresholds,
    findings_frame,
)
from inception_explorer.analysis.principles import RULES, check, width_depth, worst_severity
from inception_explorer.cli import main
from inception_explorer.spec import (
    Branch,
    ConvBlock,
    CustomBlock,
    InceptionFig6,
    ModelSpec,
    PoolBlock,
    StageSpec,
    conv,
)


def _count(spec: ModelSpec):
    return count(spec, CostMemo())


def _net(name: str, *stages: tuple[str, tuple], size: int = 224) -> ModelSpec:
    return ModelSpec(
        name=name, input_size=(size, size), num_classes=10, stages=tuple(StageSpec(name=n, blocks=b) for n, b in stages)
    )


def _at(findings, block: str, principle: str | None = None, rule: str | None = None) -> list[Finding]:
    return [
        f
        for f in findings
        if f.block == block and (principle is None or f.principle == principle) and (rule is None or f.rule == rule)
    ]


@pytest.fixture(scope="module")
def findings(preset_report):
    """Findings of each preset, computed once."""
    cache = {}

    def get(name: str) -> list[Finding]:
        if name not in cache:
            cache[name] = check(preset_report(name))
        return cache[name]

    return get


@pytest.fixture(scope="module")
def pooled_early():
    """224 -> 56 -> 28 by two max pools on the raw image (4x4/4, then 2x2/2), then convolutions."""
    spec = _net(
        "pooled_early",
        (
            "stem",
            (
                PoolBlock(name="pool1", kernel=4, stride=4),
                PoolBlock(name="pool2", kernel=2, stride=2),
                ConvBlock(name="conv1", out_channels=64, kernel=3),
                ConvBlock(name="conv2", out_channels=192, kernel=3),
            ),
        ),
        ("body", (ConvBlock(name="conv3", out_channels=256, kernel=3),)),
    )
    return check(_count(spec))


# ---- calibration on the presets ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["googlenet", "inception_v2", "inception_v3"])
def test_paper_networks_have_no_violation(findings, name):
    assert [f for f in findings(name) if f.severity == "violation"] == []


def test_inception_v3_and_v2_are_clean_but_for_expand_then_pool_notes(findings):
    for name, pools in (("inception_v2", ["maxpool1"]), ("inception_v3", ["maxpool1", "maxpool2"])):
        got = findings(name)
        assert [(f.block, f.principle, f.rule, f.severity) for f in got] == [
            (b, GRID_REDUCTION, "expand then pool", "info") for b in pools
        ]


def test_googlenet_has_no_warning_its_pools_are_the_expensive_way_not_a_bottleneck(findings):
    got = findings("googlenet")
    assert [f for f in got if f.severity != "info"] == []
    pools = [f for f in got if f.principle == GRID_REDUCTION]
    assert [(f.block, f.rule, f.source) for f in pools] == [
        (b, "expand then pool", "[R] §5") for b in ("maxpool1", "maxpool2", "maxpool3", "maxpool4")
    ]
    # maxpool3 after inception3a-3b (192 -> 480 on 28x28): said under §5, with the paper's cost, not principle 1
    (mp3,) = _at(got, "maxpool3")
    assert "inception3b" in mp3.message and "3 times more expensive" in mp3.message
    assert _at(got, "maxpool3", P1) == [] and _at(got, "maxpool4", P1) == []


def test_googlenet_naive_is_flagged_for_principle_3_at_every_inception_module(findings, preset_report):
    modules = [
        b
        for b, k in zip(
            preset_report("googlenet_naive").blocks["block"],
            preset_report("googlenet_naive").blocks["kind"],
            strict=True,
        )
        if k == "inception_naive"
    ]
    assert len(modules) == 9
    for block in modules:
        hits = _at(findings("googlenet_naive"), block, P3, "no 1x1 reduction")
        assert len(hits) == 1 and hits[0].severity == "violation", block
        assert hits[0].value > 0.9  # >90% of the module's MACs in unreduced 3x3 / 5x5
        assert "[G] Fig. 2a" in hits[0].message
    assert worst_severity(findings("googlenet_naive")) == "violation"


def test_reduced_modules_are_not_flagged_for_principle_3(findings):
    for name in ("googlenet", "inception_v2", "inception_v3"):
        assert [f for f in findings(name) if f.principle == P3 and f.rule == "no 1x1 reduction"] == []


# ---- principle 1 ----------------------------------------------------------------------------------------------


def test_pooling_the_raw_image_is_a_principle_1_violation(pooled_early):
    for block in ("pool1", "pool2"):
        p1 = _at(pooled_early, block, P1)
        assert p1 and all(f.severity == "violation" for f in p1), block
    assert {f.rule for f in _at(pooled_early, "pool1", P1)} >= {"representation drop", "early compression"}
    drop = _at(pooled_early, "pool1", P1, "representation drop")[0]
    assert drop.value == 16.0 and drop.threshold == 16.0  # two halvings at once: extreme, a violation anywhere
    # pool2 only halves the grid (4x, like GoogLeNet's pools) but leaves 1/64 of the image: early compression
    early = _at(pooled_early, "pool2", P1, "early compression")[0]
    assert early.value == pytest.approx(1 / 64, rel=1e-2)
    # pool1 pools the raw image with nothing widened before it or after: pooling alone, and no stem leniency
    # (its output is 1/16 of the image)
    assert [(f.rule, f.severity) for f in _at(pooled_early, "pool1", GRID_REDUCTION)] == [
        ("pool-only grid reduction", "warning")
    ]


def test_blocks_that_widen_after_a_bottleneck_are_not_blamed_for_it(pooled_early):
    assert _at(pooled_early, "conv1", P1) == [] and _at(pooled_early, "conv2", P1) == []


def test_pool_before_expansion_fig9_left(pooled_early, findings):
    (hit,) = _at(pooled_early, "pool2", P1, "reduce before expansion")
    assert hit.value == pytest.approx(64 / 3, rel=1e-3) and "Fig. 9" in hit.message and hit.severity == "violation"
    assert hit.source == "[R] §5"  # filed under principle 1 by [R] §5's own caption
    assert _at(pooled_early, "pool2", GRID_REDUCTION) == []  # one finding per reduction
    for name in ("googlenet", "googlenet_naive", "inception_v2", "inception_v3"):  # no preset reduces before it widens
        assert [f for f in findings(name) if f.rule == "reduce before expansion"] == []


def test_naive_googlenets_maxpool2_widened_before_it_pooled(findings):
    # conv3 widens 64 -> 192 on 56x56, then the pool; inception3a's 2.17x afterwards is less than that
    (hit,) = _at(findings("googlenet_naive"), "maxpool2")
    assert (hit.rule, hit.severity, hit.value) == ("expand then pool", "info", 3.0)


def test_an_early_drop_is_worse_than_a_late_one():
    squeeze = ConvBlock(name="squeeze", out_channels=32, kernel=1)  # 256 -> 32: 8x, beyond a halving, not extreme
    early = _net(
        "early",
        ("a", (ConvBlock(name="c1", out_channels=256, kernel=3, stride=2, padding=1), squeeze)),
        ("b", tuple(ConvBlock(name=f"x{i}", out_channels=64, kernel=3) for i in range(6))),
        size=64,
    )
    down = tuple(ConvBlock(name=f"d{i}", out_channels=64 * 2**i, kernel=3, stride=2, padding=1) for i in range(3))
    late = _net(
        "late",
        ("a", (*down, *(ConvBlock(name=f"x{i}", out_channels=256, kernel=3) for i in range(3)))),
        ("b", (squeeze,)),
        size=32,
    )  # the squeeze at 4x4 = 1/8 of the input grid, last block: late
    (e,) = _at(check(_count(early)), "squeeze", P1, "representation drop")
    (lt,) = _at(check(_count(late)), "squeeze", P1, "representation drop")
    assert e.value == lt.value == 8.0
    assert (e.severity, lt.severity) == ("violation", "warning")
    # at 16x (256 -> 16) the late squeeze is extreme compression: a violation too
    extreme = late.with_block(1, 0, squeeze.model_copy(update={"out_channels": 16}))
    (x,) = _at(check(_count(extreme)), "squeeze", P1, "representation drop")
    assert (x.value, x.severity) == (16.0, "violation")


def test_internal_squeeze_by_thin_1x1_reductions():
    thin = CustomBlock(
        name="thin",
        branches=(
            Branch(name="a", layers=(conv(8, 1), conv(256, 3))),
            Branch(name="b", layers=(conv(8, 1), conv(128, 3))),
        ),
    )
    spec = _net(
        "thin",
        ("stem", (ConvBlock(name="c1", out_channels=256, kernel=3, stride=2, padding=1),)),
        ("body", (thin, *(ConvBlock(name=f"x{i}", out_channels=256, kernel=3) for i in range(4)))),
        size=32,
    )
    (hit,) = _at(check(_count(spec)), "thin", P1, "internal squeeze")
    assert hit.value == pytest.approx(256 / 16) and hit.severity == "violation"


def test_paper_modules_do_not_squeeze(findings):
    for name in ("googlenet", "inception_v2", "inception_v3"):
        assert [f for f in findings(name) if f.principle == P1] == []


def test_thresholds_can_be_overridden(pooled_early):
    spec = _net(
        "pooled_early",
        ("stem", (PoolBlock(name="pool1", kernel=4, stride=4), ConvBlock(name="conv1", out_channels=64, kernel=3))),
    )
    report = _count(spec)
    assert _at(check(report), "pool1", P1, "representation drop")
    relaxed = check(report, Thresholds(max_block_drop=20.0))
    assert _at(relaxed, "pool1", P1, "representation drop") == []
    assert _at(relaxed, "pool1", P1, "early compression")  # the other thresholds are kept


# ---- principle 2 ----------------------------------------------------------------------------------------------


def test_coarse_grid_with_few_channels_is_flagged():
    spec = _net(
        "narrow_end",
        (
            "stem",
            (
                ConvBlock(name="c1", out_channels=64, kernel=3, stride=2, padding=1),
                ConvBlock(name="c2", out_channels=128, kernel=3, stride=2, padding=1),
            ),
        ),
        ("coarse", (ConvBlock(name="c3", out_channels=128, kernel=3),)),
        size=32,
    )
    got = check(_count(spec))
    (hit,) = _at(got, "c3", P2)
    assert hit.rule == "low activations per tile" and hit.severity == "warning" and hit.value == 128
    assert _at(got, "c1", P2) == []  # 16x16 is not coarse


def test_fig7_expanded_banks_pass_principle_2_and_googlenet_gets_a_note(findings):
    assert [f for f in findings("inception_v3") if f.principle == P2] == []
    notes = [f for f in findings("googlenet") if f.principle == P2]
    assert [(f.block, f.severity, f.rule) for f in notes] == [
        ("inception5a", "info", "no expanded filter bank"),
        ("inception5b", "info", "no expanded filter bank"),
    ]


# ---- principle 3: large kernels ---------------------------------------------------------------------------------


def test_large_kernel_share_note(findings):
    # the 7x7 stem conv, factorized in v3: advice of [R] §3.1, not of principle 3
    (hit,) = _at(findings("googlenet"), "conv1", FACTORIZATION, "large kernels")
    assert hit.severity == "info" and hit.value == 1.0 and hit.source == "[R] §3.1"
    assert [f for f in findings("googlenet_naive") if f.rule == "large kernels" and f.principle != FACTORIZATION] == []
    assert [f for f in findings("inception_v3") if f.rule == "large kernels"] == []  # InceptionA: 30% in 5x5


# ---- principle 4 ----------------------------------------------------------------------------------------------


def test_stage_taking_most_macs_is_flagged(findings):
    (hit,) = [f for f in findings("googlenet_naive") if f.rule == "stage MACs share"]
    assert hit.stage == "inception4" and hit.block == "" and hit.value == pytest.approx(0.633, abs=1e-3)
    # a reading of principle 4, not a rule of the paper: labelled as this tool's heuristic, with its reason
    assert hit.source == HEURISTIC and "heuristic" in hit.message and "35%" in hit.reason
    for name in ("googlenet", "inception_v2", "inception_v3"):
        assert [f for f in findings(name) if f.principle == P4] == []


def test_stage_share_threshold_override(preset_report):
    got = check(preset_report("inception_v3"), Thresholds(max_stage_macs_share=0.3))
    assert [(f.stage, f.rule) for f in got if f.principle == P4] == [("Mixed_6", "stage MACs share")]


def test_width_depth_table_and_spread(preset_report, findings):
    wd = width_depth(preset_report("inception_v3").spec)
    assert wd["width"].tolist() == [192, 288, 768, 2048]
    assert wd["depth"].tolist() == [5, 9, 23, 10]
    (spread,) = [f for f in findings("googlenet_naive") if f.rule == "width/depth spread"]
    assert (spread.stage, spread.principle, spread.source) == ("inception5", P4, HEURISTIC)


# ---- practical rules --------------------------------------------------------------------------------------------


def test_asymmetric_factorization_outside_12_to_20():
    fig6 = InceptionFig6(name="fig6", n=7, ch1x1=32, chnxnred=32, chnxn=32, chnxndblred=32, chnxndbl=32, pool_proj=32)
    spec = _net(
        "early_fig6",
        ("stem", (ConvBlock(name="c1", out_channels=64, kernel=3, stride=2, padding=1),)),
        ("m", (fig6,)),
        size=70,
    )
    (hit,) = _at(check(_count(spec)), "fig6", ASYMMETRIC)
    assert hit.value == 35 and hit.severity == "warning" and "§3.2" in hit.message


def test_asymmetric_factorization_at_17x17_and_fig7_forks_pass(findings):
    for name in ("inception_v2", "inception_v3"):
        assert [f for f in findings(name) if f.principle == ASYMMETRIC] == []


def test_pool_only_reduction_in_and_out_of_the_stem(findings):
    # c1 widens 3 -> 128 and the first pool follows it (expand then pool); the second pool follows blocks that keep
    # the width: pooling alone. A note in the stem while the representation stays above half the image's (8x8x128
    # = 0.67x of 64x64x3), a warning after the first module.
    c1 = ConvBlock(name="c1", out_channels=128, kernel=3, stride=2, padding=1)
    first, pool = PoolBlock(name="p1", kernel=2, stride=2), PoolBlock(name="p", kernel=2, stride=2)
    keep = ConvBlock(name="keep", out_channels=128, kernel=3)
    module = InceptionFig6(name="m", n=3, ch1x1=32, chnxnred=32, chnxn=32, chnxndblred=32, chnxndbl=32, pool_proj=32)
    in_stem = _net("s", ("stem", (c1, first, keep, pool)), ("body", (module,)), size=64)
    in_body = _net("b", ("stem", (c1, first)), ("body", (module, keep, pool)), size=64)
    (p1,) = _at(check(_count(in_stem)), "p1")
    assert (p1.rule, p1.severity, p1.value) == ("expand then pool", "info", pytest.approx(128 / 3, abs=1e-3))
    (stem,) = _at(check(_count(in_stem)), "p", GRID_REDUCTION)
    (body,) = _at(check(_count(in_body)), "p", GRID_REDUCTION)
    assert (stem.rule, stem.severity) == ("pool-only grid reduction", "info") and "Accepted in the stem" in stem.message
    assert (body.rule, body.severity) == ("pool-only grid reduction", "warning")
    # the Fig. 10 reductions of v2 (conv and pool side by side) are no pool-only reductions
    assert [f.block for f in findings("inception_v2") if f.principle == GRID_REDUCTION] == ["maxpool1"]


# ---- output ---------------------------------------------------------------------------------------------------


def test_findings_frame(findings):
    frame = findings_frame(findings("googlenet_naive"))
    assert list(frame.columns) == FINDING_COLUMNS
    assert len(frame) == len(findings("googlenet_naive"))
    assert set(frame["severity"]) <= {"info", "warning", "violation"}
    empty = findings_frame([])
    assert list(empty.columns) == FINDING_COLUMNS and empty.empty


def test_findings_carry_citations(findings):
    for name in ("googlenet", "googlenet_naive"):
        for f in findings(name):
            assert "[R]" in f.message or "[G]" in f.message, f


def test_every_finding_is_filed_under_its_rule_with_source_and_reason(findings):
    rules = {r.name: r for r in RULES}
    for name in ("googlenet", "googlenet_naive", "inception_v2", "inception_v3"):
        for f in findings(name):
            rule = rules[f.rule]
            assert (f.principle, f.source, f.reason) == (rule.principle, rule.source, rule.reason), f
            assert f.principle in PRINCIPLE_TITLES and f.source in SOURCES and f.reason
    # the heuristics are exactly the rules the paper does not state
    assert {r.name for r in RULES if r.source == HEURISTIC} == {
        "stage MACs share",
        "stage params share",
        "width/depth spread",
    }


def test_cli_principles_table(capsys):
    assert main(["principles", "googlenet_naive"]) == 0
    out = capsys.readouterr().out
    assert "inception3a" in out and "violation" in out and "[G] Fig. 2a" in out


def test_cli_principles_json_from_spec_file(tmp_path, capsys):
    spec = _net(
        "pooled_early",
        (
            "stem",
            (
                PoolBlock(name="pool1", kernel=4, stride=4),
                PoolBlock(name="pool2", kernel=2, stride=2),
                ConvBlock(name="conv1", out_channels=64, kernel=3),
            ),
        ),
    )
    path = tmp_path / "spec.json"
    path.write_text(spec.to_json())
    assert main(["principles", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["block"], r["severity"]) for r in rows if r["principle"] == "1"} >= {
        ("pool1", "violation"),
        ("pool2", "violation"),
    }


def test_cli_principles_bad_source(capsys):
    assert main(["principles", "no_such_preset"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error:")
