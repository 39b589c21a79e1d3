"""Compare: two or more presets or saved variants side by side."""

import streamlit as st

from inception_explorer.ui.cached import (
    compare_representation_figure,
    compare_stage_share_figure,
    network_choices,
    spec_diff,
)
from inception_explorer.ui.choices import preset
from inception_explorer.ui.widgets import pick_network, pick_networks, totals_table

st.title("Compare")
choices = network_choices()
picked = pick_networks(
    "Networks", choices, default=[preset("googlenet"), preset("inception_v3")], key="compare.picked", max_selections=6
)
if len(picked) < 2:
    st.info("Pick at least two networks.")
    st.stop()

specs = {choice.label: choices[choice] for choice in picked}
totals_table(specs)
st.plotly_chart(compare_representation_figure(specs), width="stretch")
st.plotly_chart(compare_stage_share_figure(specs), width="stretch")

st.subheader("What changed")
base, other = st.columns(2)
a = pick_network("From", picked, index=0, key="compare.a", container=base)
b = pick_network("To", picked, index=1, key="compare.b", container=other)
diff = spec_diff(choices[a], choices[b])
if diff.empty:
    st.success("Same blocks, same settings.")
else:
    st.dataframe(diff, hide_index=True, width="stretch")
