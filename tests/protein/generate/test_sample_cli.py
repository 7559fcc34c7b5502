"""`proteindsm sample` with the shipped checkpoint: files that biotite reads back; clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from proteindsm.cli import main
from proteindsm.resources import SHIPPED_SCORE_CHECKPOINT, shipped_checkpoint
from proteindsm.core import Checkpoint, save_checkpoint
from proteindsm.protein.data.io import read_backbones

FAST = ["steps=4", "progress=false", "device=cpu"]


@pytest.mark.parametrize("name", [SHIPPED_SCORE_CHECKPOINT, "backbone_score_local.safetensors"])
def test_shipped_checkpoint_is_small_and_loads_safely(name):
    path = shipped_checkpoint(name)
    assert path.is_file() and path.stat().st_size < 20 * 2**20
    from proteindsm.protein.model.checkpoints import load_model
    loaded = load_model(path)
    assert loaded.schedule.sigma_max > loaded.schedule.sigma_min > 0
    x = torch.randn(1, 10, 4, 3) * 3.0
    with torch.no_grad():
        score = loaded.model(x, torch.tensor([1.0]), cond={"mask": torch.ones(1, 10, dtype=torch.bool)})
    assert score.shape == x.shape and torch.isfinite(score).all()


def test_experimental_checkpoint_samples_from_the_cli(tmp_path):
    out = tmp_path / "local"
    ckpt = shipped_checkpoint("backbone_score_local.safetensors")
    assert main(["sample", f"out={out}", f"checkpoint={ckpt}", "length=16", "num=1", *FAST]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["checkpoint_step"] == 9075
    (chain,) = read_backbones(out / "len16_000.pdb", max_peptide_bond=float("inf"))
    assert chain.coords.shape == (16, 4, 3)


def test_sample_writes_backbones_biotite_reads(tmp_path):
    out = tmp_path / "s"
    assert main(["sample", f"out={out}", "length=[12,20]", "num=2", "save_trajectory=true", "view=true", *FAST]) == 0
    files = sorted(out.glob("len*_0??.pdb"))
    assert [f.name for f in files] == ["len12_000.pdb", "len12_001.pdb", "len20_000.pdb", "len20_001.pdb"]
    import biotite.structure.io as strucio
    for f in files:
        atoms = strucio.load_structure(str(f))
        L = int(f.name[3:5])
        assert atoms.array_length() == 4 * L
        assert list(atoms.atom_name[:4]) == ["N", "CA", "C", "O"]
        assert set(atoms.res_name) == {"GLY"} and set(atoms.chain_id) == {"A"}
        assert np.isfinite(atoms.coord).all()
        (chain,) = read_backbones(f, max_peptide_bond=float("inf"))  # generated: never split
        assert chain.coords.shape == (L, 4, 3)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seed"] == 0 and len(manifest["files"]) == 4
    assert manifest["sigma_grid"]["levels"] == 4
    traj = strucio.load_structure(str(out / "len12_000_trajectory.pdb"))
    # default sampler (annealed Langevin): initial noise, one frame per σ level, the final denoising step
    assert traj.stack_depth() == 1 + 4 + 1
    assert (out / "view.html").is_file() and (out / "3Dmol-min.js").is_file()


def test_steric_potential_removes_clashes(tmp_path):
    """Same seed with and without the steric potential (on by default at σ ≤ 1 Å; at every level
    here): it removes (nearly) every clashing pair of only 4 levels' sampling, and the manifest
    records its settings."""
    from proteindsm.protein.analysis.metrics import clash_pair_count

    def clashes(out):
        return sum(clash_pair_count(read_backbones(f, max_peptide_bond=float("inf"))[0].coords)
                   for f in sorted(out.glob("len*.pdb")))

    off, on = tmp_path / "off", tmp_path / "on"
    # the sampler's own output (4 levels x 4 steps leave it far from ideal, where the fit moves Å)
    raw = ["ideal_output=false", "sampler=langevin_quick"]
    assert main(["sample", f"out={off}", "length=40", "num=2", "steric.scale=0", *raw, *FAST]) == 0
    assert main(["sample", f"out={on}", "length=40", "num=2", "steric.scale=1", "steric.sigma_max=100", *raw, *FAST]) == 0
    assert json.loads((off / "manifest.json").read_text())["steric"] is None
    assert json.loads((on / "manifest.json").read_text())["compactness"] == {"scale": 0.5, "sigma_max": 10.0,
                                                                             "max_normalised": 3.3}
    assert json.loads((on / "manifest.json").read_text())["steric"] == {"scale": 1.0, "sigma_max": 100.0, "margin": 0.2}
    n_off, n_on = clashes(off), clashes(on)
    assert n_off > 10 and n_on <= n_off // 50, (n_off, n_on)   # measured: 357 and 2 (frame checkpoint; e3nn: 128 and 0)


def test_steric_option_of_the_scripts():
    from proteindsm.protein.generate.options import steric_option
    from proteindsm.errors import InputError

    assert steric_option("1:0.5") == {"scale": 1.0, "sigma_max": 0.5, "margin": 0.2}
    assert steric_option("0.5") == {"scale": 0.5, "sigma_max": 1.0, "margin": 0.2}
    assert steric_option(None) is None and steric_option("0") is None
    for bad, message in (("3", "must be < 2"), ("1:2:3", "SCALE:SIGMA_MAX"), ("x", "must be a number")):
        with pytest.raises(InputError, match=message):
            steric_option(bad)


def test_compactness_option_of_the_scripts_and_config_errors(tmp_path, capsys):
    from proteindsm.protein.generate.options import compactness_option
    from proteindsm.errors import InputError

    assert compactness_option("1") == {"scale": 1.0, "sigma_max": 10.0, "max_normalised": 3.3}
    assert compactness_option("0.5:5:3") == {"scale": 0.5, "sigma_max": 5.0, "max_normalised": 3.0}
    assert compactness_option(None) is None and compactness_option("0") is None
    for bad, message in (("2", "must be < 2"), ("1:2:3:4", "SCALE:SIGMA_MAX:MAX_NORMALISED"),
                         ("1:10:0", "max_normalised must be > 0")):
        with pytest.raises(InputError, match=message):
            compactness_option(bad)
    out = tmp_path / "bad"
    assert main(["sample", f"out={out}", "compactness.max_normalised=-1", *FAST]) == 2
    assert "compactness.max_normalised must be > 0" in capsys.readouterr().err and not out.exists()


def test_compactness_ceiling_holds_chains_at_it(tmp_path):
    """Same seed, the default sampler, a ceiling below where these chains end without it (Rg/L^0.4 ≤
    1.8 Å vs 2.2–2.6 free with the frame checkpoint; real chains of 40 residues: ~2.5) at every level:
    each backbone ends at the ceiling with intact peptide bonds, and the manifest records the settings.
    (On a coarse grid — `langevin_quick` with 20 levels — the run-6 weights tear 2–3 of 8 such
    squeezed chains; docs/protein.md, "Compactness ceiling".)"""
    def rg_normalised_and_max_peptide_bond(out):
        vals = []
        for f in sorted(out.glob("len*.pdb")):
            X = read_backbones(f, max_peptide_bond=float("inf"))[0].coords
            ca = X[:, 1]
            vals.append((float(np.sqrt(((ca - ca.mean(0)) ** 2).sum(1).mean())) / len(ca) ** 0.4,
                         float(np.linalg.norm(X[1:, 0] - X[:-1, 2], axis=1).max())))
        return np.array(vals)

    off, on = tmp_path / "off", tmp_path / "on"
    common = ["length=40", "num=3", "progress=false", "device=cpu"]
    assert main(["sample", f"out={off}", "compactness.scale=0", *common]) == 0
    assert main(["sample", f"out={on}", "compactness.sigma_max=100", "compactness.max_normalised=1.8", *common]) == 0
    assert json.loads((off / "manifest.json").read_text())["compactness"] is None
    assert json.loads((on / "manifest.json").read_text())["compactness"] == {"scale": 0.5, "sigma_max": 100.0,
                                                                             "max_normalised": 1.8}
    free, held = rg_normalised_and_max_peptide_bond(off), rg_normalised_and_max_peptide_bond(on)
    assert (free[:, 0] > 2.0).all(), free
    assert (np.abs(held[:, 0] - 1.8) < 0.1).all() and (held[:, 1] < 1.7).all(), held


def test_same_seed_same_backbones_and_cif(tmp_path):
    assert main(["sample", f"out={tmp_path / 'a'}", "length=15", "num=1", "seed=3", *FAST]) == 0
    assert main(["sample", f"out={tmp_path / 'b'}", "length=15", "num=1", "seed=3", "format=cif", *FAST]) == 0
    a = read_backbones(tmp_path / "a" / "len15_000.pdb", max_peptide_bond=float("inf"))[0].coords
    b = read_backbones(tmp_path / "b" / "len15_000.cif", max_peptide_bond=float("inf"))[0].coords
    assert np.allclose(a, b, atol=2e-3)


@pytest.mark.parametrize("args,message", [
    (["length=0"], "length 0"),
    (["length=1000"], "length 1000"),
    (["length=abc"], "length must be"),
    (["num=0"], "num must be"),
    (["format=xyz"], "format"),
    (["checkpoint=/nonexistent/model.safetensors"], "not found"),
    (["steps=0"], "steps"),
    (["sampler=nope"], "unknown sampler"),
    (["sampler.eps=-1", "sampler=annealed_langevin"], "eps"),
    (["steric.scale=2"], "steric.scale must be < 2"),
    (["steric.scale=abc"], "steric.scale must be a number"),
    (["steric.scale=1", "steric.sigma_max=0"], "steric.sigma_max must be > 0"),
    (["steric.margin=-0.1"], "steric.margin must be >= 0"),
])
def test_bad_sample_arguments_fail_before_work(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["sample", f"out={out}", *FAST, *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() or not any(out.iterdir())


def test_corrupt_and_foreign_checkpoints(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["sample", f"out={tmp_path / 'o1'}", f"checkpoint={bad}", *FAST]) == 2
    assert "checkpoint" in capsys.readouterr().err
    foreign = tmp_path / "toy.safetensors"
    save_checkpoint(foreign, Checkpoint(model={"w": torch.zeros(2)}, metadata={"model_class": "ToyScoreMLP"}))
    assert main(["sample", f"out={tmp_path / 'o2'}", f"checkpoint={foreign}", *FAST]) == 2
    assert "ToyScoreMLP" in capsys.readouterr().err


def test_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["sample", f"out={blocker / 'sub'}", *FAST]) == 2
    assert "not writable" in capsys.readouterr().err


def test_named_sampler_matches_the_sample_command_default():
    from proteindsm.cli.config import compose
    from proteindsm.cli.protein_common import build_sampler
    from proteindsm.protein.generate.options import named_sampler
    from proteindsm.core import AnnealedLangevin, ReverseSDE

    default, levels = build_sampler(compose("protein", "sample", []))
    named, named_levels = named_sampler("langevin_sheet_wide")
    assert isinstance(default, AnnealedLangevin) and default == named and levels == named_levels == 40
    assert (default.temperature, default.temperature_sigma_max, default.steps_per_level) == (0.5, None, 2)
    quality, quality_levels = named_sampler("langevin_quick")
    assert (quality.temperature, quality.steps_per_level, quality_levels) == (0.5, 4, 50)
    cold, cold_levels = named_sampler("langevin_cold")
    assert (cold.temperature, cold.steps_per_level, cold_levels) == (0.5, 8, 100)
    previous, _ = named_sampler("langevin_lowtemp")
    assert (previous.temperature, previous.temperature_sigma_max, previous.steps_per_level) == (0.5, 1.0, 20)
    plain, _ = named_sampler("annealed_langevin")
    assert plain.temperature == 1.0 and plain.temperature_sigma_max is None
    # design samples like sample
    design_default, _ = build_sampler(compose("protein", "design", []))
    assert design_default == named
    fast, fast_levels = named_sampler("reverse_sde", steps=50)
    assert isinstance(fast, ReverseSDE) and fast_levels == 50
    quick, quick_levels = named_sampler("langevin_fast")              # one step per level: 231 evaluations
    assert quick.num_evaluations(quick_levels) == 231 and quick.temperature == 0.3
    few, few_levels = named_sampler("langevin_fewstep")               # σ windows: <= 100 on the shipped grid
    from proteindsm.protein.generate import load_plan, sample_options
    plan = load_plan(sample_options(length=[50], num=1, sampler="langevin_fewstep", progress=False))
    assert few_levels == len(plan.sigmas) == 40 and few.level_steps
    assert 90 <= few.num_evaluations(plan.sigmas) <= 100
    # the default: 1 step per level above 8 Å, 16 at 0.5-8 Å, 5 at 0.3-0.5 Å, 1 at 0.1-0.3 Å, none below
    steps = [default.steps_at(float(s)) for s in plan.sigmas]
    expected = [1 if s >= 8 else 16 if s >= 0.5 else 5 if s >= 0.3 else 1 if s >= 0.1 else 0 for s in plan.sigmas.tolist()]
    assert steps == expected and default.num_evaluations(plan.sigmas) == sum(expected) + 1 == 251
    assert build_sampler(compose("protein", "scaffold", []))[0] == named == build_sampler(compose("protein", "diversify", []))[0]
    # langevin_sheet: 1 step per level above 5 Å, 16 at 1-5 Å, 5 at 0.3-1 Å
    sheet, _ = named_sampler("langevin_sheet")
    steps = [sheet.steps_at(float(s)) for s in plan.sigmas]
    expected = [1 if s >= 5 else 16 if s >= 1 else 5 if s >= 0.3 else 1 if s >= 0.1 else 0 for s in plan.sigmas.tolist()]
    assert steps == expected and sheet.num_evaluations(plan.sigmas) == sum(expected) + 1 == 162
    # langevin_sheet_long: the default with 32 steps at 0.5-8 Å
    long, _ = named_sampler("langevin_sheet_long")
    steps = [long.steps_at(float(s)) for s in plan.sigmas]
    expected = [1 if s >= 8 else 32 if s >= 0.5 else 5 if s >= 0.3 else 1 if s >= 0.1 else 0 for s in plan.sigmas.tolist()]
    assert steps == expected and long.num_evaluations(plan.sigmas) == sum(expected) + 1 == 475
