"""Everything a user typed is shown as text (AppTest): variant, stage, network, file and published names, and the
messages quoting them, never render as Markdown (no image fetched, no link), HTML, or plotly markup; bidi controls
are refused in names with a clear message; a 10 KB string typed into a text field is a short, escaped message.

An element's ``value`` in AppTest is the Markdown source the browser renders: the tests assert it holds the name
escaped (``ui.views.md``) and none of the markup, and that the markup escaped that way has no live syntax left.
Run with ``-s`` to see what renders for each hostile name.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from helpers import open_build_sections
from streamlit.testing.v1 import AppTest

from inception_explorer import rooms, settings
from inception_explorer.errors import SpecError
from inception_explorer.spec import ModelSpec
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store
from inception_explorer.ui.views import figure_text, md, visible

APP = str(Path(__file__).resolve().parents[1] / "app.py")
HOST = "http://127.0.0.1:9"  # nothing listens there; the browser test checks that nothing is even asked
HOSTILE = {
    "image": f"![p]({HOST}/x.png)",
    "link": f"[Log in here]({HOST}/login)",
    "html": f'<img src="{HOST}/x.png"> <b>bold</b> & co',
    "autolink": f"see {HOST}/x or www.example.com or a@example.com",
    "streamlit": ":red[alarm] :material/warning: $x^2$ `code`",
    "bidi": "exam\u202etxt.exe",  # refused in every name; shown as its escape wherever text reaches a page
}
MARKUP = ("![", "](", "<img", "<b>", "<a ", "http://", "www.", ":red[", "$x")
TEN_KB = "![p](http://127.0.0.1:9/x.png)" * 340  # about 10 KB


def _live(markdown: str) -> str:
    """``markdown`` with every backslash-escaped character blanked out: what is left is what Markdown parses."""
    out, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\" and i + 1 < len(markdown):
            out.append("\0")
            i += 2
        else:
            out.append(markdown[i])
            i += 1
    return "".join(out)


def _no_markup(markdown: str) -> None:
    """No image, link, HTML, autolink, Streamlit directive or math left live in ``markdown``."""
    live = _live(markdown)
    for token in MARKUP:
        assert token not in live, (token, markdown)


def _no_live_markup(markdown: str) -> None:
    """Every ASCII punctuation character in ``markdown`` is escaped (so none is syntax), and no markup survives."""
    live = _live(markdown)
    for i, ch in enumerate(live):
        assert ch not in string.punctuation, f"unescaped {ch!r} at {i} in {markdown!r}"
    _no_markup(markdown)


def _shows_as_text(markdown: str, name: str) -> None:
    assert md(name) in markdown, (md(name), markdown)
    _no_live_markup(md(name))
    _no_markup(markdown)


RENDERED: dict[str, str] = {}


def _unescape(markdown: str) -> str:
    out, i = [], 0
    while i < len(markdown):
        if markdown[i] == "\\" and i + 1 < len(markdown):
            i += 1
        out.append(markdown[i])
        i += 1
    return "".join(out)


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_md_leaves_no_markup_and_reads_back_as_the_name(kind):
    name = HOSTILE[kind]
    out = md(name)
    _no_live_markup(out)
    # exactly the name, as text (a bidi control as its escape; a word joiner keeps a bare address from being a link)
    assert _unescape(out).replace("\u2060", "") == visible(name)
    assert kind != "autolink" or all(f"{a}\u2060" in _unescape(out) for a in ("http:", "www", "@"))
    assert "\u202e" not in out and (kind != "bidi" or "\\\\u202e" in out)
    assert "<" not in figure_text(name) and ("&" not in name or "&amp;" in figure_text(name))
    print(f"\n[{kind}] {name!r}\n  Markdown sent: {out}\n  plotly label:  {figure_text(name)}")


def _session(store_home: Path, query: dict | None = None, page: str = "pages/build_page.py") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    open_build_sections(at)  # Build's sections are built only while open
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> list[str]:
    kinds = ("error", "warning", "info", "success", "caption", "markdown", "toast", "expander")
    return [getattr(e, "value", None) or getattr(e, "label", "") for kind in kinds for e in getattr(at, kind)]


@pytest.mark.parametrize("kind", [k for k in HOSTILE if k != "bidi"])
def test_a_published_copy_with_a_hostile_name_opens_as_text(store_home, kind):
    name = HOSTILE[kind]
    store = Store(store_home / "store.sqlite")
    token = store.publish(name, get_preset("googlenet"), store.new_workspace())
    student = _session(store_home, {"published": token})
    caption = next(c.value for c in student.caption if "loaded from" in c.value)
    _shows_as_text(caption, name)
    for text in _texts(student):
        _no_markup(text)


def _name_field(at: AppTest):
    return next(t for t in at.text_input if t.label == "Variant name")


def _instructor(at: AppTest, monkeypatch) -> AppTest:
    """``at`` on the Instructor page, its key entered: publishing is the instructor's."""
    monkeypatch.setenv(settings.INSTRUCTOR_KEY, "room-key")
    at.switch_page("pages/instructor_page.py").run()
    at.text_input(key="instructor.key_input").set_value("room-key")
    at.button(key="FormSubmitter:instructor.login-Enter").click().run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("kind", [k for k in HOSTILE if k != "bidi"])
