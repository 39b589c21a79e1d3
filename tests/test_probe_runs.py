"""Probe runs as real worker processes: the store, the queue, cancel, dead workers, restarts and the CLI."""

import os
import signal
import subprocess
import sys
import time

import pytest
from probe_helpers import config, wait_for

from inception_explorer.errors import SpecError
from inception_explorer.probes import ACTIVE, DataError, RunLog, RunStatus, follow, reap, submit
from inception_explorer.settings import DATA_ROOT, HOME, MAX_WAITING_PER_WORKSPACE
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store

pytestmark = pytest.mark.slow  # each test trains probes in worker processes

GOOGLENET = get_preset("googlenet")


def worker_pid(run) -> int:
    return int(run.worker.split(":")[2])


def test_a_probe_runs_in_its_own_process_to_done_and_survives_a_new_store(store):
    run = submit(store, GOOGLENET, config(8), label="my googlenet")
    assert run.status in ACTIVE and run.worker.startswith("local:")
    assert worker_pid(run) != os.getpid()
    assert os.getsid(worker_pid(run)) != os.getsid(0)  # its own session: not in the server's process group
    final = list(follow(store, run.id, poll=0.2))[-1]
    assert final.status == RunStatus.DONE, final.error
    again = RunLog(Store(store.path))  # a new connection, as after a server restart
    run = again.get(run.id)
    assert run.status == RunStatus.DONE and run.label == "my googlenet" and run.step == 8
    m = again.metrics([run.id])
    assert m["step"].tolist() == list(range(1, 9))
    assert m["loss"].notna().all() and (m["loss"] > 0).all()
    s = run.summary
    assert s.steps_done == 8 and s.images_per_s > 0 and s.peak_memory_bytes > 0
    assert 0 < s.matmul_fraction < 1.5 and again.matmul_rate(s.device_name, "fp32") == s.matmul_macs_per_s
    # the snapshot is what was trained, whatever happens to the variant later
    assert run.spec.input_size == (32, 32) and run.spec.num_classes == 4 and run.config.steps == 8


