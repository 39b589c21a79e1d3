"""Factorization lab: n x n vs stacked 3x3 vs 1 x n + n x 1 (and two 2x2), counted and timed on real modules."""

import streamlit as st

from inception_explorer import editing
from inception_explorer.analysis.factorization import time_options
from inception_explorer.errors import SpecError
from inception_explorer.nn.devices import device_name, resolve_device
from inception_explorer.spec import ModelSpec
from inception_explorer.store import StoreError
from inception_explorer.ui.cached import cost_report, factorization_table, store
from inception_explorer.ui.views import conversion_summary, factorization_candidates, mac_change, md
from inception_explorer.ui.widgets import current_network, totals_table

st.title("Factorization lab")
st.caption(
    "[R] §3.1: a 5x5 becomes two 3x3 ((9+9)/25: 28% cheaper); §3.2: a 3x3 becomes 3x1 + 1x3 (33% cheaper; "
    "two 2x2 would save only 11%), and n x n becomes 1 x n + n x 1 (Fig. 6). Each option below is built "
    "from the same modules as the networks and counted by fvcore; the formula is beside the count."
)

cols = st.columns(4)
c_in = cols[0].number_input("C_in", 1, 4096, 192, key="fact.c_in")
c_out = cols[1].number_input("C_out", 1, 4096, 192, key="fact.c_out")
grid = cols[2].number_input("Grid (H = W)", 1, 512, 17, key="fact.grid")
n = cols[3].number_input("Kernel n", 1, 15, 5, key="fact.n")

try:
    table = factorization_table(int(c_in), int(c_out), int(grid), int(n))
except SpecError as exc:
    st.error(md(exc))
    st.stop()

if int(c_in) != int(c_out):
    st.info("The paper's savings assume as many input as output filters (C_in = C_out); here they differ.")
st.dataframe(
    table[
        [
            "name",
            "layers",
            "widths",
            "params",
            "macs",
            "analytic_macs",
            "analytic_formula",
            "macs_vs_nxn",
            "saving",
            "paper_saving",
            "description",
        ]
    ],
    hide_index=True,
    width="stretch",
    column_config={
        "macs": st.column_config.NumberColumn("MACs (fvcore)", format="localized"),
        "analytic_macs": st.column_config.NumberColumn("MACs (formula)", format="localized"),
        "params": st.column_config.NumberColumn(format="localized"),
        "macs_vs_nxn": st.column_config.NumberColumn("cost vs n x n", format="%.3f"),
        "saving": st.column_config.NumberColumn(format="percent"),
        "paper_saving": st.column_config.NumberColumn("[R]'s figure", format="percent"),
    },
)

st.subheader("What the saving buys on this device")
st.caption(
    f"Medians over rounds on {device_name(resolve_device('auto'))}, a batch of 8, each option timed the way the "
    "Costs page profiles a network's blocks (one timing path): forward in eval(), backward alone, and what autograd "
    "keeps for the backward."
)
sizes = (int(c_in), int(c_out), int(grid), int(n))
if st.button("Time the options", key="fact.time"):
    with st.spinner("Timing…"):
        st.session_state["fact.timings"] = (sizes, time_options(*sizes, batch=8, repeats=10))
timed = st.session_state.get("fact.timings")
if timed is not None and timed[0] == sizes:  # never show timings of other sizes
    st.dataframe(
        timed[1],
        hide_index=True,
        width="stretch",
        column_config={
            "forward_ms": st.column_config.NumberColumn("forward ms", format="%.3f"),
            "backward_ms": st.column_config.NumberColumn("backward ms", format="%.3f"),
            "forward_backward_ms": st.column_config.NumberColumn("forward + backward ms", format="%.3f"),
            "saved_bytes": st.column_config.NumberColumn("kept for backward (bytes)", format="localized"),
            "macs": st.column_config.NumberColumn("MACs", format="localized"),
        },
    )

st.subheader("Apply to a network")
st.caption(
    "Convert chosen blocks of a preset or saved variant, keeping their widths: GoogLeNet's modules to "
    "[R] Fig. 5 (the 5x5 branch becomes two 3x3), or any module to Fig. 6 (n x n becomes 1 x n + n x 1). The "
    "counts before and after come from fvcore; save the result to open it on the Build page or probe it."
)
TARGETS = {"5x5 → two 3x3 ([R] Fig. 5)": "inception_fig5", "n x n → 1 x n + n x 1 ([R] Fig. 6)": "inception_fig6"}
a1, a2, a3 = st.columns([2, 2, 1])
opened = current_network(key="fact.apply.network", container=a1)
target = TARGETS[a2.radio("Factorize", list(TARGETS), key="fact.apply.target")]
fig6_n = (
    a3.number_input("n", 2, 15, 7 if int(n) < 2 else int(n), key="fact.apply.n") if target == "inception_fig6" else None
)
if opened is None:
    st.stop()
choice, spec = opened[0], ModelSpec.from_json(opened[1])
candidates, defaults = factorization_candidates(spec, target)
picked = st.multiselect(
    "Blocks to convert", candidates, default=defaults, key=f"fact.apply.blocks.{choice.label}.{target}"
)
if picked:
    try:
        converted, notes = editing.apply_factorization(spec, picked, target, fig6_n)
    except (editing.EditError, SpecError) as exc:
        st.error(md(f"Cannot convert these blocks: {exc}"))
    else:
        before, after = cost_report(spec.canonical_json()).totals, cost_report(converted.canonical_json()).totals
        totals_table(
            {
                f"{spec.name} (before)": spec.canonical_json(),
                f"{spec.name}, {len(picked)} blocks converted": converted.canonical_json(),
            }
        )
        st.markdown(conversion_summary(before, after))
        if mac_change(before, after) > 0 and target == "inception_fig6":
            st.info(
                f"More, not fewer: [R] Fig. 6 saves against an n x n kernel ({fig6_n}x{fig6_n}: "
                f"{fig6_n * fig6_n} taps; 1x{fig6_n} then {fig6_n}x1: {2 * fig6_n}). Converted, these blocks' "
                f"branches use 1x{fig6_n} + {fig6_n}x1 pairs (two in the double branch: {4 * fig6_n} taps) where "
                "they had smaller kernels (3x3: 9 taps, 5x5: 25); a smaller n keeps more of the saving."
            )
        elif mac_change(before, after) > 0:
            st.info(
                "More, not fewer: [R]'s 28% assumes the 5x5 is as wide in as out (the lab's C_in = C_out). "
                "GoogLeNet's 5x5 branches widen a narrow reduction 2-4x (16 → 32 in inception3a), and the "
                "second 3x3 then works at the full output width. Widen the reductions (ch5x5red) first, as "
                "[R] §3.1 does, and the factorization pays."
            )
        with st.expander("What each conversion kept, mapped or defaulted"):
            for name, block_notes in notes.items():
                st.markdown(f"**{md(name)}**: " + md("; ".join(block_notes) or "fields carried over as they were"))
        s1, s2 = st.columns([3, 1])
        name = s1.text_input("Save as variant", f"{spec.name} factorized", key="fact.apply.name")
        if s2.button("Save variant", key="fact.apply.save"):
            try:
                store().save_variant(name, converted, st.session_state["workspace"])
            except (ValueError, StoreError) as exc:
                st.error(md(exc))
            else:
                st.success(f"Saved **{md(name.strip())}**.")
                st.page_link(
                    "pages/build_page.py",
                    label="Open it on the Build page",
                    icon=":material/construction:",
                    query_params={"variant": name.strip(), "ws": st.session_state["workspace"]},
                )
