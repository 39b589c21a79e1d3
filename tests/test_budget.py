"""What one spec may cost the server (issue 16, item 6): a bound on blocks and layers, checked before anything else;
caches bounded by entries, age and bytes; saved variants read by name, and parsed only when one is picked."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from inception_explorer import settings
from inception_explorer.errors import SpecError
from inception_explorer.spec import ModelSpec, budget
from inception_explorer.spec.budget import LAYERS_PER_BLOCK, check_size, network_size, validate
from inception_explorer.spec.presets import get_preset, list_presets
from inception_explorer.spec.validation import load_spec
from inception_explorer.store import Store

WS = "budget-test-workspace-0001"


def conv_blocks(blocks: int, per_stage: int = 128) -> dict:
    """A valid network of ``blocks`` small conv blocks (8,192 of them: the issue's 700 kB upload)."""
    stages = []
    for s in range(-(-blocks // per_stage)):
        n = min(per_stage, blocks - s * per_stage)
        stages.append(
            {
                "name": f"s{s}",
                "blocks": [{"name": f"c{s}_{i}", "kind": "conv", "out_channels": 8, "kernel": 3} for i in range(n)],
            }
        )
    return {"name": "many_blocks", "input_size": [32, 32], "num_classes": 10, "stages": stages}


def custom_blocks(blocks: int, branches: int, layers: int) -> dict:
    """``blocks`` custom blocks of ``branches`` branches of ``layers`` 1x1 convs each."""
    branch = [
        {"name": f"b{j}", "layers": [{"op": "conv", "out_channels": 2, "kernel": 1}] * layers} for j in range(branches)
    ]
    stages = [
        {"name": f"s{s}", "blocks": [{"name": f"m{s}_{i}", "kind": "custom", "branches": branch} for i in range(n)]}
        for s, n in enumerate([128] * (blocks // 128) + ([blocks % 128] if blocks % 128 else []))
    ]
    return {"name": "many_layers", "input_size": [16, 16], "num_classes": 10, "stages": stages}


@pytest.fixture
def no_parse_no_shapes(monkeypatch):
    """Fails the test if pydantic parses a spec or its shapes are worked out."""
    calls = []
    monkeypatch.setattr(ModelSpec, "from_dict", classmethod(lambda cls, d: calls.append("parse")))
    monkeypatch.setattr(budget, "infer_shapes", lambda *a, **k: calls.append("shapes"))
    return calls


# ---- the bound on blocks and layers -------------------------------------------------------------------------


def test_the_issues_upload_of_8192_blocks_is_refused_before_it_is_parsed(no_parse_no_shapes):
    text = json.dumps(conv_blocks(8192), separators=(",", ":")).encode()
    assert len(text) < 1_000_000  # under the upload limit: only the block bound refuses it
    t = time.perf_counter()
    with pytest.raises(SpecError) as info:
        load_spec(text)
    assert time.perf_counter() - t < 1.0  # the JSON parse and a count of lists (about 10 ms); pydantic alone: 0.4 s
    assert str(info.value) == (
        "stages: the network has 8,192 blocks; at most 256 are allowed ($INCEPTION_EXPLORER_MAX_BLOCKS)"
    )
    assert info.value.problems[0].path == ("stages",)
    assert no_parse_no_shapes == []
    with pytest.raises(SpecError, match="8,192 blocks"):
        load_spec(conv_blocks(8192))  # a dict: the same check, first
    assert no_parse_no_shapes == []


def test_at_the_block_limit_a_network_is_accepted_and_one_more_is_refused():
    assert network_size(load_spec(conv_blocks(256))).blocks == 256
    with pytest.raises(SpecError, match="the network has 257 blocks; at most 256 are allowed"):
        load_spec(conv_blocks(257))


def test_validate_checks_the_blocks_of_a_parsed_spec_first(monkeypatch):
    spec = ModelSpec.from_dict(conv_blocks(300))  # the parse itself has no such bound (a saved variant, an edit)
    calls = []
    monkeypatch.setattr(budget, "infer_shapes", lambda *a, **k: calls.append("shapes"))
    with pytest.raises(SpecError, match="300 blocks; at most 256"):
        validate(spec)
    with pytest.raises(SpecError, match="300 blocks"):
        load_spec(spec)
    assert calls == []


def test_the_block_limit_is_the_setting(monkeypatch):
    monkeypatch.setenv(settings.MAX_BLOCKS, "10")
    with pytest.raises(SpecError, match=r"16 blocks; at most 10 are allowed \(\$INCEPTION_EXPLORER_MAX_BLOCKS\)"):
        validate(get_preset("googlenet"))
    monkeypatch.setenv(settings.MAX_BLOCKS, "16")
    assert validate(get_preset("googlenet")).name == "googlenet"


def test_many_layers_in_few_blocks_are_refused_too(no_parse_no_shapes):
    """256 blocks of 48 layers (12,288 in all, 630 kB): within the block limit, and as costly to count as the
    8,192-block spec (43 s, 0.9 GB), so layers are bounded too: 8 per block allowed."""
    data = custom_blocks(256, 16, 3)
    with pytest.raises(SpecError) as info:
        load_spec(json.dumps(data))
    assert str(info.value) == (
        "stages: the network has 12,288 layers (convolutions and pools in all its branches); at most 2,048 are "
        "allowed, 8 per block of the 256 that $INCEPTION_EXPLORER_MAX_BLOCKS allows"
    )
    assert no_parse_no_shapes == []


def _with_custom_block(spec: ModelSpec, branches: int, layers: int) -> dict:
    """``spec``'s data with one more stage: one custom block of ``branches`` branches of ``layers`` 1x1 convs."""
    data = spec.to_dict()
    extra = custom_blocks(1, branches, layers)["stages"][0]
    data["stages"].append({**extra, "name": "extra"})
    return data


def test_layers_of_named_kinds_are_counted_once_parsed_and_at_least_one_each_before(monkeypatch):
    spec = get_preset("inception_v3")
    size = network_size(spec)
    assert (size.blocks, size.layers, size.exact) == (18, 107, True)
    raw = network_size(spec.to_dict())  # the named kinds' layers are not written out in JSON: at least one each
    assert (raw.blocks, raw.layers, raw.exact) == (18, 18, False)
    monkeypatch.setenv(settings.MAX_BLOCKS, "20")  # 160 layers allowed; inception_v3 fits
    assert check_size(spec) == size
    calls = []
    monkeypatch.setattr(budget, "infer_shapes", lambda *a, **k: calls.append("shapes"))
    # 18 + 160 written out: refused before parsing, "at least"
    with pytest.raises(SpecError, match="the network has at least 178 layers .*at most 160 are allowed"):
        load_spec(_with_custom_block(spec, 16, 10))
    # 18 + 80 written out passes; parsed, 107 + 80 are refused before its shapes are worked out
    with pytest.raises(SpecError, match="the network has 187 layers .*at most 160 are allowed"):
        load_spec(_with_custom_block(spec, 16, 5))
    assert calls == []


def test_the_presets_are_far_inside_the_limits():
    limit = settings.settings().max_blocks
    for name in ("googlenet", "googlenet_naive", "inception_v2", "inception_v3"):
        size = network_size(get_preset(name))
        assert size.blocks * 10 < limit and size.layers * 10 < LAYERS_PER_BLOCK * limit


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"stages": "x"},
        {"stages": [1, None, {"blocks": 3}, {"blocks": [1, {"kind": "custom", "branches": [{"layers": 5}]}]}]},
        {"stages": [{"blocks": [{"kind": []}, {"kind": {"a": 1}, "branches": [[]]}]}]},  # unhashable kinds
    ],
)
def test_the_raw_count_reads_malformed_data_without_failing(data):
    size = network_size(data)
    assert size is None or size.blocks == 2
    with pytest.raises(SpecError):
        load_spec(data)  # pydantic says what is wrong


# ---- the app's caches --------------------------------------------------------------------------------------------


def test_every_cache_of_per_spec_data_is_bounded_by_entries_age_and_bytes():
    from inception_explorer.ui import cached

    source = Path(cached.__file__).read_text()
    tree = ast.parse(source)
    checked = []
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef) and n.args.args):
        for dec in fn.decorator_list:
            if isinstance(dec, ast.Call) and ast.unparse(dec.func) == "st.cache_data":
                keywords = {k.arg for k in dec.keywords}
                assert {"max_entries", "max_size"} <= keywords, fn.name
                if fn.name != "preset_json":  # by a preset's name: the four presets, for good
                    assert "ttl" in keywords, fn.name
                checked.append(fn.name)
                info = getattr(cached, fn.name)._info
                assert info.max_entries <= 1024 and info.max_size_bytes <= 16 * 2**20, fn.name
    assert {"cost_report", "principle_findings", "module_names", "googlenet_table1", "variant_spec_json"} <= set(
        checked
    )


