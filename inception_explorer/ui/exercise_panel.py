"""The exercise being worked on, its checks on a network, compactly: for the Exercises page and for beside the Build
workbench (``exercise_panel(spec_json, key=...)``), so that the checks update as the student edits.

Each check is one line: passes / fails / not run yet (a probe check before its probes), its name, the measured
value and the bound, with what was measured in detail behind its help icon; a failing check's hint (the page and
the paper's section that help) under it. Names, values
and hints are shown as text (``views.md``): an instructor's file could hold anything.
"""

from __future__ import annotations

import streamlit as st

from ..exercises import CheckResult, Exercise, ExerciseReport
from .room import ICONS, active_exercise, keep_progress, report, value_text
from .views import md

COLOURS = {True: "green", False: "red", None: "gray"}


def check_line(check: CheckResult) -> str:
    """One check as a Markdown line: icon, name, measured value, bound (everything typed shown as text)."""
    icon = f":{COLOURS[check.passed]}[{ICONS[check.passed]}]"
    return f"{icon} **{md(check.name)}**: {md(value_text(check.value))} (needs {md(check.bound)})"


def summary(result: ExerciseReport) -> str:
    """ "2 of 3 checks pass", counting the required checks; a check shown for information only is said apart."""
    required = [c for c in result.checks if c.required]
    passed = sum(c.passed is True for c in required)
    waiting = sum(c.passed is None for c in required)
    text = f"{passed} of {len(required)} checks pass"
    text += f", {waiting} not run yet" if waiting else ""
    extra = len(result.checks) - len(required)
    text += f" ({extra} more shown for information, not required)" if extra else ""
    return text + (": solved" if result.passed else "")


def show_checks(result: ExerciseReport, *, hints: bool = True) -> None:
    """The checks of ``result``, one line each; the hint of each check that does not pass, if ``hints``."""
    for check in result.checks:
        st.markdown(check_line(check), help=md(check.detail) if check.detail else None)
        if hints and check.passed is not True and check.hint:
            st.caption(md(f"Hint: {check.hint}"))


def exercise_checks(exercise: Exercise, spec_json: str, *, hints: bool = True) -> ExerciseReport | None:
    """``exercise``'s checks on ``spec_json``, shown (and the workspace's progress kept); returns the report."""
    result = report(exercise, spec_json)
    if result is None:
        return None
    keep_progress(exercise.id, result)
    st.markdown(f"**{md(exercise.title)}**: {summary(result)}")
    show_checks(result, hints=hints)
    return result


def exercise_panel(spec_json: str, *, key: str) -> None:
    """The active exercise's checks on the network ``spec_json``, compactly (hints behind a toggle keyed
    ``{key}.hints``); a pointer to the Exercises page when no exercise is open."""
    exercise = active_exercise()
    with st.container(border=True, key=f"{key}.panel"):
        if exercise is None:
            st.caption("No exercise open: pick one on the Exercises page.")
            st.page_link("pages/exercises_page.py", label="Exercises", icon=":material/task_alt:")
            return
        hints = st.toggle("Hints", key=f"{key}.hints")
        exercise_checks(exercise, spec_json, hints=hints)
