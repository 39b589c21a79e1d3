"""settings.py: every INCEPTION_EXPLORER_* variable read in one place, with its default and a fallback for junk."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from inception_explorer import settings

PACKAGE = Path(__file__).resolve().parents[1] / "inception_explorer"


def test_defaults_when_nothing_is_set(monkeypatch):
    for name in settings.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    s = settings.settings()
    assert s.home == Path(".inception_explorer")
    assert s.data_root == Path("data").resolve()
    assert (s.max_params, s.max_activations) == (1_000_000_000, 1_000_000_000)
    assert (s.probes_per_device, s.max_waiting_per_workspace, s.ray_max_running) == (1, 10, 4)
    assert s.ray_address is None


def test_each_variable_is_read_when_asked_not_once_at_import(monkeypatch, tmp_path):
    monkeypatch.setenv(settings.HOME, str(tmp_path))
    monkeypatch.setenv(settings.MAX_PARAMS, "2e6")
    monkeypatch.setenv(settings.PROBES_PER_DEVICE, "3")
    monkeypatch.setenv(settings.RAY_ADDRESS, "  head:6379 ")
    s = settings.settings()
    assert (s.home, s.max_params, s.probes_per_device, s.ray_address) == (tmp_path, 2_000_000, 3, "head:6379")
    monkeypatch.setenv(settings.PROBES_PER_DEVICE, "2")
    assert settings.settings().probes_per_device == 2


@pytest.mark.parametrize("value", ["many", "", "0", "-4"])
def test_a_value_that_does_not_parse_or_is_below_one_falls_back(monkeypatch, value):
    monkeypatch.setenv(settings.MAX_WAITING_PER_WORKSPACE, value)
    expected = 10 if value in ("many", "") else 1  # junk: the default; 0 or less: at least one
    assert settings.settings().max_waiting_per_workspace == expected


def _environment_reads(path: Path) -> list[int]:
    """Lines that read the environment: ``os.environ.get(...)``, ``os.getenv(...)``, ``os.environ[...]`` loads."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            f = node.func
            if f.attr == "getenv" or (
                f.attr == "get" and isinstance(f.value, ast.Attribute) and f.value.attr == "environ"
            ):
                lines.append(node.lineno)
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            v = node.value
            if isinstance(v, ast.Attribute) and v.attr == "environ":
                lines.append(node.lineno)
    return lines


def test_no_other_module_reads_the_environment():
    readers = {
        str(p.relative_to(PACKAGE)): _environment_reads(p) for p in PACKAGE.rglob("*.py") if p.name != "settings.py"
    }
    assert {k: v for k, v in readers.items() if v} == {}


def test_the_reader_check_sees_a_read(tmp_path):
    probe = tmp_path / "m.py"
    probe.write_text("import os\nx = os.environ.get('INCEPTION_EXPLORER_HOME')\ny = os.getenv('A')\n")
    assert _environment_reads(probe) == [2, 3]
