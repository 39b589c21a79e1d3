"""Evaluating an exercise's checks on a network: one function per check kind, ``(check, ctx) -> CheckResult``,
listed in one table (``EVALUATORS``), as ``analysis.principles`` lists its checks.

Counts come from ``analysis.costs.count`` (memoized: a recount after an edit traces only what changed), so every
figure a check reports is the one the app's pages show; MACs are multiply-adds, one image, eval mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from typing import Any

from ..analysis.costs import CostReport, count
from ..analysis.findings import SEVERITIES, Finding
from ..analysis.principles import check as principle_findings
from ..analysis.reference import GOOGLENET_TABLE1 as TABLE1_ROWS
from ..analysis.reference import googlenet_table1
from ..errors import SpecError
from ..spec import ModelSpec, infer_shapes, validate
from ..spec.presets import GOOGLENET_TABLE1 as TABLE1_WIDTHS
from .schema import (
    BlockCheck,
    FindingsCheck,
    MinInputCheck,
    NetworkCheck,
    ProbeCheck,
    StageSharesCheck,
    Table1Check,
    TotalsCheck,
    ValidAtCheck,
)

#: The columns of [G] Table 1 as ``inception_v1`` fields, in the table's order.
TABLE1_FIELDS = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")


@dataclass(frozen=True)
class CheckResult:
    """One check on one network. ``passed`` is None when the check was not evaluated (a probe check before its
    probes ran); ``value`` is what was measured (JSON-able), ``bound`` what it had to meet, in words; ``hint`` the
    page and the paper's section that help; ``detail`` more about the measurement, in words."""

    name: str
    passed: bool | None
    value: Any
    bound: str
    hint: str = ""
    detail: str = ""
    #: False: reported beside the others but not needed to pass the exercise (the check's ``required``).
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "value": self.value,
            "bound": self.bound,
            "hint": self.hint,
            "detail": self.detail,
            "required": self.required,
        }


@dataclass
class Context:
    """What the checks read: the student's network and the start, each counted once (lazily)."""

    spec: ModelSpec
    start: ModelSpec
    probe_results: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def counted(self) -> CostReport | SpecError:
        try:
            return count(self.spec)
        except SpecError as exc:
            return exc

    @cached_property
    def start_report(self) -> CostReport:
        return count(self.start)

    @cached_property
    def findings(self) -> list[Finding]:
        return principle_findings(self.report())

    def report(self) -> CostReport:
        """The student's network counted; raises ``_Invalid`` when it does not work at its input size."""
        if isinstance(self.counted, SpecError):
            raise _Invalid(self.counted)
        return self.counted


class _Invalid(Exception):
    def __init__(self, error: SpecError):
        super().__init__(error)
        self.error = error


def first_problem(error: SpecError) -> str:
    return str(error.problems[0]) if error.problems else str(error)


# ---------------------------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------------------------


def _scope_words(blocks: Any, stages: Any) -> str:
    if blocks:
        return ", ".join(blocks)
    if stages:
        return "stage " + ", ".join(stages)
    return "network"


def _scope_text(check: Any) -> str:
    return _scope_words(getattr(check, "blocks", None), getattr(check, "stages", None))


