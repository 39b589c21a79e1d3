"""Build: a workbench for one network. The whole network at a glance (its representation curve, per-block costs,
its findings), the editor for every stage and block, fit to a budget, weights, save, export, import.

The network under edit is a ``BuildSession`` (inception_explorer/editing/session.py); this page only arranges
widgets, and its widgets call the session (ui/workbench.py, ui/build_editor.py, ui/build_panels.py). A draft that
does not work keeps what was typed and shows each problem where it is; every figure is of the last valid network.
"""

import streamlit as st

from inception_explorer.store import StoreError
from inception_explorer.ui import build_editor, build_panels, workbench
from inception_explorer.ui.cached import block_diagram, cost_report, module_names, store
from inception_explorer.ui.choices import NetworkChoice, variant
from inception_explorer.ui.current import keep_draft, remember_published, restore_draft, take_link
from inception_explorer.ui.exercise_panel import exercise_panel
from inception_explorer.ui.room import active_exercise
from inception_explorer.ui.session import store_problem
from inception_explorer.ui.views import edit_metrics, md
from inception_explorer.ui.widgets import metric_row, pick_network, section

# ---- where the network comes from: a link, this session's (or, after a reload, the store's) draft, or a preset --
WS = st.session_state["workspace"]  # app.py sets it (session.workspace) before any page runs
link = take_link()  # a ?variant= or ?published= link just followed: it opens, whatever the draft was (current.py)
if link is not None:
    param, value = link
    try:
        record = store().load_published(value) if param == "published" else store().load_variant(value, WS)
    except StoreError as exc:
        store_problem(exc)
    except (KeyError, ValueError) as exc:
        what = "published variant" if param == "published" else "variant"
        st.warning(md(f"Could not open the {what} in the link: {exc}"))
    else:
        # An instructor's read-only link opens a copy; saving it puts it in this session's own workspace.
        opened = remember_published(record.name, value) if param == "published" else variant(record.name)
        workbench.load(record.spec.canonical_json(), opened, current_choice=opened)
restore_draft()
if not workbench.has_session():
    workbench.default_start()

st.title("Build")
with st.container(border=True):
    cols = st.columns([3, 1])
    choice = pick_network(
        "Start from",
        workbench.start_options(),
        key="build.start",
        container=cols[0],
        help="Presets are the papers' networks; variants are what you saved; published copies are your instructor's.",
    )
    cols[1].button("Load", key="build.load", width="stretch", on_click=workbench.ask_to_load, args=(choice,))
    pending = st.session_state.get(workbench.CONFIRM_LOAD)
    if pending is not None:
        st.warning(md(f"Your edits to {workbench.get().name} are not saved. Load {pending.label} and drop them?"))
        c = st.columns(2)
        c[0].button(f"Load {pending.label}", key="build.load_confirm", on_click=workbench.load_now)
        c[1].button("Keep editing", key="build.load_cancel", on_click=workbench.keep_editing)

session = workbench.get()
keep_draft()  # in the store for this workspace: a reload brings it back
report = cost_report(session.valid_json)
origin = cost_report(session.origin).totals  # the network it started from: deltas stay after a save
# against a preset even unchanged (a grey +0 says what it is compared with), against anything else once it differs
changed = (origin.params, origin.macs) != (report.totals.params, report.totals.macs)
base = origin if changed or session.source[0] == "preset" else None
unsaved = " · unsaved edits" if session.dirty else ""
st.caption(f"Editing **{md(session.name)}**, loaded from {md(NetworkChoice(*session.source).label)}{unsaved}.")
metric_row(edit_metrics(report, base))

for message in workbench.take_messages():
    getattr(st, message.level)(md(message.text))
    if message.offer == "aux_off":
        st.button("Turn the aux heads off", key="build.offer.aux_off", on_click=workbench.act, args=("aux_off",))
if session.problems:
    st.error(
        "This network does not work as it is; the figures are of the last valid network. Fix it where it is marked, "
        "or undo:\n\n" + "\n".join(f"- {md(p)}" for p in session.problems)
    )
history = st.columns(6)
history[0].button("Undo", key="build.undo", disabled=not session.can_undo, on_click=workbench.act, args=("undo",))
history[1].button("Redo", key="build.redo", disabled=not session.can_redo, on_click=workbench.act, args=("redo",))

si, bi = session.selection()
selected = session.block_at(si, bi).get("name")
build_panels.overview(session, selected)
build_panels.network_findings(session)

# ---- the editor -----------------------------------------------------------------------------------------------
st.subheader("Stages and blocks")
left, right = st.columns([3, 2])
with left:
    si, bi = build_editor.selectors(session)
    build_editor.block_form(session, si, bi)
    build_editor.block_operations(session, si, bi)
with right:
    if active_exercise() is not None:  # the exercise being worked on: its checks follow every edit
        exercise_panel(session.valid_json, key="build.exercise")
    build_panels.block_findings(session, session.block_at(si, bi).get("name"))
chosen = session.block_at(si, bi).get("name")
if chosen in module_names(session.valid_json):
    with section(f"Diagram of {md(chosen)}: its branches, concatenated on channels", "build.section.diagram") as shown:
        if shown:
            st.graphviz_chart(block_diagram(session.valid_json, chosen))
            st.caption("Drawn from the last valid network: an edit that does not apply is not shown here.")
# Each section below is built only while it is open (widgets.section): closed, it costs a browser nothing.
with section("Add a block", "build.section.add") as shown:
    if shown:
        build_editor.add_block(session, si, bi)
with section("Stages: add, rename, move, remove", "build.section.stages") as shown:
    if shown:
        build_editor.stages_editor(session, si)
with section("Network: input, classes, batch norm, aux heads", "build.section.network") as shown:
    if shown:
        build_editor.network_settings(session)
build_panels.fit_panel(session)
build_panels.weights_panel(session, WS)
build_panels.keep_panel(session, WS)
