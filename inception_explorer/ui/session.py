"""Per-browser-session state that must survive a reload: the workspace id, carried in the URL.

Streamlit, without torch: app.py calls ``workspace()`` on every run, before any page draws, and a page's first
paint must not wait for torch's import (cached.py brings torch in).
"""

from __future__ import annotations

import streamlit as st

from ..store import is_workspace_id, new_workspace_id


def workspace() -> str:
    """This browser session's workspace id: from the URL (``?ws=...``, so a reload or a shared link keeps it), else
    the one this session already has, else a new unguessable one. It is put back into the URL on every run, since
    switching pages clears the query string. Saved variants and probe runs belong to a workspace; nobody lists or
    opens another's without its link."""
    in_url = st.query_params.get("ws")
    ws = in_url if is_workspace_id(in_url) else st.session_state.get("workspace") or new_workspace_id()
    st.session_state["workspace"] = ws
    if in_url != ws:
        st.query_params["ws"] = ws
    return ws
