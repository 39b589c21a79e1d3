"""Run records as typed values (the status enum, the summary parsed once and tolerant of older versions) and the
reporting loop that the local worker and the Ray bridge share, against a real store, without training."""

from __future__ import annotations

import dataclasses
import json
import time

import pytest

from inception_explorer.probes import ProbeConfig, ProbeSummary, RunLog, RunStatus, StepMetrics, reporting
from inception_explorer.probes.report import runs_table, side_by_side
from inception_explorer.probes.reporting import StoreReporter
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store

GOOGLENET = get_preset("googlenet")
FULL = {
    "device": "cpu",
    "device_name": "a CPU",
    "precision": "fp32",
    "channels_last": False,
    "params": 1000,
    "macs_per_image": 5000,
    "steps_done": 4,
    "steps_total": 4,
    "cancelled": False,
    "images_per_s": 20.0,
    "time_per_step": 0.2,
    "peak_memory_bytes": 3 * 2**20,
    "peak_memory_kind": "peak resident memory",
    "final_loss": 1.25,
    "train_accuracy": 0.5,
    "heldout_accuracy": 0.25,
    "achieved_macs_per_s": 3e5,
    "matmul_macs_per_s": 1e6,
    "matmul_fraction": 0.3,
}


@pytest.fixture
def runs(tmp_path) -> RunLog:
    return RunLog(Store(tmp_path / "store.sqlite"))


def _run(runs: RunLog, label: str = "v"):
    return runs.create(label, GOOGLENET, ProbeConfig.from_dict({"steps": 4, "device": "cpu"}), "cpu")


# ---- records ---------------------------------------------------------------------------------------------------


def test_statuses_are_an_enum_stored_as_the_same_text():
    assert [s.value for s in RunStatus] == ["queued", "starting", "running", "done", "failed", "cancelled"]
    assert RunStatus.DONE == "done" and f"{RunStatus.FAILED}" == "failed"


def test_a_record_reads_its_status_as_the_enum_and_the_store_keeps_the_text(runs):
    run = _run(runs)
    assert type(run.status) is RunStatus and run.status is RunStatus.QUEUED
    runs.claim(1)
    assert runs.get(run.id).status is RunStatus.STARTING
    assert runs.store.query("SELECT status FROM runs WHERE id = ?", (run.id,)) == [("starting",)]
    assert [r.id for r in runs.list(statuses=[RunStatus.STARTING])] == [run.id]


def test_a_summary_is_stored_as_json_and_read_back_typed(runs):
    run = _run(runs)
    summary = ProbeSummary.from_dict(FULL)
    assert runs.finish(run.id, RunStatus.DONE, summary)
    stored = runs.store.query("SELECT summary_json FROM runs WHERE id = ?", (run.id,))[0][0]
    assert json.loads(stored) == FULL
    back = runs.get(run.id)
    assert back.status is RunStatus.DONE and back.summary == summary and back.summary.images_per_s == 20.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        back.summary.images_per_s = 1.0


def test_a_summary_written_by_an_older_version_reads_with_none_for_what_it_lacks(runs):
    run = _run(runs)
    old = {k: v for k, v in FULL.items() if k not in ("matmul_fraction", "matmul_macs_per_s", "heldout_accuracy")}
    old["a_field_since_removed"] = 7
    with runs.store.transaction() as db:
        db.execute("UPDATE runs SET status = 'done', summary_json = ? WHERE id = ?", (json.dumps(old), run.id))
    s = runs.get(run.id).summary
    assert s.matmul_fraction is None and s.matmul_macs_per_s is None and s.heldout_accuracy is None
    assert s.images_per_s == 20.0 and s.device_name == "a CPU"
    row = runs_table([runs.get(run.id)]).iloc[0]
    assert row["images/s"] == 20.0 and row["% of matmul rate"] is None and row["held-out acc"] is None
    column = side_by_side([runs.get(run.id)], {}).iloc[:, 0]
    assert column["held-out accuracy"] == "–" and column["throughput"] == "20.0 images/s"
    assert column["device"] == "a CPU, fp32"


