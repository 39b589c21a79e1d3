"""Reading probe runs never imports torch: the records, the reports and the CLI's ``runs`` and ``cancel``, each
checked in a fresh interpreter (this test process has torch loaded already)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from inception_explorer.probes import ProbeConfig, ProbeSummary, RunLog, RunStatus
from inception_explorer.settings import HOME
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store

pytestmark = pytest.mark.slow  # fresh interpreters

ROOT = Path(__file__).resolve().parents[1]


def _fresh_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=120,
    )


def _store_with_runs(home: Path) -> tuple[str, str]:
    """A store with a finished run (and its summary and metrics) and a queued one; their ids."""
    runs = RunLog(Store(home / "store.sqlite"))
    config = ProbeConfig.from_dict({"steps": 3, "device": "cpu"})
    done = runs.create("finished one", get_preset("googlenet"), config, "cpu")
    waiting = runs.create("waiting one", get_preset("inception_v3"), config, "cpu")
    summary = ProbeSummary.from_dict(
        {
            "device": "cpu",
            "device_name": "some CPU",
            "precision": "fp32",
            "steps_done": 3,
            "steps_total": 3,
            "cancelled": False,
            "images_per_s": 12.5,
        }
    )
    runs.finish(done.id, RunStatus.DONE, summary)
    return done.id, waiting.id


def test_listing_runs_and_their_tables_does_not_import_torch(tmp_path):
    done, waiting = _store_with_runs(tmp_path)
    result = _fresh_python(f"""
        import sys
        from inception_explorer.probes import RunLog
        from inception_explorer.probes.report import metrics_csv, runs_table, side_by_side
        from inception_explorer.store import Store

        runs = RunLog(Store({str(tmp_path / "store.sqlite")!r}))
        listed = runs.list()
        assert [r.id for r in listed] == [{waiting!r}, {done!r}], listed
        table = runs_table(listed, {{r.id: runs.queue_position(r) for r in listed}})
        assert list(table["status"]) == ["queued (1 in line)", "done"], table["status"]
        assert table["images/s"].tolist()[1] == 12.5
        side_by_side(listed, {{}})
        metrics_csv(listed, runs.metrics([r.id for r in listed]))
        assert "torch" not in sys.modules, "reading runs imported torch"
        print("ok")
    """)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_the_cli_runs_and_cancel_commands_do_not_import_torch(tmp_path):
    done, waiting = _store_with_runs(tmp_path)
    result = _fresh_python(
        f"""
        import sys
        from inception_explorer import cli

        assert cli.main(["runs"]) == 0
        assert cli.main(["runs", "--json"]) == 0
        assert cli.main(["cancel", {waiting!r}]) == 0
        assert "torch" not in sys.modules, "the CLI's runs / cancel imported torch"
        print("ok")
    """,
        **{HOME: str(tmp_path)},
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr
    assert "finished one" in result.stdout and "waiting one" in result.stdout
    assert f"run {waiting}: cancelled" in result.stdout
    assert RunLog(Store(tmp_path / "store.sqlite")).get(waiting).status == RunStatus.CANCELLED


def test_the_cli_runs_command_on_an_empty_store_does_not_import_torch(tmp_path):
    result = _fresh_python(
        """
        import sys
        from inception_explorer import cli

        assert cli.main(["runs"]) == 0
        assert "torch" not in sys.modules
        print("ok")
    """,
        **{HOME: str(tmp_path)},
    )
    assert result.returncode == 0 and "no probe runs in" in result.stdout and result.stdout.strip().endswith("ok"), (
        result.stderr
    )
