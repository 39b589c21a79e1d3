"""Training probes: train variants for a few hundred steps in background workers and compare loss, throughput and
memory side by side. The page only reads the store: closing it, reloading it or restarting the server does not
touch a running probe."""

import json

import streamlit as st

from inception_explorer.analysis import viz
from inception_explorer.errors import SpecError
from inception_explorer.nn.weights import matching_weights, weights_ref
from inception_explorer.probes import (
    ACTIVE,
    DataError,
    ProbeConfig,
    QueueFull,
    RunLog,
    RunStatus,
    dispatch,
    submit,
)
from inception_explorer.probes.config import GOOGLENET_RECIPE, RETHINKING_RECIPE, default_recipe
from inception_explorer.probes.report import describe_recipe, metrics_csv, runs_table, side_by_side
from inception_explorer.probes.runner import check, where_probes_run
from inception_explorer.settings import DATA_ROOT
from inception_explorer.spec import ModelSpec
from inception_explorer.store import StoreError
from inception_explorer.ui.cached import store
from inception_explorer.ui.choices import preset
from inception_explorer.ui.format import runs_for_reading
from inception_explorer.ui.session import store_problem
from inception_explorer.ui.views import figure_text, md
from inception_explorer.ui.widgets import current_networks, network_spec

OWN = "Each network's own: [R]'s with batch norm, [G]'s without"
RECIPES = {
    OWN: None,  # probes.config.default_recipe(spec), network by network
    "[R] Rethinking: RMSProp, label smoothing 0.1, clipping 2.0": RETHINKING_RECIPE,
    "[G] GoogLeNet: SGD with momentum 0.9": GOOGLENET_RECIPE,
}

st.title("Training probes")
st.caption(
    "Short training runs that compare variants honestly: the same seeded data, steps and recipe for each. "
    f"Each probe trains {where_probes_run()}; the rest wait in line. Leave the page, reload it or restart "
    "the server: the probes go on and their results stay."
)

WS = st.session_state["workspace"]  # probes and runs of this session's workspace only
try:
    runs = RunLog(store())
except StoreError as exc:
    store_problem(exc)
    st.stop()
try:
    dispatch(store())  # mark dead workers failed, start queued runs whose device is free
except StoreError as exc:  # a locked or read-only store can still be read: show what there is
    store_problem(exc)
dispatched_now = True  # the live fragment's first run (just below) need not dispatch again
try:
    has_runs = bool(runs.list(workspace=WS, limit=1))
except StoreError as exc:
    store_problem(exc)
    st.stop()

