"""Probes on a Ray cluster: a real local Ray head (CPU only) started by these tests, the real bridge process, the
real task on a Ray worker. Same store, same cancel, same results as a local run; a Ray worker that dies fails
its run and leaves the others alone; a cluster that cannot take a run says why."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import free_port
from probe_helpers import config, wait_for

from inception_explorer.errors import SpecError
from inception_explorer.probes import RunLog, RunStatus, follow, submit
from inception_explorer.probes.config import RAY_DEVICE
from inception_explorer.probes.ray_runner import ClusterError, task_options
from inception_explorer.probes.runner import check, log_path, where_probes_run
from inception_explorer.settings import RAY_ADDRESS, RAY_MAX_RUNNING
from inception_explorer.spec.presets import get_preset

pytestmark = [pytest.mark.ray, pytest.mark.slow]

GOOGLENET = get_preset("googlenet")
RAY = Path(sys.executable).with_name("ray")


@pytest.fixture(scope="module")
def ray_cluster():
    """A one-node Ray cluster with 2 CPUs and no GPU, in its own process group and temp folder; its address."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="ie-ray-", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    head = subprocess.Popen(
        [
            str(RAY),
            "start",
            "--head",
            "--block",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--num-cpus",
            "2",
            "--num-gpus",
            "0",
            "--object-store-memory",
            str(100 * 2**20),
            "--include-dashboard",
            "false",
            "--disable-usage-stats",
            "--temp-dir",
            temp,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if head.poll() is not None or time.time() > deadline:
                    pytest.fail(f"the local Ray head did not start (exit {head.poll()})")
                time.sleep(0.5)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
        subprocess.run(["pkill", "-9", "-f", temp], check=False)  # any Ray process of this cluster still about
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def on_ray(ray_cluster, monkeypatch):
    monkeypatch.setenv(RAY_ADDRESS, ray_cluster)
    monkeypatch.setenv(RAY_MAX_RUNNING, "2")
    return ray_cluster


def _log(store, run_id: str) -> str:
    path = log_path(store, run_id)
    return path.read_text(errors="replace") if path.exists() else ""


def _finish(store, run_id: str, timeout: float = 120):
    deadline = time.time() + timeout
    for run in follow(store, run_id, poll=0.2):
        assert time.time() < deadline, f"run {run_id} still {run.status} after {timeout} s; log:\n{_log(store, run_id)}"
    return run


def test_a_probe_on_ray_trains_exactly_like_a_local_one(store, on_ray, monkeypatch):
    probe = config(12, seed=7)
    remote = submit(store, GOOGLENET, probe, label="on ray")
    assert remote.device == RAY_DEVICE
    remote = _finish(store, remote.id)
    assert remote.status == RunStatus.DONE, f"{remote.error}\n{_log(store, remote.id)}"
    assert re.search(r"running on Ray node [\d.]+, pid \d+, cpu", _log(store, remote.id))

    monkeypatch.delenv(RAY_ADDRESS)
    local = _finish(store, submit(store, GOOGLENET, probe, label="local").id)
    assert local.status == RunStatus.DONE and local.device == "cpu"

    m = RunLog(store).metrics([remote.id, local.id])
    on_ray_losses = m[m.run_id == remote.id]["loss"].tolist()
    local_losses = m[m.run_id == local.id]["loss"].tolist()
    assert len(on_ray_losses) == 12 and on_ray_losses == pytest.approx(local_losses, rel=1e-6)
    assert remote.summary.steps_done == 12 and remote.summary.images_per_s > 0
    assert remote.summary.final_loss == pytest.approx(local.summary.final_loss, rel=1e-6)
    # The rate the task measured on the node is kept, as a local worker keeps its own.
    assert RunLog(store).matmul_rate(remote.summary.device_name, "fp32") == remote.summary.matmul_macs_per_s


def test_cancel_reaches_the_task_on_ray_and_keeps_its_metrics(store, on_ray):
    run = submit(store, GOOGLENET, config(2000))
    wait_for(lambda: RunLog(store).get(run.id).step >= 3, 90, "the probe on Ray to make 3 steps")
    t = time.time()
    RunLog(store).request_cancel(run.id)
    run = wait_for(lambda: (r := RunLog(store).get(run.id)).is_finished and r, 15, "the cancel to take")
    took = time.time() - t
    print(f"\ncancel on Ray took {took:.2f} s")
    assert run.status == RunStatus.CANCELLED and took < 8
    m = RunLog(store).metrics([run.id])
    assert len(m) >= 3 and m["step"].tolist() == list(range(1, len(m) + 1))
    assert run.summary is None or run.summary.cancelled


def test_a_ray_worker_that_dies_fails_its_run_and_the_other_run_goes_on(store, on_ray):
    doomed = submit(store, GOOGLENET, config(2000), label="doomed")
    other = submit(store, GOOGLENET, config(40), label="other")
    found = wait_for(
        lambda: re.search(r"running on Ray node [\d.]+, pid (\d+)", _log(store, doomed.id)),
        90,
        "the doomed probe to start on a Ray worker",
    )
    wait_for(lambda: RunLog(store).get(doomed.id).step >= 2, 60, "the doomed probe to make 2 steps")
    os.kill(int(found.group(1)), signal.SIGKILL)
    t = time.time()
    doomed = wait_for(
        lambda: (r := RunLog(store).get(doomed.id)).is_finished and r, 15, "the dead worker's run to fail"
    )
    took = time.time() - t
    print(f"\nkilled Ray worker -> run failed in {took:.2f} s: {doomed.error}")
    assert doomed.status == RunStatus.FAILED and took < 5
    assert "Ray worker" in doomed.error and "died" in doomed.error
    assert len(RunLog(store).metrics([doomed.id])) >= 2  # what it measured before it died stays
    other = _finish(store, other.id)
    assert other.status == RunStatus.DONE and other.step == 40, other.error


def test_a_cluster_without_a_gpu_refuses_a_cuda_probe_with_the_reason(store, on_ray):
    run = _finish(store, submit(store, GOOGLENET, config(5, device="cuda")).id)
    assert run.status == RunStatus.FAILED and "Ray cluster has no GPU" in run.error


def test_an_unreachable_cluster_fails_the_run_quickly_with_the_address(store, monkeypatch):
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv(RAY_ADDRESS, address)
    t = time.time()
    run = _finish(store, submit(store, GOOGLENET, config(5)).id, timeout=60)
    assert run.status == RunStatus.FAILED and f"could not reach the Ray cluster at {address}" in run.error
    assert time.time() - t < 30


def test_ray_is_chosen_by_configuration_and_devices_are_checked_before_queueing(monkeypatch):
    monkeypatch.delenv(RAY_ADDRESS, raising=False)
    assert check(GOOGLENET, config(5))[1] == "cpu" and "own process" in where_probes_run()
    monkeypatch.setenv(RAY_ADDRESS, "head.example:6379")
    assert check(GOOGLENET, config(5, device="cuda"))[1] == RAY_DEVICE  # this machine has no GPU; the cluster may
    assert "Ray cluster at head.example:6379" in where_probes_run()
    with pytest.raises(SpecError, match="device must be"):
        check(GOOGLENET, config(5, device="tpu"))


def test_task_resources_follow_the_device_setting():
    assert task_options("auto", None, 0) == ({"num_cpus": 1}, "cpu")
    assert task_options("auto", 4, 2) == ({"num_gpus": 1, "num_cpus": 4}, "cuda")
    assert task_options("cuda:1", None, 8) == ({"num_gpus": 1, "num_cpus": 1}, "cuda")
    assert task_options("cpu", 3, 8) == ({"num_cpus": 3}, "cpu")
    with pytest.raises(ClusterError, match="no GPU"):
        task_options("cuda", None, 0)
