"""The exercises layer: guided exercises as data, checked by the package on the student's network.

May import: pydantic, the standard library, and the package's ``errors``, ``settings``, ``spec``, ``nn``,
``store``, ``analysis``, ``editing``, ``probes`` and ``rooms``. Not ``ui`` or ``cli``, and never Streamlit.

An exercise (``schema.Exercise``) is an id, a title, instructions (markdown citing [G] / [R]), a starting network
(a preset, a published copy, or a spec written inline) and declarative checks: totals (MACs or parameters within
bounds, or a fraction of the start's), a named block's kind / fields / output, the network's own fields, findings
(no violation of principle N, no finding of rule R), validity at an input size and the smallest valid input, stage
shares against the start's, [G] Table 1's rows, and probes (the student's network against the start on the
built-in data). ``builtin/*.json`` are the built-in exercises; an instructor's file loads with ``load_exercises``.

Modules: ``schema`` (the models, ``load_exercises``, ``ExerciseError``) <- ``checks`` (one evaluator per kind,
``CheckResult``) <- this module (the API the pages and the CLI call).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from ..errors import SpecError
from ..spec import ModelSpec, validate
from ..spec.presets import get_preset
from .checks import CheckResult, Context, check_name, evaluate_check, probe_labels, probe_value, smallest_input
from .schema import CHECK_KINDS, Exercise, ExerciseError, ProbeCheck, load_exercises, parse_exercise

if TYPE_CHECKING:
    from ..probes import ProbeConfig
    from ..store import Store

__all__ = [
    "CHECK_KINDS",
    "CheckResult",
    "Exercise",
    "ExerciseError",
    "ExerciseReport",
    "builtin_exercises",
    "check_name",
    "evaluate",
    "get_exercise",
    "load_exercises",
    "probe_plan",
    "probe_value",
    "run_probe_checks",
    "smallest_input",
    "starting_spec",
]


@dataclass
class ExerciseReport:
    """Every check of one exercise on one network, in the exercise's order."""

    exercise_id: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when every required check passed (a check not yet evaluated, ``passed is None``, is not a pass;
        a check with ``required: false`` is shown but does not count)."""
        required = [c for c in self.checks if c.required]
        return bool(required) and all(c.passed is True for c in required)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [c.to_dict() for c in self.checks]}


@lru_cache(maxsize=1)
def _builtin() -> tuple[Exercise, ...]:
    folder = resources.files(__package__) / "builtin"
    out = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".json"):
            try:
                data = json.loads(entry.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ExerciseError(f"builtin/{entry.name}: not JSON: {exc}") from None
            out.append(parse_exercise(data, f"builtin/{entry.name}"))
    return tuple(sorted(out, key=lambda e: (_ORDER.get(e.id, len(_ORDER)), e.id)))


#: The built-ins in teaching order (module costs, factorizations, whole networks, probes); others after them.
_ORDER = {
    name: i
    for i, name in enumerate(
        (
            "naive-module-cost",
            "bottleneck-module-cost",
            "ng-5x5-bottleneck",
            "factorize-5x5",
            "asymmetric-3x3",
            "two-2x2",
            "table1-rows",
            "googlenet-min-input",
            "googlenet-28px",
            "cut-googlenet-macs-20",
            "fit-v3-budget",
            "ladder-probe",
        )
    )
}


def builtin_exercises() -> list[Exercise]:
    """The exercises shipped in ``inception_explorer/exercises/builtin/``, in teaching order."""
    return list(_builtin())


def get_exercise(exercise_id: str, extra: Iterable[Exercise] = ()) -> Exercise:
    """The exercise with this id, among ``extra`` (an instructor's, looked at first) and the built-ins; KeyError
    naming the known ids otherwise."""
    known = [*extra, *_builtin()]
    for exercise in known:
        if exercise.id == exercise_id:
            return exercise
    ids = ", ".join(dict.fromkeys(e.id for e in known))
    raise KeyError(f"unknown exercise {str(exercise_id)[:64]!r}; choose one of: {ids}")


def starting_spec(exercise: Exercise, store: Store | None = None) -> ModelSpec:
    """The network ``exercise`` opens with. A published copy is read through ``store``; ValueError without one,
    KeyError when the store has no copy under the token."""
    start = exercise.start
    if start.preset is not None:
        spec = get_preset(start.preset)
    elif start.spec is not None:
        spec = _inline_spec(json.dumps(start.spec, sort_keys=True))
    else:
        if store is None:
            raise ValueError(f"exercise {exercise.id!r} starts from a published copy: pass the store that holds it")
        spec = store.load_published(start.published).spec
    if start.without_aux:
        spec = spec.without_aux()
    if start.input_size is not None or start.num_classes is not None:
        spec = spec.with_input(start.input_size, start.num_classes)
    return validate(spec)


@lru_cache(maxsize=64)
def _inline_spec(text: str) -> ModelSpec:
    return ModelSpec.from_dict(json.loads(text))


def evaluate(
    exercise: Exercise,
    spec: ModelSpec,
    *,
    probe_results: Mapping[str, Any] | None = None,
    store: Store | None = None,
    start: ModelSpec | None = None,
) -> ExerciseReport:
    """Every check of ``exercise`` on ``spec``: counts, shapes and findings, no training. A probe check gets
    ``passed=None`` unless ``probe_results`` holds its two runs (keys: ``probe_plan``'s labels; values: the check's
    figure, or the run's ``ProbeSummary``). ``start`` (or ``store``, for a published start) gives the start when
    the caller has it already."""
    start = start if start is not None else starting_spec(exercise, store=store)
    ctx = Context(spec, start, probe_results or {})
    return ExerciseReport(exercise.id, [evaluate_check(c, ctx, i) for i, c in enumerate(exercise.checks)])


def probe_plan(
    exercise: Exercise, spec: ModelSpec, *, store: Store | None = None, device: str = "auto"
) -> list[tuple[str, ModelSpec, ProbeConfig]]:
    """The probe runs ``exercise``'s probe checks need, as (label, network, recipe): for each probe check, the
    student's network with the check's recipe and the starting network with its start recipe (same steps, data,
    seed and size). The labels are the keys ``evaluate`` reads from ``probe_results``."""
    plan = []
    start = None
    for i, check in enumerate(exercise.checks):
        if not isinstance(check, ProbeCheck):
            continue
        start = start if start is not None else starting_spec(exercise, store=store)
        mine, theirs = probe_labels(i, check)
        plan.append((mine, spec, check.config("recipe", device, spec)))
        plan.append((theirs, start, check.config("start_recipe", device, start)))
    return plan


def run_probe_checks(
    exercise: Exercise, spec: ModelSpec, *, store: Store | None = None, device: str = "auto"
) -> ExerciseReport:
    """``evaluate`` with every probe of ``probe_plan`` trained here and now, one after another (the CLI's
    ``check``). A network that cannot be trained at the probe's size fails its check, saying why; a run that fails
    while training raises (``ProbeFailed``: out of memory, a loss that stopped being finite)."""
    from ..nn.devices import resolve_device
    from ..probes.data import make_dataset
    from ..probes.train import prepare_spec, train_probe

    results: dict[str, Any] = {}
    for label, network, config in probe_plan(exercise, spec, store=store, device=device):
        try:
            prepared = prepare_spec(network, config, config.data.num_classes)
        except SpecError as exc:  # e.g. a grid that collapses at the probe's image size: the check fails, saying so
            results[label] = exc
            continue
        dataset = make_dataset(config.data, config.image_size, config.seed, channels=prepared.in_channels)
        results[label] = train_probe(prepared, config, dataset, resolve_device(config.device))
    return evaluate(exercise, spec, probe_results=results, store=store)
