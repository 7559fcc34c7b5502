"""`proteindsm sample ss=...`: conditioned sampling, the manifest record, ss=auto layouts, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from proteindsm.cli import main
from proteindsm.core import Checkpoint, save_checkpoint
from proteindsm.core.checkpoint import read_metadata
from proteindsm.resources import shipped_checkpoint
from proteindsm.protein.model.network import BackboneScoreNet
from proteindsm.protein.data.secondary_structure import SS_HELIX, SS_STRAND, parse_ss_string
from proteindsm.protein.data.ss_layouts import draw_layout, shipped_layouts

FAST = ["steps=3", "progress=false", "device=cpu", "sampler=langevin_fast"]
TINY = dict(scalar_channels=8, vector_channels=2, num_layers=1, k_neighbors=4, seq_neighbors=1, lmax=1,
            max_relative_position=8, num_rbf=4)


@pytest.fixture(scope="module")
def conditioned_checkpoint(tmp_path_factory):
    """A tiny conditioned network (random weights) with the shipped checkpoint's metadata layout."""
    torch.manual_seed(0)
    net = BackboneScoreNet(**TINY, ss_conditioning=True, self_conditioning=True, ideal_geometry=True)
    meta = dict(read_metadata(shipped_checkpoint("backbone_score_local.safetensors")))
    meta.update(model_config=net.config, step=1)
    path = tmp_path_factory.mktemp("ckpt") / "cond.safetensors"
    save_checkpoint(path, Checkpoint(model=net.state_dict(), metadata=meta))
    return path