def test_a_bad_probe_is_refused_before_it_is_queued(store, tmp_path, monkeypatch):
    with pytest.raises(SpecError, match="does not fit"):
        submit(store, GOOGLENET, config(5, recipe={"aux_heads": True}))
    monkeypatch.setenv(DATA_ROOT, str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    with pytest.raises(DataError, match="outside the data root"):
        submit(store, GOOGLENET, config(5, data={"source": "folder", "folder": "../.."}))
    assert RunLog(store).list() == []


def test_the_queue_runs_one_probe_per_device_in_order_and_says_where_each_waits(store):
    runs = RunLog(store)
    first = submit(store, GOOGLENET, config(400))
    second = submit(store, GOOGLENET, config(3))
    third = submit(store, GOOGLENET, config(3))
    assert runs.get(second.id).status == RunStatus.QUEUED and runs.get(third.id).status == RunStatus.QUEUED
    assert runs.queue_position(runs.get(second.id)) == 1 and runs.queue_position(runs.get(third.id)) == 2
    assert runs.queue_position(runs.get(first.id)) is None
    runs.request_cancel(third.id)  # a queued run is cancelled at once
    assert runs.get(third.id).status == RunStatus.CANCELLED
    wait_for(lambda: runs.get(first.id).step > 0, 60, "the first run to make a step")
    runs.request_cancel(first.id)
    # the first worker exits and starts the next queued run itself: nobody else dispatches here
    wait_for(lambda: runs.get(second.id).status != RunStatus.QUEUED, 30, "the second run to leave the queue")
    final = list(follow(store, second.id, poll=0.2))[-1]
    assert final.status == RunStatus.DONE and runs.get(first.id).status == RunStatus.CANCELLED
    assert runs.get(first.id).started < runs.get(second.id).started


def test_cancel_stops_a_running_probe_within_seconds_and_keeps_its_metrics(store):
    runs = RunLog(store)
    run = submit(store, GOOGLENET, config(5000))
    wait_for(lambda: runs.get(run.id).step >= 3, 60, "a few steps")
    asked = time.time()
    runs.request_cancel(run.id)
    wait_for(lambda: runs.get(run.id).status == RunStatus.CANCELLED, 5, "the cancel")
    took = time.time() - asked
    print(f"cancel took {took:.2f} s")
    done = runs.get(run.id)
    assert took < 5 and done.summary.cancelled and 3 <= done.summary.steps_done < 5000
    assert len(runs.metrics([run.id])) == done.summary.steps_done


def test_a_killed_worker_is_marked_failed_with_the_reason(store):
    runs = RunLog(store)
    run = submit(store, GOOGLENET, config(5000))
    wait_for(lambda: runs.get(run.id).status == RunStatus.RUNNING, 60, "the run to start")
    os.kill(worker_pid(runs.get(run.id)), signal.SIGKILL)
    killed = time.time()
    wait_for(lambda: reap(store) or runs.get(run.id).status == RunStatus.FAILED, 5, "the dead run to be marked")
    print(f"marked failed {time.time() - killed:.2f} s after SIGKILL")
    assert "killed by SIGKILL" in runs.get(run.id).error


def test_a_run_that_stops_reporting_is_marked_failed(store):
    """A worker on another machine (or hung) is judged by its heartbeat alone."""
    runs = RunLog(store)
    run = runs.create("ghost", GOOGLENET, config(5), "cpu")
    runs.claim(1)
    runs.start(run.id, "local:some-other-host:4242:1")
    with store.transaction() as db:
        db.execute("UPDATE runs SET heartbeat = ? WHERE id = ?", (time.time() - 600, run.id))
    assert reap(store) == [run.id]
    assert "stopped reporting" in runs.get(run.id).error


def test_a_run_whose_process_is_gone_after_a_restart_is_marked_failed(store):
    """After a server (or machine) restart the worker pid is gone, or belongs to another process now."""
    runs = RunLog(store)
    run = runs.create("orphan", GOOGLENET, config(5), "cpu")
    runs.claim(1)
    import socket

    runs.start(run.id, f"local:{socket.gethostname()}:{os.getpid()}:1")  # our pid, but another start time
    assert reap(store) == [run.id]
    assert "ended without finishing" in runs.get(run.id).error


def cli(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "inception_explorer", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_the_cli_trains_a_probe_lists_it_and_refuses_bad_input(tmp_path):
    env = {**os.environ, HOME: str(tmp_path / "home"), DATA_ROOT: str(tmp_path)}
    r = cli(
        "probe",
        "googlenet",
        "--steps",
        "5",
        "--image-size",
        "32",
        "--batch",
        "4",
        "--width",
        "0.125",
        "--no-aux",
        "--classes",
        "4",
        "--device",
        "cpu",
        "--threads",
        "1",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert ": done" in r.stdout and "throughput" in r.stdout and "held-out accuracy" in r.stdout
    listed = cli("runs", env=env)
    assert listed.returncode == 0 and "googlenet" in listed.stdout and "done" in listed.stdout
    bad = cli("probe", "googlenet", "--data", "../../etc", env=env)
    assert bad.returncode == 2 and "outside the data root" in bad.stderr and "Traceback" not in bad.stderr
    bad = cli("probe", "googlenet", "--image-size", "32", "--aux", env=env)
    assert bad.returncode == 2 and "does not fit" in bad.stderr
    bad = cli("probe", "googlenet", "--steps", "0", env=env)
    assert bad.returncode == 2 and "steps" in bad.stderr


def test_fair_order_is_round_robin_over_workspaces():
    from inception_explorer.probes.records import fair_order

    queued = [("a1", "A", 1), ("a2", "A", 2), ("a3", "A", 3), ("b1", "B", 4), ("c1", "C", 5), ("b2", "B", 6)]
    # A was served a moment ago, B long ago, C never: C first, then B, then A, and round again
    assert fair_order(queued, {"A": 200.0, "B": 100.0}) == ["c1", "b1", "a1", "b2", "a2", "a3"]
    assert fair_order([("x", "", 2), ("y", "", 1)], {}) == ["y", "x"]  # one workspace: first come, first served


def test_the_queue_serves_workspaces_in_turn_and_limits_each(store, monkeypatch):
    from inception_explorer.probes import QueueFull

    monkeypatch.setenv(MAX_WAITING_PER_WORKSPACE, "3")
    runs = RunLog(store)
    a = [runs.create("a", GOOGLENET, config(3), "cpu", workspace="alice") for _ in range(3)]
    with pytest.raises(QueueFull, match="limit is 3"):
        runs.create("a", GOOGLENET, config(3), "cpu", workspace="alice")
    b = runs.create("b", GOOGLENET, config(3), "cpu", workspace="bob")
    assert [runs.queue_position(runs.get(r.id)) for r in (*a, b)] == [1, 3, 4, 2]  # bob's first run jumps alice's queue
    first = runs.claim(1)
    assert [r.id for r in first] == [a[0].id]
    assert runs.queue_position(runs.get(b.id)) == 1  # alice was just served: bob is next