def test_a_run_without_a_summary_shows_empty_cells(runs):
    run = _run(runs)
    row = runs_table([run]).iloc[0]
    assert row["status"] == "queued" and row["device"] == "cpu" and row["images/s"] is None
    column = side_by_side([run], {}).iloc[:, 0]
    assert column["device"] == "cpu" and column["params"] == "–" and column["status"] == "queued"


# ---- the reporting loop ----------------------------------------------------------------------------------------


def _step(i: int) -> StepMetrics:
    return StepMetrics(i, 1.0 / i, 1.0 / i, None, 0.5, 0.01)


class _Clock:
    """A ``wait`` for ``relay``: not ended for ``rounds`` calls (sleeping a little each), then ended."""

    def __init__(self, rounds: int | None):
        self.rounds, self.calls = rounds, 0

    def __call__(self, timeout: float) -> bool:
        self.calls += 1
        if self.rounds is not None and self.calls > self.rounds:
            return True
        time.sleep(0.01)
        return False


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(reporting, "HEARTBEAT_EVERY", 0.0)
    monkeypatch.setattr(reporting, "CANCEL_GRACE", 0.2)


def test_relay_writes_every_step_and_beats_until_the_training_ends(runs, fast):
    run = _run(runs)
    runs.claim(1)
    runs.start(run.id, "test")
    before = runs.get(run.id).heartbeat
    pending = [[_step(1), _step(2)], [], [_step(3)], [_step(4)]]
    reporter = StoreReporter(runs, run.id, on_cancel=lambda: pytest.fail("nobody asked to cancel"))

    def collect():  # as the Ray bridge hands on what its task reported
        if pending:
            reporter.add_all(pending.pop(0))

    assert reporter.relay(_Clock(rounds=3), collect) is True
    assert runs.metrics([run.id])["step"].tolist() == [1, 2, 3, 4]  # the last batch came with the end
    assert runs.get(run.id).step == 4 and runs.get(run.id).heartbeat > before


def test_relay_asks_to_cancel_once_and_gives_up_after_the_grace(runs, fast):
    run = _run(runs)
    runs.claim(1)
    runs.start(run.id, "test")
    reporter = StoreReporter(runs, run.id, on_cancel=lambda: asked.append(time.monotonic()))
    asked: list[float] = []
    reporter.add(_step(1))
    runs.request_cancel(run.id)
    t = time.monotonic()
    assert reporter.relay(_Clock(rounds=None)) is False  # the training never ends by itself
    assert len(asked) == 1 and time.monotonic() - t >= 0.2
    reporter.add(_step(2))
    assert reporter.record_cancelled(reporting.CANCELLED_MID_STEP)
    done = runs.get(run.id)
    assert done.status is RunStatus.CANCELLED and done.error == reporting.CANCELLED_MID_STEP
    assert runs.metrics([run.id])["step"].tolist() == [1, 2]


def test_relay_keeps_the_steps_through_a_busy_store(runs, fast, monkeypatch):
    run = _run(runs)
    real = runs.record_steps
    failures = iter([True, True, False])

    def busy_at_first(run_id, steps):
        if steps and next(failures, False):
            raise RuntimeError("database is locked")
        real(run_id, steps)

    monkeypatch.setattr(runs, "record_steps", busy_at_first)
    reporter = StoreReporter(runs, run.id, on_cancel=lambda: None)
    reporter.add(_step(1))
    reporter.add(_step(2))
    assert reporter.relay(_Clock(rounds=4)) is True
    assert runs.metrics([run.id])["step"].tolist() == [1, 2]


def test_the_last_write_failing_is_raised_and_the_steps_stay_for_another_try(runs, monkeypatch):
    run = _run(runs)
    real = runs.record_steps
    monkeypatch.setattr(runs, "record_steps", lambda run_id, steps: (_ for _ in ()).throw(RuntimeError("locked")))
    reporter = StoreReporter(runs, run.id, on_cancel=lambda: None)
    reporter.add(_step(1))
    with pytest.raises(RuntimeError, match="locked"):
        reporter.relay(_Clock(rounds=0))
    monkeypatch.setattr(runs, "record_steps", real)
    reporter.flush()
    assert runs.metrics([run.id])["step"].tolist() == [1]
