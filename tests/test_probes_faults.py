"""Probes when things go wrong (issue 16): a store busy for longer than any heartbeat, a worker killed with nobody
looking, a store deleted under a run, requests too big for the device, paths the system cannot follow, and bad
numbers on the command line. The tests that start workers are marked slow."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from probe_helpers import StoreLock, config, supervised_worker, wait_for, worker_pids

from inception_explorer import cli
from inception_explorer.errors import SpecError
from inception_explorer.probes import DataError, ProbeConfig, QueueFull, RunLog, RunStatus, follow, reap, runner, submit
from inception_explorer.probes.data import ImageFolderData, resolve_under_root
from inception_explorer.probes.limits import available_ram, device_budget
from inception_explorer.probes.runner import check, process_alive, start_ticks
from inception_explorer.settings import (
    DATA_ROOT,
    HOME,
    MAX_WAITING,
    MAX_WAITING_PER_WORKSPACE,
    PROBE_MAX_SECONDS,
    PROBE_MAX_STEPS,
    PROBE_MEMORY_BYTES,
    PROBES_PER_DEVICE,
)
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import Store

GOOGLENET = get_preset("googlenet")
slow = pytest.mark.slow


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not process_alive(pid):
            return True
        time.sleep(0.05)
    return False


def _kill_if_alive(*pids: int | None) -> None:
    for pid in pids:
        if pid is not None and process_alive(pid):
            os.kill(pid, signal.SIGKILL)


# ---- a busy store ----------------------------------------------------------------------------------------------


@slow
def test_a_store_locked_longer_than_a_heartbeat_does_not_kill_a_healthy_probe(store, monkeypatch):
    """Another process holds the store's write lock for longer than STALE_AFTER while the app reaps: the worker's
    heartbeats go stale, but its process is alive, so it is neither killed nor failed, and finishes done."""
    monkeypatch.setattr(runner, "STALE_AFTER", 1.0)
    runs = RunLog(store)
    run = submit(store, GOOGLENET, config(300))
    wait_for(lambda: runs.get(run.id).step >= 2, 60, "a few steps")
    pid, supervisor = worker_pids(supervised_worker(runs, run.id))
    ticks = start_ticks(pid)
    silent = 0.0
    with StoreLock(store.path) as lock:
        deadline = time.monotonic() + 6 * runner.STALE_AFTER
        while time.monotonic() < deadline:
            silent = max(silent, time.time() - runs.get(run.id).heartbeat)  # reading is not blocked
            assert reap(store) == []
            assert process_alive(pid, ticks) and runs.get(run.id).status == RunStatus.RUNNING
            time.sleep(0.3)
    assert lock.held > 5 * runner.STALE_AFTER
    assert silent > 3 * runner.STALE_AFTER, "the heartbeat never went stale: the test tested nothing"
    final = list(follow(store, run.id, poll=0.2))[-1]
    assert final.status == RunStatus.DONE, final.error
    assert runs.metrics([run.id])["step"].tolist() == list(range(1, 301))  # every step written after the lock


# ---- a killed worker -------------------------------------------------------------------------------------------


@slow
def test_a_killed_worker_fails_its_run_and_the_next_starts_with_nobody_looking(store):
    """SIGKILL the worker and call nothing (no reap, no dispatch, no page): its supervisor marks the run failed with
    the signal and starts the next queued run within seconds."""
    runs = RunLog(store)
    first = submit(store, GOOGLENET, config(5000))
    second = submit(store, GOOGLENET, config(3))
    assert runs.get(second.id).status == RunStatus.QUEUED
    pid, supervisor = worker_pids(supervised_worker(runs, first.id))
    assert supervisor is not None and pid != supervisor and process_alive(supervisor)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(
        lambda: runs.get(first.id).status == RunStatus.FAILED and runs.get(second.id).status != RunStatus.QUEUED,
        5,
        "the killed run to be marked failed and the next to start",
    )
    print(f"the next run started {time.monotonic() - killed:.2f} s after SIGKILL")
    error = runs.get(first.id).error
    assert "ended without finishing" in error and "killed by SIGKILL" in error
    assert _gone(supervisor, 5)  # its work done, the supervisor exits
    final = list(follow(store, second.id, poll=0.2))[-1]
    assert final.status == RunStatus.DONE, final.error


@slow
def test_a_supervisor_is_cheap_and_in_a_session_of_its_own(store):
    runs = RunLog(store)
    run = submit(store, GOOGLENET, config(5000))
    pid, supervisor = worker_pids(supervised_worker(runs, run.id))
    assert os.getsid(supervisor) == supervisor != os.getsid(0)  # survives the server: not in its session
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
    assert int(status["PPid"]) == supervisor  # the worker is the supervisor's child: it waits on it
    maps = Path(f"/proc/{supervisor}/maps").read_text()
    assert "libtorch" not in maps and "pandas" not in maps  # it never imports torch (or pandas)
    status = dict(line.split(":", 1) for line in Path(f"/proc/{supervisor}/status").read_text().splitlines())
    rss_mb = int(status["VmRSS"].split()[0]) / 1024
    print(f"supervisor resident memory {rss_mb:.0f} MB")
    assert rss_mb < 120


# ---- a store deleted or replaced under a run -------------------------------------------------------------------


@slow
@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_store_deleted_or_replaced_stops_its_worker_and_supervisor(tmp_path, monkeypatch, how):
    monkeypatch.setenv(PROBES_PER_DEVICE, "1")
    home = tmp_path / "home"
    store = Store(home / "store.sqlite")
    runs = RunLog(store)
    run = submit(store, GOOGLENET, config(5000))
    pid = supervisor = None
    try:
        pid, supervisor = worker_pids(supervised_worker(runs, run.id))
        wait_for(lambda: runs.get(run.id).step >= 1, 60, "a step")
        if how == "deleted":
            shutil.rmtree(home)
        else:
            replacement = Store(tmp_path / "another" / "store.sqlite")
            home.rename(tmp_path / "moved away")
            home.mkdir()
            (tmp_path / "another" / "store.sqlite").rename(home / "store.sqlite")
            replacement = Store(home / "store.sqlite")
        gone_at = time.monotonic()
        assert _gone(pid, 5) and _gone(supervisor, 5), "the worker or its supervisor went on without its store"
        print(f"{how}: worker and supervisor stopped {time.monotonic() - gone_at:.2f} s later")
        if how == "deleted":
            assert not home.exists()  # nothing made anew
        else:
            assert RunLog(replacement).list() == []  # nothing written into the new store
    finally:
        _kill_if_alive(pid, supervisor)


# ---- bounds: memory, steps, time, the queue --------------------------------------------------------------------


def test_the_request_the_page_accepted_is_refused_before_anything_is_queued(store):
    """Batch 4096 at 1024 px, width 4, 100,000 steps: about 5.8 TiB of activations alone."""
    request = ProbeConfig.from_dict(
        {"steps": 100_000, "batch_size": 4096, "image_size": 1024, "width_multiplier": 4.0, "device": "auto"}
    )
    with pytest.raises(SpecError) as err:
        submit(store, GOOGLENET, request)
    text = str(err.value)
    assert PROBE_MAX_STEPS in text and "100,000 steps" in text
    assert "training needs about" in text and "TiB" in text and "more than" in text
    memory = next(p for p in err.value.problems if p.loc == "memory")
    assert "4096 images x 388,169,728" in memory.message  # the estimate says how it was made
    assert RunLog(store).list() == []  # no run row, no worker


def test_memory_is_refused_against_the_budget_setting_and_named(store, monkeypatch):
    monkeypatch.setenv(PROBE_MEMORY_BYTES, str(10 * 2**20))
    with pytest.raises(SpecError, match=rf"more than 10.0 MiB, the budget {PROBE_MEMORY_BYTES}=10485760"):
        submit(store, GOOGLENET, config(5, batch_size=64))
    assert RunLog(store).list() == []
    monkeypatch.setenv(PROBE_MEMORY_BYTES, "0")  # what the device has
    assert check(GOOGLENET, config(5, batch_size=64))[1] == "cpu"


def test_the_budget_of_the_cpu_is_the_ram_available():
    budget, what = device_budget("cpu")
    meminfo = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    available = int(meminfo["MemAvailable"].split()[0]) * 1024
    assert abs(budget - available) < 0.2 * available and "RAM available" in what and PROBE_MEMORY_BYTES in what
    assert available_ram() > 0


@slow
def test_the_memory_estimate_is_what_training_takes():
    """The estimate against the real peak of training's memory (the batch made from the synthetic set, forward,
    backward, optimizer step) in a fresh process: within a factor of 1.6 either way. The process's anonymous
    resident memory is sampled every 2 ms (the peak resident set would count torch's library pages too, which the
    system may evict under pressure from other processes)."""
    code = """
