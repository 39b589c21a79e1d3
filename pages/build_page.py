"""Build: start from a preset or a saved variant, edit stages and blocks, save, export, import, share a link.

The draft (possibly invalid) lives in session state as JSON; everything shown is computed from the last valid
network, so a bad edit shows its located problem and loses nothing. Saved variants live in the store on disk.
"""

import json

import streamlit as st

from inception_explorer import editing
from inception_explorer.editing.fields import editable_fields, format_pair, parse_pair
from inception_explorer.errors import SpecError
from inception_explorer.spec import BLOCK_KINDS, ModelSpec
from inception_explorer.spec.validation import load_spec
from inception_explorer.store import StoreError
from inception_explorer.ui.cached import (
    block_diagram,
    cost_report,
    module_names,
    network_json,
    preset_json,
    store,
)
from inception_explorer.ui.choices import DRAFT as BUILD_NETWORK
from inception_explorer.ui.choices import NetworkChoice, preset, variant
from inception_explorer.ui.current import (
    BUILD_DRAFT,
    BUILD_HISTORY,
    BUILD_SOURCE,
    BUILD_VALID,
    keep_draft,
    remember_published,
    restore_draft,
    set_current,
    take_link,
)
from inception_explorer.ui.session import store_problem
from inception_explorer.ui.views import edit_metrics, md
from inception_explorer.ui.widgets import available_network_options, metric_row, pick_network

# session state: the draft (JSON), the last valid network (JSON), undo history, and where the draft came from
DRAFT, VALID, HISTORY, SOURCE = BUILD_DRAFT, BUILD_VALID, BUILD_HISTORY, BUILD_SOURCE


def load(spec_json: str, source: NetworkChoice, current: NetworkChoice | None = BUILD_NETWORK) -> None:
    """Open ``spec_json`` (from ``source``) in the editor; it is then the session's current network as ``current``
    (this page's network by default; what a link named, for a link; unchanged when None)."""
    st.session_state[DRAFT] = spec_json
    st.session_state[VALID] = spec_json
    st.session_state[SOURCE] = source
    st.session_state[HISTORY] = []
    if current is not None:
        set_current(current)


def apply(edit, *args) -> None:
    """Run one editing function on the draft; keep the previous draft for undo."""
    draft = json.loads(st.session_state[DRAFT])
    try:
        new = edit(draft, *args)
    except editing.EditError as exc:
        st.session_state["build.message"] = ("error", str(exc))
        return
    history = editing.UndoHistory.from_list(st.session_state[HISTORY])
    history.push(draft)
    st.session_state[HISTORY] = history.to_list()
    st.session_state[DRAFT] = json.dumps(new)
    set_current(BUILD_NETWORK)  # an edit makes this page's network the one every page shows


# Edits run as widget callbacks, before the script: the page then runs once, with the edit made (an edit at the
# widget followed by st.rerun() would run it twice, the first time for nothing).
def apply_fields(si: int, bi: int, block: dict, fields: list, version: int) -> None:
    values = {}
    for field in fields:
        value = st.session_state[f"build.f.{version}.{field.name}"]
        values[field.name] = parse_pair(value) if field.kind == "pair" else value
    changed = {name: v for name, v in values.items() if v != block.get(name)}
    if changed:
        apply(editing.set_block_fields, si, bi, changed)


def undo() -> None:
    history = editing.UndoHistory.from_list(st.session_state[HISTORY])
    st.session_state[DRAFT] = json.dumps(history.undo())
    st.session_state[HISTORY] = history.to_list()
    set_current(BUILD_NETWORK)


def convert(si: int, bi: int, block: dict) -> None:
    target = st.session_state["build.convert_to"]
    converted, notes = editing.convert_block(block, target)
    apply(editing.replace_block, si, bi, converted)
    st.session_state["build.message"] = ("info", f"Converted to {target}. " + "; ".join(notes))


# ---- where the draft comes from: a link, this session's (or, after a reload, the store's) draft, or a preset --
WS = st.session_state["workspace"]  # app.py sets it (session.workspace) before any page runs
link = take_link()  # a ?variant= or ?published= link just followed: it opens, whatever the draft was (current.py)
if link is not None:
    param, value = link
    try:
        record = store().load_published(value) if param == "published" else store().load_variant(value, WS)
    except StoreError as exc:
        store_problem(exc)
    except (KeyError, SpecError) as exc:
        what = "published variant" if param == "published" else "variant"
        st.warning(md(f"Could not open the {what} in the link: {exc}"))
    else:
        # An instructor's read-only link opens a copy; saving it puts it in this session's own workspace.
        opened = remember_published(record.name, value) if param == "published" else variant(record.name)
        load(record.spec.canonical_json(), opened, current=opened)