def check_name(check: Any) -> str:
    """The check's own name, or one made from its fields ("inception: kind inception_naive, output 28x28x672")."""
    if check.name:
        return check.name
    if isinstance(check, TotalsCheck):
        return f"{_scope_text(check)}: {'MACs' if check.metric == 'macs' else 'parameters'}"
    if isinstance(check, BlockCheck):
        parts = [f"kind {check.block_kind}"] if check.block_kind else []
        parts += [f"{k} {v}" for k, v in check.fields.items()]
        if check.output:
            parts.append("output {}x{}x{}".format(*check.output))
        return f"{check.block}: {', '.join(parts)}"
    if isinstance(check, NetworkCheck):
        parts = [f"{k} {v}" for k, v in check.fields.items()]
        if check.aux_heads is not None:
            parts.append(f"{check.aux_heads} aux heads")
        if check.bn_auxiliary is not None:
            parts.append(f"BN-auxiliary {check.bn_auxiliary}")
        return "network: " + ", ".join(parts)
    if isinstance(check, FindingsCheck):
        what = f"principle {check.principle}" if check.principle else f"rule {check.rule!r}"
        level = "finding" if check.min_severity == "info" else check.min_severity
        many = "no" if check.max_count == 0 else f"at most {check.max_count}"
        return f"{_scope_text(check)}: {many} {level} of {what}"
    if isinstance(check, ValidAtCheck):
        aux = " without aux heads" if check.without_aux else ""
        return "valid at {}x{}{}".format(*check.input_size, aux)
    if isinstance(check, MinInputCheck):
        return "smallest valid input" + (" without aux heads" if check.without_aux else "")
    if isinstance(check, StageSharesCheck):
        return f"stage shares of MACs within {check.within_points:g} points of the start's"
    if isinstance(check, ProbeCheck):
        return f"probe: {check.metric.replace('_', ' ')} after {check.steps} steps"
    return "[G] Table 1's Inception rows"


# ---------------------------------------------------------------------------------------------------------------
# The checks
# ---------------------------------------------------------------------------------------------------------------


def _scope_total(report: CostReport, metric: str, blocks, stages) -> int:
    """``metric`` summed over the named blocks / stages (KeyError naming the missing ones), or the whole network."""
    if blocks is None and stages is None:
        return int(getattr(report.totals, metric))
    table, column, names = (report.blocks, "block", blocks) if blocks is not None else (report.stages, "stage", stages)
    missing = [n for n in names if n not in set(table[column])]
    if missing:
        raise KeyError(f"no {column} named {', '.join(missing)} in {report.spec.name}")
    return int(table.loc[table[column].isin(names), metric].sum())


def eval_totals(check: TotalsCheck, ctx: Context) -> CheckResult:
    name, what = check_name(check), "MACs" if check.metric == "macs" else "parameters"
    bounds, low, high = [], [], []
    if check.min is not None:
        low.append(check.min)
        bounds.append(f">= {check.min:,}")
    if check.max is not None:
        high.append(check.max)
        bounds.append(f"<= {check.max:,}")
    own_scope = not (check.start_blocks or check.start_stages)
    sb, ss = (check.blocks, check.stages) if own_scope else (check.start_blocks, check.start_stages)
    try:
        value = _scope_total(ctx.report(), check.metric, check.blocks, check.stages)
        ref = _scope_total(ctx.start_report, check.metric, sb, ss) if check.relative else 0
    except KeyError as exc:
        bound = " and ".join(bounds) or "a fraction of the start's"
        return CheckResult(name, False, None, bound, check.hint, exc.args[0])
    detail = f"{value:,} {what}"
    if check.relative:
        scope = _scope_words(sb, ss)
        for frac, out, sign in ((check.min_fraction, low, ">="), (check.max_fraction, high, "<=")):
            if frac is not None:
                out.append(frac * ref)
                bounds.append(f"{sign} {frac:g} x the start's {ref:,} ({scope}) = {frac * ref:,.0f}")
        detail += f" = {value / ref:.4f} x the start's {ref:,}" if ref else ""
    slack = 1e-9 * max(1, ref)  # a fraction times the start's count, in floating point
    passed = all(value >= b - slack for b in low) and all(value <= b + slack for b in high)
    return CheckResult(name, passed, value, " and ".join(bounds), check.hint, detail)


