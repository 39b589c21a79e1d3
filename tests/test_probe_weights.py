"""Training probes that start from weights a user uploaded on Build (issue 17 §2): fine-tuning, the classifier
trained anew for the probe's classes; refused clearly when the weights do not fit or are gone."""

from __future__ import annotations

import pytest
import torch
from probe_helpers import leave_no_worker
from safetensors.torch import save as save_safetensors

from inception_explorer.errors import SpecError
from inception_explorer.nn.build import build
from inception_explorer.nn.weights import WeightsError, keep_weights, load_for_probe, matching_weights, weights_ref
from inception_explorer.probes.config import ProbeConfig
from inception_explorer.probes.data import SyntheticShapes
from inception_explorer.probes.results import ProbeFailed
from inception_explorer.probes.runner import check
from inception_explorer.probes.train import prepare_spec
from inception_explorer.probes.train import train_probe as train
from inception_explorer.spec.presets import get_preset
from inception_explorer.store import new_workspace_id

SMALL = get_preset("googlenet").without_aux()


@pytest.fixture()
def kept(store_home):
    workspace = new_workspace_id()
    torch.manual_seed(1)
    state = {k: v.contiguous() for k, v in build(SMALL).state_dict().items()}
    return workspace, keep_weights(save_safetensors(state), SMALL, workspace), state


def _config(kept_weights, **overrides) -> ProbeConfig:
    values = {
        "steps": 1,
        "batch_size": 2,
        "image_size": 64,
        "width_multiplier": 1.0,
        "warmup_steps": 0,
        "device": "cpu",
        "data": {"num_classes": 3},
        "recipe": {"aux_heads": False},
        "init_weights": weights_ref(kept_weights),
    }
    return ProbeConfig.from_dict({**values, **overrides})


def test_the_kept_weights_are_offered_for_the_same_network_only(kept):
    workspace, k, _ = kept
    assert matching_weights(SMALL.with_input(96, 5), workspace) == [k]  # any input size and class count
    assert matching_weights(get_preset("googlenet_naive").without_aux(), workspace) == []
    assert matching_weights(SMALL, new_workspace_id()) == []  # another workspace's are not offered


def test_a_probe_starts_from_the_weights_with_a_fresh_classifier(kept):
    workspace, k, state = kept
    config = _config(k)
    spec = prepare_spec(SMALL, config, 3)
    model = build(spec)
    fresh = load_for_probe(model, config.init_weights)
    assert fresh == ["head.fc.weight", "head.fc.bias"]  # 1000 classes in the file, 3 in the probe
    loaded = model.state_dict()
    assert torch.equal(loaded["conv1.conv.weight"], state["conv1.conv.weight"])
    assert torch.equal(loaded["inception5b.branch1x1.0.conv.weight"], state["inception5b.branch1x1.0.conv.weight"])
    summary = train(spec, config, SyntheticShapes(3, 64), torch.device("cpu"))
    assert summary.steps_done == 1


def test_weights_that_do_not_fit_or_are_gone_are_refused_clearly(kept, store_home):
    workspace, k, _ = kept
    with pytest.raises(SpecError, match="set the width to 1.0"):
        check(SMALL, _config(k, width_multiplier=0.5))
    other = build(get_preset("googlenet_naive").without_aux())
    with pytest.raises(WeightsError, match="do not fit this network"):
        load_for_probe(other, weights_ref(k))
    with pytest.raises(ProbeFailed, match="cannot start from the weights"):
        train(
            prepare_spec(get_preset("googlenet_naive").without_aux(), _config(k), 3),
            _config(k),
            SyntheticShapes(3, 64),
            torch.device("cpu"),
        )
    k.path.unlink()
    with pytest.raises(SpecError, match="no longer kept"):
        check(SMALL, _config(k))
    with pytest.raises(SpecError, match="init_weights"):
        ProbeConfig.from_dict({"init_weights": "../../etc/passwd"})


def test_the_probes_page_offers_the_weights_and_queues_a_fine_tuning_run(store_home):
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    from inception_explorer.probes.records import RunLog
    from inception_explorer.store import Store
    from inception_explorer.ui.views import md

    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app.py"), default_timeout=120)
    at.run()
    workspace = at.session_state["workspace"]
    spec = get_preset("googlenet")
    state = {k: v.contiguous() for k, v in build(spec).state_dict().items()}
    kept = keep_weights(save_safetensors(state), spec, workspace)
    at.switch_page("pages/probes_page.py").run()
    at.multiselect(key="probes.picked").set_value(["preset googlenet"]).run()
    box = next(c for c in at.checkbox if c.key == "probes.init.0")  # offered: weights of this very network
    box.check().run()
    assert any("cannot run at these settings" in m.value and md("width to 1.0") in m.value for m in at.markdown)
    at.number_input(key="probes.width").set_value(1.0).run()
    assert any(md("from uploaded weights") in m.value for m in at.markdown)  # ready, and says how it starts
    store = Store(store_home / "store.sqlite")
    at.number_input(key="probes.steps").set_value(1).run()
    at.button(key="probes.start").click().run()
    assert not at.exception, at.exception
    (run,) = RunLog(store).list(workspace=workspace)
    assert run.config.init_weights == weights_ref(kept)
    leave_no_worker(store)