restore_draft()
if DRAFT not in st.session_state:
    load(preset_json("googlenet"), preset("googlenet"), current=None)

st.title("Build")
with st.container(border=True):
    cols = st.columns([3, 1])
    choice = pick_network(
        "Start from",
        available_network_options(),
        key="build.start",
        container=cols[0],
        help="Presets are the papers' networks; variants are what you (or your instructor) saved.",
    )
    if cols[1].button("Load", key="build.load", width="stretch"):
        try:
            load(network_json(choice), choice)
        except StoreError as exc:
            store_problem(exc)
        except (KeyError, SpecError) as exc:
            st.warning(md(f"Could not open {choice.label}: {exc}"))
        else:
            st.rerun()

draft = json.loads(st.session_state[DRAFT])
spec, problems = editing.try_spec(draft)
if spec is not None:
    st.session_state[VALID] = spec.canonical_json()
valid_json = st.session_state[VALID]
keep_draft()  # in the store for this workspace: a reload brings it back
report = cost_report(valid_json)
source = st.session_state[SOURCE]
base = cost_report(preset_json(source.name)).totals if source.kind == "preset" else None  # the deltas' reference

st.caption(f"Editing **{md(draft.get('name', '?'))}**, loaded from {md(source.label)}.")
metric_row(edit_metrics(report, base))

message = st.session_state.pop("build.message", None)
if message:
    getattr(st, message[0])(md(message[1]))
by_block = editing.problems_by_block(problems, draft) if problems else {}
if problems:
    st.error(
        "This edit makes the network invalid; the figures above are the last valid network. "
        "Fix it or undo:\n\n" + "\n".join(f"- {md(p)}" for p in problems)
    )

undo_cols = st.columns(3)
undo_cols[0].button("Undo", key="build.undo", disabled=not st.session_state[HISTORY], on_click=undo)

# ---- the editor -----------------------------------------------------------------------------------------------
stages = draft["stages"]
st.subheader("Stages and blocks")
si = st.selectbox("Stage", range(len(stages)), key="build.stage", format_func=lambda i: f"{i}: {stages[i]['name']}")
si = min(si, len(stages) - 1)
blocks = stages[si]["blocks"]
names = [b.get("name") for b in blocks]
kinds = {b.get("name"): b.get("kind") for b in blocks}
# One Block widget per stage, its options the block names: a widget whose options change under the same key
# keeps showing the old label in the browser.
chosen = st.selectbox("Block", names, key=f"build.block.{si}", format_func=lambda n: f"{n} · {kinds[n]}")
bi = names.index(chosen) if chosen in names else 0
block = blocks[bi]
kind_cls = BLOCK_KINDS.get(block.get("kind"))
if kind_cls is not None:
    st.caption(f"**{block.get('kind')}** · {kind_cls.source}. {(kind_cls.__doc__ or '').splitlines()[0]}")
for text in by_block.get((si, bi), []):
    st.error(md(text))

version = abs(hash(json.dumps(block, sort_keys=True))) % 10**8  # new widgets whenever the block changes (undo, convert)
with st.form(f"build.fields.{si}.{bi}.{version}"):
    fields = editable_fields(block)
    form_cols = st.columns(4)
    for k, field in enumerate(fields):
        col = form_cols[k % 4]
        key = f"build.f.{version}.{field.name}"
        if field.kind == "int":
            col.number_input(field.name, value=int(field.value), step=1, key=key)
        elif field.kind == "choice":
            col.selectbox(field.name, field.choices, index=field.choices.index(field.value), key=key)
        elif field.kind == "bool":
            col.checkbox(field.name, value=field.value, key=key)
        else:
            col.text_input(field.name, value=format_pair(field.value), key=key)
    if not fields:
        st.caption("A custom block: its branches are edited as JSON (export, edit, import).")
    st.form_submit_button("Apply", disabled=not fields, on_click=apply_fields, args=(si, bi, block, fields, version))