def eval_block(check: BlockCheck, ctx: Context) -> CheckResult:
    name = check_name(check)
    want = {}
    if check.block_kind:
        want["kind"] = check.block_kind
    want.update(check.fields)
    if check.output:
        want["output"] = "{}x{}x{}".format(*check.output)
    bound = ", ".join(f"{k} {v}" for k, v in want.items())
    try:
        si, bi = ctx.spec.find_block(check.block)
    except KeyError:
        return CheckResult(name, False, None, bound, check.hint, f"there is no block named {check.block!r}")
    data = ctx.spec.stages[si].blocks[bi].model_dump(mode="json", by_alias=True)
    got: dict[str, Any] = {k: data.get(k) for k in want if k != "output"}
    if check.output:
        try:
            row = ctx.report().blocks.set_index("block").loc[check.block]
            got["output"] = f"{row.out_height}x{row.out_width}x{row.out_channels}"
        except _Invalid as exc:
            got["output"] = None
            return CheckResult(name, False, got, bound, check.hint, "invalid: " + first_problem(exc.error))
    wrong = [k for k in want if _norm(got.get(k)) != _norm(want[k])]
    detail = "; ".join(f"{k} is {got.get(k)!r}, not {want[k]!r}" for k in wrong)
    return CheckResult(name, not wrong, got, bound, check.hint, detail)


def _norm(v: Any) -> Any:
    """Compare [3, 3] with 3 and (3, 3) alike: a square pair is its side."""
    if isinstance(v, (list, tuple)):
        v = tuple(v)
        return v[0] if len(v) == 2 and v[0] == v[1] else v
    return v


def eval_network(check: NetworkCheck, ctx: Context) -> CheckResult:
    name = check_name(check)
    data = ctx.spec.to_dict()
    got = {k: data.get(k) for k in check.fields}
    want = dict(check.fields)
    if check.aux_heads is not None:
        got["aux_heads"], want["aux_heads"] = len(ctx.spec.aux_heads), check.aux_heads
    if check.bn_auxiliary is not None:
        heads = ctx.spec.aux_heads
        got["bn_auxiliary"] = bool(heads) and all(getattr(h, "bn_fc", False) for h in heads)
        want["bn_auxiliary"] = check.bn_auxiliary
    wrong = [k for k in want if _norm(got[k]) != _norm(want[k])]
    detail = "; ".join(f"{k} is {got[k]!r}, not {want[k]!r}" for k in wrong)
    bound = ", ".join(f"{k} {v}" for k, v in want.items())
    return CheckResult(name, not wrong, got, bound, check.hint, detail)


def eval_findings(check: FindingsCheck, ctx: Context) -> CheckResult:
    name = check_name(check)
    what = f"principle {check.principle}" if check.principle else f"rule {check.rule!r}"
    bound = f"at most {check.max_count} finding(s) of {what} at severity {check.min_severity} or worse"
    try:
        findings = ctx.findings
    except _Invalid as exc:
        return CheckResult(name, False, None, bound, check.hint, "invalid: " + first_problem(exc.error))
    level = SEVERITIES.index(check.min_severity)
    hits = [
        f
        for f in findings
        if (check.principle is None or f.principle == check.principle)
        and (check.rule is None or f.rule == check.rule)
        and SEVERITIES.index(f.severity) >= level
        and (check.blocks is None or f.block in check.blocks)
        and (check.stages is None or f.stage in check.stages)
    ]
    detail = "; ".join(f"{f.severity} at {f.block or 'stage ' + f.stage} ({f.rule}): {f.message}" for f in hits[:5])
    return CheckResult(name, len(hits) <= check.max_count, len(hits), bound, check.hint, detail)


def _valid_at(spec: ModelSpec, size: tuple[int, int]) -> SpecError | None:
    try:
        spec.with_input(size)
    except SpecError as exc:
        return exc
    return None


def eval_valid_at(check: ValidAtCheck, ctx: Context) -> CheckResult:
    spec = ctx.spec.without_aux() if check.without_aux else ctx.spec
    error = _valid_at(spec, check.input_size)
    bound = "valid at {}x{}".format(*check.input_size)
    value, detail = ("valid", "") if error is None else ("invalid", first_problem(error))
    return CheckResult(check_name(check), error is None, value, bound, check.hint, detail)


#: The largest side ``smallest_input`` tries: past it the budget refuses a network sooner than its grids collapse.
MAX_SEARCHED_INPUT = 1024


