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
from inception_explorer.ui.format import FINDING_SUMMARY_COLUMNS, findings_for_reading, findings_in_words
from inception_explorer.ui.views import finding_metrics
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
    st.caption(
        "Worst first. **Violation**: the network breaks what the paper states; **warning**: close to it, or this "
        "tool's heuristic; **info**: a note (the expensive way, a suggestion). Below the table, each finding in "
        "words: what is wrong, where, why the paper says so, and what to try on Build. H\\*W\\*C is a block's "
        "representation size: the values it hands on (height x width x channels)."
    )
    readable_findings = findings_for_reading(findings)
    st.dataframe(
        readable_findings[FINDING_SUMMARY_COLUMNS],
        hide_index=True,
        width="stretch",
        column_config={"where": st.column_config.TextColumn(pinned=True)},
    )
    with st.expander(f"Each finding in words ({len(readable_findings)})", expanded=len(readable_findings) <= 8):
        st.markdown(findings_in_words(readable_findings))
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
