"""The pages' network pickers (AppTest): loading by a typed choice on the Build page, and the Build page's
network offered on the Factorization lab once the session has one."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store
from inception_explorer.ui.views import factorization_candidates, md

APP = str(Path(__file__).resolve().parents[1] / "app.py")
WS = "ui-pages-test-workspace-0001"  # recorded as a workspace of this server's by each test (``_app``)


def _app() -> AppTest:
    Store().new_workspace(WS)  # as if this server had minted it
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["ws"] = WS
    at.run()
    assert at.session_state["workspace"] == WS
    return at


def _load(at: AppTest, label: str) -> None:
    at.selectbox(key="build.start").select(label).run()
    at.button(key="build.load").click().run()
    assert not at.exception, at.exception


def test_build_loads_the_picked_preset_or_variant(store_home):
    narrow = get_preset("googlenet").with_input(160)
    Store(store_home / "store.sqlite").new_workspace(WS)
    Store(store_home / "store.sqlite").save_variant("preset inception_v3", narrow, WS)  # named like a label
    at = _app()
    at.switch_page("pages/build_page.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="build.start").options[-1] == "variant preset inception_v3"
    _load(at, "preset inception_v3")
    assert any("loaded from " + md("preset inception_v3") + "." in c.value for c in at.caption)
    metrics = {m.label: m for m in at.metric}
    assert metrics["Parameters"].value == "23,834,568" and metrics["Parameters"].delta == "+0"  # vs its preset
    assert metrics["Output"].value == "8x8x2048"
    _load(at, "variant preset inception_v3")
    assert any("loaded from " + md("variant preset inception_v3") + "." in c.value for c in at.caption)
    metrics = {m.label: m for m in at.metric}
    assert metrics["Output"].value == "5x5x1024"  # googlenet at 160 px, not Inception-v3
    assert metrics["Parameters"].delta == ""  # a variant has no preset to compare with


def test_the_build_pages_network_is_offered_on_the_lab_once_there_is_one(store_home):
    at = _app()
    at.switch_page("pages/factorization_page.py").run()
    assert at.selectbox(key="fact.apply.network").options[0] == "preset googlenet"  # no Build page network yet
    at.switch_page("pages/build_page.py").run()
    _load(at, "preset inception_v2")
    at.switch_page("pages/factorization_page.py").run()
    assert not at.exception, at.exception
    network = at.selectbox(key="fact.apply.network")
    assert network.options[0] == "the network on the Build page" and network.value.kind == "draft"
    blocks = at.multiselect(key="fact.apply.blocks.the network on the Build page.inception_fig5")
    expected = factorization_candidates(get_preset("inception_v2"), "inception_fig5")[0]
    assert expected and blocks.options == expected  # the blocks of the network loaded on the Build page


def test_a_saved_variant_that_no_longer_opens_is_a_message_on_compare_and_the_lab(store_home):
    store = Store(store_home / "store.sqlite")
    store.new_workspace(WS)
    store.query(
        "INSERT INTO variants(workspace, name, spec_json, created, updated) VALUES (?, 'broken', ?, 0, 0)",
        (WS, '{"name": 1}'),
    )
    at = _app()
    at.switch_page("pages/compare_page.py").run()
    at.multiselect(key="compare.picked").set_value(["preset googlenet", "preset inception_v3", "variant broken"]).run()
    assert not at.exception, at.exception
    assert any(md("variant broken is left out") in w.value for w in at.warning)
    assert list(at.dataframe[0].value["network"]) == ["preset googlenet", "preset inception_v3"]
    at.switch_page("pages/factorization_page.py").run()
    at.selectbox(key="fact.apply.network").select("variant broken").run()
    assert not at.exception, at.exception
    assert any(md("variant broken no longer opens") in w.value for w in at.warning)