def test_ss_string_is_used_and_recorded(tmp_path, conditioned_checkpoint):
    ss = "LLHHHHHHHHLLEEEEELLEEEEELL"
    out = tmp_path / "o"
    assert main(["sample", f"out={out}", f"checkpoint={conditioned_checkpoint}", f"ss={ss}", "num=2", *FAST]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["ss_mode"] == "string"
    assert [f["length"] for f in m["files"]] == [len(ss)] * 2 and all(f["ss"] == ss for f in m["files"])


def test_ss_auto_draws_real_layouts_per_backbone(tmp_path, conditioned_checkpoint):
    out = tmp_path / "o"
    assert main(["sample", f"out={out}", f"checkpoint={conditioned_checkpoint}", "length=[40,60]", "num=2",
                 "seed=5", *FAST]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["ss_mode"] == "auto"
    strings = [f["ss"] for f in m["files"]]
    assert [len(s) for s in strings] == [40, 40, 60, 60] and len(set(strings)) == 4
    assert strings[0] == "".join("LHE-"[t] for t in draw_layout(40, 5, 0).tokens)   # seeded, reproducible
    # ss=none: unconditional, no strings
    assert main(["sample", f"out={tmp_path / 'n'}", f"checkpoint={conditioned_checkpoint}", "length=20", "num=1",
                 "ss=none", *FAST]) == 0
    m = json.loads((tmp_path / "n" / "manifest.json").read_text())
    assert m["ss_mode"] == "none" and "ss" not in m["files"][0]


def test_auto_layouts_look_like_training_chains():
    """Over many draws the layouts have the make-up of the training chains of 100–125 residues (±0.03)."""
    lay = shipped_layouts()
    draws = np.concatenate([draw_layout(100, 0, i).tokens for i in range(400)])
    pool = [lay.tokens[o: o + n] for o, n in zip(lay.offsets, lay.lengths) if 100 <= n <= 125]
    pool = np.concatenate(pool)
    assert abs((draws == SS_HELIX).mean() - (pool == SS_HELIX).mean()) < 0.03
    assert abs((draws == SS_STRAND).mean() - (pool == SS_STRAND).mean()) < 0.03
    assert 0.15 < (lay.tokens == SS_STRAND).mean() < 0.35
    assert len(draw_layout(300, 0, 0).tokens) == 300                       # longer than any chain: padded


@pytest.mark.parametrize("args,message", [
    (["ss=HHHXEE"], "position 4 is 'X'"),
    (["ss=HHHEEE", "length=7"], "ss has 6 residues but length=7"),
    (["ss=HHHEEE", "length=[6,8]"], "several"),
    (["ss="], "non-empty"),
])
def test_bad_ss_fails_before_work(tmp_path, capsys, conditioned_checkpoint, args, message):
    out = tmp_path / "out"
    assert main(["sample", f"out={out}", f"checkpoint={conditioned_checkpoint}", *FAST, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_ss_string_with_an_unconditioned_checkpoint(tmp_path, capsys):
    assert main(["sample", f"out={tmp_path / 'o'}", f"checkpoint={shipped_checkpoint('backbone_score.safetensors')}",
                 "ss=HHHHEEEE", *FAST]) == 2
    assert "secondary-structure conditioning" in capsys.readouterr().err
    assert parse_ss_string("HE").tolist() == [SS_HELIX, SS_STRAND]


def test_targeted_layouts_and_design_records_them(tmp_path, conditioned_checkpoint):
    """ss=auto with a strand target draws real layouts near it; design records them per file (and
    keeps the β-sheet blueprint: labels alone do not make strands yet)."""
    plain = [(draw_layout(100, 0, i).tokens == SS_STRAND).mean() for i in range(100)]
    rich = [(draw_layout(100, 0, i, strand=0.5).tokens == SS_STRAND).mean() for i in range(40)]
    assert abs(np.mean(rich) - 0.5) < 0.03 and np.mean(plain) < 0.4 and np.std(rich) < 0.5 * np.std(plain)
    out = tmp_path / "d"
    assert main(["design", f"out={out}", f"checkpoint={conditioned_checkpoint}", "property=strand_fraction",
                 "target=0.4", "length=40", "num=2", "baseline=false", *FAST]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["ss_mode"] == "auto" and m["ss_targets"] == {"strand": 0.4} and m["sheet"]["fraction"] == 0.4
    got = [f["ss"].count("E") / 40 for f in m["files"]]
    assert all(abs(g - 0.4) < 0.1 for g in got), got


def test_design_with_an_ss_string_uses_that_layout_instead_of_a_blueprint(tmp_path, conditioned_checkpoint, capsys):
    """sheet.fraction=auto with a strand target: ss=STRING (the designer's layout) gets no β-sheet
    blueprint, with a note saying so; an explicit sheet.fraction still adds one."""
    ss = "LEEEEELLEEEEELLHHHHHHHHHHHHL"          # 28 residues, 10 E
    soft = ["property=strand_fraction", "target=0.4", "scale=2", "num=1", "baseline=false", *FAST]
    out = tmp_path / "string"
    assert main(["design", f"out={out}", f"checkpoint={conditioned_checkpoint}", f"ss={ss}", *soft]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["ss_mode"] == "string" and m["sheet"] is None and m["files"][0]["ss"] == ss
    assert "no β-sheet blueprint — the ss= layout says where the strands go" in capsys.readouterr().out
    out = tmp_path / "explicit"
    assert main(["design", f"out={out}", f"checkpoint={conditioned_checkpoint}", f"ss={ss}",
                 "sheet.fraction=0.3", *soft]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["sheet"]["fraction"] == 0.3 and m["sheet"]["fraction_from"] == "sheet.fraction"


def test_ss_file_gives_each_string_its_backbones(tmp_path, conditioned_checkpoint, capsys):
    strings = ["LLHHHHHHHHLL", "LEEEELLEEEEL", "LLHHHHLLLLLLLLLL"]
    f = tmp_path / "ss.txt"
    f.write_text(">a\n" + strings[0] + "\n\n>b\n" + strings[1] + "\n" + strings[2] + "\n")
    out = tmp_path / "o"
    assert main(["sample", f"out={out}", f"checkpoint={conditioned_checkpoint}", f"ss_file={f}", "num=2", *FAST]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["ss_mode"] == "file"
    got = [(x["length"], x["ss"]) for x in m["files"]]
    assert got == [(12, strings[0])] * 2 + [(12, strings[1])] * 2 + [(16, strings[2])] * 2
    names = [x["file"] for x in m["files"]]
    assert len(set(names)) == 6
    bad = tmp_path / "bad.txt"
    bad.write_text("HHHH\nHHQH\n")
    assert main(["sample", f"out={tmp_path / 'b'}", f"checkpoint={conditioned_checkpoint}", f"ss_file={bad}",
                 *FAST]) == 2
    assert "bad.txt: line 2" in capsys.readouterr().err and not (tmp_path / "b").exists()
    assert main(["sample", f"out={tmp_path / 'c'}", f"checkpoint={conditioned_checkpoint}", f"ss_file={f}",
                 "length=12", *FAST]) == 2
    assert "leave length= out" in capsys.readouterr().err


def test_ideal_output_rebuilds_residues(tmp_path):
    from proteindsm.protein.structure.backbone import BOND_C_O, BOND_CA_C, BOND_N_CA
    from proteindsm.protein.structure.geometry import bond_lengths
    from proteindsm.protein.data.io import read_backbones

    for flag in ("false", "true"):          # "true" is the default: no override given
        out = tmp_path / flag
        override = ["ideal_output=false"] if flag == "false" else []
        assert main(["sample", f"out={out}", "length=20", "num=1", *override, *FAST]) == 0
        x = torch.tensor(read_backbones(out / "len20_000.pdb", max_peptide_bond=float("inf"))[0].coords)
        dev = (bond_lengths(x)[:, :3] - torch.tensor([BOND_N_CA, BOND_CA_C, BOND_C_O])).abs().max().item()
        assert (dev < 2e-3) if flag == "true" else (dev > 2e-3), (flag, dev)   # PDB precision 1e-3 Å
        assert json.loads((out / "manifest.json").read_text())["ideal_output"] == (flag == "true")
