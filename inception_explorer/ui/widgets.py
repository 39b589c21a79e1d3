"""Widgets several pages share: the pickers and the rows, one function each rather than a copy per page (as
OpenMS's streamlit-template gives every page its ``page_setup()``).

A picker shows labels and returns what was picked whole: a ``Preset``, or ``NetworkChoice`` values (choices.py).
Session state keeps the picked value under the widget's key, as st.selectbox and st.multiselect do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import streamlit as st

from ..spec.presets import Preset, list_presets
from ..store import StoreError
from . import cached
from .choices import DRAFT, NetworkChoice, preset
from .session import store_problem
from .views import Metric


def _label(choice: NetworkChoice) -> str:
    return choice.label


def available_network_options() -> list[NetworkChoice]:
    """``cached.network_options()``, or the presets alone when the store cannot be read (said once on the page)."""
    try:
        return cached.network_options()
    except StoreError as exc:
        store_problem(exc)
        return [preset(p.name) for p in list_presets()]


def available_network_choices(include_build: bool = False) -> dict[NetworkChoice, str]:
    """``cached.network_choices(include_build)``, or the Build page's network and the presets alone when the store
    cannot be read (said once on the page)."""
    try:
        return cached.network_choices(include_build=include_build)
    except StoreError as exc:
        store_problem(exc)
        choices = {}
        if include_build and cached.BUILD_VALID in st.session_state:
            choices[DRAFT] = st.session_state[cached.BUILD_VALID]
        return choices | {preset(p.name): cached.preset_json(p.name) for p in list_presets()}


def pick_preset(key: str) -> Preset:
    """The "Preset" selectbox: every preset by title; the chosen preset's name is kept under ``key``."""
    presets = {p.name: p for p in list_presets()}
    name = st.selectbox("Preset", list(presets), key=key, format_func=lambda n: presets[n].title)
    return presets[name]


def pick_network(
    label: str,
    choices: Iterable[NetworkChoice],
    *,
    key: str,
    index: int = 0,
    help: str | None = None,
    container: Any = st,
) -> NetworkChoice:
    """One network of ``choices`` (e.g. the keys of ``cached.network_choices()``), shown by label, in
    ``container`` (a column, say; the page by default)."""
    return container.selectbox(label, list(choices), index=index, key=key, format_func=_label, help=help)


def pick_networks(
    label: str,
    choices: Iterable[NetworkChoice],
    *,
    key: str,
    default: Sequence[NetworkChoice],
    max_selections: int | None = None,
) -> list[NetworkChoice]:
    """Several networks of ``choices``, shown by label, ``default`` picked at first."""
    return st.multiselect(
        label, list(choices), default=list(default), key=key, format_func=_label, max_selections=max_selections
    )


def metric_row(metrics: Sequence[Metric]) -> None:
    """One column per metric (views.overview_metrics, cost_metrics, edit_metrics, finding_metrics)."""
    for col, m in zip(st.columns(len(metrics)), metrics, strict=True):
        col.metric(m.label, m.value, delta=m.delta, delta_color=m.delta_color, help=m.help)


def totals_table(specs: Mapping[str, str]) -> None:
    """One row per network (label -> canonical spec JSON, in that order): size, cost and findings."""
    st.dataframe(
        cached.network_totals(dict(specs)),
        hide_index=True,
        width="stretch",
        column_config={
            "params": st.column_config.NumberColumn(format="localized"),
            "MACs": st.column_config.NumberColumn("MACs", format="localized"),
        },
    )
