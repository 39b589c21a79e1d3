"""``python -m inception_explorer`` and the ``inception-explorer`` script: the package's command line.

May import: the standard library and every layer of the package below it (``spec``, ``nn``, ``store``,
``analysis``, ``editing``, ``probes``, ``rooms``, ``exercises``, ``ui``'s Streamlit-free modules); never
Streamlit itself.

Modules: ``common`` (the one-line usage error, reading a preset or a spec file) <- ``exercises`` (``exercises``,
``check``) <- ``commands`` (every other command, the parser and ``main``).
"""

from .commands import build_parser, main

__all__ = ["build_parser", "main"]
