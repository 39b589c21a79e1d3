"""The Build page's panels around the editor: the whole network at a glance (the representation curve with the
selected block, per-block MACs and parameters, the findings), the selected block's findings, "Fit to a budget",
weights (safetensors), and keeping the network (save, export, import)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ..analysis.curve import PICK
from ..analysis.fit import KEEP_MODES, FitError
from ..editing.session import BuildSession
from ..errors import SpecError
from ..nn.weights import CheckpointMismatch, WeightsError, keep_weights, kept_weights
from ..settings import settings
from ..spec import ModelSpec
from ..spec.validation import load_spec
from . import workbench
from .cached import build_representation_chart, cost_report, fit_budget, principle_findings
from .views import md
from .widgets import section

CHART = "build.chart"
SEVERITY_ORDER = {"violation": 0, "warning": 1, "info": 2}


def overview(session: BuildSession, selected: str) -> None:
    """The representation curve (click a block to select it) beside each block's MACs and parameters."""
    valid = session.valid_json
    report = cost_report(valid)
    stages, blocks = report.blocks["stage"].tolist(), report.blocks["block"].tolist()
    names = [str(b) if s != "head" else "logits" for s, b in zip(stages, blocks, strict=True)]
    left, right = st.columns([3, 2])
    with left:
        st.vega_lite_chart(
            spec=build_representation_chart(valid, selected),
            key=CHART,
            on_select=lambda: workbench.select_from_chart(CHART, names),
            selection_mode=PICK,
            width="stretch",
        )
        st.caption("Click a block on the curve to edit it. Drawn from the last valid network.")
    with right:
        findings = principle_findings(valid)
        counts = findings.groupby("block").size() if len(findings) else pd.Series(dtype=int)
        table = report.blocks[["block", "output", "macs", "params"]].copy()
        table["findings"] = [int(counts.get(b, 0)) for b in table["block"]]
        styled = table.style.apply(
            lambda row: ["background-color: rgba(227,119,194,0.25)" if row["block"] == selected else "" for _ in row],
            axis=1,
        )
        st.dataframe(
            styled,
            hide_index=True,
            width="stretch",
            height=600,
            column_config={
                "block": st.column_config.TextColumn("block", pinned=True),
                "output": st.column_config.TextColumn("output (HxWxC)"),
                "macs": st.column_config.NumberColumn("MACs", format="localized"),
                "params": st.column_config.NumberColumn("params", format="localized"),
                "findings": st.column_config.NumberColumn("findings", width="small"),
            },
        )
        st.caption(
            f"Per block, of the last valid network (eval: the aux heads' {report.totals.aux_macs:,} MACs aside)."
        )


def network_findings(session: BuildSession) -> None:
    findings = principle_findings(session.valid_json)
    worst = findings["severity"].map(SEVERITY_ORDER).sort_values().index if len(findings) else []
    summary = ", ".join(f"{n} {s}" for s, n in findings["severity"].value_counts().items()) if len(findings) else "none"
    with section(f"Design-principle findings of this network: {summary}", "build.section.findings") as shown:
        if not shown:
            return
        if len(findings):
            shown = findings.loc[worst, ["severity", "block", "stage", "principle", "message", "advice"]]
            st.dataframe(shown, hide_index=True, width="stretch")
        else:
            st.caption("No findings: every rule of the principles checker holds.")


def block_findings(session: BuildSession, block_name: str) -> None:
    findings = principle_findings(session.valid_json)
    own = findings[findings["block"] == block_name] if len(findings) else findings
    st.markdown(f"**Findings at {md(block_name)}**")
    if not len(own):
        st.caption("None for this block.")
    for f in own.sort_values("severity", key=lambda s: s.map(SEVERITY_ORDER)).itertuples():
        show = {"violation": st.error, "warning": st.warning}.get(f.severity, st.info)
        advice = f"\n\n*What to try:* {md(f.advice)}" if getattr(f, "advice", "") else ""
        show(f"**{md(f.severity)}** · {md(f.principle)} ({md(f.source)}): {md(f.message)}{advice}")


# ---- Fit to a budget ---------------------------------------------------------------------------------------------


def fit_panel(session: BuildSession) -> None:
    """A MACs budget, each stage's share kept or uniform; the before/after; applied as one undoable edit."""
    report = cost_report(session.valid_json)
    with section("Fit to a budget: scale the widths to a number of multiply-adds", "build.section.fit") as shown:
        if not shown:
            return
        st.caption(
            "[G] held 1.5 B multiply-adds, [R] about 5 B. 'stage-shares' keeps each stage's share of the cost "
            "([R] §2 principle 4); 'uniform' scales every width alike."
        )
        cols = st.columns([2, 2, 1])
        cols[0].number_input(
            "Budget (millions of MACs)",
            min_value=1.0,
            max_value=1e6,
            value=round(report.totals.macs / 1e6, 1),
            step=100.0,
            key="build.fit.macs",
        )
        cols[1].radio("Keep", KEEP_MODES, key="build.fit.keep", horizontal=True)
        cols[2].button("Preview", key="build.fit.preview", on_click=_preview, args=(session.valid_json,))
        asked = st.session_state.get(workbench.FIT)
        if not asked or asked[0] != session.valid_json:
            return
        try:
            result = fit_budget(*asked)
        except FitError as exc:
            st.error(md(f"Not fitted: {exc}"))
            return
        before, after = report, cost_report(result.spec.canonical_json())
        n_before, n_after = (
            len(principle_findings(session.valid_json)),
            len(principle_findings(after.spec.canonical_json())),
        )
        st.dataframe(
            pd.DataFrame(
                [
                    {"": "before", "MACs": before.totals.macs, "params": before.totals.params, "findings": n_before},
                    {"": "after", "MACs": after.totals.macs, "params": after.totals.params, "findings": n_after},
                ]
            ),
            hide_index=True,
            column_config={
                "MACs": st.column_config.NumberColumn(format="localized"),
                "params": st.column_config.NumberColumn(format="localized"),
            },
        )
        st.caption(md(result.summary()))
        st.button("Apply the fit", key="build.fit.apply", on_click=_apply_fit, args=(asked,))


