"""Widgets several pages share: the pickers and the rows, one function each rather than a copy per page (as
OpenMS's streamlit-template gives every page its ``page_setup()``).

A picker shows labels and returns what was picked whole: a ``Preset``, or ``NetworkChoice`` values (choices.py).
Session state keeps the picked value under the widget's key, as st.selectbox and st.multiselect do.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import streamlit as st

from .. import rooms
from ..errors import SpecError
from ..spec import ModelSpec
from ..spec.presets import Preset, list_presets
from ..store import StoreError
from . import cached
from .choices import DRAFT, NetworkChoice, preset
from .current import (
    PUBLISHED,
    ROOM,
    current,
    default,
    published_token,
    remember_published,
    restore_draft,
    set_current,
)
from .session import store_problem
from .views import Metric, md


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


# ---- the current network (current.py): the picker every analysing page opens with ----------------------------------


def room_copies() -> list[NetworkChoice]:
    """The networks the instructor published to the room this session joined (read fresh: one may have been
    added or withdrawn), remembered so that every picker offers them and opens them by their token."""
    code = st.session_state.get(ROOM)
    if not code:
        return []
    try:
        copies = rooms.room_networks(code, cached.store())
    except (StoreError, rooms.RoomError):  # said where the room is shown (ui/room.joined_room)
        return []
    return [remember_published(copy.name, copy.token) for copy in copies]


def published_options() -> list[NetworkChoice]:
    """The published copies a picker offers: the joined room's, then the others this session opened by a link."""
    room = room_copies()
    opened = [NetworkChoice("published", name) for name in st.session_state.get(PUBLISHED, {})]
    return list(dict.fromkeys([*room, *opened]))


def current_options() -> tuple[list[NetworkChoice], Mapping[NetworkChoice, str]]:
    """What the current-network pickers offer, in order: the Build page's network (brought back from the store
    after a reload), the presets, the saved variants, the published copies (the joined room's and those this
    session opened); and choice -> spec JSON for all but the published copies (``network_spec`` opens them)."""
    restore_draft()
    choices = available_network_choices(include_build=True)
    return list(choices) + [c for c in published_options() if c not in choices], choices


def _spec_json(choice: NetworkChoice, choices: Mapping[NetworkChoice, str]) -> str:
    if choice.kind == "published":
        return cached.published_json(published_token(choice) or "")
    return choices[choice]  # a saved variant is read here


def network_spec(
    choice: NetworkChoice, choices: Mapping[NetworkChoice, str], message: str = "{label} no longer opens: {exc}"
) -> str | None:
    """The spec JSON of ``choice``, or None with ``message`` (or the store's problem) on the page when it does not
    open."""
    try:
        return _spec_json(choice, choices)
    except StoreError as exc:
        store_problem(exc)
    except (KeyError, SpecError) as exc:
        st.warning(md(message.format(label=choice.label, exc=exc)))
    return None


def _settled_current(options: Sequence[NetworkChoice]) -> NetworkChoice:
    """The current network if the pickers offer it; else (a variant deleted, a draft never made) the default,
    made current, said on the page."""
    chosen = current()
    if chosen in options:
        return chosen
    if chosen.kind != "draft":
        st.warning(md(f"{chosen.label} is not in this workspace any more: showing {default().label}."))
    set_current(default())
    return default()


def _name_at_top(top: Any, choice: NetworkChoice, spec_json: str) -> None:
    top.markdown(f"Network: **{md(ModelSpec.from_json(spec_json).name)}**, {md(choice.label)}")


