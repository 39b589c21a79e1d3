"""Cost ladder: [R] Table 3's cumulative ablation, rung by rung, counted here beside the paper's cost and errors."""

import streamlit as st

from inception_explorer.analysis.ladder import GAP_TOLERANCE, rungs
from inception_explorer.analysis.ladder_viz import gap_rungs, ladder_figure, widths_sources
from inception_explorer.ui.cached import ladder_table
from inception_explorer.ui.format import ladder_for_reading
from inception_explorer.ui.views import md

st.title("Cost ladder ([R] Table 3)")
st.caption(
    '[R] Table 3 goes from GoogLeNet to Inception-v3 one change at a time ("the changes are cumulative"). Each '
    "rung here is that row's network, built from the rung before by that row's change only, and counted by fvcore "
    '(one image, eval mode). The paper\'s cost is in "Bn ops"; ours in billions of multiply-adds (MACs).'
)

table = ladder_table()
st.plotly_chart(ladder_figure(table), width="stretch", key="ladder.figure")
st.caption(
    f"Our bar is orange where it is more than {GAP_TOLERANCE:.0%} off the paper's; the number on it is ours / "
    "paper. RMSProp and label smoothing change the training recipe only, so their rungs cost what the rung "
    "before costs."
)

st.subheader("Rung by rung")
st.dataframe(
    ladder_for_reading(table),
    hide_index=True,
    width="stretch",
    column_config={
        "change": st.column_config.TextColumn(width="large"),
        "note": st.column_config.TextColumn(width="large"),
    },
)

off = gap_rungs(table)
st.subheader(f"Where we differ from the paper by more than {GAP_TOLERANCE:.0%}")
if off.empty:
    st.success("Every rung is within the tolerance of the paper's cost.")
else:
    st.markdown(
        "\n".join(
            f"- **{md(r['network'])}** ({r['ours / paper']:.2f}x): {md(r['note'])}" for r in off.to_dict("records")
        )
    )

st.subheader("Where the widths came from")
st.markdown("\n".join(f"- **{md(network)}**: {md(source)}" for network, source in widths_sources(rungs())))
