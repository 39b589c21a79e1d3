"""Costs: parameters and multiply-adds per block, per stage and in total, reconciled."""

import streamlit as st

from inception_explorer.analysis.ladder import rungs
from inception_explorer.analysis.ladder_viz import table3_line
from inception_explorer.analysis.roofline import disagreements, measured_table, roofline_figure
from inception_explorer.spec import ModelSpec
from inception_explorer.ui import measured
from inception_explorer.ui.cached import (
    block_cost_figure,
    cost_report,
    cross_check,
    googlenet_table1,
    preset_json,
    stage_share_figure,
)
from inception_explorer.ui.views import Metric, cost_metrics, cross_check_rows, md
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
table3 = table3_line(opened[0].name, t.macs, rungs()) if opened[0].kind == "preset" else None
if table3:  # a preset of [R] Table 3: its row, the paper's cost and ours (the Cost ladder says why they differ)
    st.info(table3, icon=":material/stairs:")
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

st.subheader("Measured on this device")
st.caption(
    "The network run for real: every block's forward and backward time (medians, each block alone on the input it "
    "has in the network), its output and what autograd keeps for its backward, beside its MACs. Profiles run in "
    "the background, one at a time per device (after any training probe there); a finished one is kept for this "
    "network, batch and device, and shown again after a reload."
)
spec = ModelSpec.from_json(spec_json)
batch, device = measured.settings_row("costs.profile")
job = measured.find(spec, batch, device)
done = job is not None and job.status == "done"
busy = job is not None and not job.is_finished
if st.button("Measure again" if done else "Profile this network", key="costs.profile.go", disabled=busy):
    job = measured.request(spec, opened[0].label, batch, device, rerun=done)
    done = False
measured.follow([job], "costs.profile")
if not measured.failed(job) and done:
    r, total = job.result, job.result["total"]
    metric_row(
        [
            Metric("Forward", f"{total['forward_ms']:.1f} ms", help=f"batch {r['batch']}, eval(), no_grad"),
            Metric("Training step", f"{total['train_step_ms']:.1f} ms", help="forward + backward + SGD step"),
            Metric("Peak memory", f"{total['peak_bytes'] / 2**20:.0f} MB", help=total["peak_kind"]),
            Metric(
                "Blocks / whole",
                f"{total['block_forward_ratio']:.2f}x",
                help="the blocks' forward times added up against the whole network's, per round (median)",
            ),
        ]
    )
    st.caption(
        md(
            f"On {r['device']}, input {'x'.join(map(str, r['input']))}, batch {r['batch']}, medians of "
            f"{r['repeats']} rounds after {r['warmup']} warm-up; matmul rate {r['matmul_macs_per_s'] / 1e9:.1f} "
            f"GMAC/s, memory bandwidth {r['memory_bytes_per_s'] / 1e9:.1f} GB/s (each measured once per device)."
        )
    )
    blocks = job.blocks()
    st.dataframe(
        measured_table(blocks),
        hide_index=True,
        width="stretch",
        column_config={
            "MACs": st.column_config.NumberColumn(format="localized"),
            "forward ms": st.column_config.NumberColumn(format="%.2f"),
            "backward ms": st.column_config.NumberColumn(format="%.2f"),
            "output MB": st.column_config.NumberColumn(format="%.2f"),
            "saved MB": st.column_config.NumberColumn(format="%.2f"),
            "time share": st.column_config.NumberColumn(format="percent"),
            "MAC share": st.column_config.NumberColumn(format="percent"),
            "time / MAC share": st.column_config.NumberColumn(format="%.2f"),
            "GMAC/s": st.column_config.NumberColumn(format="%.2f"),
        },
    )
    worst = disagreements(blocks)
    st.caption(
        "Where time and MACs disagree most: "
        + "; ".join(
            md(f"{row['block']} ({row['time share']:.1%} of the time, {row['MAC share']:.1%} of the MACs)")
            for _, row in worst.iterrows()
        )
        + "."
    )
    st.plotly_chart(
        roofline_figure(measured.shown_blocks(job), r["matmul_macs_per_s"], r["memory_bytes_per_s"]), width="stretch"
    )

if spec_json == preset_json("googlenet"):
    st.subheader("Beside [G] Table 1")
    st.markdown(
        "Table 1 prints **params** as weights without biases in units of 1024 and **ops** as "
        "multiply-adds in millions. Rows that match within one printed unit say so; conv1 and inception (5a) "
        "are misprinted."
    )
    st.dataframe(googlenet_table1(spec_json), hide_index=True, width="stretch")
