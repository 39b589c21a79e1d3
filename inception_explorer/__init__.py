"""Inception Explorer: build Inception networks from data, count them with fvcore, check them against the design
principles of the papers, and train short probes.

The package is layered; a module imports its own folder and the layers below it, never above (tests/test_layers.py):
``errors``, ``settings`` <- ``spec`` (data, no torch) <- ``nn`` (torch modules), ``store`` (SQLite) <- ``analysis``
(counts, principles, figures) <- ``editing`` (edits as data), ``probes`` (training runs) <- ``ui`` (Streamlit) <-
``cli``, ``pages/``, ``app.py``. Importing this package imports nothing else.
"""
