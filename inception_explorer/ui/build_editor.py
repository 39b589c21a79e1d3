"""The Build page's editor: the selected block's form (each problem next to its field), its operations, adding
blocks and stages, the stages, the network's settings and its aux heads. Every edit calls the page's
``BuildSession`` through ``workbench.act`` (a widget callback)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd
import streamlit as st

from ..editing.blocks import ROW_COLUMNS, custom_rows, kind_label
from ..editing.fields import editable_fields, format_pair
from ..editing.session import BuildSession
from ..spec import BLOCK_KINDS
from . import workbench
from .views import md


def _digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:10]


def selectors(session: BuildSession) -> tuple[int, int]:
    """The Stage and Block pickers (their keys follow the names and kinds, so that a label always shows what the
    block is now: after a convert, a rename); returns the selected (si, bi)."""
    stages = session.stages
    si, bi = session.selection()
    cols = st.columns(2)
    stage_key = f"build.stage.{_digest([s.get('name') for s in stages])}"
    cols[0].selectbox(
        "Stage",
        range(len(stages)),
        index=si,
        key=stage_key,
        format_func=lambda i: f"{i}: {stages[i].get('name')}",
        on_change=workbench.select_from,
        args=(stage_key,),
    )
    blocks = stages[si]["blocks"]
    names = [b.get("name") for b in blocks]
    kinds = {b.get("name"): b.get("kind") for b in blocks}
    block_key = f"build.block.{si}.{_digest([names, list(kinds.values())])}"
    cols[1].selectbox(
        "Block",
        names,
        index=bi,
        key=block_key,
        format_func=lambda n: f"{n} · {kinds.get(n)}",
        on_change=workbench.select_from,
        args=(block_key, si),
    )
    return si, bi


def block_form(session: BuildSession, si: int, bi: int) -> None:
    """The block's fields in a form; each field's problem under it, what was typed kept in the field."""
    block = session.block_at(si, bi)
    kind = block.get("kind")
    cls = BLOCK_KINDS.get(kind)
    if cls is not None:
        st.caption(f"**{md(kind_label(kind))}** · {md(cls.source)}. {md((cls.__doc__ or '').splitlines()[0])}")
    problems = session.field_problems(si, bi)
    for text in problems.get(None, []):
        st.error(md(text))
    fields = editable_fields(block)
    version = _digest(block)
    keys = {f.name: f"build.f.{version}.{f.name}" for f in fields}
    if not fields:
        custom_table(session, si, bi)
        return
    with st.form(f"build.fields.{si}.{bi}.{version}"):
        cols = st.columns(4)
        for k, field in enumerate(fields):
            col, key = cols[k % 4], keys[field.name]
            if field.kind == "int":
                col.number_input(field.name, value=int(field.value), step=1, key=key)
            elif field.kind == "choice":
                index = field.choices.index(field.value) if field.value in field.choices else 0
                col.selectbox(field.name, field.choices, index=index, key=key)
            elif field.kind == "bool":
                col.checkbox(field.name, value=bool(field.value), key=key)
            else:
                help_text = "kh x kw, e.g. 3x3 or 1x7 (a single number for both)"
                if field.name == "padding":
                    help_text += "; 'same' keeps the grid (stride 1)"
                col.text_input(field.name, value=format_pair(field.value), key=key, help=help_text)
        for field in fields:  # under the fields, each named: a column is too narrow to read a message in
            for text in problems.get(field.name, []):
                st.error(f"**{md(field.name)}**: {md(text)}")
        st.form_submit_button("Apply", on_click=_submit, args=(si, bi, keys))


def _submit(si: int, bi: int, keys: dict[str, str]) -> None:
    workbench.act("set_fields", si, bi, {name: st.session_state.get(key) for name, key in keys.items()})


def custom_table(session: BuildSession, si: int, bi: int) -> None:
    """A custom block's layers in a table: one row per layer, its branch, ``layers`` or ``fork``."""
    block = session.block_at(si, bi)
    st.caption(
        "A custom block: its branches, one row per layer, concatenated on channels. Add or remove rows, then apply. "
        "A conv needs out_channels; kernel, stride and padding are 'kh x kw' ('same' keeps the grid)."
    )
    rows = pd.DataFrame(custom_rows(block), columns=list(ROW_COLUMNS))
    key = f"build.custom.{_digest(block)}"
    st.session_state["build.custom.key"] = key  # the table's key now (a new table whenever the block changes)
    st.data_editor(
        rows,
        key=key,
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        column_config={
            "part": st.column_config.SelectboxColumn("part", options=["layers", "fork"], default="layers"),
            "op": st.column_config.SelectboxColumn("op", options=["conv", "max_pool", "avg_pool"], default="conv"),
            "out_channels": st.column_config.NumberColumn("out_channels", min_value=1, step=1),
        },
    )
    st.button("Apply the table", key="build.custom.apply", on_click=_apply_table, args=(si, bi, rows, key))


