"""The Build page's state and actions: its ``BuildSession`` (editing/session.py) kept in session state, the widget
callbacks that edit it, what it opens from, saving, weights and budgets.

The session lives under current.py's keys (the draft, the last valid network, the undo history and where it came
from: other pages and the store read them) plus ``EXTRA`` for the rest (redo, the saved name, the selection). Edits
run as widget callbacks, before the script, so the page runs once with the edit made. Messages an edit leaves are
kept under ``MESSAGES`` until the page shows them.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from ..analysis.curve import PICK
from ..editing.session import BuildSession, Message
from ..errors import SpecError
from ..spec import ModelSpec
from ..store import StoreError
from .cached import network_json, preset_json, published_json, store
from .choices import DRAFT, NetworkChoice, preset
from .current import BUILD_DRAFT, BUILD_HISTORY, BUILD_SOURCE, BUILD_VALID, PUBLISHED, current, set_current
from .session import store_problem
from .widgets import available_network_options, published_options

EXTRA = "build.session"  # session state: the rest of the BuildSession's state
MESSAGES = "build.messages"  # ... what the last edits said, (level, text, offer), until shown
CONFIRM_LOAD = "build.confirm_load"  # ... a network to load once the user agrees to drop unsaved edits
CONFIRM_SAVE = "build.confirm_save"  # ... a name to save over once the user agrees
FIT = "build.fit"  # ... the previewed fit: (spec_json it was fitted from, macs, keep)
SAVE_NAME = "build.save_name"  # ... the "Variant name" field: the network's name whenever one is loaded or saved


# ---- the session in session state ---------------------------------------------------------------------------------


def has_session() -> bool:
    return BUILD_DRAFT in st.session_state


def get() -> BuildSession:
    state = st.session_state
    source: NetworkChoice = state[BUILD_SOURCE]
    extra = dict(state.get(EXTRA) or {})
    if "baseline" not in extra:  # restored after a reload: unsaved if it differs from where it came from
        opened = _source_json(source)
        if opened is not None:
            extra["baseline"] = ModelSpec.from_json(opened).canonical_json()
            extra["origin"] = opened
        st.session_state[EXTRA] = extra
    return BuildSession.from_state(
        {
            "draft": state[BUILD_DRAFT],
            "valid": state[BUILD_VALID],
            "source": [source.kind, source.name],
            "undo": state.get(BUILD_HISTORY, []),
            **extra,
        }
    )


def _source_json(source: NetworkChoice) -> str | None:
    """The network ``source`` names as it is now (None when it no longer opens, or is a file)."""
    try:
        return spec_json_of(source) if source.kind in ("preset", "variant", "published") else None
    except (KeyError, ValueError, StoreError):
        return None


def put(session: BuildSession) -> None:
    state = session.to_state()
    st.session_state[BUILD_DRAFT] = state.pop("draft")
    st.session_state[BUILD_VALID] = state.pop("valid")
    kind, name = state.pop("source")
    st.session_state[BUILD_SOURCE] = NetworkChoice(kind, name)
    st.session_state[BUILD_HISTORY] = state.pop("undo")
    st.session_state[EXTRA] = state
    messages = st.session_state.setdefault(MESSAGES, [])
    messages.extend((m.level, m.text, m.offer) for m in session.take_messages())


def say(level: str, text: str) -> None:
    st.session_state.setdefault(MESSAGES, []).append((level, text, None))


def take_messages() -> list[Message]:
    return [Message(*m) for m in st.session_state.pop(MESSAGES, [])]


def load(spec_json: str, source: NetworkChoice, current_choice: NetworkChoice | None = DRAFT) -> None:
    """Open ``spec_json`` (from ``source``) on the page; it is then the session's current network as
    ``current_choice`` (this page's network by default; unchanged when None)."""
    st.session_state.pop(EXTRA, None)
    st.session_state.pop(FIT, None)
    session = BuildSession.load(spec_json, (source.kind, source.name))
    st.session_state[SAVE_NAME] = source.name if source.kind == "variant" else session.name
    put(session)
    if current_choice is not None:
        set_current(current_choice)


def act(method: str, *args: Any) -> None:
    """A widget callback: run ``BuildSession.<method>(*args)`` on the page's network."""
    session = get()
    changed = getattr(session, method)(*args)
    put(session)
    if changed:
        set_current(DRAFT)  # an edit makes this page's network the one every page shows


def act_with(method: str, keys: dict[str, str], *args: Any) -> None:
    """Like ``act``, with keyword arguments read from widgets: ``{argument: widget key}``."""
    session = get()
    changed = getattr(session, method)(*args, **{arg: st.session_state.get(key) for arg, key in keys.items()})
    put(session)
    if changed:
        set_current(DRAFT)


def select(si: int, name: str | None = None) -> None:
    session = get()
    session.select(si, name)
    put(session)


def select_from(key: str, si: int | None = None) -> None:
    """A selector's callback: the stage (``si`` None) or the block of stage ``si`` picked under ``key``."""
    value = st.session_state.get(key)
    if si is None:
        select(int(value))
    else:
        select(si, value)


def block_of_point(points: list[dict[str, Any]], names: list[str]) -> str | None:
    """The block a click on the representation curve names: the first point on a block's row (its x is the row
    of the block table; the input point at x = -1 and the logits name no block)."""
    for point in points:
        x = point.get("x")
        if isinstance(x, (int, float)) and 0 <= int(x) < len(names) and names[int(x)] != "logits":
            return names[int(x)]
    return None


def select_from_chart(key: str, names: list[str]) -> None:
    """The curve's ``on_select`` callback: the clicked block becomes the selected one."""
    event = st.session_state.get(key) or {}
    name = block_of_point(list((event.get("selection") or {}).get(PICK) or []), names)
    if name is None:
        return
    session = get()
    found = session.locate(name)
    if found is not None:
        session.select(found[0], name)
        put(session)


# ---- where a network comes from ----------------------------------------------------------------------------------


def start_options() -> list[NetworkChoice]:
    """What "Start from" offers: the current network (when another page picked one), the presets, the saved
    variants of this workspace and the published copies (the joined room's, and those this session opened)."""
    options = available_network_options()
    published = published_options()
    now = current()
    first = [now] if now in options or now in published else []  # a link to nothing that opens is not offered
    return list(dict.fromkeys([*first, *options, *published]))


def spec_json_of(choice: NetworkChoice) -> str:
    if choice.kind == "published":
        return published_json(st.session_state.get(PUBLISHED, {})[choice.name])
    return network_json(choice)


def ask_to_load(choice: NetworkChoice) -> None:
    """The Load button: open ``choice`` now, or first ask when the page's network has unsaved edits."""
    if has_session() and get().dirty:
        st.session_state[CONFIRM_LOAD] = choice
        return
    load_now(choice)


def load_now(choice: NetworkChoice | None = None) -> None:
    choice = choice or st.session_state.get(CONFIRM_LOAD)
    st.session_state.pop(CONFIRM_LOAD, None)
    if choice is None:
        return
    try:
        load(spec_json_of(choice), choice)
    except StoreError as exc:
        store_problem(exc)
    except (KeyError, SpecError) as exc:
        say("warning", f"Could not open {choice.label}: {exc}")


def keep_editing() -> None:
    st.session_state.pop(CONFIRM_LOAD, None)
    st.session_state.pop(CONFIRM_SAVE, None)


# ---- saving ------------------------------------------------------------------------------------------------------


def ask_to_save(name_key: str, workspace: str) -> None:
    """The Save button: save under the typed name, or first ask when that name holds another saved variant."""
    name = str(st.session_state.get(name_key) or "").strip()
    session = get()
    try:
        taken = name in store().variant_names(workspace)
    except StoreError as exc:
        store_problem(exc)
        return
    if taken and name != session.saved_name:
        st.session_state[CONFIRM_SAVE] = name
        return
    save_now(name, workspace)


def save_now(name: str | None, workspace: str) -> None:
    name = (name or st.session_state.pop(CONFIRM_SAVE, "") or "").strip()
    st.session_state.pop(CONFIRM_SAVE, None)
    session = get()
    if session.spec is None:
        say("error", "Fix the problems first: only a valid network is saved.")
        return
    try:
        name = store().check_name(name)  # the store's rules for a name, before the network takes it
    except ValueError as exc:
        say("error", f"Not saved: {exc}")
        return
    session.saved(name)
    try:
        spec = session.spec
        if spec is None:  # the name itself does not work as a network name
            raise ValueError("; ".join(str(p) for p in session.problems))
        store().save_variant(name, spec, workspace)
    except (ValueError, StoreError) as exc:
        say("error", f"Not saved: {exc}")
        return
    put(session)
    st.session_state[SAVE_NAME] = name
    set_current(NetworkChoice("variant", name))  # the address (?variant=NAME) reopens it
    say(
        "success",
        f"Saved {name} in your workspace. This page's address reopens it; whoever you give that address shares "
        "your workspace.",
    )


def default_start() -> None:
    """The page's first network when nothing else is open: GoogLeNet."""
    load(preset_json("googlenet"), preset("googlenet"), current_choice=None)