import threading, time, torch
from inception_explorer.probes import ProbeConfig
from inception_explorer.probes.data import SyntheticShapes
from inception_explorer.probes.limits import estimate_memory
from inception_explorer.probes.train import prepare_spec, train_probe
from inception_explorer.spec.presets import get_preset

torch.set_num_threads(1)
config = ProbeConfig.from_dict({"steps": 2, "batch_size": 32, "image_size": 224, "width_multiplier": 0.25,
    "warmup_steps": 0, "device": "cpu", "data": {"heldout": 8}, "recipe": {"aux_heads": False}})
spec = prepare_spec(get_preset("googlenet"), config, 10)
data = SyntheticShapes(10, 224)

def anon():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("RssAnon:"))

peak, done = [0], threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anon())
        time.sleep(0.002)

base = anon()
sampler = threading.Thread(target=sample)
sampler.start()
train_probe(spec, config, data, torch.device("cpu"), matmul_rate=1e10)
done.set()
sampler.join()
print(estimate_memory(spec, config, "cpu").device, peak[0] - base)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    estimated, measured = map(int, out.stdout.split())
    print(f"estimated {estimated / 2**20:.0f} MiB, measured {measured / 2**20:.0f} MiB")
    assert measured / 1.6 < estimated < measured * 1.6


