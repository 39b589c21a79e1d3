"""Compare: two or more presets or saved variants side by side."""

import streamlit as st

from inception_explorer.analysis.compare import cost_changes
from inception_explorer.analysis.ladder import rungs
from inception_explorer.analysis.ladder_viz import table3_line
from inception_explorer.spec import ModelSpec
from inception_explorer.ui import measured
from inception_explorer.ui.cached import (
    compare_representation_figure,
    compare_stage_share_figure,
    cost_report,
    spec_diff,
)
from inception_explorer.ui.choices import preset
from inception_explorer.ui.views import escape_figure_categories, figure_text, md
from inception_explorer.ui.widgets import current_networks, network_spec, pick_from_to, totals_table

st.title("Compare")
picked, choices = current_networks(
    "Networks", key="compare.picked", others=[preset("googlenet"), preset("inception_v3")], max_selections=6
)
specs = {}  # label -> spec JSON of each picked network that opens (a saved variant is read here)
for choice in picked:
    spec_json = network_spec(choice, choices, message="{label} is left out: it no longer opens ({exc}).")
    if spec_json is not None:
        specs[choice.label] = spec_json
picked = [choice for choice in picked if choice.label in specs]
if len(picked) < 2:
    st.info("Pick at least two networks.")
    st.stop()

totals_table(specs)
for choice in picked:  # the presets of [R] Table 3: the paper's cost beside ours (the Cost ladder says why)
    line = (
        table3_line(choice.name, cost_report(specs[choice.label]).totals.macs, rungs())
        if choice.kind == "preset"
        else None
    )
    if line:
        st.caption(md(f"{choice.label}: ") + line)
# Plotly renders some HTML in names and labels: the figures get the names as text (tables show them as data).
shown = {figure_text(label): spec_json for label, spec_json in specs.items()}
st.plotly_chart(compare_representation_figure(shown), width="stretch")
st.plotly_chart(escape_figure_categories(compare_stage_share_figure(shown)), width="stretch")

st.subheader("What each change buys")
st.caption(
    "Each later network against each earlier one: MACs as counted; forward time, training-step time and peak "
    "memory once both networks have a profile on this device (measured in the background, kept in the store)."
)
batch, device = measured.settings_row("compare.profile")
jobs = {label: measured.find(ModelSpec.from_json(j), batch, device) for label, j in specs.items()}
networks = {}
for label, spec_json in specs.items():
    job, totals = jobs[label], {"macs": cost_report(spec_json).totals.macs}
    if job is not None and job.status == "done":
        totals |= {k: job.result["total"][k] for k in ("forward_ms", "train_step_ms", "peak_bytes")}
    networks[label] = totals
percent = st.column_config.NumberColumn(format="percent")
st.dataframe(
    cost_changes(networks),
    hide_index=True,
    width="stretch",
    column_config={"MACs": percent, "forward time": percent, "training step": percent, "peak memory": percent},
)
missing = [label for label, job in jobs.items() if job is None or job.status in ("failed", "cancelled")]
if missing and st.button(
    f"Profile {len(missing)} network{'s' if len(missing) > 1 else ''} without a measurement", key="compare.profile.go"
):
    for label in missing:
        jobs[label] = measured.request(ModelSpec.from_json(specs[label]), label, batch, device)
for job in jobs.values():
    measured.failed(job)
measured.follow(list(jobs.values()), "compare.profile")

st.subheader("What changed")
a, b = pick_from_to(picked, st.columns(2), keys=("compare.a", "compare.b"))
diff = spec_diff(specs[a.label], specs[b.label])
if diff.empty:
    st.success("Same blocks, same settings.")
else:
    st.dataframe(diff, hide_index=True, width="stretch")
