"""ss_guidance=W: classifier-free guidance on the secondary-structure labels and strand pairs at
sampling time — w = 0 is the unconditional model, w = 1 the conditional one (no extra evaluation),
w > 1 a second, label-free network pass per evaluation; recorded in the manifest; bad values rejected."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from proteindsm.cli import main
from proteindsm.core import Checkpoint, save_checkpoint
from proteindsm.core.checkpoint import read_metadata
from proteindsm.protein.data.io import read_backbones
from proteindsm.protein.model.frame_network import FrameScoreNet
from proteindsm.resources import shipped_checkpoint

FAST = ["steps=3", "progress=false", "device=cpu", "sampler=langevin_fast", "ideal_output=false", "length=30",
        "num=2", "seed=1"]
TINY = dict(node_dim=16, edge_dim=8, num_layers=1, num_heads=2, attn_dim=8, k_neighbors=4, seq_neighbors=1,
            num_pair_rbf=2, num_rbf=4, pair_conditioning=True, partner_neighbors=2)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny FrameScoreNet with ss labels, strand pairs and self-conditioning (random weights)."""
    torch.manual_seed(0)
    net = FrameScoreNet(**TINY)
    with torch.no_grad():   # the read-out starts at zero (output = skip connection); make the labels matter
        net.readout.weight.normal_(0.0, 0.1)
    assert net.config["ss_conditioning"] and net.config["self_conditioning"]
    meta = dict(read_metadata(shipped_checkpoint("backbone_score_local.safetensors")))
    meta.update(model_class="FrameScoreNet", model_config=net.config, step=1)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, Checkpoint(model=net.state_dict(), metadata=meta))
    return path


def _coords(out, n=2):
    return np.stack([read_backbones(out / f"len30_{i:03d}.pdb", max_peptide_bond=1e9)[0].coords for i in range(n)])


def _spy(monkeypatch):
    seen = []
    original = FrameScoreNet.network

    def spy(self, x_c, sigma, mask, res_idx, cond=None):
        seen.append(sorted(k for k in (cond or {}) if k in ("ss", "ss_pairs")))
        return original(self, x_c, sigma, mask, res_idx, cond)

    monkeypatch.setattr(FrameScoreNet, "network", spy)
    return seen


def test_weight_zero_is_the_unconditional_model_and_one_the_conditional(tmp_path, checkpoint):
    ck = f"checkpoint={checkpoint}"
    assert main(["sample", f"out={tmp_path / 'none'}", ck, "ss=none", *FAST]) == 0
    assert main(["sample", f"out={tmp_path / 'w0'}", ck, "ss_guidance=0", *FAST]) == 0
    assert main(["sample", f"out={tmp_path / 'w1'}", ck, *FAST]) == 0
    assert main(["sample", f"out={tmp_path / 'w2'}", ck, "ss_guidance=2", *FAST]) == 0
    none, w0, w1, w2 = (_coords(tmp_path / n) for n in ("none", "w0", "w1", "w2"))
    assert np.array_equal(w0, none)                       # labels requested, guidance weight 0: ignored
    assert not np.array_equal(w1, none) and not np.array_equal(w2, w1)
    settings = [json.loads((tmp_path / n / "manifest.json").read_text())["settings"] for n in ("w1", "w2")]
    assert "ss_guidance" not in settings[0] and settings[1]["ss_guidance"] == 2.0


def test_guided_runs_add_one_label_free_pass_per_evaluation(tmp_path, checkpoint, monkeypatch):
    seen = _spy(monkeypatch)
    assert main(["sample", f"out={tmp_path / 'w1'}", f"checkpoint={checkpoint}", *FAST]) == 0
    plain = list(seen)
    seen.clear()
    assert main(["sample", f"out={tmp_path / 'w3'}", f"checkpoint={checkpoint}", "ss_guidance=3", *FAST]) == 0
    assert all(keys == ["ss", "ss_pairs"] or keys == ["ss"] for keys in plain)
    assert len(seen) == 2 * len(plain)
    assert seen[0::2] == plain and all(keys == [] for keys in seen[1::2])
    seen.clear()   # an unconditional run has nothing to guide: no second pass
    assert main(["sample", f"out={tmp_path / 'u'}", f"checkpoint={checkpoint}", "ss=none", "ss_guidance=3",
                 *FAST]) == 0
    assert len(seen) == len(plain) and all(keys == [] for keys in seen)


@pytest.mark.parametrize("value", ["-1", "abc", "nan", "true"])
def test_bad_weight_is_one_error_before_any_work(tmp_path, checkpoint, capsys, value):
    out = tmp_path / "bad"
    assert main(["sample", f"out={out}", f"checkpoint={checkpoint}", f"ss_guidance={value}", *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ss_guidance must be a number >= 0" in err[0]
    assert not out.exists()


def test_needs_a_secondary_structure_model(tmp_path, capsys):
    out = tmp_path / "o"
    e3nn = shipped_checkpoint("backbone_score_local.safetensors")
    assert main(["sample", f"out={out}", f"checkpoint={e3nn}", "ss=none", "ss_guidance=2", *FAST]) == 2
    assert "needs a checkpoint with secondary-structure conditioning" in capsys.readouterr().err
    assert not any(out.iterdir())      # checked when the model is loaded, before any sampling
