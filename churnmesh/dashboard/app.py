"""The churnmesh dashboard (Streamlit): `churnmesh dashboard` runs this script.

It reads only what the refresh publishes for readers (data.py), so looking at a chart never
holds up or breaks a refresh.
"""

from __future__ import annotations

import streamlit as st

from churnmesh.dashboard import PAGES

st.set_page_config(page_title="churnmesh", page_icon=":material/insights:", layout="wide")
pages = [
    st.Page(path, title=title, icon=icon, url_path=url or None, default=not url) for path, title, icon, url in PAGES
]
st.navigation(pages).run()