def _apply_table(si: int, bi: int, rows: pd.DataFrame, key: str) -> None:
    edits = st.session_state.get(key) or {}
    table = rows.copy()
    for i, change in (edits.get("edited_rows") or {}).items():
        for column, value in change.items():
            table.loc[int(i), column] = value
    table = table.drop(index=[int(i) for i in edits.get("deleted_rows") or []], errors="ignore")
    records = table.to_dict("records") + list(edits.get("added_rows") or [])
    workbench.act("set_custom_layers", si, bi, records)


def block_operations(session: BuildSession, si: int, bi: int) -> None:
    """Duplicate, remove, move (up, down, to another stage), rename, convert."""
    blocks = session.stages[si]["blocks"]
    name = blocks[bi].get("name")
    ops = st.columns(4)
    ops[0].button("Duplicate", key="build.dup", on_click=workbench.act, args=("duplicate_block", si, bi))
    ops[1].button("Remove", key="build.remove", on_click=workbench.act, args=("remove_block", si, bi))
    ops[2].button(
        "Move up", key="build.up", disabled=bi == 0, on_click=workbench.act, args=("move_block", si, bi, si, bi - 1)
    )
    ops[3].button(
        "Move down",
        key="build.down",
        disabled=bi == len(blocks) - 1,
        on_click=workbench.act,
        args=("move_block", si, bi, si, bi + 1),
    )
    cols = st.columns(2)
    with cols[0]:
        st.text_input("Rename the block", value=name, key=f"build.rename.{name}")
        st.button(
            "Rename",
            key="build.rename",
            on_click=lambda: workbench.act("rename_block", si, bi, st.session_state.get(f"build.rename.{name}", "")),
        )
    with cols[1]:
        targets = session.convertible(si, bi)
        st.selectbox(
            "Convert to kind",
            targets,
            key="build.convert_to",
            format_func=kind_label,
            disabled=not targets,
            help=None if targets else "A custom block converts to no other kind.",
        )
        st.button(
            "Convert block",
            key="build.convert",
            disabled=not targets,
            on_click=lambda: workbench.act("convert", si, bi, st.session_state.get("build.convert_to")),
        )
    others = [i for i in range(len(session.stages)) if i != si]
    if others:
        cols = st.columns([3, 1])
        cols[0].selectbox(
            "Move the block to the end of stage",
            others,
            key="build.move_to",
            format_func=lambda i: f"{i}: {session.stages[i].get('name')}",
        )
        cols[1].button("Move", key="build.move", on_click=_move_to_stage, args=(si, bi))


def _move_to_stage(si: int, bi: int) -> None:
    target = int(st.session_state.get("build.move_to", si))
    workbench.act("move_block", si, bi, target, len(workbench.get().stages[target]["blocks"]) - (target == si))


def add_block(session: BuildSession, si: int, bi: int) -> None:
    """Add a block of any kind, at any place of any stage (after the selected block by default)."""
    with st.form("build.add_block"):
        cols = st.columns([3, 2, 2])
        cols[0].selectbox("Kind", list(BLOCK_KINDS), key="build.add.kind", format_func=kind_label)
        cols[1].selectbox(
            "In stage",
            range(len(session.stages)),
            index=si,
            key="build.add.stage",
            format_func=lambda i: f"{i}: {session.stages[i].get('name')}",
        )
        cols[2].number_input("At position", min_value=0, value=bi + 1, step=1, key="build.add.index")
        st.form_submit_button("Add block", on_click=_add_block)


def _add_block(*_: Any) -> None:
    state = st.session_state
    stage = int(state.get("build.add.stage", 0))
    blocks = len(workbench.get().stages[stage]["blocks"])
    index = min(int(state.get("build.add.index", blocks)), blocks)
    workbench.act("add_block", stage, state.get("build.add.kind"), index)


