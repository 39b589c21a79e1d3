"""Presets: the papers' networks and the released Inception-v3, with their counted size and cost."""

import streamlit as st

st.title("Inception Explorer")
st.caption(
    "Why the Inception family is built the way it is. [G] Szegedy et al., *Going Deeper with Convolutions* (2014); "
    "[R] Szegedy et al., *Rethinking the Inception Architecture for Computer Vision* (2015)."
)

# Imported after the title on purpose: they import torch (seconds on a cold server), and Streamlit sends what is
# already drawn, so the first visitor sees the page at once and the counts as soon as they are ready.
from inception_explorer.ui.cached import cost_report, preset_json, preset_overview  # noqa: E402
from inception_explorer.ui.views import overview_metrics  # noqa: E402
from inception_explorer.ui.widgets import metric_row, pick_preset  # noqa: E402

st.subheader("Presets")
st.dataframe(
    preset_overview(),
    hide_index=True,
    column_config={
        "params": st.column_config.NumberColumn(format="localized"),
        "params with aux": st.column_config.NumberColumn(format="localized"),
        "MACs (G)": st.column_config.NumberColumn(
            format="%.3f", help="multiply-adds per image, eval mode, counted by fvcore"
        ),
        "aux MACs (M, training)": st.column_config.NumberColumn(format="%.2f"),
    },
)
st.caption(
    "MACs are multiply-adds (fvcore counts one fused multiply-add as one 'flop'). "
    "Totals are for one image in eval mode; auxiliary heads run only in training and are counted apart."
)

preset = pick_preset("presets.selected")
st.markdown(preset.doc)
report = cost_report(preset_json(preset.name))
metric_row(overview_metrics(report.totals))
st.subheader("Stages")
st.dataframe(report.stages, hide_index=True)
st.subheader("Blocks")
st.dataframe(report.blocks, hide_index=True)
if not report.uncounted.empty:
    st.subheader("Operators fvcore does not count")
    st.dataframe(report.uncounted, hide_index=True)
