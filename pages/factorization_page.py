"""Factorization lab: n x n vs stacked 3x3 vs 1 x n + n x 1 (and two 2x2), counted and timed on real modules."""

import streamlit as st

from inception_explorer.cached import factorization_table
from inception_explorer.errors import SpecError
from inception_explorer.devices import device_name, resolve_device
from inception_explorer.factorization import time_options

st.title("Factorization lab")
st.caption("[R] §3.1: a 5x5 becomes two 3x3 ((9+9)/25: 28% cheaper); §3.2: a 3x3 becomes 3x1 + 1x3 (33% cheaper; "
           "two 2x2 would save only 11%), and n x n becomes 1 x n + n x 1 (Fig. 6). Each option below is built "
           "from the same modules as the networks and counted by fvcore; the formula is beside the count.")

cols = st.columns(4)
c_in = cols[0].number_input("C_in", 1, 4096, 192, key="fact.c_in")
c_out = cols[1].number_input("C_out", 1, 4096, 192, key="fact.c_out")
grid = cols[2].number_input("Grid (H = W)", 1, 512, 17, key="fact.grid")
n = cols[3].number_input("Kernel n", 1, 15, 5, key="fact.n")

try:
    table = factorization_table(int(c_in), int(c_out), int(grid), int(n))
except SpecError as exc:
    st.error(str(exc))
    st.stop()

if int(c_in) != int(c_out):
    st.info("The paper's savings assume as many input as output filters (C_in = C_out); here they differ.")
st.dataframe(
    table[["name", "layers", "widths", "params", "macs", "analytic_macs", "analytic_formula", "macs_vs_nxn",
           "saving", "paper_saving", "description"]],
    hide_index=True, width="stretch",
    column_config={"macs": st.column_config.NumberColumn("MACs (fvcore)", format="localized"),
                   "analytic_macs": st.column_config.NumberColumn("MACs (formula)", format="localized"),
                   "params": st.column_config.NumberColumn(format="localized"),
                   "macs_vs_nxn": st.column_config.NumberColumn("cost vs n x n", format="%.3f"),
                   "saving": st.column_config.NumberColumn(format="percent"),
                   "paper_saving": st.column_config.NumberColumn("[R]'s figure", format="percent")},
)

st.subheader("What the saving buys on this device")
st.caption(f"Median of repeated runs on {device_name(resolve_device('auto'))}, a batch of 8: forward, and forward + backward.")
sizes = (int(c_in), int(c_out), int(grid), int(n))
if st.button("Time the options", key="fact.time"):
    with st.spinner("Timing…"):
        st.session_state["fact.timings"] = (sizes, time_options(*sizes, batch=8, repeats=10))
timed = st.session_state.get("fact.timings")
if timed is not None and timed[0] == sizes:  # never show timings of other sizes
    st.dataframe(timed[1], hide_index=True, width="stretch")
