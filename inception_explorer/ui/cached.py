"""Streamlit caching around the package, and the networks a page can pick (``network_choices``).

Keys are a spec's canonical JSON string, so two sessions looking at the same network share one count. Every cache
that keeps something per spec is bounded: by entries (``ENTRIES``, fewer for what is per set of specs), by age
(``TTL``) and by pickled bytes (``MAX_SIZE``). What one spec of 256 blocks leaves in all of them together is about
200 kB. The memory a count takes while it runs (its trace) is given back by ``count`` itself.

A page's rerun reads the names of the saved variants only: a variant's spec is read and checked when a page looks
it up (``network_choices()[choice]``), once per stored text (``variant_spec_json``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import pandas as pd
import streamlit as st

from ..analysis.costs import CostReport, count
from ..spec import ModelSpec
from ..spec.presets import get_preset, list_presets
from ..spec.validation import load_spec
from .choices import DRAFT, NetworkChoice, preset, variant
from .current import BUILD_VALID  # session state: the last valid network of the Build page, as canonical JSON

#: The most entries a cache keyed by one spec keeps ...
ENTRIES = 256
#: ... one keyed by a set of specs (Compare's figures) or by a saved variant's text ...
FEW_ENTRIES = 64
#: ... how long any of them keeps an entry, in seconds ...
TTL = 3600
#: ... and the most bytes (pickled) one of them keeps: about 250 MB for all of them together, a hard bound.
MAX_SIZE = 16 * 2**20


@st.cache_data(show_spinner="Counting with fvcore…", max_entries=ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def cost_report(spec_json: str) -> CostReport:
    return count(ModelSpec.from_json(spec_json))


@st.cache_data(show_spinner=False, max_entries=ENTRIES, max_size=MAX_SIZE)
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


@st.cache_data(show_spinner="Checking the design principles…", max_entries=ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def principle_findings(spec_json: str) -> pd.DataFrame:
    from ..analysis.findings import findings_frame
    from ..analysis.principles import check

    return findings_frame(check(cost_report(spec_json)))


@st.cache_data(show_spinner=False, max_entries=ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def representation_figure(spec_json: str):
    from ..analysis import viz

    return viz.representation_figure(cost_report(spec_json).blocks, principle_findings(spec_json))


@st.cache_data(show_spinner=False, max_entries=ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def stage_share_figure(spec_json: str):
    from ..analysis import viz

    return viz.stage_share_figure(cost_report(spec_json).stages)


@st.cache_data(show_spinner=False, max_entries=4 * ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def block_diagram(spec_json: str, block_name: str) -> str:
    from ..analysis import viz
    from ..spec.shapes import infer_shapes

    spec = ModelSpec.from_json(spec_json)
    shape = next(s for s in infer_shapes(spec) if s.block == block_name)
    si, bi = spec.find_block(block_name)
    return viz.block_dot(spec.stages[si].blocks[bi], shape.input)


@st.cache_data(show_spinner=False, max_entries=ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def module_names(spec_json: str) -> list[str]:
    """Names of the multi-branch (Inception) blocks, in network order."""
    return [b.name for _, _, _, b in ModelSpec.from_json(spec_json).iter_blocks() if b.is_module]


@st.cache_data(
    show_spinner="Counting again with plain fvcore and FlopCounterMode…",
    max_entries=FEW_ENTRIES,
    ttl=TTL,
    max_size=MAX_SIZE,
)
def cross_check(spec_json: str):
    from ..analysis.costs import cross_check as _cross_check

    return _cross_check(ModelSpec.from_json(spec_json), cost_report(spec_json))


@st.cache_data(show_spinner=False, max_entries=ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def block_cost_figure(spec_json: str):
    from ..analysis import viz

    return viz.block_cost_figure(cost_report(spec_json).blocks)


@st.cache_data(show_spinner=False, max_entries=FEW_ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def googlenet_table1(spec_json: str) -> pd.DataFrame:
    from ..analysis.reference import googlenet_table1 as _table

    return _table(cost_report(spec_json))


@st.cache_data(show_spinner="Counting the rungs of [R] Table 3…", max_entries=1, ttl=TTL)
def ladder_table() -> pd.DataFrame:
    """[R] Table 3's ladder (``analysis.ladder.ladder()``): eight networks counted, the same for every session."""
    from ..analysis.ladder import ladder

    return ladder()


@st.cache_data(
    show_spinner="Building and counting each option with fvcore…", max_entries=ENTRIES, ttl=TTL, max_size=MAX_SIZE
)
def factorization_table(c_in: int, c_out: int, grid: int, n: int) -> pd.DataFrame:
    from ..analysis.factorization import compare

    return compare(c_in, c_out, grid, n)


@st.cache_resource
def store():
    """The one Store of this server (a path, no open connection: safe to share between sessions)."""
    from ..store import Store

    return Store()


