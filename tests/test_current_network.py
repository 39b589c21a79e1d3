"""One subject across pages (AppTest): the session's current network is what every analysing page opens on and
names at the top; a pick on any page makes it current; the URL names it, so a reload (a new session with the same
address and store) opens the same thing, an unsaved Build network included; a ?variant= link opens what it names
even over a draft; Compare's "What changed" follows the picked networks; no change is not a red rise."""

from pathlib import Path

from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

from inception_explorer.analysis.costs import count
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import DraftRecord, Store
from inception_explorer.ui.choices import DRAFT, preset, variant
from inception_explorer.ui.views import md

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def _session(query: dict) -> AppTest:
    """A browser session opening the app at an address with ``query`` (a reload is a new one with the same)."""
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def _open(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"pages/{page}_page.py").run()
    assert not at.exception, at.exception
    return at


def _top(at: AppTest) -> str:
    """The line naming the current network at the top of the page."""
    return next(m.value for m in at.markdown if m.value.startswith("Network: "))


def _labelled(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def _select_block(at: AppTest, stage: int, block: str) -> None:
    """Build's Stage and Block pickers (found by label: their keys follow the names, so labels follow a convert)."""
    _labelled(at.selectbox, "Stage").select(stage).run()
    _labelled(at.selectbox, "Block").select(block).run()


def _block_macs(at: AppTest) -> int:
    """The MACs of every block in Build's per-block table (the one with a findings column)."""
    table = next(d.value for d in at.dataframe if "findings" in d.value.columns)
    return int(table["macs"].sum())


def _narrow_4c(at: AppTest) -> None:
    """On the Build page: inception4c's 5x5 branch 64 -> 32 filters (5,970,944 fewer MACs)."""
    _select_block(at, 2, "inception4c")
    next(n for n in at.number_input if n.label == "ch5x5").set_value(32)
    at.button[[b.label for b in at.button].index("Apply")].click().run()
    assert not at.exception, at.exception


def _narrow_spec():
    spec = get_preset("googlenet")
    si, bi = spec.find_block("inception4c")
    return spec.with_block(si, bi, spec.stages[si].blocks[bi].model_copy(update={"ch5x5": 32}))


def _workspace(home: Path) -> str:
    return Store(home / "store.sqlite").new_workspace()


DRAFT_TOP = f"Network: **{md('googlenet')}**, {md(DRAFT.label)}"


def test_an_edit_on_build_is_what_costs_principles_the_lab_and_probes_open_on(store_home):
    at = _open(_session({"ws": _workspace(store_home)}), "build")
    _narrow_4c(at)
    assert at.query_params["net"] == "draft"
    macs = count(_narrow_spec()).totals.macs
    assert macs == count(get_preset("googlenet")).totals.macs - 5_970_944
    _open(at, "costs")
    assert _top(at) == DRAFT_TOP
    assert at.session_state["costs.network"] == DRAFT
    assert any(f"Exactly {macs:,} MACs" in c.value for c in at.caption)  # the edited network's count, not the preset's
    _open(at, "principles")
    assert _top(at) == DRAFT_TOP and at.session_state["principles.network"] == DRAFT
    _open(at, "factorization")
    assert _top(at) == DRAFT_TOP and at.session_state["fact.apply.network"] == DRAFT
    totals = next(df.value for df in at.dataframe if "network" in df.value.columns)  # before / after converting
    assert totals["MACs"].iloc[0] == macs
    _open(at, "probes")
    assert _top(at) == DRAFT_TOP
    assert at.multiselect(key="probes.picked").value[0] == DRAFT
    _open(at, "compare")
    assert _top(at) == DRAFT_TOP
    assert list(at.dataframe[0].value["network"]) == [DRAFT.label, "preset googlenet"]
    assert list(at.dataframe[0].value["MACs"]) == [macs, macs + 5_970_944]


def test_a_pick_on_costs_is_where_principles_opens_and_the_address_names_it(store_home):
    ws = _workspace(store_home)
    at = _open(_session({"ws": ws}), "costs")
    assert _top(at) == f"Network: **googlenet**, {md('preset googlenet')}"
    at.selectbox(key="costs.network").select("preset googlenet_naive").run()
    assert at.query_params["net"] == "preset:googlenet_naive"
    _open(at, "principles")
    assert at.session_state["principles.network"] == preset("googlenet_naive")
    assert _top(at).startswith(f"Network: **{md('googlenet_naive')}**")
    assert int({m.label: m.value for m in at.metric}["Violations"]) >= 9  # the naive modules, principle 3
    # the same address, opened again (a reload, a shared link), opens the same network
    again = _open(_session({"ws": ws, "net": "preset:googlenet_naive"}), "principles")
    assert again.session_state["principles.network"] == preset("googlenet_naive")
    # a network picked on Principles is where Costs opens
    again.selectbox(key="principles.network").select("preset inception_v3").run()
    _open(again, "costs")
    assert {m.label: m.value for m in again.metric}["MACs"] == "5.731 G"


def test_a_reload_keeps_the_unsaved_draft(store_home):
    ws = _workspace(store_home)
    at = _open(_session({"ws": ws}), "build")
    _narrow_4c(at)
    edited = _block_macs(at)
    kept = Store(store_home / "store.sqlite").load_draft(ws)
    assert isinstance(kept, DraftRecord) and (kept.source_kind, kept.source_name) == ("preset", "googlenet")
    address = dict(at.query_params)
    assert address == {"ws": ws, "net": "draft"}
    reloaded = _open(_session(address), "costs")  # a new session: nothing of the old one's state
    assert _top(reloaded) == DRAFT_TOP
    assert {m.label: m.value for m in reloaded.metric}["MACs"] == f"{edited / 1e9:.3f} G"
    _open(reloaded, "build")
    assert _block_macs(reloaded) == edited
    assert any("loaded from preset googlenet" in c.value for c in reloaded.caption)
    # another workspace has no draft of it
    other = _open(_session({"ws": _workspace(store_home), "net": "draft"}), "costs")
    assert _top(other) == f"Network: **googlenet**, {md('preset googlenet')}"


def test_a_variant_link_opens_the_variant_even_when_the_session_has_a_draft(store_home):
    ws = _workspace(store_home)
    Store(store_home / "store.sqlite").save_variant("v3 copy", get_preset("inception_v3"), ws)
    at = _open(_session({"ws": ws}), "build")
    _narrow_4c(at)
    at.query_params["variant"] = "v3 copy"  # a page link (st.page_link) to /build?variant=... in the same session
    at.run()
    assert not at.exception, at.exception
    assert any("loaded from " + md("variant v3 copy") in c.value for c in at.caption)
    assert {m.label: m.value for m in at.metric}["Parameters"] == "23,834,568"
    assert at.query_params["variant"] == "v3 copy" and "net" not in at.query_params
    _open(at, "costs")
    assert at.session_state["costs.network"] == variant("v3 copy")
    # a new session (the link opened in a browser) whose workspace keeps another draft opens the variant too
    _open(at, "build")
    at.selectbox(key="build.start").select("preset googlenet").run()
    at.button(key="build.load").click().run()
    _narrow_4c(at)
    assert Store(store_home / "store.sqlite").load_draft(ws).source_name == "googlenet"
    fresh = _open(_session({"ws": ws, "variant": "v3 copy"}), "build")
    assert {m.label: m.value for m in fresh.metric}["Parameters"] == "23,834,568"
    assert any("loaded from " + md("variant v3 copy") in c.value for c in fresh.caption)


def test_compare_what_changed_follows_the_picks_and_lists_stage_renames(store_home):
    ws = _workspace(store_home)
    spec = get_preset("googlenet")
    stages = (*spec.stages[:2], spec.stages[2].model_copy(update={"name": "inc4"}), *spec.stages[3:])
    renamed = type(spec).model_validate(spec.model_copy(update={"stages": stages}).to_dict())
    Store(store_home / "store.sqlite").save_variant("renamed 4", renamed, ws)
    at = _open(_session({"ws": ws}), "compare")
    picks = ["preset googlenet", "preset inception_v3", "preset inception_v2"]
    at.multiselect(key="compare.picked").set_value(picks).run()
    assert (at.selectbox(key="compare.a").value, at.selectbox(key="compare.b").value) == (
        preset("googlenet"),
        preset("inception_v3"),
    )
    at.multiselect(key="compare.picked").set_value(picks[1:]).run()  # googlenet removed
    assert not at.exception, at.exception
    a, b = at.selectbox(key="compare.a").value, at.selectbox(key="compare.b").value
    assert (a, b) == (preset("inception_v3"), preset("inception_v2"))  # not inception_v3 against itself
    assert not any("Same blocks" in s.value for s in at.success)
    at.multiselect(key="compare.picked").set_value(["preset googlenet", "variant renamed 4"]).run()
    assert at.selectbox(key="compare.a").value == preset("googlenet")
    assert at.selectbox(key="compare.b").value == variant("renamed 4")
    diff = at.dataframe[-1].value
    assert diff.to_dict("records") == [{"block": "(stage 2)", "change": "renamed", "details": "inception4 -> inc4"}]
    assert at.session_state["current.network"] == variant("renamed 4")  # the network added is the current one


def test_no_change_from_the_preset_is_no_red_arrow(store_home):
    at = _open(_session({"ws": _workspace(store_home)}), "build")
    at.selectbox(key="build.start").select("preset inception_v3").run()
    at.button(key="build.load").click().run()
    metrics = {m.label: m for m in at.metric}
    assert metrics["Parameters"].delta == "+0"
    assert MetricProto.MetricColor.Name(metrics["Parameters"].proto.color) == "GRAY"
    assert MetricProto.MetricDirection.Name(metrics["Parameters"].proto.direction) == "NONE"
    _select_block(at, 1, "Mixed_5b")  # a real change: fewer parameters, a green fall
    next(n for n in at.number_input if n.label == "pool_proj").set_value(16)
    at.button[[b.label for b in at.button].index("Apply")].click().run()
    metrics = {m.label: m for m in at.metric}
    assert metrics["Parameters"].delta.startswith("-")
    assert MetricProto.MetricColor.Name(metrics["Parameters"].proto.color) == "GREEN"
