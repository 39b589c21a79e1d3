"""Not a page: the alias of /instructor for a fresh server's first visitor (see app.py's docstring). It runs app.py,
whose navigation then opens pages/instructor_page.py."""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parents[1] / "app.py"))
