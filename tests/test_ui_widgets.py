"""ui/widgets.py and cached.network_choices in a small AppTest script: the pickers show labels and hand back typed
choices, the Build page's network comes first once there is one, and the metric row draws what views.py made."""

from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest

from inception_explorer.spec.presets import get_preset, list_presets
from inception_explorer.store import Store

WS = "widgets-test-workspace-0001"


def _pickers():
    import streamlit as st

    from inception_explorer.ui import cached
    from inception_explorer.ui.choices import preset
    from inception_explorer.ui.widgets import pick_network, pick_networks, pick_preset

    st.session_state["workspace"] = "widgets-test-workspace-0001"
    choices = cached.network_choices(include_build=True)
    one = pick_network("Network", choices, key="t.one")
    many = pick_networks("Networks", choices, default=[preset("googlenet"), preset("inception_v3")], key="t.many")
    st.text(f"one {one.kind}|{one.name}|{choices[one][:20]}")
    st.text("many " + ";".join(f"{c.kind}|{c.name}" for c in many))
    st.text(f"preset {pick_preset('t.preset').title}")


def _texts(at):
    return {t.value.split(" ", 1)[0]: t.value.split(" ", 1)[1] for t in at.text}


def test_pickers_show_labels_and_return_typed_choices(store_home):
    edited = get_preset("googlenet").with_input(160)
    Store(store_home / "store.sqlite").new_workspace(WS)  # the script below sets it as this session's workspace
    Store(store_home / "store.sqlite").save_variant("preset googlenet", edited, WS)  # named like a preset's label
    at = AppTest.from_function(_pickers, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    labels = [f"preset {p.name}" for p in list_presets()] + ["variant preset googlenet"]
    assert at.selectbox(key="t.one").options == labels  # no Build page network yet
    assert _texts(at)["one"].startswith("preset|googlenet|")
    assert _texts(at)["many"] == "preset|googlenet;preset|inception_v3"
    at.selectbox(key="t.one").select("variant preset googlenet")
    at.multiselect(key="t.many").set_value(["variant preset googlenet", "preset inception_v2"]).run()
    assert not at.exception, at.exception
    texts = _texts(at)
    assert texts["one"].startswith("variant|preset googlenet|")
    assert texts["many"] == "variant|preset googlenet;preset|inception_v2"
    assert at.session_state["t.one"].kind == "variant"  # session state keeps the typed choice
    assert at.selectbox(key="t.preset").options == [p.title for p in list_presets()]
    at.selectbox(key="t.preset").select("inception_v3").run()  # a preset by name
    assert at.session_state["t.preset"] == "inception_v3"
    titles = {p.name: p.title for p in list_presets()}
    assert texts["preset"] == titles["googlenet"] and _texts(at)["preset"] == titles["inception_v3"]


def test_the_build_pages_network_comes_first_once_there_is_one(store_home):
    at = AppTest.from_function(_pickers, default_timeout=120)
    at.session_state["build.valid"] = get_preset("inception_v2").canonical_json()
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="t.one").options[0] == "the network on the Build page"
    assert _texts(at)["one"].startswith("draft|the network on the Build page|")


def _row():
    from inception_explorer.ui.views import Metric
    from inception_explorer.ui.widgets import metric_row

    metric_row(
        [
            Metric("Parameters", "1,234", delta="-5", delta_color="inverse"),
            Metric("MACs", "1.000 G", help="1,000,000,000 multiply-adds"),
            Metric("Violations", 3),
            Metric("Findings", "2", delta="-5"),
        ]
    )


def test_the_metric_row_draws_each_metric_in_order():
    at = AppTest.from_function(_row)
    at.run()
    assert not at.exception, at.exception
    assert [(m.label, m.value, m.delta) for m in at.metric] == [
        ("Parameters", "1,234", "-5"),
        ("MACs", "1.000 G", ""),
        ("Violations", "3", ""),
        ("Findings", "2", "-5"),
    ]
    assert at.metric[1].help == "1,000,000,000 multiply-adds"
    color = [MetricProto.MetricColor.Name(m.proto.color) for m in at.metric]
    assert color[0] == "GREEN" and color[3] == "RED"  # delta_color="inverse": fewer parameters is good


def test_only_presets_and_variants_are_opened_by_name():
    import pytest

    from inception_explorer.ui import cached
    from inception_explorer.ui.choices import DRAFT, NetworkChoice

    for choice in (DRAFT, NetworkChoice("published", "lab start"), NetworkChoice("file", "x.json")):
        with pytest.raises(ValueError, match="only presets and saved variants"):
            cached.network_json(choice)