@st.cache_data(show_spinner=False, max_entries=FEW_ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def network_totals(specs: dict[str, str]) -> pd.DataFrame:
    """One row per network (label -> canonical spec JSON, in that order): size, cost and principle findings."""
    from ..analysis.compare import totals_table

    return totals_table(
        {label: cost_report(j) for label, j in specs.items()},
        {label: principle_findings(j) for label, j in specs.items()},
    )


@st.cache_data(show_spinner=False, max_entries=FEW_ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def compare_representation_figure(specs: dict[str, str]):
    from ..analysis import viz

    return viz.compare_representation_figure({label: cost_report(j).blocks for label, j in specs.items()})


@st.cache_data(show_spinner=False, max_entries=FEW_ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def compare_stage_share_figure(specs: dict[str, str]):
    from ..analysis import viz

    return viz.compare_stage_share_figure({label: cost_report(j).stages for label, j in specs.items()})


@st.cache_data(show_spinner=False, max_entries=ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def spec_diff(from_json: str, to_json: str) -> pd.DataFrame:
    from ..analysis.compare import diff_specs
    from .views import stage_renames

    a, b = ModelSpec.from_json(from_json), ModelSpec.from_json(to_json)
    diff = diff_specs(a, b)
    renames = pd.DataFrame(stage_renames(a, b), columns=list(diff.columns))
    return pd.concat([renames, diff], ignore_index=True) if len(renames) else diff


@st.cache_data(show_spinner=False, max_entries=FEW_ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def published_json(token: str) -> str:
    """The canonical spec JSON of a published copy (which never changes): ``KeyError`` if there is none under
    ``token``, ``SpecError`` if it no longer opens, ``StoreError`` if the store cannot be read; never cached."""
    return load_spec(store().load_published(token).spec.canonical_json()).canonical_json()


def network_options() -> list[NetworkChoice]:
    """Every preset, then every variant saved in this session's workspace (read fresh each run), unopened."""
    ws = st.session_state.get("workspace", "")
    return [preset(p.name) for p in list_presets()] + [variant(name) for name in store().variant_names(ws)]


@st.cache_data(show_spinner=False, max_entries=FEW_ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def variant_spec_json(stored: str) -> str:
    """A saved variant's stored text as checked canonical JSON (``load_spec``: its blocks counted first, then its
    structure, shapes and budget), once per text: ``SpecError`` if it no longer opens, never cached."""
    return load_spec(stored).canonical_json()


def _stored_variant(name: str, workspace: str) -> str:
    """The text a variant of ``workspace`` is stored as, unparsed (``KeyError`` if there is none)."""
    rows = store().query("SELECT spec_json FROM variants WHERE workspace = ? AND name = ?", (workspace, name))
    if not rows:
        raise KeyError(f"no saved variant named {name!r}")
    return rows[0][0]


def network_json(choice: NetworkChoice) -> str:
    """The canonical spec JSON of a preset or of a variant of this session's workspace (``KeyError`` if there is
    no such variant, ``SpecError`` if it no longer opens: it does not parse, or has more blocks, layers,
    parameters or activations than allowed; ``StoreError`` if the store cannot be read)."""
    if choice.kind == "preset":
        return preset_json(choice.name)
    if choice.kind == "variant":
        return variant_spec_json(_stored_variant(choice.name, st.session_state.get("workspace", "")))
    raise ValueError(f"{choice.label} is not opened by name: only presets and saved variants are")


class NetworkChoices(Mapping[NetworkChoice, str]):
    """choice -> canonical spec JSON, in the order a picker shows them. Presets (and the Build page's network) are
    known at once; a saved variant is listed by name and read only when it is looked up (``network_json``, with
    its errors: a variant that no longer opens raises ``SpecError`` when it is looked up), then kept for the run."""

    def __init__(self, known: dict[NetworkChoice, str], variants: list[str]):
        self._known = dict(known)
        self._order = list(known) + [c for c in map(variant, variants) if c not in known]
        self._keys = set(self._order)

    def __getitem__(self, choice: NetworkChoice) -> str:
        if choice not in self._keys:
            raise KeyError(choice)
        if choice not in self._known:
            self._known[choice] = network_json(choice)
        return self._known[choice]

    def __contains__(self, choice: object) -> bool:  # Mapping's would read the variant
        return choice in self._keys

    def __iter__(self) -> Iterator[NetworkChoice]:
        return iter(self._order)

    def __len__(self) -> int:
        return len(self._order)


def network_choices(include_build: bool = False) -> NetworkChoices:
    """choice -> canonical spec JSON, for every preset and every variant saved in this session's workspace (their
    names read fresh each run, each spec only when it is looked up: see ``NetworkChoices``); with
    ``include_build``, first ``DRAFT``: the last valid network of this session's Build page, once it has one."""
    known = {}
    if include_build and BUILD_VALID in st.session_state:
        known[DRAFT] = st.session_state[BUILD_VALID]
    known.update({preset(p.name): preset_json(p.name) for p in list_presets()})
    return NetworkChoices(known, store().variant_names(st.session_state.get("workspace", "")))


@st.cache_data(show_spinner=False, max_entries=ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def build_representation_chart(spec_json: str, selected: str | None):
    """The Build page's curve: ``analysis.curve.representation_chart`` (Vega-Lite), the ``selected`` block ringed."""
    from ..analysis.curve import representation_chart

    return representation_chart(cost_report(spec_json).blocks, principle_findings(spec_json), selected=selected)


@st.cache_data(show_spinner="Fitting the widths to the budget…", max_entries=FEW_ENTRIES, ttl=TTL, max_size=MAX_SIZE)
def fit_budget(spec_json: str, macs: int, keep: str):
    """``analysis.fit.fit_result`` of a network (``FitError`` when the budget cannot be met, never cached)."""
    from ..analysis.fit import fit_result

    return fit_result(ModelSpec.from_json(spec_json), macs, keep)