# ---- saved variants: names on every run, one spec when it is picked -----------------------------------------------


def _compare_like():
    """What the Compare, Probes and Factorization pages do: list every network, read the picked ones."""
    import json

    import streamlit as st

    from inception_explorer.errors import SpecError
    from inception_explorer.ui import cached
    from inception_explorer.ui.choices import preset
    from inception_explorer.ui.widgets import pick_networks

    st.session_state["workspace"] = "budget-test-workspace-0001"
    choices = cached.network_choices()
    picked = pick_networks("Networks", choices, default=[preset("googlenet")], key="t.picked")
    st.text(f"listed {len(choices)}")
    for choice in picked:
        try:
            st.text(f"picked {choice.name} {json.loads(choices[choice])['name']}")
        except SpecError as exc:
            st.text(f"refused {choice.name} {exc}")


def test_a_rerun_reads_variant_names_and_parses_only_the_picked_one(store_home, monkeypatch):
    store = Store(store_home / "store.sqlite")
    store.new_workspace(WS)
    for i in range(20):
        store.save_variant(f"v{i}", get_preset("googlenet").with_input(96 + 8 * i), WS)
    legacy = ModelSpec.from_dict(conv_blocks(2048))  # saved before the block limit: never parsed on a rerun
    store.save_variant("legacy", legacy, WS)
    parsed = []
    real = ModelSpec.__dict__["from_dict"].__func__
    monkeypatch.setattr(ModelSpec, "from_dict", classmethod(lambda cls, d: parsed.append(d["name"]) or real(cls, d)))

    at = AppTest.from_function(_compare_like, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    texts = [t.value for t in at.text]
    assert texts[0] == f"listed {len(list_presets()) + 21}"  # the presets and 21 variants, by name
    assert parsed == []  # no saved variant was parsed (nor checked) to list them

    at.multiselect(key="t.picked").set_value(["preset googlenet", "variant v3"]).run()
    assert not at.exception, at.exception
    assert "picked v3 googlenet" in [t.value for t in at.text]
    assert parsed == ["googlenet"]  # v3 only, once
    at.run()
    assert parsed == ["googlenet"]  # the next run: cached by its stored text

    at.multiselect(key="t.picked").set_value(["variant legacy"]).run()
    assert not at.exception, at.exception
    assert [t.value for t in at.text][1] == (
        "refused legacy stages: the network has 2,048 blocks; at most 256 are allowed ($INCEPTION_EXPLORER_MAX_BLOCKS)"
    )
    assert parsed == ["googlenet"]  # refused from its JSON, before pydantic


def _lookup():
    import streamlit as st

    from inception_explorer.spec import ModelSpec
    from inception_explorer.spec.presets import get_preset
    from inception_explorer.ui import cached
    from inception_explorer.ui.choices import variant

    st.session_state["workspace"] = "budget-test-workspace-0001"
    choices = cached.network_choices()
    st.text(f"has {variant('gone') in choices} {variant('kept') in choices}")
    try:
        choices[variant("gone")]
    except KeyError:
        st.text("gone KeyError")
    st.text(f"kept {ModelSpec.from_json(choices[variant('kept')]) == get_preset('googlenet')}")
    st.text(f"json {cached.network_json(variant('kept')) == get_preset('googlenet').canonical_json()}")


def test_a_variant_is_looked_up_by_name_and_opens_as_its_checked_canonical_json(store_home):
    store = Store(store_home / "store.sqlite")
    store.new_workspace(WS)
    store.save_variant("kept", get_preset("googlenet"), WS)
    at = AppTest.from_function(_lookup, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert [t.value for t in at.text] == ["has False True", "gone KeyError", "kept True", "json True"]
