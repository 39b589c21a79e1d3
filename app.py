"""Inception Explorer: the Streamlit entry point. It only sets up the page and routes to pages/.

The page files are named ``*_page.py`` and their URLs given explicitly: a file named like its URL (pages/build.py
at /build) is served by Streamlit's legacy pages/ discovery when a fresh server's first visitor opens that deep
link, before app.py has run once, bypassing this navigation.

That first run of a fresh server goes through the legacy discovery whatever the files are called (Streamlit 1.67
decides it from pages/ existing, before this script runs): it looks the URL up among the pages/ files, and a URL it
does not find there got the first visitor of /probes or /build?published=... a "Page not found" dialog over the
(right) page, which left the page inert until closed. So pages/ also holds one alias per URL, named like it
(pages/probes.py, ...): each only runs this script, whose navigation then opens the page, with nothing in the way.
After that first run Streamlit uses this navigation alone and the aliases are never looked at again.
"""

from pathlib import Path

import streamlit as st

from inception_explorer.ui.current import follow_url
from inception_explorer.ui.session import workspace

# A local file: Streamlit 1.67 makes a ":material/..." favicon a fonts.gstatic.com address, which an offline lab
# cannot reach; a file is served by this server (/media/...).
FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"
st.set_page_config(page_title="Inception Explorer", page_icon=str(FAVICON), layout="wide")
st.session_state.setdefault("presets.selected", "googlenet")
workspace()  # this session's workspace, carried in the URL (?ws=...): saved variants and probe runs live there
follow_url()  # the network every page opens on, named in the URL (?net=..., ?variant=..., ?published=...)

page = st.navigation(
    [
        st.Page("pages/presets_page.py", title="Presets", icon=":material/view_list:", default=True),
        st.Page("pages/build_page.py", title="Build", icon=":material/construction:", url_path="build"),
        st.Page("pages/costs_page.py", title="Costs", icon=":material/calculate:", url_path="costs"),
        st.Page("pages/principles_page.py", title="Principles", icon=":material/architecture:", url_path="principles"),
        st.Page("pages/compare_page.py", title="Compare", icon=":material/compare:", url_path="compare"),
        st.Page(
            "pages/factorization_page.py",
            title="Factorization lab",
            icon=":material/science:",
            url_path="factorization",
        ),
        st.Page("pages/probes_page.py", title="Training probes", icon=":material/monitoring:", url_path="probes"),
        st.Page("pages/exercises_page.py", title="Exercises", icon=":material/task_alt:", url_path="exercises"),
        st.Page("pages/instructor_page.py", title="Instructor", icon=":material/school:", url_path="instructor"),
        st.Page("pages/ladder_page.py", title="Cost ladder ([R] Table 3)", icon=":material/stairs:", url_path="ladder"),
    ]
)
page.run()
