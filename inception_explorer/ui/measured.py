"""Measured cost on the pages (Costs, Compare): asking for a network's profile in the background
(``probes.profiling``), following it while it waits or runs, and what a finished one shows. The page never waits
for a measurement: a job is queued and measured in its own process; a polling fragment shows where it stands, with
a cancel button, and reruns the page once when it ends; its result is read back from the store, so a reload (or
another page, another session with the same network and settings) shows it again without measuring it again.
"""

from __future__ import annotations

import streamlit as st

from ..probes import QueueFull, RunStatus, profiling
from ..spec import ModelSpec
from ..store import StoreError
from .cached import store
from .session import store_problem
from .views import figure_text, md

DEVICES = ("auto", "cpu", "cuda")
#: How far along a job is, by what it is doing (a profile reports stages, not steps).
_PROGRESS = {RunStatus.QUEUED: 0.0, RunStatus.STARTING: 0.05}


def settings_row(key: str) -> tuple[int, str]:
    """The batch and device a profile is asked for with (``key`` prefixes the widgets' keys)."""
    c1, c2 = st.columns(2)
    batch = int(c1.number_input("Batch", 1, 64, 1, key=f"{key}.batch", help="Images per forward / training step."))
    device = c2.selectbox("Device", DEVICES, key=f"{key}.device", help="auto: the GPU when there is one, else the CPU.")
    return batch, device


def find(spec: ModelSpec, batch: int, device: str) -> profiling.ProfileJob | None:
    """The profile kept for ``spec`` at its own input with these settings, or None (the store's problem said)."""
    try:
        return profiling.find(store(), spec, None, batch, device)
    except StoreError as exc:
        store_problem(exc)
        return None


def request(spec: ModelSpec, label: str, batch: int, device: str, rerun: bool = False) -> profiling.ProfileJob | None:
    """Queue a profile (or get the one kept or under way); the reason on the page when it cannot be queued."""
    try:
        return profiling.submit(
            store(),
            spec,
            None,
            batch,
            device,
            label=label,
            workspace=st.session_state.get("workspace", ""),
            rerun=rerun,
        )
    except (QueueFull, StoreError) as exc:
        st.error(md(f"{label} was not queued: {exc}"))
        return None


def _progress(job: profiling.ProfileJob) -> float:
    if job.status in _PROGRESS:
        return _PROGRESS[job.status]
    return 0.5 if job.stage.startswith("timing") else 0.15


@st.fragment(run_every=1.0)
def _follow(job_ids: tuple[str, ...], key: str) -> None:
    try:
        profiling.dispatch(store())  # fail dead workers, start queued jobs whose device is free
        jobs = [profiling.ProfileLog(store()).get(i) for i in job_ids]
    except (StoreError, KeyError) as exc:
        if isinstance(exc, StoreError):
            store_problem(exc, record=False)
        return
    if all(job.is_finished for job in jobs):
        st.rerun()  # the last one ended: show its results (and stop polling)
    for job in jobs:
        left, right = st.columns([5, 1])
        left.progress(_progress(job), text=md(f"{job.label}: {job.describe()}"))
        if not job.is_finished and right.button("Cancel", key=f"{key}.cancel.{job.id}"):
            try:
                profiling.cancel(store(), job.id)
            except StoreError as exc:
                store_problem(exc, record=False)
                return
            st.rerun()


def follow(jobs: list[profiling.ProfileJob | None], key: str) -> None:
    """While any of ``jobs`` waits or runs: a line per job (where it stands, a cancel button), refreshed every
    second without rerunning the page; the page reruns once they have all ended."""
    waiting = tuple(job.id for job in jobs if job is not None and not job.is_finished)
    if waiting:
        _follow(waiting, key)


def failed(job: profiling.ProfileJob | None) -> bool:
    """Say why ``job`` ended without a result, if it did; True then."""
    if job is None or job.status not in (RunStatus.FAILED, RunStatus.CANCELLED):
        return False
    (st.error if job.status == RunStatus.FAILED else st.warning)(md(f"{job.label}: {job.describe()}"))
    return True


def shown_blocks(job: profiling.ProfileJob):
    """A finished profile's block table with the names as text for figures (plotly renders some HTML)."""
    blocks = job.blocks()
    return blocks.assign(name=[figure_text(n) for n in blocks["name"]], stage=[figure_text(s) for s in blocks["stage"]])
