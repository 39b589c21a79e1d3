"""Compare: two or more presets or saved variants side by side."""

import streamlit as st

from inception_explorer.errors import SpecError
from inception_explorer.store import StoreError
from inception_explorer.ui.cached import (
    compare_representation_figure,
    compare_stage_share_figure,
    spec_diff,
)
from inception_explorer.ui.choices import preset
from inception_explorer.ui.session import store_problem
from inception_explorer.ui.views import escape_figure_categories, figure_text, md
from inception_explorer.ui.widgets import available_network_choices, pick_network, pick_networks, totals_table

st.title("Compare")
choices = available_network_choices()
picked = pick_networks(
    "Networks", choices, default=[preset("googlenet"), preset("inception_v3")], key="compare.picked", max_selections=6
)
specs = {}  # label -> spec JSON of each picked network that opens (a saved variant is read here)
for choice in picked:
    try:
        specs[choice.label] = choices[choice]
    except StoreError as exc:
        store_problem(exc)
    except (KeyError, SpecError) as exc:
        st.warning(md(f"{choice.label} is left out: it no longer opens ({exc})."))
picked = [choice for choice in picked if choice.label in specs]
if len(picked) < 2:
    st.info("Pick at least two networks.")
    st.stop()

totals_table(specs)
# Plotly renders some HTML in names and labels: the figures get the names as text (tables show them as data).
shown = {figure_text(label): spec_json for label, spec_json in specs.items()}
st.plotly_chart(compare_representation_figure(shown), width="stretch")
st.plotly_chart(escape_figure_categories(compare_stage_share_figure(shown)), width="stretch")

st.subheader("What changed")
base, other = st.columns(2)
a = pick_network("From", picked, index=0, key="compare.a", container=base)
b = pick_network("To", picked, index=1, key="compare.b", container=other)
diff = spec_diff(specs[a.label], specs[b.label])
if diff.empty:
    st.success("Same blocks, same settings.")
else:
    st.dataframe(diff, hide_index=True, width="stretch")