@lru_cache(maxsize=256)
def smallest_input(spec: ModelSpec) -> int | None:
    """The smallest square input (H = W) at which ``spec`` validates, shapes and budget: the number
    ``spec.presets`` states as ``min_input_size``. Shapes only, no tensors: one ``infer_shapes`` per size tried
    (GoogLeNet: 79 of them, about 0.15 s), remembered per spec (frozen, hashable) so that a page that re-checks an
    unchanged network pays nothing."""
    for size in range(1, MAX_SEARCHED_INPUT + 1):
        data = spec.model_copy(update={"input_size": (size, size)})
        try:
            infer_shapes(data)
        except SpecError:
            continue
        try:
            validate(data)
        except SpecError:
            return None  # valid shapes that the budget refuses: larger inputs only cost more
        return size
    return None


def eval_min_input(check: MinInputCheck, ctx: Context) -> CheckResult:
    spec = ctx.spec.without_aux() if check.without_aux else ctx.spec
    value = smallest_input(spec)
    h, w = ctx.spec.input_size
    bounds, ok = [], value is not None
    if check.expect == "equals_input":
        bounds.append(f"= the network's own input ({h}x{w})")
        ok = ok and h == w == value
    elif check.expect == "below_input":
        bounds.append(f"< the network's own input ({h}x{w})")
        ok = ok and value < min(h, w)
    if check.min is not None:
        bounds.append(f">= {check.min}")
        ok = ok and value >= check.min
    if check.max is not None:
        bounds.append(f"<= {check.max}")
        ok = ok and value <= check.max
    detail = f"{value}x{value}" if value else f"valid at no square input up to {MAX_SEARCHED_INPUT}"
    return CheckResult(check_name(check), ok, value, " and ".join(bounds), check.hint, detail)


def _shares(report: CostReport) -> dict[str, float]:
    return {r.stage: float(r.macs_share) * 100 for r in report.stages.itertuples()}


def eval_stage_shares(check: StageSharesCheck, ctx: Context) -> CheckResult:
    name, bound = check_name(check), f"every stage within {check.within_points:g} points of the start's share"
    try:
        mine = _shares(ctx.report())
    except _Invalid as exc:
        return CheckResult(name, False, None, bound, check.hint, "invalid: " + first_problem(exc.error))
    start = _shares(ctx.start_report)
    missing = [s for s in start if s not in mine]
    if missing:
        return CheckResult(name, False, None, bound, check.hint, f"stages missing: {', '.join(missing)}")
    gaps = {s: abs(mine[s] - start[s]) for s in start}
    worst = max(gaps, key=gaps.get)
    detail = f"worst: {worst}, {mine[worst]:.1f}% against the start's {start[worst]:.1f}%"
    value = round(gaps[worst], 2)
    return CheckResult(name, gaps[worst] <= check.within_points, value, bound, check.hint, detail)


def probe_labels(index: int, check: ProbeCheck) -> tuple[str, str]:
    """The two runs of probe check ``index``: the student's network and the start (keys of ``probe_results``)."""
    base = f"checks[{index}] {check_name(check)}"
    return f"{base}: yours", f"{base}: start"


def probe_value(check: ProbeCheck, result: Any) -> float | None:
    """A run's figure for ``check``: a number as given, or read from a ``ProbeSummary`` (or a dict of one)."""
    if result is None or isinstance(result, (int, float)):
        return result
    if isinstance(result, Mapping):
        return result.get(check.metric)
    return getattr(result, check.metric, None)


