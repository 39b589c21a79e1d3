"""Profiles as background work (``probes.profiling``): a job measured in a real process of its own, its result in
the store, served again for the same key; failures as failed jobs with their reason; the probes' queue discipline;
cancelling; a killed worker reaped. Runs are tiny (a quarter-width GoogLeNet at 96 px, batch 1, 2 rounds)."""

from __future__ import annotations

import os
import signal
import time

import pytest
import torch
from probe_helpers import config

from inception_explorer import settings
from inception_explorer.analysis.costs import count
from inception_explorer.probes import profiling
from inception_explorer.probes.profiling import ProfileLog
from inception_explorer.probes.records import ACTIVE, RunLog, RunStatus
from inception_explorer.probes.runner import LocalWorker, worker_token
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store

SMALL = get_preset("googlenet").with_width_multiplier(0.25)
INPUT = (3, 96, 96)
FAST = {"repeats": 2, "warmup": 1}


@pytest.fixture
def jobs_store(tmp_path, monkeypatch):
    """A store of its own; every profile it started is cancelled (its process stopped) after the test."""
    monkeypatch.setenv(settings.PROBES_PER_DEVICE, "1")
    store = Store(tmp_path / "store.sqlite")
    yield store
    log = ProfileLog(store)
    for job in log.list(statuses=(RunStatus.QUEUED, *ACTIVE)):
        profiling.cancel(store, job.id)
    deadline = time.time() + 10
    for pid in list(profiling._children):
        while profiling._children[pid].poll() is None and time.time() < deadline:
            time.sleep(0.1)
    profiling.reap(store)


def _rows(store: Store) -> int:
    return store.query("SELECT COUNT(*) FROM profiles")[0][0]


def test_a_profile_runs_in_its_own_process_and_lands_in_the_store(jobs_store):
    job = profiling.submit(jobs_store, SMALL, INPUT, batch=1, device="cpu", label="small", **FAST)
    assert job.status in (RunStatus.STARTING, RunStatus.RUNNING)  # started at once: the device was free
    job = profiling.wait(jobs_store, job.id, timeout=240)
    assert job.status == RunStatus.DONE, job.error
    worker = LocalWorker.parse(job.worker)
    assert worker is not None and worker.pid != os.getpid()  # measured in another process
    # the result, read back from the store: count()'s MACs for every block at that input, a time for each
    counted = count(SMALL.without_aux().with_input(96)).blocks
    blocks = ProfileLog(jobs_store).get(job.id).blocks()
    assert list(blocks["name"]) == list(counted["block"])
    assert list(blocks["macs"]) == list(counted["macs"])
    assert (blocks["forward_ms"] > 0).all() and (blocks["backward_ms"] > 0).all()
    assert job.result["input"] == list(INPUT) and job.result["batch"] == 1
    assert job.result["total"]["train_step_ms"] > 0
    assert "measured on cpu" in job.describe()
    # the device's yardsticks are kept, once per device
    (rate,) = jobs_store.query("SELECT macs_per_s FROM device_rates WHERE dtype = 'fp32'")[0]
    (bandwidth,) = jobs_store.query("SELECT bytes_per_s FROM device_bandwidth")[0]
    assert job.result["matmul_macs_per_s"] == rate and job.result["memory_bytes_per_s"] == bandwidth

    # the same key is served from the store: no new job, no new process
    children = dict(profiling._children)
    again = profiling.submit(jobs_store, SMALL, INPUT, batch=1, device="cpu")
    assert again.id == job.id and again.status == RunStatus.DONE and _rows(jobs_store) == 1
    assert profiling._children.keys() <= children.keys()
    assert profiling.find(jobs_store, SMALL, INPUT, 1, "cpu").id == job.id
    assert profiling.find(jobs_store, SMALL, INPUT, 2, "cpu") is None  # another batch is another key

    # another batch is measured anew, with the rates kept from the first
    other = profiling.wait(jobs_store, profiling.submit(jobs_store, SMALL, INPUT, 2, "cpu", **FAST).id, timeout=240)
    assert other.status == RunStatus.DONE, other.error
    assert other.result["matmul_macs_per_s"] == rate and other.result["memory_bytes_per_s"] == bandwidth
    assert jobs_store.query("SELECT COUNT(*) FROM device_bandwidth")[0][0] == 1
    # rerun=True measures again
    rerun = profiling.submit(jobs_store, SMALL, INPUT, 1, "cpu", rerun=True, **FAST)
    assert rerun.id != job.id


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_on_a_cpu_machine_is_a_failed_job_with_the_reason(jobs_store):
    job = profiling.submit(jobs_store, SMALL, INPUT, batch=1, device="cuda")
    assert job.status == RunStatus.FAILED
    assert "device 'cuda' was asked for but no CUDA device is available" in job.error
    assert job.describe().startswith("failed: cannot be profiled")
    assert not profiling._children or all(p.poll() is not None for p in profiling._children.values())


