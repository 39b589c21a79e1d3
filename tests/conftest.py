"""Shared fixtures: torch threads, a store home and a free port, the reference tables of shared/reference/, and one
count per preset. What the benchmarks share with the tests (starting the app, Chromium's arguments) is in
``helpers.py``, which these fixtures wrap.

The reference folder lives beside the repository (``../shared/reference``); CI clones the repository with
``shared/`` next to it. A missing folder is a test failure with a clear message, never a skip.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"

# The package is used from the checkout (no install step): make `import inception_explorer` work however
# pytest is started.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import helpers  # noqa: E402
import torch  # noqa: E402

from inception_explorer import settings  # noqa: E402
from inception_explorer.analysis.costs import CostMemo, count  # noqa: E402
from inception_explorer.spec.presets import get_preset  # noqa: E402

PRESET_NAMES = ("googlenet", "googlenet_naive", "inception_v2", "inception_v3")


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    torch.set_num_threads(2)
    torch.manual_seed(0)


@pytest.fixture
def store_home(tmp_path, monkeypatch):
    """A fresh ``$INCEPTION_EXPLORER_HOME`` (the store's folder) for one test; the app's cached ``Store`` is cleared
    before and after, since it would point at the previous test's folder."""
    monkeypatch.setenv(settings.HOME, str(tmp_path))
    from inception_explorer.ui import cached

    cached.store.clear()
    yield tmp_path
    cached.store.clear()


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A store of its own for a probe test, one probe per device; every probe it started is cancelled after."""
    from probe_helpers import leave_no_worker

    from inception_explorer.store import Store

    monkeypatch.setenv(settings.PROBES_PER_DEVICE, "1")
    s = Store(tmp_path / "store.sqlite")
    yield s
    leave_no_worker(s)


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    return helpers.free_port()


def reference_path(name: str) -> Path:
    path = REFERENCE / name
    if not path.is_file():
        pytest.fail(
            f"reference file {path} is missing: the tests read the papers' tables from ../shared/reference "
            f"beside the repository ({ROOT}); clone the project with shared/ next to it",
            pytrace=False,
        )
    return path


def _read_csv(name: str) -> list[dict[str, str]]:
    with reference_path(name).open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def googlenet_table1() -> list[dict[str, str]]:
    """[G] Table 1, one dict per printed row (strings as printed: '159K', '128M', '28x28x256')."""
    return _read_csv("googlenet_table1.csv")


@pytest.fixture(scope="session")
def inception_v3_table1() -> list[dict[str, str]]:
    """[R] Table 1, the network outline: type, patch/stride or remarks, input size."""
    return _read_csv("inception_v3_table1.csv")


@pytest.fixture(scope="session")
def reference_readme() -> str:
    return reference_path("README.md").read_text()


class _PresetCounts:
    """Each preset counted once per session, each with a fresh ``CostMemo`` (never the shared DEFAULT_MEMO)."""

    def __init__(self):
        self._reports = {}

    def __call__(self, name: str):
        if name not in self._reports:
            self._reports[name] = count(get_preset(name), CostMemo())
        return self._reports[name]


@pytest.fixture(scope="session")
def preset_report():
    """``preset_report("googlenet")`` -> the CostReport of the preset at its own input size, counted once."""
    return _PresetCounts()


class _PresetModels:
    """Each preset built once per session at its own size; callers set ``train()`` / ``eval()`` themselves."""

    def __init__(self):
        self._models = {}

    def __call__(self, name: str):
        if name not in self._models:
            from inception_explorer.nn.build import build

            self._models[name] = build(get_preset(name))
        return self._models[name]


@pytest.fixture(scope="session")
def preset_model():
    return _PresetModels()


def _block_row(report, name: str) -> dict:
    rows = report.blocks[report.blocks["block"] == name]
    assert len(rows) == 1, f"expected one row for block {name!r}, found {len(rows)}"
    return rows.iloc[0].to_dict()


@pytest.fixture(scope="session")
def block_row():
    """``block_row(report, "inception4a")`` -> that row of ``report.blocks`` as a dict ("head" for the classifier)."""
    return _block_row
