"""The current network of a browser session: the one subject every analysing page opens on, named in the URL.

It is a ``NetworkChoice``: the Build page's network (``DRAFT``, its last valid spec), a preset, a saved variant or a
published copy. Picking a network on any page makes it the current one (``set_current``); the Build page makes its
network the current one when it loads or edits it. The URL names it, so that a reload or a shared link opens the
same thing: ``?net=preset:googlenet``, ``?net=draft``, ``?variant=NAME``, ``?published=TOKEN`` (one of them at a
time, written back on every run as the workspace id is, since switching pages clears the query string).

A URL that names something else than what this session last wrote there is a link being followed (a reload, a
shared address, a page link): it becomes the current network, and a variant or published link is also what the
Build page opens next (``take_link``), even when the session already has a draft.

The Build page's network is kept in the store for the workspace (``keep_draft``), not only in session state, so a
reload brings it back (``restore_draft``). Like session.py this module does not import torch (cached.py does).
"""

from __future__ import annotations

import streamlit as st

from ..errors import SpecError
from ..spec.presets import get_preset, list_presets
from ..spec.validation import load_spec
from ..store import DraftRecord, Store, StoreError
from .choices import DRAFT, NetworkChoice, preset, variant
from .session import store_problem
from .views import md

# session state of the Build page: the draft (JSON, maybe invalid), its last valid network (canonical JSON), the
# undo history, and where it was loaded from (a NetworkChoice)
BUILD_DRAFT, BUILD_VALID, BUILD_HISTORY, BUILD_SOURCE = "build.draft", "build.valid", "build.history", "build.source"
CURRENT = "current.network"  # session state: the NetworkChoice the analysing pages open on
WRITTEN = "current.url"  # ... the (parameter, value) this session last put in the URL for it
LINK = "current.link"  # ... a variant or published link followed and not yet opened on the Build page
ROOM = "room.code"  # ... the code of the room this session joined (ui/room.py joins it)
PUBLISHED = "current.published"  # ... name -> token of the published copies this session opened
KEPT = "current.kept"  # ... the DraftRecord last kept in (or read from) the store
RESTORED = "current.restored"  # ... True once the store was asked for this workspace's draft
URL_PARAMS = ("published", "variant", "net")  # in the order they are read: Build always read published first


def default() -> NetworkChoice:
    return preset("googlenet")


def current() -> NetworkChoice:
    """This session's current network (``preset googlenet`` until something else is picked or linked)."""
    return st.session_state.get(CURRENT) or default()


def url_of(choice: NetworkChoice) -> tuple[str, str] | None:
    """The query parameter that names ``choice`` (None for what no URL names: a file, an unknown published copy)."""
    if choice.kind == "preset":
        return ("net", f"preset:{choice.name}")
    if choice.kind == "draft":
        return ("net", "draft")
    if choice.kind == "variant":
        return ("variant", choice.name)
    if choice.kind == "published":
        token = st.session_state.get(PUBLISHED, {}).get(choice.name)
        return ("published", token) if token else None
    return None


def _in_url() -> tuple[str, str] | None:
    for param in URL_PARAMS:
        value = st.query_params.get(param)
        if value:
            return (param, value)
    return None


def _write_url() -> None:
    named = url_of(current())
    for param in URL_PARAMS:
        if named is None or param != named[0]:
            st.query_params.pop(param, None)
    if named is not None and st.query_params.get(named[0]) != named[1]:
        st.query_params[named[0]] = named[1]
    st.session_state[WRITTEN] = named


def remember_published(name: str, token: str) -> NetworkChoice:
    """Offer the published copy ``token`` (named ``name``) in this session's pickers; returns its choice."""
    st.session_state.setdefault(PUBLISHED, {})[name] = token
    return NetworkChoice("published", name)


def published_token(choice: NetworkChoice) -> str | None:
    return st.session_state.get(PUBLISHED, {}).get(choice.name)


def _choice_of(param: str, value: str) -> NetworkChoice | None:
    """What a URL parameter names, or None (said on the page) when it names nothing that opens."""
    if param == "variant":
        return variant(value)
    if param == "published":
        try:
            record = Store().load_published(value)
        except StoreError as exc:
            store_problem(exc)
            return None
        except (KeyError, SpecError) as exc:
            st.warning(md(f"Could not open the published variant in the link: {exc}"))
            return None
        return remember_published(record.name, value)
    if value == "draft":
        return DRAFT
    kind, _, name = value.partition(":")
    if kind == "preset" and name in {p.name for p in list_presets()}:
        return preset(name)
    st.warning(md(f"The address names no network this app knows ({param}={value}): showing {current().label}."))
    return None


def follow_url() -> None:
    """Once per run, before any page draws (app.py): a URL naming another network than this session last wrote
    there makes it the current one (a variant or published link is then opened on the Build page too); then the
    URL is made to name the current network."""
    state = st.session_state
    named = _in_url()
    if named is not None and named != state.get(WRITTEN):
        choice = _choice_of(*named)
        if choice is not None:
            state[CURRENT] = choice
            state[LINK] = named if named[0] in ("variant", "published") else None
    _write_url()


def set_current(choice: NetworkChoice) -> None:
    """Make ``choice`` this session's current network, and the URL name it."""
    st.session_state[CURRENT] = choice
    st.session_state[LINK] = None  # a link not yet opened on Build is no longer what the session looks at
    _write_url()


def take_link() -> tuple[str, str] | None:
    """The variant or published link to open on the Build page, once (None when there is none)."""
    link = st.session_state.get(LINK)
    st.session_state[LINK] = None
    return link


# ---- the Build page's network, kept in the store -----------------------------------------------------------------


def restore_draft() -> None:
    """Bring back this workspace's Build network from the store, once per session, unless the session has one."""
    state = st.session_state
    if BUILD_DRAFT in state or state.get(RESTORED):
        return
    state[RESTORED] = True
    try:
        record = Store().load_draft(state["workspace"])
    except StoreError as exc:
        store_problem(exc)
        return
    if record is None:
        return
    try:
        valid = load_spec(record.valid_json).canonical_json()  # the store's text is checked as an upload is
        source = NetworkChoice(record.source_kind, record.source_name)
    except (SpecError, ValueError) as exc:
        st.warning(md(f"Your unsaved network could not be brought back: {exc}"))
        return
    state[BUILD_DRAFT], state[BUILD_VALID], state[BUILD_SOURCE], state[BUILD_HISTORY] = (
        record.draft_json,
        valid,
        source,
        [],
    )
    state[KEPT] = record


def _untouched() -> DraftRecord:
    spec_json = get_preset(default().name).canonical_json()
    return DraftRecord(spec_json, spec_json, "preset", default().name)


def keep_draft() -> None:
    """Keep the Build network in the store for the workspace when it changed since it was last kept."""
    state = st.session_state
    source = state[BUILD_SOURCE]
    record = DraftRecord(state[BUILD_DRAFT], state[BUILD_VALID], source.kind, source.name)
    if record == state.get(KEPT) or (KEPT not in state and record == _untouched()):
        return  # nothing new; or the page's first network, unedited, which a reload opens anyway (nothing to write)
    try:
        Store().save_draft(state["workspace"], record)
    except StoreError as exc:
        store_problem(exc)
    except ValueError as exc:  # a workspace the store does not know yet, a draft over the size limit
        st.caption(md(f"Not kept for a reload: {exc}."))
    else:
        state[KEPT] = record
