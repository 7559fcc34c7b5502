"""Strand pairs at sampling time: ss=auto draws a real chain's pairing, pairs= for an ss string,
recorded in the manifest and the PDB remarks, reaching the network as cond['ss_pairs']; bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from proteindsm.cli import main
from proteindsm.core import Checkpoint, save_checkpoint
from proteindsm.core.checkpoint import read_metadata
from proteindsm.protein.data.ss_layouts import SSLayouts, draw_layout
from proteindsm.protein.data.strand_pairing import PAIR_ADJACENT, PairedLayout, strand_segments
from proteindsm.protein.model.frame_network import FrameScoreNet
from proteindsm.resources import shipped_checkpoint

FAST = ["steps=3", "progress=false", "device=cpu", "sampler=langevin_fast"]
TINY = dict(node_dim=16, edge_dim=8, num_layers=1, num_heads=2, attn_dim=8, k_neighbors=4, seq_neighbors=1,
            num_pair_rbf=2, num_rbf=4, pair_conditioning=True, partner_neighbors=2)


@pytest.fixture(scope="module")
def paired_checkpoint(tmp_path_factory):
    """A tiny FrameScoreNet with strand-pair conditioning (random weights)."""
    torch.manual_seed(0)
    net = FrameScoreNet(**TINY)
    meta = dict(read_metadata(shipped_checkpoint("backbone_score_local.safetensors")))
    meta.update(model_class="FrameScoreNet", model_config=net.config, step=1)
    path = tmp_path_factory.mktemp("ckpt") / "paired.safetensors"
    save_checkpoint(path, Checkpoint(model=net.state_dict(), metadata=meta))
    return path


def test_drawn_layouts_carry_their_chains_pairing():
    """The window's pairs name only its own strand segments, and a window of a chain cut from a
    known layout keeps exactly the pairs inside it."""
    lays = [draw_layout(100, 0, i) for i in range(30)]
    assert sum(bool(l.pairs) for l in lays) >= 10
    for l in lays:
        n = len(strand_segments(l.tokens))
        assert all(0 <= s < t < n for s, t in l.pairs)
    tokens = np.array([0, 2, 2, 2, 0, 0, 2, 2, 2, 0, 1, 1, 2, 2, 0], dtype=np.uint8)
    pairs = np.array([[1, 8], [2, 7], [3, 6], [6, 13], [7, 12]])
    small = SSLayouts(tokens, np.array([15]), pairs=pairs)
    rng = np.random.default_rng(0)
    full = small.draw(15, rng)
    assert full.pairs == ((0, 1), (1, 2)) and full.pairs_text == "1:2/2:3"
    tok = full.pair_tokens()
    assert tok[2, 7] == PAIR_ADJACENT and tok[2, 12] != PAIR_ADJACENT


def test_auto_pairs_are_recorded_and_reach_the_network(tmp_path, paired_checkpoint, monkeypatch):
    seen = []
    original = FrameScoreNet.network

    def spy(self, x_c, sigma, mask, res_idx, cond=None):
        seen.append(None if cond is None else cond.get("ss_pairs"))
        return original(self, x_c, sigma, mask, res_idx, cond)

    monkeypatch.setattr(FrameScoreNet, "network", spy)
    out = tmp_path / "o"
    assert main(["sample", f"out={out}", f"checkpoint={paired_checkpoint}", "length=80", "num=3", "seed=2",
                 *FAST]) == 0
    m = json.loads((out / "manifest.json").read_text())
    drawn = [draw_layout(80, 2, i) for i in range(3)]
    assert [f["pairs"] for f in m["files"]] == [d.pairs_text for d in drawn]
    assert seen and all(p is not None and p.shape == (3, 80, 80) for p in seen)
    assert torch.equal(seen[0][0], torch.from_numpy(drawn[0].pair_tokens()))
    text = (out / "len80_000.pdb").read_text()
    assert "STRAND PAIRS" in text
    # pairs=none: labels only
    seen.clear()
    assert main(["sample", f"out={tmp_path / 'n'}", f"checkpoint={paired_checkpoint}", "length=40", "num=1",
                 "pairs=none", *FAST]) == 0
    assert "pairs" not in json.loads((tmp_path / "n" / "manifest.json").read_text())["files"][0]
    assert all(p is None for p in seen)


def test_given_pairs_for_an_ss_string(tmp_path, paired_checkpoint):
    ss = "LLEEEEELLLEEEEELLLLHHHHHHHHHLLLEEEEELL"
    out = tmp_path / "g"
    assert main(["sample", f"out={out}", f"checkpoint={paired_checkpoint}", f"ss={ss}", "pairs=1:2/2:3", "num=1",
                 *FAST]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["files"][0]["pairs"] == "1:2/2:3" and m["files"][0]["ss"] == ss
    assert PairedLayout(np.array([2, 2]), ((0, 1),)).pairs_text == "1:2"


@pytest.mark.parametrize("args,message", [
    (["ss=LLEEELLEEELL", "pairs=1:3"], "names strand 3, but the ss string has 2 strand segment"),
    (["ss=LLEEELLEEELL", "pairs=1-2"], "'1-2' is not 'S:T'"),
    (["pairs=1:2"], "give ss=STRING too"),
])
def test_bad_pairs_fail_before_work(tmp_path, capsys, paired_checkpoint, args, message):
    out = tmp_path / "bad"
    assert main(["sample", f"out={out}", f"checkpoint={paired_checkpoint}", *FAST, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


E3NN = f"checkpoint={shipped_checkpoint('backbone_score_ss.safetensors')}"   # labels, no pair conditioning


def test_given_pairs_need_a_pair_conditioned_checkpoint(tmp_path, capsys):
    assert main(["sample", f"out={tmp_path / 'o'}", E3NN, "ss=LLEEELLEEELL", "pairs=1:2", *FAST]) == 2
    assert "strand-pair conditioning" in capsys.readouterr().err


def test_ss_file_with_pairs(tmp_path, paired_checkpoint, capsys):
    f = tmp_path / "ss.txt"
    f.write_text(">a\nLLEEELLEEELLHHHHLL pairs=1:2\n>b\nLLHHHHHHHHLL\n")
    out = tmp_path / "o"
    assert main(["sample", f"out={out}", f"checkpoint={paired_checkpoint}", f"ss_file={f}", "num=1", *FAST]) == 0
    files = {x["length"]: x for x in json.loads((out / "manifest.json").read_text())["files"]}
    assert files[18]["pairs"] == "1:2" and "pairs" not in files[12]
    bad = tmp_path / "bad.txt"
    bad.write_text("LLEEELLEEELL pairs=1:3\n")
    assert main(["sample", f"out={tmp_path / 'b'}", f"checkpoint={paired_checkpoint}", f"ss_file={bad}", *FAST]) == 2
    assert "bad.txt: line 1" in capsys.readouterr().err
    # a checkpoint without pair conditioning: an error, unless pairs=none
    assert main(["sample", f"out={tmp_path / 'd'}", E3NN, f"ss_file={f}", "pairs=none", "num=1", *FAST]) == 0
    assert main(["sample", f"out={tmp_path / 'c'}", E3NN, f"ss_file={f}", *FAST]) == 2
    assert "strand-pair conditioning" in capsys.readouterr().err
