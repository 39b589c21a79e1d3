"""Streamlit caching around the package, and the networks a page can pick (``network_choices``).

Keys are a spec's canonical JSON string, so two sessions looking at the same network share one count.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ..analysis.costs import CostReport, count
from ..spec import ModelSpec
from ..spec.presets import get_preset, list_presets
from .choices import DRAFT, NetworkChoice, preset, variant


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
        rows.append(
            {
                "preset": p.name,
                "network": p.title,
                "input": f"{spec.in_channels}x{spec.input_size[0]}x{spec.input_size[1]}",
                "params": t.params,
                "params with aux": t.params_with_aux,
                "MACs (G)": t.macs / 1e9,
                "aux MACs (M, training)": t.aux_macs / 1e6,
                "what it shows": p.summary,
            }
        )
    return pd.DataFrame(rows)


@st.cache_data(show_spinner="Checking the design principles…", max_entries=256)
def principle_findings(spec_json: str) -> pd.DataFrame:
    from ..analysis.findings import findings_frame
    from ..analysis.principles import check

    return findings_frame(check(cost_report(spec_json)))


@st.cache_data(show_spinner=False, max_entries=256)
def representation_figure(spec_json: str):
    from ..analysis import viz

    return viz.representation_figure(cost_report(spec_json).blocks, principle_findings(spec_json))


@st.cache_data(show_spinner=False, max_entries=256)
def stage_share_figure(spec_json: str):
    from ..analysis import viz

    return viz.stage_share_figure(cost_report(spec_json).stages)


@st.cache_data(show_spinner=False, max_entries=1024)
def block_diagram(spec_json: str, block_name: str) -> str:
    from ..analysis import viz
    from ..spec.shapes import infer_shapes

    spec = ModelSpec.from_json(spec_json)
    shape = next(s for s in infer_shapes(spec) if s.block == block_name)
    si, bi = spec.find_block(block_name)
    return viz.block_dot(spec.stages[si].blocks[bi], shape.input)


@st.cache_data(show_spinner=False)
def module_names(spec_json: str) -> list[str]:
    """Names of the multi-branch (Inception) blocks, in network order."""
    return [b.name for _, _, _, b in ModelSpec.from_json(spec_json).iter_blocks() if b.is_module]


@st.cache_data(show_spinner="Counting again with plain fvcore and FlopCounterMode…", max_entries=64)
def cross_check(spec_json: str):
    from ..analysis.costs import cross_check as _cross_check

    return _cross_check(ModelSpec.from_json(spec_json), cost_report(spec_json))


@st.cache_data(show_spinner=False, max_entries=256)
def block_cost_figure(spec_json: str):
    from ..analysis import viz

    return viz.block_cost_figure(cost_report(spec_json).blocks)


@st.cache_data(show_spinner=False)
def googlenet_table1(spec_json: str) -> pd.DataFrame:
    from ..analysis.reference import googlenet_table1 as _table

    return _table(cost_report(spec_json))


@st.cache_data(show_spinner="Building and counting each option with fvcore…", max_entries=256)
def factorization_table(c_in: int, c_out: int, grid: int, n: int) -> pd.DataFrame:
    from ..analysis.factorization import compare

    return compare(c_in, c_out, grid, n)


@st.cache_resource
def store():
    """The one Store of this server (a path, no open connection: safe to share between sessions)."""
    from ..store import Store

    return Store()


@st.cache_data(show_spinner=False, max_entries=256)
def network_totals(specs: dict[str, str]) -> pd.DataFrame:
    """One row per network (label -> canonical spec JSON, in that order): size, cost and principle findings."""
    from ..analysis.compare import totals_table

    return totals_table(
        {label: cost_report(j) for label, j in specs.items()},
        {label: principle_findings(j) for label, j in specs.items()},
    )


@st.cache_data(show_spinner=False, max_entries=64)
def compare_representation_figure(specs: dict[str, str]):
    from ..analysis import viz

    return viz.compare_representation_figure({label: cost_report(j).blocks for label, j in specs.items()})


@st.cache_data(show_spinner=False, max_entries=64)
def compare_stage_share_figure(specs: dict[str, str]):
    from ..analysis import viz

    return viz.compare_stage_share_figure({label: cost_report(j).stages for label, j in specs.items()})


@st.cache_data(show_spinner=False, max_entries=256)
def spec_diff(from_json: str, to_json: str) -> pd.DataFrame:
    from ..analysis.compare import diff_specs

    return diff_specs(ModelSpec.from_json(from_json), ModelSpec.from_json(to_json))


BUILD_VALID = "build.valid"  # session state: the last valid network of the Build page, as canonical JSON


def network_options() -> list[NetworkChoice]:
    """Every preset, then every variant saved in this session's workspace (read fresh each run), unopened."""
    ws = st.session_state.get("workspace", "")
    return [preset(p.name) for p in list_presets()] + [variant(name) for name in store().variant_names(ws)]


def network_json(choice: NetworkChoice) -> str:
    """The canonical spec JSON of a preset or of a variant of this session's workspace (``KeyError`` if there is
    no such variant, ``SpecError`` if it no longer parses, ``StoreError`` if the store cannot be read)."""
    if choice.kind == "preset":
        return preset_json(choice.name)
    if choice.kind == "variant":
        return store().load_variant(choice.name, st.session_state.get("workspace", "")).spec.canonical_json()
    raise ValueError(f"{choice.label} is not opened by name: only presets and saved variants are")


def network_choices(include_build: bool = False) -> dict[NetworkChoice, str]:
    """choice -> canonical spec JSON, for every preset and every variant saved in this session's workspace (read
    fresh each run; a variant that no longer opens is left out); with ``include_build``, first ``DRAFT``: the last
    valid network of this session's Build page, once it has one."""
    ws = st.session_state.get("workspace", "")
    choices = {}
    if include_build and BUILD_VALID in st.session_state:
        choices[DRAFT] = st.session_state[BUILD_VALID]
    choices.update({preset(p.name): preset_json(p.name) for p in list_presets()})
    for name in store().variant_names(ws):
        try:
            choices[variant(name)] = network_json(variant(name))
        except Exception:  # a variant that no longer parses is simply not offered
            continue
    return choices