ops = st.columns(5)
ops[0].button("Duplicate", key="build.dup", on_click=apply, args=(editing.duplicate_block, si, bi))
ops[1].button("Remove", key="build.remove", on_click=apply, args=(editing.remove_block, si, bi))
ops[2].button(
    "Move up", key="build.up", disabled=bi == 0, on_click=apply, args=(editing.move_block, si, bi, si, bi - 1)
)
ops[3].button(
    "Move down",
    key="build.down",
    disabled=bi == len(blocks) - 1,
    on_click=apply,
    args=(editing.move_block, si, bi, si, bi + 1),
)
targets = editing.convertible_kinds(block.get("kind"))
with ops[4].popover("Convert", disabled=not targets):
    st.selectbox("To kind", targets, key="build.convert_to")
    st.button("Convert block", key="build.convert", on_click=convert, args=(si, bi, block))

if chosen in module_names(st.session_state[VALID]):
    with st.expander(f"Diagram of {md(chosen)}: its branches, concatenated on channels"):
        st.graphviz_chart(block_diagram(st.session_state[VALID], chosen))
        st.caption("Drawn from the last valid network: an edit that does not apply is not shown here.")

with st.expander("Network settings: input, classes, batch norm, stage name"):
    settings = (tuple(draft["input_size"]), draft["num_classes"], draft["batch_norm"], stages[si]["name"])
    with st.form(f"build.network.{abs(hash(settings)) % 10**8}"):
        c = st.columns(4)
        h = c[0].number_input(
            "Input height",
            1,
            4096,
            int(draft["input_size"][0]),
        )
        w = c[1].number_input(
            "Input width",
            1,
            4096,
            int(draft["input_size"][1]),
        )
        classes = c[2].number_input(
            "Classes",
            1,
            100_000,
            int(draft["num_classes"]),
        )
        bn = c[3].checkbox(
            "Batch norm",
            value=bool(draft["batch_norm"]),
        )
        stage_name = st.text_input(
            "Name of this stage",
            value=stages[si]["name"],
        )
        if st.form_submit_button("Apply"):
            apply(editing.set_network, (h, w), classes, bn)
            if stage_name != stages[si]["name"]:
                apply(editing.rename_stage, si, stage_name)
            st.rerun()

# ---- keep and share ---------------------------------------------------------------------------------------------
st.subheader("Save, export, import, share")
keep = st.columns(2)
with keep[0]:
    name = st.text_input("Variant name", value=draft.get("name", ""), key="build.save_name")
    if st.button(
        "Save variant",
        key="build.save",
        disabled=spec is None,
        help=None if spec is not None else "Fix the problems first: only a valid network is saved",
    ):
        try:
            store().save_variant(name, spec, WS)
        except (ValueError, StoreError) as exc:
            st.error(md(exc))
        else:
            st.session_state[SOURCE] = variant(name.strip())
            set_current(variant(name.strip()))  # the address (?variant=NAME) reopens it
            st.success(
                f"Saved **{md(name.strip())}** in your workspace. This page's address reopens it; whoever you "
                f"give that address shares your workspace."
            )
    if st.button(
        "Publish a read-only copy",
        key="build.publish",
        disabled=spec is None,
        help="For instructors: a link the room opens and copies into their own workspaces; nobody can "
        "change the published copy.",
    ):
        try:
            token = store().publish(name, spec, WS)
        except (ValueError, StoreError) as exc:
            st.error(md(exc))
        else:
            st.success(
                f"Published **{md(name.strip())}**. Hand out this link (without any `ws=`): `/build?published={token}`"
            )
    st.download_button(
        "Export JSON",
        data=ModelSpec.from_json(valid_json).to_json(),
        file_name=f"{draft.get('name', 'network')}.json",
        mime="application/json",
        key="build.export",
    )
with keep[1]:
    upload = st.file_uploader("Import a spec (.json)", type=["json"], key="build.upload")
    if upload is not None and st.session_state.get("build.uploaded") != upload.file_id:
        st.session_state["build.uploaded"] = upload.file_id
        try:
            imported = load_spec(upload.getvalue())
        except SpecError as exc:
            st.session_state["build.message"] = ("error", f"Not imported ({upload.name}): {exc}. Nothing was changed.")
        else:
            apply(lambda d: imported.to_dict())
            st.session_state[SOURCE] = NetworkChoice("file", upload.name)
        st.rerun()

st.subheader("Blocks of the last valid network")
st.dataframe(report.blocks, hide_index=True, width="stretch")
