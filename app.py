"""Inception Explorer: the Streamlit entry point. It only sets up the page and routes to pages/."""

import streamlit as st

st.set_page_config(page_title="Inception Explorer", page_icon=":material/hub:", layout="wide")
st.session_state.setdefault("presets.selected", "googlenet")

page = st.navigation([
    st.Page("pages/presets.py", title="Presets", icon=":material/view_list:", default=True),
    st.Page("pages/build.py", title="Build", icon=":material/construction:"),
    st.Page("pages/costs.py", title="Costs", icon=":material/calculate:"),
    st.Page("pages/principles.py", title="Principles", icon=":material/architecture:"),
    st.Page("pages/factorization.py", title="Factorization lab", icon=":material/science:"),
])
page.run()