def test_saving_and_publishing_a_hostile_name_answers_in_text(store_home, kind, monkeypatch):
    name = HOSTILE[kind]
    at = _session(store_home)
    _name_field(at).set_value(name).run()
    at.button(key="build.save").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    _shows_as_text(next(s.value for s in at.success if "Saved" in s.value), name)
    _instructor(at, monkeypatch)
    at.text_input(key="instructor.publish_name").set_value(name).run()
    at.button(key="instructor.publish").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    _shows_as_text(next(s.value for s in at.success if "Published" in s.value), name)
    listed = next(m.value for m in at.markdown if "no room" in m.value)  # the list of published copies
    _shows_as_text(listed, name)
    at.switch_page("pages/build_page.py").run()
    at.selectbox(key="build.start").select(f"variant {name}").run()  # the picker's options are plain text
    at.button(key="build.load").click().run()
    _shows_as_text(next(c.value for c in at.caption if "loaded from" in c.value), f"variant {name}")


def test_bidi_controls_in_a_variant_name_are_refused_with_a_clear_message(store_home, monkeypatch):
    at = _session(store_home)
    _name_field(at).set_value(HOSTILE["bidi"]).run()
    at.button(key="build.save").click().run()  # Save on Build ...
    saved = [e.value for e in at.error]
    _instructor(at, monkeypatch)
    at.text_input(key="instructor.publish_name").set_value(HOSTILE["bidi"]).run()
    at.button(key="instructor.publish").click().run()  # ... Publish on the Instructor page
    assert not at.exception
    for errors in (saved, [e.value for e in at.error]):
        (error,) = errors
        assert md("bidirectional control characters (U+202E)") in error
        assert "\u202e" not in error and md("exam\\u202etxt.exe") in error  # the name's escape, not the character
    store = Store(store_home / "store.sqlite")
    assert store.variant_names(at.session_state["workspace"]) == []
    assert rooms.Instructor("room-key", store).published() == []


def test_ten_kilobytes_typed_into_a_name_is_a_short_escaped_message(store_home):
    at = _session(store_home)
    at.text_input(key="build.save_name").set_value(TEN_KB).run()
    at.button(key="build.save").click().run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert md("must be 1-64 printable characters") in error and len(error) < 400
    _no_live_markup(error.split("got ", 1)[1])


def test_a_hostile_stage_name_is_text_in_the_build_pages_messages(store_home):
    at = _session(store_home)
    with_stage = get_preset("googlenet").to_dict()
    for kind in ("image", "bidi"):
        with_stage["stages"][2]["name"] = HOSTILE[kind]
        with_stage["stages"][2]["blocks"][3]["ch1x1"] = 0  # a problem located in that stage
        with_stage["name"] = HOSTILE["link"]
        at.session_state["build.draft"] = json.dumps(with_stage)
        at.run()
        assert not at.exception
        errors = " ".join(e.value for e in at.error)
        assert md(f'stages[2] "{HOSTILE[kind]}"') in errors and "\u202e" not in errors
        _no_markup(errors)
        _shows_as_text(next(c.value for c in at.caption if "Editing" in c.value), HOSTILE["link"])


def test_a_ten_kilobyte_stage_name_is_refused_in_a_short_message(store_home):
    at = _session(store_home)
    form = next(t for t in at.text_input if t.label == "Name of this stage")
    form.set_value(TEN_KB)
    at.button(key="build.stage_rename").click().run()
    assert not at.exception
    (error,) = [e.value for e in at.error]
    assert md("a stage name must be at most 64 characters") in error and len(error) < 200


