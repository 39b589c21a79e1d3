"""The README's promises: its library example runs, and its module map names every module of the package."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_the_library_example_runs():
    section = README[README.index("## The library") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    assert scope["report"].totals.params == 23_834_568
    assert scope["small"].input_size == (224, 224) and scope["small"].num_classes == 10


def test_the_module_map_names_every_module():
    section = README[README.index("### The package, by layer") : README.index("### Counts you can trust")]
    named = set(re.findall(r"`([a-z_]+\.py)`", section))
    modules = {
        p.name
        for p in (ROOT / "inception_explorer").rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py") and "probes" not in p.parts
    }
    assert modules - named == set(), f"modules missing from the README's map: {sorted(modules - named)}"