with st.expander("New probe", expanded=not has_runs):
    picked, choices = current_networks(
        "Networks (one probe each, same settings)",
        key="probes.picked",
        others=[preset("googlenet"), preset("inception_v2")],
    )
    c1, c2, c3, c4 = st.columns(4)
    steps = c1.number_input("Steps", 1, 100_000, 200, key="probes.steps")
    batch = c2.number_input("Batch size", 1, 4096, 32, key="probes.batch")
    size = c3.number_input(
        "Image size",
        8,
        1024,
        128,
        key="probes.size",
        help="Square input; every network is checked at this size before it starts.",
    )
    width = c4.number_input(
        "Width multiplier",
        0.03,
        4.0,
        0.25,
        step=0.05,
        key="probes.width",
        help="Every channel count x this: 0.25 makes a probe fit a CPU.",
    )
    d1, d2, d3 = st.columns([1, 2, 1])
    source = d1.radio("Data", ["synthetic shapes", "image folder"], key="probes.source")
    if source == "synthetic shapes":
        classes = d2.slider(
            "Classes",
            2,
            20,
            10,
            key="probes.classes",
            help="Disk, square, ring, triangle and cross, with vertical / horizontal / diagonal "
            "stripes; random position, size, colours, background and noise. Seeded: every "
            "network sees the same images.",
        )
        data = {"source": "synthetic", "num_classes": classes}
    else:
        folder = d2.text_input(
            "Folder (class sub-folders of images)",
            key="probes.folder",
            help=f"A folder relative to the server's data root (`{DATA_ROOT}`), e.g. `my_images`; nothing outside "
            "it is read.",
        )
        data = {"source": "folder", "folder": folder}
    device = d3.selectbox("Device", ["auto", "cpu", "cuda"], key="probes.device")
    base = st.selectbox(
        "Recipe",
        list(RECIPES),
        key="probes.recipe",
        help="By default each network trains with the recipe of its paper: [R]'s (RMSProp, label smoothing 0.1, "
        "clipping 2.0) for a network with batch norm, [G]'s (SGD with momentum 0.9) for one without. Pick one "
        "recipe to train every network alike.",
    )
    r = RECIPES[base]
    k = f"probes.r{list(RECIPES).index(base)}."  # switching the recipe resets the switches below to its values
    own = r is None
    if not own:
        e1, e2, e3, e4 = st.columns(4)
        optimizer = e1.selectbox(
            "Optimizer", ["sgd", "rmsprop"], index=["sgd", "rmsprop"].index(r.optimizer), key=k + "opt"
        )
        lr = e2.number_input("Learning rate", 1e-5, 10.0, r.lr, format="%.4f", key=k + "lr")
        smoothing = e3.number_input(
            "Label smoothing ε",
            0.0,
            0.9,
            r.label_smoothing,
            step=0.05,
            key=k + "ls",
            help="[R] §7: train against (1 - ε)·one-hot + ε·uniform.",
        )
        clip = e4.number_input("Clip gradient norm (0 = off)", 0.0, 100.0, r.clip_grad_norm or 0.0, key=k + "clip")
    f1, f2, f3, f4, f5 = st.columns(5)
    aux = f1.toggle(
        "Aux heads (weight 0.3)",
        False,
        key=k + "aux",
        help="[G] §5 (both papers train with them). Off "
        "by default because they need room: GoogLeNet's fit from about 96 px, Inception-v2/v3's from about "
        "299 px; a network whose aux head does not fit is refused with the reason.",
    )
    bn_aux = f2.toggle(
        "BN-auxiliary",
        bool(r and r.bn_auxiliary),
        key=k + "bnaux",
        help="[R] §10: batch-normalise the aux head's FC layer.",
    )
    amp = f3.toggle("Mixed precision (CUDA)", r.mixed_precision if r else True, key=k + "amp")
    channels_last = f4.toggle("channels_last (CUDA)", r.channels_last if r else True, key=k + "cl")
    seed = f5.number_input("Seed", 0, 2**31 - 1, 0, key="probes.seed")

    def settings_for(spec: ModelSpec, init: str | None = None) -> dict:
        """The probe's settings for one network: the recipe picked (or the network's own) and the switches;
        ``init``: the uploaded weights it starts from (fine-tuning)."""
        recipe = (default_recipe(spec) if own else r).model_dump()
        if not own:
            recipe.update(optimizer=optimizer, lr=lr, label_smoothing=smoothing, clip_grad_norm=clip or None)
        recipe.update(aux_heads=aux, bn_auxiliary=bn_aux or None, mixed_precision=amp, channels_last=channels_last)
        return {
            "steps": steps,
            "batch_size": batch,
            "image_size": size,
            "width_multiplier": width,
            "device": device,
            "seed": seed,
            "data": data,
            "recipe": recipe,
            "init_weights": init,
        }

    # Each network checked at these settings before anything starts (a few ms each; an image folder is checked
    # when the probes start, not on every rerun).
    specs = {}
    for choice in picked:
        spec_json = network_spec(choice, choices, message="{label} cannot be probed: it no longer opens ({exc}).")
        if spec_json is not None:
            specs[choice] = ModelSpec.from_json(spec_json)
    # A network with weights uploaded on Build can start from them (fine-tuning: the classifier is trained anew).
    inits: dict = {}
    for n, (choice, spec) in enumerate(specs.items()):
        kept = matching_weights(spec, WS)
        if kept and st.checkbox(
            md(f"Start {choice.label} from the weights you uploaded on Build ({kept[0].parameters:,} parameters)"),
            key=f"probes.init.{n}",
            help="Fine-tuning: every layer starts from the file, the classifier is trained anew for the probe's "
            "classes. The weights are for the full-width network: set the width multiplier to 1.0.",
        ):
            inits[choice] = weights_ref(kept[0])
    lines = []
    for choice, spec in specs.items():
        try:
            config = ProbeConfig.from_dict(settings_for(spec, inits.get(choice)))
            if data["source"] == "synthetic":
                check(spec, config)
            lines.append(f"- **{md(choice.label)}**: ready; {md(describe_recipe(config))}")
        except (SpecError, DataError) as exc:
            lines.append(f"- **{md(choice.label)}**: cannot run at these settings: {md(exc)}")
    if lines:
        st.markdown("\n".join(lines))
    go = st.button("Start probes", type="primary", key="probes.start")


