"""Presets: the papers' networks and the released Inception-v3, with their counted size and cost."""

import streamlit as st

st.title("Inception Explorer")
st.caption(
    "Why the Inception family is built the way it is. [G] Szegedy et al., *Going Deeper with Convolutions* (2014); "
    "[R] Szegedy et al., *Rethinking the Inception Architecture for Computer Vision* (2015)."
)
with st.container(border=True, key="presets.start_here"):
    st.markdown(
        "**Start here**\n"
        "1. Pick a preset below and read what it shows: its source, its size and where its multiply-adds go.\n"
        "2. Open **Principles** to see where it keeps or breaks [R]'s design principles, and what to try.\n"
        "3. Change it on **Build** (widths, kinds, blocks): Costs, Principles and the other pages then show your "
        "network.\n"
        "4. Compare variants on **Compare**, train them briefly on **Training probes**, or walk [R]'s own steps "
        "on the **Cost ladder**."
    )

# Imported after the title on purpose: they import torch (seconds on a cold server), and Streamlit sends what is
# already drawn, so the first visitor sees the page at once and the counts as soon as they are ready.
from inception_explorer.analysis.ladder import rungs  # noqa: E402
from inception_explorer.analysis.ladder_viz import table3_line  # noqa: E402
from inception_explorer.ui.cached import (  # noqa: E402
    cost_report,
    googlenet_table1,
    preset_json,
    preset_overview,
)
from inception_explorer.ui.format import (  # noqa: E402
    blocks_for_reading,
    presets_overview,
    readable,
    stages_for_reading,
    table1_notes,
    thousands,
)
from inception_explorer.ui.views import overview_metrics  # noqa: E402
from inception_explorer.ui.widgets import metric_row, pick_preset  # noqa: E402

st.subheader("Presets")
st.dataframe(
    presets_overview(preset_overview()),
    hide_index=True,
    width="stretch",
    column_config={"preset": st.column_config.TextColumn(pinned=True)},
)
st.caption(
    "MACs are multiply-adds (fvcore counts one fused multiply-add as one 'flop'). "
    "Totals are for one image in eval mode; auxiliary heads run only in training and are counted apart."
)

preset = pick_preset("presets.selected")
st.markdown(preset.doc)
report = cost_report(preset_json(preset.name))
metric_row(overview_metrics(report.totals))
table3 = table3_line(preset.name, report.totals.macs, rungs())
if table3:
    st.info(table3, icon=":material/stairs:")
if preset.name == "googlenet":
    notes = table1_notes(googlenet_table1(preset_json("googlenet")))
    with st.expander(f"Where [G] Table 1 matches no convention ({len(notes)} rows)", expanded=False):
        st.markdown(
            "Table 1 prints **params** as weights without biases in units of 1024 and **ops** as multiply-adds in "
            "millions. These rows match neither way of counting; the Costs page sets every row beside our counts."
        )
        st.markdown("\n".join(f"- **{row}**: {note}" for row, note in notes))
st.subheader("Stages")
st.dataframe(
    stages_for_reading(report.stages),
    hide_index=True,
    width="stretch",
    column_config={"stage": st.column_config.TextColumn(pinned=True)},
)
st.subheader("Blocks")
st.dataframe(
    blocks_for_reading(report.blocks),
    hide_index=True,
    width="stretch",
    column_config={"block": st.column_config.TextColumn(pinned=True)},
)
if not report.uncounted.empty:
    st.subheader("Operators fvcore does not count")
    st.dataframe(readable(report.uncounted, {"calls": thousands}), hide_index=True, width="stretch")