def test_steps_beyond_the_setting_are_refused_with_its_name(store, monkeypatch):
    monkeypatch.setenv(PROBE_MAX_STEPS, "10")
    with pytest.raises(SpecError, match=rf"11 steps are more than the 10 a probe may train \({PROBE_MAX_STEPS}\)"):
        submit(store, GOOGLENET, config(11))
    assert RunLog(store).list() == []
    check(GOOGLENET, config(10))


def test_the_queue_is_capped_for_the_whole_server_not_only_per_workspace(store, monkeypatch):
    """New workspaces are free to make: the server-wide cap holds however many there are."""
    monkeypatch.setenv(MAX_WAITING, "3")
    monkeypatch.setenv(MAX_WAITING_PER_WORKSPACE, "2")
    runs = RunLog(store)
    for _ in range(2):
        runs.create("a", GOOGLENET, config(3), "cpu", workspace="first-workspace-0001")
    with pytest.raises(QueueFull, match=rf"the limit is 2, {MAX_WAITING_PER_WORKSPACE}"):
        runs.create("a", GOOGLENET, config(3), "cpu", workspace="first-workspace-0001")
    runs.create("b", GOOGLENET, config(3), "cpu", workspace="another-workspace-0001")
    with pytest.raises(QueueFull, match=rf"3 probes are already waiting or running on this server .*{MAX_WAITING}\)"):
        runs.create("c", GOOGLENET, config(3), "cpu", workspace="yet-another-workspace")
    assert len(runs.list()) == 3
    runs.request_cancel(runs.list()[0].id)  # one fewer waiting: room again
    runs.create("c", GOOGLENET, config(3), "cpu", workspace="yet-another-workspace")


@slow
def test_a_probe_stops_itself_at_its_time_limit_and_keeps_its_metrics(store, monkeypatch):
    monkeypatch.setenv(PROBE_MAX_SECONDS, "6")
    runs = RunLog(store)
    run = submit(store, GOOGLENET, config(5000))
    final = list(follow(store, run.id, poll=0.2))[-1]
    assert final.status == RunStatus.CANCELLED and final.error.startswith("time limit: stopped at 6 s"), final.error
    assert PROBE_MAX_SECONDS in final.error
    assert 6 <= final.finished - final.started < 6 + 5
    assert 1 <= final.summary.steps_done < 5000 and len(runs.metrics([run.id])) == final.summary.steps_done