if go:
    if not picked:
        st.warning("Pick at least one network.")
    for choice, spec in specs.items():
        try:
            config = ProbeConfig.from_dict(settings_for(spec, inits.get(choice)))
        except SpecError as exc:
            st.error(md(f"These settings cannot run: {exc}"))
            break
        try:
            run = submit(store(), spec, config, label=choice.name, workspace=WS)
            st.toast(md(f"{run.label}: {run.status}"))
        except (QueueFull, StoreError) as exc:
            st.error(f"**{md(choice.label)}** was not queued: {md(exc)}")
        except (SpecError, DataError) as exc:
            st.error(f"**{md(choice.label)}** cannot be probed with these settings: {md(exc)}")

    dispatched_now = False  # what was just queued: the live fragment's first run dispatches it

WAITING = (RunStatus.QUEUED, *ACTIVE)
try:
    active_now = bool(runs.list(workspace=WS, statuses=WAITING, limit=1))
except StoreError as exc:
    store_problem(exc)
    st.stop()


@st.fragment(run_every=1.0 if active_now else None)
def live_runs() -> None:
    """The runs waiting or training (progress, cancel, live loss) and the table of every run, read from the store
    each second while any is waiting or training: the table's status and steps follow the runs."""
    # A store that cannot be used is said in the fragment on each of its runs (unless the page already says it),
    # and the fragment goes on polling: the store may come back.
    try:
        if not dispatched_now:
            dispatch(store())
        every = runs.list(workspace=WS)
        active = [r for r in every if r.status in WAITING]
        positions = {r.id: runs.queue_position(r) for r in every if r.status == RunStatus.QUEUED}
        metrics = runs.metrics([r.id for r in active if r.step])
    except StoreError as exc:
        store_problem(exc, record=False)
        return
    if not active and active_now:
        st.rerun()  # the last probe just ended: refresh the whole page once (Compare runs too), and stop polling
    if active:
        st.subheader("Running and waiting")
        table = runs_table(active, positions)
        for run, row in zip(active, table.itertuples(), strict=True):
            left, right = st.columns([5, 1])
            left.progress(run.progress, text=f"**{md(run.label)}** · {md(row.status)} · {md(row.recipe)}")
            if right.button("Cancel", key=f"probes.cancel.{run.id}", disabled=run.cancel_requested):
                try:
                    runs.request_cancel(run.id)
                except StoreError as exc:
                    store_problem(exc, record=False)
                    return
                st.rerun(scope="fragment")
        if not metrics.empty:
            st.plotly_chart(
                viz.loss_curves_figure(metrics, {r.id: figure_text(r.label) for r in active}, smooth=5),
                width="stretch",
                key="probes.live_curve",
            )
    if every:
        st.subheader("Runs")
        st.dataframe(runs_for_reading(runs_table(every, positions)), hide_index=True, width="stretch")
        for run in every:
            if run.status == RunStatus.FAILED:
                st.error(f"**{md(run.label)}** ({md(run.id)}) failed: {md(run.error)}")


live_runs()
dispatched_now = False  # the fragment's own later runs dispatch: that is what moves the queue on

try:
    all_runs = runs.list(workspace=WS)
except StoreError as exc:
    store_problem(exc)
    st.stop()
if not all_runs:
    st.info(
        "No probes yet: pick networks above and start some. A few hundred steps of a 0.25-width network at "
        "128 px take a few minutes on a CPU."
    )
    st.stop()

st.subheader("Compare runs")
labels = {r.id: f"{r.label} · {r.id[:6]}" for r in all_runs}
kept = [i for i in st.session_state.get("probes.compare", []) if i in labels]
# until the user picks, the newest finished runs
st.session_state["probes.compare"] = kept or [r.id for r in all_runs if r.status == RunStatus.DONE][:4]
chosen = st.multiselect("Runs", list(labels), format_func=labels.get, key="probes.compare")
if chosen:
    chosen_runs = [r for r in all_runs if r.id in chosen]
    try:
        metrics = runs.metrics(chosen)
    except StoreError as exc:
        store_problem(exc)
        st.stop()
    figure_labels = {i: figure_text(labels[i]) for i in chosen}
    st.plotly_chart(viz.loss_curves_figure(metrics, figure_labels, smooth=10), width="stretch")
    side = side_by_side(chosen_runs, labels)
    st.dataframe(side, width="stretch", height=(len(side) + 1) * 35 + 3)
    st.download_button(
        "Export these runs as CSV (every step)",
        metrics_csv(chosen_runs, metrics),
        file_name="inception-probes.csv",
        mime="text/csv",
    )
    for run in chosen_runs:
        with st.expander(f"{md(labels[run.id])}: what it trained"):
            st.caption(md(describe_recipe(run.config)))
            st.json({"config": json.loads(run.config_json), "spec": json.loads(run.spec_json)}, expanded=False)
