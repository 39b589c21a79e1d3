"""Streamlit caching around the package: the only package module that imports streamlit.

Keys are a spec's canonical JSON string, so two sessions looking at the same network share one count.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from .costs import CostReport, count
from .presets import get_preset, list_presets
from .spec import ModelSpec


@st.cache_data(show_spinner="Counting with fvcore…", max_entries=256)
def cost_report(spec_json: str) -> CostReport:
    return count(ModelSpec.from_json(spec_json))


@st.cache_data(show_spinner=False)
def preset_json(name: str) -> str:
    return get_preset(name).canonical_json()


@st.cache_data(show_spinner="Counting the presets…")
def preset_overview() -> pd.DataFrame:
    rows = []
    for p in list_presets():
        report = cost_report(preset_json(p.name))
        spec, t = report.spec, report.totals
        rows.append({
            "preset": p.name, "network": p.title,
            "input": f"{spec.in_channels}x{spec.input_size[0]}x{spec.input_size[1]}",
            "params": t.params, "params with aux": t.params_with_aux,
            "MACs (G)": t.macs / 1e9, "aux MACs (M, training)": t.aux_macs / 1e6, "what it shows": p.summary,
        })
    return pd.DataFrame(rows)