def test_an_imported_files_name_is_text(store_home):
    from inception_explorer.ui.choices import NetworkChoice

    at = _session(store_home)
    at.session_state["build.source"] = NetworkChoice("file", HOSTILE["image"] + ".json")  # as an upload sets it
    at.run()
    _shows_as_text(next(c.value for c in at.caption if "loaded from" in c.value), f"file {HOSTILE['image']}.json")


def _figures(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def _figure_strings(figure: dict) -> list[str]:
    """Every string a plotly figure shows: trace names, hover texts, category values, titles, annotations."""
    out = []

    def walk(value):
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(figure)
    return out


def test_compare_shows_hostile_variant_and_stage_names_as_text_in_tables_and_figures(store_home):
    stage = f'<a href="{HOST}/x">s</a>'
    spec = get_preset("googlenet").to_dict()
    spec["stages"][2]["name"] = stage
    from inception_explorer.spec import ModelSpec

    store = Store(store_home / "store.sqlite")
    ws = store.new_workspace()
    store.save_variant(HOSTILE["html"], ModelSpec.from_dict(spec), ws)
    at = _session(store_home, {"ws": ws}, page="pages/compare_page.py")
    label = f"variant {HOSTILE['html']}"
    at.multiselect(key="compare.picked").set_value(["preset googlenet", label]).run()
    assert not at.exception, at.exception
    assert label in set(at.dataframe[0].value["network"])  # a table shows the name as data
    figures = _figures(at)
    assert len(figures) == 2
    shown = [text for figure in figures for text in _figure_strings(figure)]
    assert figure_text(label) in shown  # the legend / subplot title: the name as text
    assert any(figure_text(stage) == text for text in shown)  # the stage on the share figure's axis
    for text in shown:
        assert "<a " not in text and "<img" not in text and "<b>" not in text, text


def test_the_probes_page_shows_a_runs_hostile_label_and_error_as_text(store_home):
    from inception_explorer.probes import ProbeConfig, RunLog, RunStatus
    from inception_explorer.probes.results import StepMetrics

    store = Store(store_home / "store.sqlite")
    ws = store.new_workspace()
    runs = RunLog(store)
    config = ProbeConfig.from_dict({"steps": 2, "device": "cpu"})
    run = runs.create(HOSTILE["html"], get_preset("googlenet"), config, "cpu", ws)
    runs.record_steps(run.id, [StepMetrics(1, 2.3, 2.3, None, 0.1, 0.05), StepMetrics(2, 2.2, 2.2, None, 0.2, 0.05)])
    runs.finish(run.id, RunStatus.FAILED, error=HOSTILE["image"] + " " + HOSTILE["link"])
    at = _session(store_home, {"ws": ws}, page="pages/probes_page.py")
    at.multiselect(key="probes.compare").set_value([run.id]).run()
    assert not at.exception, at.exception
    failed = next(e.value for e in at.error if "failed" in e.value)
    _shows_as_text(failed, HOSTILE["html"])
    _shows_as_text(failed, HOSTILE["image"] + " " + HOSTILE["link"])
    expander = next(e.label for e in at.expander if "what it trained" in e.label)
    _shows_as_text(expander, HOSTILE["html"])
    names = [trace.get("name", "") for figure in _figures(at) for trace in figure["data"]]
    assert any(figure_text(HOSTILE["html"]) in name for name in names), names  # the legend: the label as text
    for figure in _figures(at):
        for text in _figure_strings(figure):
            assert "<img" not in text and "<a " not in text, text


@pytest.mark.parametrize("where", ["network", "stage"])
def test_bidi_controls_are_refused_in_network_and_stage_names_too(where):
    data = get_preset("googlenet").to_dict()
    if where == "network":
        data["name"] = "my \u202enet"
    else:
        data["stages"][0]["name"] = "stem\u2066x"
    with pytest.raises(SpecError, match="bidirectional control characters"):
        ModelSpec.from_dict(data)


def test_a_data_folder_refusal_does_not_show_the_server_path(tmp_path, monkeypatch):
    from inception_explorer.probes.data import DataError, resolve_under_root

    root = tmp_path / "images"
    root.mkdir()
    with pytest.raises(DataError) as exc:
        resolve_under_root("/etc", root)
    assert str(root) not in str(exc.value) and "outside the data root" in str(exc.value)
