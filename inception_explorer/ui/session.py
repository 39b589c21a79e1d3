"""Per-browser-session state that must survive a reload: the workspace id, carried in the URL; and the one message
a page shows when the store cannot be used.

Streamlit, without torch: app.py calls ``workspace()`` on every run, before any page draws, and a page's first
paint must not wait for torch's import (cached.py brings torch in).

Workspace ids are minted by the server (``Store.new_workspace``) and remembered in the store: an id in the URL
that this server did not mint (a client's own choice, which would dodge the per-workspace limits) is refused, and
the visitor gets a new workspace and is told so; a minted one (a reload, a shared link) works across server
restarts. When the store cannot be used the page says so once (``store_problem``) and goes on with what needs no
store; the id in the URL is kept as it is (checked again on the next run), so that nobody loses their link.
"""

from __future__ import annotations

import streamlit as st

from ..store import Store, StoreError, is_workspace_id, new_workspace_id
from .views import md

WORKSPACE = "workspace"  # session state: this session's workspace id ...
MINTED = "workspace.minted"  # ... True once the store is known to hold it (else it is checked again next run)
OWN = "workspace.own"  # ... True when this session made the id itself (so it may record it once the store can)
PROBLEM = "store.problem"  # the kind of store problem this full run has shown (a page shows it once)
MINT_TIMEOUT = 0.5  # seconds a new visitor waits for a locked store before going on without recording the id

REFUSED = (
    "The workspace in this address was not made by this server, so it was not opened: you are in {where} (its "
    "id is now in the address)."
)


def workspace() -> str:
    """This browser session's workspace id: the minted one in the URL (``?ws=...``, so a reload or a shared link
    keeps it), else the one this session already has, else a newly minted one. It is put back into the URL on
    every run, since switching pages clears the query string. Saved variants and probe runs belong to a workspace;
    nobody lists or opens another's without its link. Never raises: a store that cannot be used is reported."""
    state = st.session_state
    state[PROBLEM] = None  # a new full run: no store problem shown yet
    in_url = st.query_params.get("ws")
    ws = state.get(WORKSPACE)
    if not (ws and state.get(MINTED) and in_url in (None, ws)):
        ws = _settle(in_url, ws)
    state[WORKSPACE] = ws
    if in_url != ws:
        st.query_params["ws"] = ws
    return ws


def _settle(in_url: str | None, ws: str | None) -> str:
    """The workspace to use when this session has not yet confirmed one against the store (see ``workspace``)."""
    state = st.session_state
    candidate = in_url or ws
    try:
        store = Store()
        if candidate is not None and candidate == ws and state.get(OWN):
            # an id this session made while the store could not record it: record it now
            store.new_workspace(ws, timeout=MINT_TIMEOUT)
            state[MINTED] = True
            return ws
        if candidate is not None and store.has_workspace(candidate):
            state[MINTED], state[OWN] = True, False
            return candidate
        if candidate is not None:  # from a URL, now or on an earlier run (kept while the store could not say)
            fallback = ws if ws and ws != candidate and state.get(MINTED) else None
            st.warning(REFUSED.format(where="this session's workspace" if fallback else "a new, empty workspace"))
            if fallback:
                return fallback
        candidate = None  # refused, or none yet: a new one
        minted = store.new_workspace(timeout=MINT_TIMEOUT)
        state[MINTED], state[OWN] = True, False
        return minted
    except StoreError as exc:
        store_problem(exc)
        state[MINTED] = False
        if candidate is not None and is_workspace_id(candidate):
            if candidate != ws:
                state[OWN] = False  # a URL's id is only ever checked, never recorded
            return candidate  # kept unconfirmed: checked (or recorded, if this session made it) on the next run
        state[OWN] = True
        return new_workspace_id()


def store_problem(exc: StoreError, *, record: bool = True) -> None:
    """Say, in one error, that the store cannot be used and why (the store's own words, as text), unless this full
    run already said the same. ``record=False`` for the runs of a polling fragment: it shows the problem on each
    of its runs, unless the page around it already does."""
    if st.session_state.get(PROBLEM) == exc.kind:  # the same problem, maybe in other words ("cannot open ...")
        return
    text = str(exc)
    st.error(md(text[:1].upper() + text[1:] + "."))
    if record:
        st.session_state[PROBLEM] = exc.kind
