"""Compare: two or more presets or saved variants side by side."""

import streamlit as st

from inception_explorer.analysis import viz
from inception_explorer.ui.cached import cost_report, network_choices, principle_findings
from inception_explorer.spec import ModelSpec
from inception_explorer.analysis.compare import diff_specs, totals_table

st.title("Compare")
choices = network_choices()
picked = st.multiselect("Networks", list(choices), default=["preset googlenet", "preset inception_v3"],
                        key="compare.picked", max_selections=6)
if len(picked) < 2:
    st.info("Pick at least two networks.")
    st.stop()

reports = {label: cost_report(choices[label]) for label in picked}
totals = totals_table(reports, {label: principle_findings(choices[label]) for label in picked})
st.dataframe(totals, hide_index=True, width="stretch",
             column_config={"params": st.column_config.NumberColumn(format="localized"),
                            "MACs": st.column_config.NumberColumn("MACs", format="localized")})
st.plotly_chart(viz.compare_representation_figure({k: r.blocks for k, r in reports.items()}), width="stretch")
st.plotly_chart(viz.compare_stage_share_figure({k: r.stages for k, r in reports.items()}), width="stretch")

st.subheader("What changed")
base, other = st.columns(2)
a = base.selectbox("From", picked, index=0, key="compare.a")
b = other.selectbox("To", picked, index=1, key="compare.b")
diff = diff_specs(ModelSpec.from_json(choices[a]), ModelSpec.from_json(choices[b]))
if diff.empty:
    st.success("Same blocks, same settings.")
else:
    st.dataframe(diff, hide_index=True, width="stretch")