def test_an_input_too_small_and_a_bad_batch_are_failed_jobs_naming_the_block(jobs_store):
    job = profiling.submit(jobs_store, SMALL, (3, 8, 8), batch=1, device="cpu")
    assert job.status == RunStatus.FAILED
    assert '"maxpool3" (pool): grid collapses' in job.error
    bad = profiling.submit(jobs_store, SMALL, INPUT, batch=0, device="cpu")
    assert bad.status == RunStatus.FAILED and "batch must be a whole number from 1" in bad.error
    none = profiling.submit(jobs_store, SMALL, INPUT, batch=1, device="cpu", repeats=0)
    assert none.status == RunStatus.FAILED and "repeats must be a whole number from 1" in none.error
    assert profiling.find(jobs_store, SMALL, (3, 8, 8), 1, "cpu") is None  # nothing to show for it


def test_a_profile_waits_while_a_probe_trains_on_its_device(jobs_store):
    """One queue discipline: a probe active on the CPU holds the device (probes_per_device = 1)."""
    runs = RunLog(jobs_store)
    run = runs.create("probe", SMALL, config(5), "cpu")
    runs.claim(1)
    assert runs.start(run.id, worker_token(os.getpid()))  # "trained" by this very process: alive
    job = profiling.submit(jobs_store, SMALL, INPUT, batch=1, device="cpu", **FAST)
    profiling.dispatch(jobs_store)
    assert ProfileLog(jobs_store).get(job.id).status == RunStatus.QUEUED
    assert "waiting for the cpu" in ProfileLog(jobs_store).get(job.id).describe()
    runs.finish(run.id, RunStatus.DONE)
    assert profiling.dispatch(jobs_store) == [job.id]


def test_cancel_a_waiting_and_a_running_profile(jobs_store):
    runs = RunLog(jobs_store)
    run = runs.create("probe", SMALL, config(5), "cpu")
    runs.claim(1)
    runs.start(run.id, worker_token(os.getpid()))
    waiting = profiling.submit(jobs_store, SMALL, INPUT, batch=1, device="cpu", **FAST)
    assert profiling.cancel(jobs_store, waiting.id).status == RunStatus.CANCELLED
    runs.finish(run.id, RunStatus.DONE)

    big = profiling.submit(jobs_store, get_preset("inception_v3"), None, batch=1, device="cpu", repeats=50)
    deadline = time.time() + 60
    while ProfileLog(jobs_store).get(big.id).status != RunStatus.RUNNING and time.time() < deadline:
        time.sleep(0.1)
    worker = LocalWorker.parse(ProfileLog(jobs_store).get(big.id).worker)
    assert worker is not None and worker.alive
    cancelled = profiling.cancel(jobs_store, big.id)
    assert cancelled.status == RunStatus.CANCELLED and cancelled.error == profiling.CANCELLED_WHILE_MEASURING
    deadline = time.time() + 10
    while worker.alive and time.time() < deadline:
        time.sleep(0.1)
    assert not worker.alive  # its process was stopped


def test_a_killed_worker_is_reaped_with_how_it_ended(jobs_store):
    job = profiling.submit(jobs_store, get_preset("inception_v3"), None, batch=1, device="cpu", repeats=50)
    deadline = time.time() + 60
    while LocalWorker.parse(ProfileLog(jobs_store).get(job.id).worker) is None and time.time() < deadline:
        time.sleep(0.1)
    worker = LocalWorker.parse(ProfileLog(jobs_store).get(job.id).worker)
    os.kill(worker.pid, signal.SIGKILL)
    deadline = time.time() + 10
    while ProfileLog(jobs_store).get(job.id).is_active and time.time() < deadline:
        time.sleep(0.1)
        profiling.reap(jobs_store)
    ended = ProfileLog(jobs_store).get(job.id)
    assert ended.status == RunStatus.FAILED
    assert "the profiling process ended without finishing (killed by SIGKILL" in ended.error


def test_reading_profiles_imports_no_torch(tmp_path):
    """Like the probes' records: listing jobs and reading a result never waits for torch's import."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from inception_explorer.store import Store\n"
        "from inception_explorer.probes.profiling import ProfileLog, reap\n"
        f"store = Store({str(tmp_path / 'store.sqlite')!r})\n"
        "assert ProfileLog(store).list() == [] and reap(store) == []\n"
        "assert 'torch' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_a_probe_waits_while_a_profile_measures_on_its_device(jobs_store):
    """The other half of one queue discipline: a profile active on the CPU holds it, so a probe queued there is
    not claimed (its training would spoil the timings) until the profile ends."""
    job = profiling.submit(jobs_store, SMALL, INPUT, batch=1, device="cpu", **FAST)
    log = ProfileLog(jobs_store)
    log.claim()  # submit may have started it already; either way it is active now
    assert log.get(job.id).is_active
    runs = RunLog(jobs_store)
    run = runs.create("probe", SMALL, config(5), "cpu")
    assert runs.claim(1) == []
    assert runs.get(run.id).status == RunStatus.QUEUED
    profiling.cancel(jobs_store, job.id)
    assert [r.id for r in runs.claim(1)] == [run.id]
