"""The generation layer (proteindsm.protein.generate): the Python API equals the CLI, output files
carry their provenance, interrupted runs are continued, the progress bar counts evaluations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from omegaconf import OmegaConf

import proteindsm.protein as p
from proteindsm.cli import main
from proteindsm.errors import InputError
from proteindsm.protein.data.io import read_backbones
from proteindsm.resources import config_root

from tests.interrupt import CallCounter

FAST = ["progress=false", "device=cpu"]


def _coords(path):
    return read_backbones(path, max_peptide_bond=float("inf"))[0].coords


def test_api_sample_equals_the_cli(tmp_path):
    b = p.sample(length=40, num=2, seed=0, sampler="langevin_fast", steps=12, progress=False, device="cpu")
    assert len(b) == 2 and b[0].coords.shape == (40, 4, 3) and b[0].coords.dtype == np.float32
    assert b[0].metadata["length"] == 40 and b[1].metadata["index"] == 1 and b.manifest["complete"] is True
    out = tmp_path / "cli"
    assert main(["sample", f"out={out}", "length=40", "num=2", "seed=0", "sampler=langevin_fast", "steps=12",
                 *FAST]) == 0
    for s in b:
        assert np.abs(_coords(out / f"{s.name}.pdb") - s.coords).max() < 1e-3
    # the backbone writes the same file the CLI does
    s = b[0]
    s.write(tmp_path / "api.pdb")
    assert (tmp_path / "api.pdb").read_text() == (out / "len40_000.pdb").read_text()


def test_api_defaults_are_the_sample_config_defaults():
    import inspect

    from proteindsm.cli.config import default_choice
    from proteindsm.protein.generate import DEFAULT_SAMPLER, sample_options
    from proteindsm.protein.generate.options import POTENTIAL_DEFAULTS

    cfg = OmegaConf.load(config_root() / "protein" / "sample.yaml")
    assert DEFAULT_SAMPLER == default_choice("protein", "sample", "sampler")
    params = inspect.signature(sample_options).parameters
    for key in ("num", "seed", "steps", "checkpoint", "ss", "ss_file", "sigma_max", "sigma_min", "device",
                "batch_size", "format", "ideal_output", "save_trajectory", "progress", "length"):
        assert params[key].default == cfg[key], key
    for name in ("steric", "compactness"):
        assert POTENTIAL_DEFAULTS[name] == OmegaConf.to_container(cfg[name])


def test_api_errors_before_work():
    with pytest.raises(InputError, match="seed"):
        p.sample(length=10, num=1, seed="abc")
    with pytest.raises(InputError, match="unknown sampler"):
        p.sample(length=10, num=1, sampler="nope")
    with pytest.raises(TypeError):
        p.sample(length=10, num=1, lenght=3)


def test_pdb_files_carry_provenance_and_cif_too(tmp_path):
    out = tmp_path / "s"
    assert main(["sample", f"out={out}", "length=12", "num=1", "seed=5", "steps=3", "ss=HHHHHHLLLLLL", *FAST]) == 0
    text = (out / "len12_000.pdb").read_text().splitlines()
    assert text[0].startswith("HEADER") and text[-1] == "END" and text[-2].startswith("TER")
    remarks = "\n".join(line for line in text if line.startswith("REMARK"))
    for want in ("GENERATOR proteindsm", "CHECKPOINT backbone_score_frame.safetensors", "SAMPLER langevin_sheet_wide",
                 "SEED 5", "SECONDARY STRUCTURE HHHHHHLLLLLL", "GLYCINE"):
        assert want in remarks
    m = json.loads((out / "manifest.json").read_text())
    assert m["command"].startswith("proteindsm sample out=") and "seed=5" in m["command"]
    assert m["version"] == __import__("proteindsm.resources").resources.version()
    assert m["complete"] is True and m["files"][0]["seconds"] > 0
    cif = tmp_path / "c"
    assert main(["sample", f"out={cif}", "length=12", "num=1", "seed=5", "steps=3", "format=cif", *FAST]) == 0
    body = (cif / "len12_000.cif").read_text()
    assert body.startswith("# GENERATOR proteindsm") and "data_" in body
    assert _coords(cif / "len12_000.cif").shape == (12, 4, 3)


def test_interrupted_run_keeps_its_first_batch_and_is_continued(tmp_path, monkeypatch, capsys):
    import proteindsm.protein.generate.sampling as sampling

    args = ["length=14", "num=3", "batch_size=1", "seed=2", "steps=3", *FAST]
    full = tmp_path / "full"
    assert main(["sample", f"out={full}", *args]) == 0

    out = tmp_path / "part"
    real = sampling._sample_batch
    monkeypatch.setattr(sampling, "_sample_batch", CallCounter(real, die_after=1))
    assert main(["sample", f"out={out}", *args]) == 130
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] is False and [f["file"] for f in m["files"]] == ["len14_000.pdb"]
    assert sorted(f.name for f in out.glob("*.pdb")) == ["len14_000.pdb"]

    # other settings into the partial folder: one clear error, nothing changed
    monkeypatch.setattr(sampling, "_sample_batch", real)
    capsys.readouterr()
    assert main(["sample", f"out={out}", "length=14", "num=3", "batch_size=1", "seed=3", "steps=3", *FAST]) == 2
    err = capsys.readouterr().err
    assert "partial run made with other settings" in err and "seed" in err and "Traceback" not in err

    # the same command completes it, re-making only the missing batches
    counting = CallCounter(real)
    monkeypatch.setattr(sampling, "_sample_batch", counting)
    assert main(["sample", f"out={out}", *args]) == 0
    assert counting.calls == 2 and "continued a partial run" in capsys.readouterr().out
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] is True and len(m["files"]) == 3
    for i in range(3):
        name = f"len14_{i:03d}.pdb"
        assert (out / name).read_text() == (full / name).read_text()


def test_progress_bar_counts_network_evaluations(capsys):
    from proteindsm.protein.generate import named_sampler

    sampler, _ = named_sampler("langevin_fast")
    b = p.sample(length=10, num=3, batch_size=2, seed=0, sampler="langevin_fast", steps=4, device="cpu",
                 progress=True)
    assert len(b) == 3
    err = capsys.readouterr().err
    total = 2 * sampler.num_evaluations(4)
    assert f"{total}/{total}" in err and "eval" in err


def test_library_and_scripts_never_import_the_cli():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    pattern = re.compile(r"^\s*(from|import)\s+proteindsm\.cli\b|from proteindsm import cli", re.M)
    lib = [f for f in (root / "proteindsm").rglob("*.py") if "cli" not in f.relative_to(root / "proteindsm").parts]
    assert lib and not [str(f) for f in lib if pattern.search(f.read_text())]
    # scripts use the library (train_gpu.py runs `proteindsm train` as a subprocess); the exception
    # benchmarks the toy command's config-built samplers
    launchers = {"bench_samplers.py"}
    offenders = [f.name for f in (root / "scripts").glob("*.py")
                 if f.name not in launchers and pattern.search(f.read_text())]
    assert not offenders, offenders


def test_import_is_cheap():
    import subprocess
    import sys

    code = "import sys, proteindsm.protein as p; assert 'torch' not in sys.modules; assert callable(p.sample)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


def test_readme_python_example_runs(tmp_path, monkeypatch):
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)
    assert (tmp_path / "len40_000.pdb").is_file()
    assert "unguided_measured_mean" in ns["d"].summary[0]


def test_sampler_preset_rho_sets_the_sigma_grid():
    """``sampler=edm`` runs on the ρ = 7 grid of its preset; ``rho`` in a mapping too; bad ρ → error."""
    import torch

    from proteindsm.core import sampling_sigmas
    from proteindsm.protein.generate import load_plan, sample_options

    plan = load_plan(sample_options(length=20, num=1, sampler="edm", steps=6, progress=False))
    s = plan.loaded.schedule
    assert plan.options.rho == 7.0
    assert torch.equal(plan.sigmas, sampling_sigmas(s.sigma_min, s.sigma_max, 6, rho=7.0))
    geo = load_plan(sample_options(length=20, num=1, sampler="langevin_fast", steps=6, progress=False))
    assert geo.options.rho is None and torch.equal(geo.sigmas, sampling_sigmas(s.sigma_min, s.sigma_max, 6))
    with pytest.raises(InputError, match="rho"):
        sample_options(length=20, sampler={"_target_": "proteindsm.core.EDMStochastic", "rho": -1})