@slow
def test_a_worker_that_cannot_stop_itself_is_killed_by_its_supervisor_after_the_limit(store, monkeypatch):
    from inception_explorer.probes.supervise import HARD_LIMIT_GRACE

    monkeypatch.setenv(PROBE_MAX_SECONDS, "2")
    runs = RunLog(store)
    run = submit(store, GOOGLENET, config(5000))
    pid, supervisor = worker_pids(supervised_worker(runs, run.id))
    try:
        os.kill(pid, signal.SIGSTOP)  # frozen: its own time limit can never act
        wait_for(lambda: runs.get(run.id).is_finished, 2 + HARD_LIMIT_GRACE + 15, "the supervisor's time limit")
        failed = runs.get(run.id)
        assert failed.status == RunStatus.FAILED and failed.error.startswith("time limit: the worker was still running")
        assert _gone(pid, 5)
    finally:
        _kill_if_alive(pid)


# ---- paths the system cannot follow ----------------------------------------------------------------------------


def test_paths_too_long_or_looping_are_refused_in_one_line(tmp_path):
    root = tmp_path / "root"
    (root / "set" / "a").mkdir(parents=True)
    (root / "loop").symlink_to("loop")
    (root / "ping").symlink_to("pong")
    (root / "pong").symlink_to("ping")
    cases = {
        "x" * 300: "longer than the system allows",
        "a/" * 150 + "b": "not a folder",  # 301 characters of short names: just not there
        "x/" * 600: "at most 1,024 are allowed",
        "loop": "symlink loop",
        "ping": "symlink loop",
        "loop/inside": "symlink loop",
        "set/../loop": "symlink loop",
    }
    for path, words in cases.items():
        with pytest.raises(DataError, match=words) as err:
            resolve_under_root(path, root)
        assert "\n" not in str(err.value) and len(str(err.value)) < 400
        with pytest.raises(DataError, match=words):
            ImageFolderData(path, image_size=8, root=root)


def test_loops_inside_an_image_folder_are_skipped(tmp_path):
    from PIL import Image

    root = tmp_path / "root"
    for c in "ab":
        (root / "set" / c).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (10, 20, 30)).save(root / "set" / c / f"{i}.png")
    (root / "set" / "a" / "loop.png").symlink_to("loop.png")
    (root / "set" / "c").symlink_to("c")
    (root / "set" / "up").symlink_to("..")
    data = ImageFolderData("set", image_size=8, root=root)
    assert data.class_names == ["a", "b"] and len(data.train) + len(data.held) == 6


# ---- the command line ------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path, monkeypatch):
    monkeypatch.setenv(HOME, str(tmp_path / "home"))
    monkeypatch.setenv(DATA_ROOT, str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "loop").symlink_to("loop")
    return tmp_path


def _main(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse's errors
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["runs", "--limit", "999999999999999999999"], "--limit: must be from 1 to 100,000"),
        (["runs", "--limit", "0"], "--limit: must be from 1 to 100,000, got 0"),
        (["runs", "--limit", "-5"], "--limit: must be from 1 to 100,000"),
        (["runs", "--limit", "many"], "--limit: must be a whole number"),
        (["probe", "googlenet", "--data", ""], "give a folder under the data root"),
        (["probe", "googlenet", "--data", "loop"], "symlink loop"),
        (["probe", "googlenet", "--data", "x" * 300], "longer than the system allows"),
        (["probe", "googlenet", "--steps", "many"], "--steps: invalid int value"),
        (["cancel"], "required: run_id"),
    ],
)
def test_bad_probe_arguments_are_one_line_and_exit_2(cli_env, capsys, argv, words):
    code, err = _main(capsys, *argv)
    assert code == 2 and err.startswith("error:") and words in err, (code, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (cli_env / "home" / "runs").exists()  # nothing was queued or started


@slow
def test_a_huge_limit_is_one_line_and_exit_2_from_the_real_command(cli_env):
    result = subprocess.run(
        [sys.executable, "-m", "inception_explorer", "runs", "--limit", "999999999999999999999"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
    )
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "OverflowError" not in result.stderr and "--limit" in result.stderr
