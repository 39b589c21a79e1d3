"""The UI layer: the only package folder that imports streamlit.

May import every layer below it: ``errors``, ``settings``, ``spec``, ``nn``, ``analysis``, ``editing``, ``store``
and ``probes``. Nothing below imports ``ui``. The pages (pages/) and app.py import from ``ui`` and the package;
they arrange widgets and show what the package returns.

``session`` (the workspace id in the URL; streamlit without torch, so app.py's first paint does not wait for it),
``cached`` (``st.cache_data`` / ``st.cache_resource`` around the package, keyed by a spec's canonical JSON; the
networks a page can pick), ``widgets`` (the pickers and rows several pages share). Two modules hold what the
pages show without importing streamlit, so they are tested without it: ``choices`` (``NetworkChoice``: a preset,
a saved variant, the Build page's network...) and ``views`` (metric rows, tables and sentences made from the
package's results).

Nothing is imported here: ``from inception_explorer.ui import session`` must not bring in torch.
"""