def current_network(label: str = "Network", *, key: str, container: Any = st) -> tuple[NetworkChoice, str] | None:
    """The current network's picker (in ``container``), named at the top: it opens on the current network, and
    what is picked becomes the current network. Returns it with its spec JSON, or None (said on the page) when it
    does not open."""
    top, state, shown = st.container(), st.session_state, f"{key}.shown"
    options, choices = current_options()
    if key in state and state[key] != state.get(shown) and state[key] in options:  # picked since the last run
        set_current(state[key])
    chosen = _settled_current(options)
    if state.get(key) != chosen:
        state[key] = chosen  # open on the current network, whatever this picker showed before
    picked = pick_network(label, options, key=key, container=container)
    state[shown] = picked
    if picked != chosen:
        set_current(picked)
    spec_json = network_spec(picked, choices)
    if spec_json is not None:
        _name_at_top(top, picked, spec_json)
    return None if spec_json is None else (picked, spec_json)


def current_networks(
    label: str, *, key: str, others: Sequence[NetworkChoice], max_selections: int | None = None
) -> tuple[list[NetworkChoice], Mapping[NetworkChoice, str]]:
    """Several networks, the current one among them (first, at first, with the first of ``others``): a network
    added becomes the current one, and so does the first one left when the current one is removed. Returns the
    picks and choice -> spec JSON (``network_spec`` opens each)."""
    top, state, shown = st.container(), st.session_state, f"{key}.shown"
    options, choices = current_options()
    limit, removed = max_selections or len(options), False
    picks = [c for c in state.get(key, []) if c in options]
    if key in state and state.get(shown) is not None:  # what changed since the last run, by the person
        added = [c for c in picks if c not in state[shown]]
        removed = current() in state[shown] and current() not in picks
        if added:
            set_current(added[-1])
        elif removed and picks:
            set_current(picks[0])
    chosen = _settled_current(options)
    if key not in state:
        picks = [chosen] + [c for c in others if c != chosen and c in options][:1]
    elif chosen not in picks and not removed:  # picked on another page meanwhile
        picks = [chosen] + picks[: limit - 1]
    state[key] = picks
    picked = st.multiselect(label, options, key=key, format_func=_label, max_selections=max_selections)
    state[shown] = picked
    if current() in picked:
        with contextlib.suppress(KeyError, SpecError, StoreError):  # the page says so where it leaves it out
            _name_at_top(top, current(), _spec_json(current(), choices))
    return picked, choices


def pick_from_to(networks: Sequence[NetworkChoice], columns: Sequence[Any], keys: tuple[str, str]) -> tuple:
    """Two of ``networks`` (From, To), following them: a pick that is no longer among them gives way to the first
    one that is, and To to another network than From when that happened."""
    state = st.session_state
    a, b = state.get(keys[0]), state.get(keys[1])
    moved = a not in networks or b not in networks
    if a not in networks:
        a = networks[0]
    if b not in networks or (moved and b == a):
        b = next(n for n in networks if n != a)
    state[keys[0]], state[keys[1]] = a, b
    return (
        pick_network("From", networks, key=keys[0], container=columns[0]),
        pick_network("To", networks, key=keys[1], container=columns[1]),
    )


def metric_row(metrics: Sequence[Metric]) -> None:
    """One column per metric (views.overview_metrics, cost_metrics, edit_metrics, finding_metrics)."""
    for col, m in zip(st.columns(len(metrics)), metrics, strict=True):
        col.metric(m.label, m.value, delta=m.delta, delta_color=m.delta_color, delta_arrow=m.delta_arrow, help=m.help)


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


@contextlib.contextmanager
def section(label: str, key: str, *, expanded: bool = False) -> Iterator[bool]:
    """An expander whose content is built only while it is open: ``with section(label, key) as shown: if shown:``.

    A closed expander's widgets would still be built by the server and sent to and drawn by the browser on every
    rerun (Build has seven such sections). Opening or closing reruns the page. Whether it is open is kept under
    ``key + ".open"`` (tests set it), so that it stays open when its label changes (a label that counts findings
    or names the selected block)."""
    remembered = f"{key}.open"

    def remember() -> None:
        st.session_state[remembered] = bool(st.session_state.get(key))

    opened = bool(st.session_state.get(remembered, expanded))
    with st.expander(label, key=key, expanded=opened, on_change=remember) as box:
        yield bool(box.open)
