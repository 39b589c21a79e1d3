"""``exercises`` lists the exercises; ``check EXERCISE_ID <preset | spec.json>`` checks a network against one.

``check`` runs an exercise's probe checks here and now (a few seconds each on a CPU). Exit status: 0 when every
check passes, 1 when one fails, 2 on bad input (an unknown exercise, a file that is not a spec or not an exercise
file), with one line on stderr.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .common import UsageError, read_source

# The exercises package is imported inside the commands: it counts with torch, and `runs` / `cancel` (this
# module is part of every command's parser) must start without torch (tests/test_probes_torch_free.py).


def _extra(path: str | None):
    from ..exercises import ExerciseError, load_exercises
    from ..exercises.schema import MAX_EXERCISE_BYTES

    """The exercises of an instructor's file (``--exercises FILE``), or none."""
    if path is None:
        return []
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--exercises: {path!r} is not a file")
    with file.open("rb") as f:
        data = f.read(MAX_EXERCISE_BYTES + 1)
    try:
        return load_exercises(data)
    except ExerciseError as exc:
        raise ExerciseError(f"{file.name}: {exc}") from None


def cmd_exercises(args: argparse.Namespace) -> int:
    from ..exercises import builtin_exercises

    found = [*_extra(args.exercises), *builtin_exercises()]
    found = list({e.id: e for e in reversed(found)}.values())[::-1]  # an instructor's id hides a built-in's
    if args.json:
        rows = [{"id": e.id, "title": e.title, "start": _start_text(e), "checks": len(e.checks)} for e in found]
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(e.id) for e in found)
    for e in found:
        print(f"{e.id:<{width}}  {e.title}  ({len(e.checks)} checks; starts from {_start_text(e)})")
    return 0


def _start_text(exercise) -> str:
    start = exercise.start
    if start.preset:
        return start.preset
    if start.published:
        return "a published copy"
    return str(start.spec.get("name", "an inline network"))


def cmd_check(args: argparse.Namespace) -> int:
    from ..exercises import get_exercise, run_probe_checks

    exercise = get_exercise(args.exercise_id, _extra(args.exercises))
    spec = read_source(args.source)
    report = run_probe_checks(exercise, spec, device=args.device)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
    else:
        print(f"{exercise.id}: {exercise.title}, on {spec.name}")
        for c in report.checks:
            mark = {True: "pass", False: "FAIL", None: "----"}[c.passed]
            print(f"  [{mark}] {c.name}: {_value_text(c.value)} (wanted {c.bound})")
            if c.detail and c.passed is not True:
                print(f"         {c.detail}")
            if c.passed is False and c.hint:
                print(f"         hint: {c.hint}")
        done = sum(c.passed is True for c in report.checks)
        print(f"{done} of {len(report.checks)} checks pass" + (": done." if report.passed else "."))
    return 0 if report.passed else 1


def _value_text(value) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)


def add_commands(sub, one_line_errors) -> None:
    p = sub.add_parser("exercises", help="list the guided exercises (built in, and an instructor's file)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {id, title, start, checks}")
    p.add_argument("--exercises", help="an instructor's exercise file (JSON: one exercise or a list)")
    p.set_defaults(func=cmd_exercises)
    one_line_errors(p)
    p = sub.add_parser("check", help="check a network against an exercise (probe checks train here)")
    p.add_argument("exercise_id", help="an exercise id (see `exercises`)")
    p.add_argument("source", help="a preset name or a spec .json file")
    p.add_argument("--json", action="store_true", help='print {"passed": ..., "checks": [...]}')
    p.add_argument("--exercises", help="an instructor's exercise file (JSON: one exercise or a list)")
    p.add_argument("--device", default="cpu", help="where probe checks train: cpu (default), auto, cuda, cuda:N")
    p.set_defaults(func=cmd_check)
    one_line_errors(p)