def stages_editor(session: BuildSession, si: int) -> None:
    """Add, rename, move and remove stages."""
    stage = session.stages[si]
    cols = st.columns(2)
    with cols[0].form("build.add_stage"):
        st.text_input("New stage's name", key="build.stage_name", placeholder="e.g. inception6")
        st.number_input(
            "Position", min_value=0, max_value=len(session.stages), value=si + 1, step=1, key="build.stage_at"
        )
        st.form_submit_button("Add stage", on_click=_add_stage)
    with cols[1]:
        st.text_input("Name of this stage", value=stage.get("name"), key=f"build.stage_rename.{stage.get('name')}")
        st.button(
            "Rename stage",
            key="build.stage_rename",
            on_click=lambda: workbench.act(
                "rename_stage", si, st.session_state.get(f"build.stage_rename.{stage.get('name')}", "")
            ),
        )
        ops = st.columns(3)
        ops[0].button(
            "Stage up", key="build.stage_up", disabled=si == 0, on_click=workbench.act, args=("move_stage", si, si - 1)
        )
        ops[1].button(
            "Stage down",
            key="build.stage_down",
            disabled=si == len(session.stages) - 1,
            on_click=workbench.act,
            args=("move_stage", si, si + 1),
        )
        ops[2].button(
            "Remove stage",
            key="build.stage_remove",
            disabled=len(session.stages) == 1,
            on_click=workbench.act,
            args=("remove_stage", si),
        )


def _add_stage() -> None:
    state = st.session_state
    workbench.act("add_stage", str(state.get("build.stage_name") or ""), int(state.get("build.stage_at", 0)))


def network_settings(session: BuildSession) -> None:
    """Input size, classes, batch norm; the aux heads: on or off, where they read, BN-auxiliary."""
    d = session.draft
    version = _digest([d.get("input_size"), d.get("num_classes"), d.get("batch_norm")])
    with st.form(f"build.network.{version}"):
        c = st.columns(4)
        c[0].number_input("Input height", 1, 4096, int(d["input_size"][0]), key=f"build.net.h.{version}")
        c[1].number_input("Input width", 1, 4096, int(d["input_size"][1]), key=f"build.net.w.{version}")
        c[2].number_input("Classes", 1, 100_000, int(d["num_classes"]), key=f"build.net.classes.{version}")
        c[3].checkbox("Batch norm", value=bool(d["batch_norm"]), key=f"build.net.bn.{version}")
        st.form_submit_button("Apply", on_click=_apply_network, args=(version,))
    aux_heads(session)


def _apply_network(version: str) -> None:
    state = st.session_state
    size = (int(state[f"build.net.h.{version}"]), int(state[f"build.net.w.{version}"]))
    workbench.act(
        "set_network", size, int(state[f"build.net.classes.{version}"]), bool(state[f"build.net.bn.{version}"])
    )


def aux_heads(session: BuildSession) -> None:
    heads = [a for a in session.draft.get("aux_heads", []) if isinstance(a, dict)]
    names = [b.get("name") for s in session.stages for b in s["blocks"]]
    st.markdown("**Aux heads** (they run only in training: [G] §5, [R] §4)")
    if not heads:
        cols = st.columns([2, 2, 1])
        cols[0].selectbox(
            "Kind",
            ["googlenet", "rethinking"],
            key="build.aux.kind",
            format_func=lambda k: {"googlenet": "GoogLeNet's ([G] §5)", "rethinking": "Inception-v3's ([R] Fig. 8)"}[k],
        )
        cols[1].selectbox("After block", names, index=len(names) * 2 // 3, key="build.aux.after")
        label = "Turn the aux heads on" if session.aux_stash else "Add an aux head"
        cols[2].button(
            label,
            key="build.aux_on",
            on_click=lambda: workbench.act(
                "aux_on", st.session_state.get("build.aux.kind"), st.session_state.get("build.aux.after")
            ),
        )
        return
    for i, head in enumerate(heads):
        cols = st.columns([2, 3, 2, 1])
        cols[0].markdown(f"`{md(head.get('name'))}` ({md(head.get('kind'))})")
        after = head.get("after")
        key = f"build.aux.after.{i}.{after}"
        cols[1].selectbox(
            "Reads the output of",
            names,
            index=names.index(after) if after in names else 0,
            key=key,
            on_change=lambda i=i, key=key: workbench.act("set_aux", i, st.session_state.get(key)),
        )
        if head.get("kind") == "rethinking":
            bn_key = f"build.aux.bn.{i}.{head.get('bn_fc')}"
            cols[2].checkbox(
                "BN-auxiliary ([R] §10)",
                value=bool(head.get("bn_fc")),
                key=bn_key,
                on_change=lambda i=i, bn_key=bn_key: workbench.act("set_aux", i, None, st.session_state.get(bn_key)),
            )
        cols[3].button("Remove", key=f"build.aux.remove.{i}", on_click=workbench.act, args=("remove_aux", i))
    st.button("Turn the aux heads off", key="build.aux_off", on_click=workbench.act, args=("aux_off",))
