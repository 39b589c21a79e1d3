"""The analysis layer: what a network costs and how it measures up, counted on the real torch modules.

May import: torch, pandas, plotly, ``errors``, ``settings``, ``spec``, ``nn`` and ``store``; fvcore in
``fvcore_adapter`` only. Not ``editing``, ``probes``, ``ui`` or ``cli``, and never Streamlit.

``fvcore_adapter`` (the one module that touches fvcore's private tables: one trace, MACs and activations per
module), ``memo`` (the thread-safe block memo), ``costs`` (``count()``, ``cross_check()``), ``principles`` (the
design principles of [R] §2, checked block by block), ``rules`` ([R] §3.1, §3.2, §5 and this tool's heuristics),
``check_context`` (what both checkers walk), ``reference`` ([G] Table 1 beside our counts), ``factorization`` (the
factorization lab), ``compare`` (two networks side by side), ``fit`` (a variant at a MAC budget), ``ladder`` ([R]
Table 3's cost ladder) and ``viz`` (plotly figures and Graphviz DOT); ``findings`` holds what a check finds.
"""