def _preview(spec_json: str) -> None:
    macs = int(round(float(st.session_state.get("build.fit.macs", 0)) * 1e6))
    st.session_state[workbench.FIT] = (spec_json, macs, st.session_state.get("build.fit.keep", KEEP_MODES[0]))


def _apply_fit(asked: tuple[str, int, str]) -> None:
    try:
        result = fit_budget(*asked)
    except FitError as exc:
        workbench.say("error", f"Not fitted: {exc}")
        return
    session = workbench.get()
    fitted = {**result.spec.to_dict(), "name": session.name}  # the network keeps its name
    session.replace_network(
        fitted, f"Fitted to {result.budget:,} MACs ({result.keep}): {result.summary()}. Undo goes back."
    )
    workbench.put(session)
    st.session_state.pop(workbench.FIT, None)
    workbench.set_current(workbench.DRAFT)


# ---- weights -----------------------------------------------------------------------------------------------------


def weights_panel(session: BuildSession, workspace: str) -> None:
    limit = settings().max_weights_bytes
    with section("Weights: load a safetensors file for this network", "build.section.weights") as shown:
        if not shown:
            return
        st.caption(
            f"A state dict saved with safetensors (never a pickle), at most {limit / 1e6:,.0f} MB: torchvision's "
            "layout for inception_v3 or googlenet_torchvision (its own GoogLeNet), or this app's own key names "
            "for any network. Kept for your workspace, so that training probes can start from them."
        )
        upload = st.file_uploader(
            "Weights (.safetensors)",
            type=["safetensors"],
            key="build.weights",
            max_upload_size=max(1, -(-limit // 2**20)),  # in MB; the server's server.maxUploadSize must allow it
        )
        if upload is not None and st.session_state.get("build.weights_seen") != upload.file_id:
            st.session_state["build.weights_seen"] = upload.file_id
            _take_weights(session, upload, workspace, limit)
        for kept in kept_weights(workspace)[:5]:
            st.caption(md(f"Kept: {kept.path.name} for {kept.network} ({kept.layout}, {kept.parameters:,} parameters)"))


def _take_weights(session: BuildSession, upload, workspace: str, limit: int) -> None:
    if upload.size > limit:
        st.error(md(f"Not loaded: {upload.name} is {upload.size:,} bytes; weights files may be at most {limit:,}."))
        return
    if session.spec is None:
        st.error("Not loaded: fix the network's problems first (weights load into a network that works).")
        return
    try:
        with st.spinner("Checking the weights against the network…"):
            kept = keep_weights(upload.getvalue(), session.spec, workspace)
    except CheckpointMismatch as exc:
        st.error(
            md(
                f"Not loaded: the keys of {upload.name} are not those of {session.name}. {exc}. Weights load into a "
                "network laid out as torchvision's (preset inception_v3 or googlenet_torchvision) or saved from this "
                "app's own model of the same network."
            )
        )
    except WeightsError as exc:
        st.error(md(f"Not loaded: {exc}."))
    else:
        st.success(
            md(
                f"Loaded {kept.tensors} tensors ({kept.parameters:,} parameters, {kept.layout} layout) into "
                f"{kept.network}, kept for this workspace as {kept.path.name}."
            )
        )


# ---- keep and share ----------------------------------------------------------------------------------------------


def keep_panel(session: BuildSession, workspace: str) -> None:
    st.subheader("Save, export, import")
    cols = st.columns(2)
    with cols[0]:
        st.session_state.setdefault(workbench.SAVE_NAME, session.saved_name or session.name)
        st.text_input("Variant name", key=workbench.SAVE_NAME)
        confirm = st.session_state.get(workbench.CONFIRM_SAVE)
        if confirm:
            st.warning(md(f"A variant named {confirm} is already saved in your workspace. Save over it?"))
            c = st.columns(2)
            c[0].button(
                f"Overwrite {confirm}", key="build.overwrite", on_click=workbench.save_now, args=(confirm, workspace)
            )
            c[1].button("Cancel", key="build.overwrite_cancel", on_click=workbench.keep_editing)
        st.button(
            "Save variant",
            key="build.save",
            disabled=session.spec is None,
            help=None if session.spec is not None else "Fix the problems first: only a valid network is saved",
            on_click=workbench.ask_to_save,
            args=(workbench.SAVE_NAME, workspace),
        )
        st.download_button(
            "Export JSON",
            data=ModelSpec.from_json(session.valid_json).to_json(),
            file_name=session.export_file_name,
            mime="application/json",
            key="build.export",
        )
    with cols[1]:
        upload = st.file_uploader("Import a spec (.json)", type=["json"], key="build.upload", max_upload_size=2)
        if upload is not None and st.session_state.get("build.uploaded") != upload.file_id:
            st.session_state["build.uploaded"] = upload.file_id
            try:
                imported = load_spec(upload.getvalue())
            except SpecError as exc:
                workbench.say("error", f"Not imported ({upload.name}): {exc}. Nothing was changed.")
            else:
                session.replace_network(imported, f"Imported {upload.name}. Undo goes back.")
                session.source = ("file", upload.name)
                workbench.put(session)
                workbench.set_current(workbench.DRAFT)
            st.rerun()
