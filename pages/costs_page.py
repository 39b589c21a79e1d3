"""Costs: parameters and multiply-adds per block, per stage and in total, reconciled."""

import streamlit as st

from inception_explorer.ui.cached import (
    block_cost_figure,
    cost_report,
    cross_check,
    googlenet_table1,
    preset_json,
    stage_share_figure,
)
from inception_explorer.ui.views import cost_metrics, cross_check_rows
from inception_explorer.ui.widgets import current_network, metric_row

st.title("Costs")
st.caption(
    "Counted by fvcore on the real modules, one image, eval mode. **MACs are multiply-adds**: fvcore "
    "counts one fused multiply-add as one 'flop'. Auxiliary heads run only in training and are counted "
    "apart."
)

opened = current_network(key="costs.network")
if opened is None:
    st.stop()
spec_json = opened[1]
report = cost_report(spec_json)
t = report.totals

metric_row(cost_metrics(t))
st.caption(
    f"Exactly {t.macs:,} MACs. Of them, {t.macs_conv_linear:,} are convolutions and linear layers and "
    f"{t.macs_other:,} are what fvcore adds for batch norm and adaptive average pooling. With the aux heads: "
    f"{t.params_with_aux:,} parameters, {t.macs_with_aux:,} MACs per training image."
)

st.plotly_chart(block_cost_figure(spec_json), width="stretch")

tab_stages, tab_blocks, tab_aux, tab_uncounted, tab_check = st.tabs(
    ["Stages", "Blocks", "Aux heads", "Not counted", "Cross-check"]
)
with tab_stages:
    st.dataframe(
        report.stages,
        hide_index=True,
        width="stretch",
        column_config={
            "macs_share": st.column_config.NumberColumn(format="percent"),
            "params_share": st.column_config.NumberColumn(format="percent"),
        },
    )
    st.plotly_chart(stage_share_figure(spec_json), width="stretch")
with tab_blocks:
    st.dataframe(report.blocks, hide_index=True, width="stretch")
    st.caption("The block rows (the classifier head is the last row) add up exactly to the totals.")
with tab_aux:
    st.dataframe(report.aux, hide_index=True, width="stretch")
with tab_uncounted:
    st.markdown(
        "Operators that fvcore traced but gives no multiply-adds, by name and number of calls. "
        "fvcore skips several of them silently by default; here none is dropped."
    )
    st.dataframe(report.uncounted, hide_index=True, width="stretch")
with tab_check:
    check = cross_check(spec_json)
    st.dataframe(cross_check_rows(check), hide_index=True, width="stretch")
    (st.success if check.agrees else st.error)(
        "All three agree." if check.agrees else "The counters disagree: see the rows above."
    )

if spec_json == preset_json("googlenet"):
    st.subheader("Beside [G] Table 1")
    st.markdown(
        "Table 1 prints **params** as weights without biases in units of 1024 and **ops** as "
        "multiply-adds in millions. Rows that match within one printed unit say so; conv1 and inception (5a) "
        "are misprinted."
    )
    st.dataframe(googlenet_table1(spec_json), hide_index=True, width="stretch")
