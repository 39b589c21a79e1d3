"""Principles: representation size block by block against the four design principles of [R] §2."""

import streamlit as st

from inception_explorer.analysis.findings import PRINCIPLE_TITLES
from inception_explorer.ui.cached import (
    block_diagram,
    module_names,
    principle_findings,
    representation_figure,
    stage_share_figure,
)
from inception_explorer.ui.views import FINDING_TABLE_COLUMNS, finding_metrics
from inception_explorer.ui.widgets import current_network, metric_row

st.title("Design principles")
st.caption(
    "[R] §2: (1) avoid representational bottlenecks, especially early; (2) higher-dimensional "
    "representations are easier to process locally; (3) spatial aggregation can be done over "
    "lower-dimensional embeddings; (4) balance the width and depth of the network."
)

opened = current_network(key="principles.network")
if opened is None:
    st.stop()
spec_json = opened[1]
findings = principle_findings(spec_json)
metric_row(finding_metrics(findings))

st.plotly_chart(representation_figure(spec_json), width="stretch")
st.subheader("Findings")
if len(findings):
    st.dataframe(findings[FINDING_TABLE_COLUMNS], hide_index=True, width="stretch")
else:
    st.success("No finding: every block keeps to the four principles.")
with st.expander("What the principles say"):
    st.markdown("\n".join(f"- **{key}**: {title}" for key, title in PRINCIPLE_TITLES.items()))

st.subheader("Balance of width and depth (principle 4)")
st.plotly_chart(stage_share_figure(spec_json), width="stretch")

st.subheader("Inside a block")
block = st.selectbox(
    "Block",
    module_names(spec_json),
    key="principles.block",
    help="Drawn bottom-up like the papers' figures: [G] Fig. 2, [R] Fig. 5 / 6 / 7 / 10",
)
st.graphviz_chart(block_diagram(spec_json, block))