def eval_probe(check: ProbeCheck, ctx: Context, index: int) -> CheckResult:
    mine_label, start_label = probe_labels(index, check)
    for label, whose in ((mine_label, "your network"), (start_label, "the starting network")):
        error = ctx.probe_results.get(label)
        if isinstance(error, SpecError):
            detail = f"{whose} cannot be probed at {check.image_size}x{check.image_size}: {first_problem(error)}"
            return CheckResult(check_name(check), False, None, "a probe that runs", check.hint, detail)
    mine = probe_value(check, ctx.probe_results.get(mine_label))
    start = probe_value(check, ctx.probe_results.get(start_label))
    better = ">" if check.metric == "heldout_accuracy" else "<"
    what = check.metric.replace("_", " ")
    if start is None:
        bound = f"{what} {better} the start's" + (f" by more than {check.margin:g}" if check.margin else "")
        return CheckResult(check_name(check), None, mine, bound, check.hint, "not probed yet")
    target = start + check.margin if better == ">" else start - check.margin
    bound = f"{what} {better} {target:.4g} (the start's {start:.4g}" + (
        f" {'+' if better == '>' else '-'} {check.margin:g})" if check.margin else ")"
    )
    if mine is None:
        return CheckResult(check_name(check), None, None, bound, check.hint, "your network is not probed yet")
    passed = mine > target if better == ">" else mine < target
    detail = f"yours {mine:.4g}, start {start:.4g}, {check.steps} steps of {check.batch_size}"
    return CheckResult(check_name(check), passed, round(mine, 6), bound, check.hint, detail)


def eval_table1(check: Table1Check, ctx: Context) -> CheckResult:
    name = check_name(check)
    rows = [r for r in TABLE1_ROWS if r.type.startswith("inception")]
    bound = f"all {len(rows)} Inception rows: inception_v1 with [G] Table 1's widths and its printed output"
    blocks = {b.name: b for _, _, _, b in ctx.spec.iter_blocks()}
    reproduced, wrong = 0, []
    for row in rows:
        (block_name,) = row.blocks
        b = blocks.get(block_name)
        widths = tuple(getattr(b, f, None) for f in TABLE1_FIELDS) if b is not None else None
        if b is None or b.kind != "inception_v1" or widths != TABLE1_WIDTHS[block_name]:
            wrong.append(f"{block_name}: {'missing' if b is None else b.kind} {widths or ''}".rstrip())
        else:
            reproduced += 1
    try:
        table = googlenet_table1(ctx.report())
    except (_Invalid, ValueError) as exc:
        error = first_problem(exc.error) if isinstance(exc, _Invalid) else str(exc)
        value = {"rows reproduced": reproduced, "params disagree": [], "ops disagree": []}
        return CheckResult(name, False, value, bound, check.hint, "; ".join([*wrong, error]))
    inception = [r for r in table.to_dict("records") if r["row"].startswith("inception")]
    outputs_off = [r["row"] for r in inception if r["output (ours)"] != r["output (paper)"]]
    value = {
        "rows reproduced": reproduced,
        "params disagree": [r["row"] for r in inception if r["params match"] == "no"],
        "ops disagree": [r["row"] for r in inception if r["ops match"] == "no"],
    }
    wrong += [f"{r}: output differs from the printed one" for r in outputs_off]
    passed = reproduced == len(rows) and not outputs_off
    return CheckResult(name, passed, value, bound, check.hint, "; ".join(wrong))


EVALUATORS: dict[type, Callable[..., CheckResult]] = {
    TotalsCheck: eval_totals,
    BlockCheck: eval_block,
    NetworkCheck: eval_network,
    FindingsCheck: eval_findings,
    ValidAtCheck: eval_valid_at,
    MinInputCheck: eval_min_input,
    StageSharesCheck: eval_stage_shares,
    Table1Check: eval_table1,
}


def evaluate_check(check: Any, ctx: Context, index: int) -> CheckResult:
    """One check on ``ctx``'s network; a network that does not work fails every check that needs its counts."""
    return replace(_evaluate(check, ctx, index), required=check.required)


def _evaluate(check: Any, ctx: Context, index: int) -> CheckResult:
    if isinstance(check, ProbeCheck):
        return eval_probe(check, ctx, index)
    try:
        return EVALUATORS[type(check)](check, ctx)
    except _Invalid as exc:
        return CheckResult(check_name(check), False, None, "", check.hint, "invalid: " + first_problem(exc.error))
