"""Partial diffusion (diversify): σ grid truncation, keep= parsing, and a known answer — with the
exact score of a narrow Gaussian around the input the variants end within its width."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from proteindsm.core import GeometricSchedule, ReverseSDE
from proteindsm.errors import InputError
from proteindsm.protein.generate.partial_diffusion import diversify_backbone, keep_mask, partial_sigmas

from tests.interrupt import CallCounter
from tests.protein.analysis.test_metrics import ideal_helix


def test_partial_sigmas_keeps_the_grid_below_the_start():
    grid = GeometricSchedule(0.02, 60.0, 100).levels()
    part = partial_sigmas(grid, 2.0)
    assert float(part[0]) == 2.0 and (part[1:] < 2.0).all() and (part[1:] < part[:-1]).all()
    assert torch.equal(part[1:], grid[grid < 2.0])
    for bad in (0.0, -1.0, 100.0, float("nan")):
        with pytest.raises(InputError, match="sigma"):
            partial_sigmas(grid, bad)


def test_keep_mask_parsing():
    m = keep_mask("2-4, 7", 10)
    assert m.tolist() == [False, True, True, True, False, False, True, False, False, False]
    assert keep_mask(None, 5) is None and keep_mask("", 5) is None
    for bad, msg in (("0-3", "outside"), ("5-3", "outside"), ("1-11", "outside"), ("a-b", "not a residue"),
                     ("1-2-3", "not a residue")):
        with pytest.raises(InputError, match=msg):
            keep_mask(bad, 10)


def _gaussian_around(X: np.ndarray, width: float):
    """Exact noised score of N(X_c, width² I) (X_c: X with zero CA centroid), any σ."""
    ref = torch.from_numpy(X - X[:, 1].mean(0)).float()

    def score(x, sigma, cond=None):
        return -(x - ref) / (width ** 2 + sigma.reshape(-1, 1, 1, 1) ** 2)

    return score


def test_variants_of_a_gaussian_around_the_input_stay_close():
    X = ideal_helix(30).astype(np.float32)
    grid = GeometricSchedule(0.02, 60.0, 200).levels()
    runs = {}
    for start in (1.0, 20.0):
        score = _gaussian_around(X, 0.05)
        runs[start] = diversify_backbone(lambda known: score, X, 4, ReverseSDE(), grid, start_sigma=start,
                                         seed=0, batch_size=3)
    close = runs[1.0]
    assert [v.index for v in close] == [0, 1, 2, 3] and close[0].coords.shape == (30, 4, 3)
    assert all(v.ca_rmsd_to_input < 0.15 and v.tm_to_input > 0.95 for v in close)
    assert all(v.kept_rmsd is None for v in close)
    # with the exact score the end point is the target whatever the start: a known answer for both
    assert all(v.ca_rmsd_to_input < 0.15 for v in runs[20.0])


def test_kept_residues_are_reported_and_the_condition_is_passed():
    X = ideal_helix(20).astype(np.float32)
    grid = GeometricSchedule(0.02, 60.0, 50).levels()
    seen = []
    score = _gaussian_around(X, 0.05)

    def score_for(known):
        seen.append(known)
        return score

    keep = keep_mask("3-8", 20)
    out = diversify_backbone(score_for, X, 2, ReverseSDE(), grid, start_sigma=2.0, seed=1, keep=keep)
    assert seen[0] is not None and seen[0].mask.shape == (2, 20) and int(seen[0].mask[0].sum()) == 6
    assert all(v.kept_rmsd is not None and v.kept_rmsd < 0.2 for v in out)


def test_skipped_batches_leave_the_others_unchanged_and_each_batch_is_reported():
    X = ideal_helix(20).astype(np.float32)
    grid = GeometricSchedule(0.02, 60.0, 40).levels()
    score = _gaussian_around(X, 0.5)
    run = lambda **kw: diversify_backbone(lambda known: score, X, 5, ReverseSDE(), grid, start_sigma=3.0,  # noqa: E731
                                          seed=2, batch_size=2, **kw)
    full = run()
    batches, asked = [], []
    part = run(skip=lambda rows: asked.append(rows) or rows == [0, 1], on_batch=batches.append)
    assert asked == [[0, 1], [2, 3], [4]]
    assert [[v.index for v in b] for b in batches] == [[2, 3], [4]] and [v.index for v in part] == [2, 3, 4]
    for v in part:
        np.testing.assert_array_equal(v.coords, full[v.index].coords)


# ------------------------------------------------------------------------------------ CLI
SHARED_PDB = "../shared/data/pdb/1ubi.pdb"


def _input(tmp_path):
    """A small real backbone (ubiquitin's first 40 residues) written as PDB."""
    from proteindsm.protein.data.io import read_backbones, write_pdb

    X = read_backbones(SHARED_PDB)[0].coords[:40]
    return write_pdb(tmp_path / "in.pdb", X)


@pytest.mark.parametrize("args,message", [
    (["input=missing.pdb"], "file not found"),
    (["sigma=abc"], "sigma must be a positive number of Å"),
    (["sigma=0"], "positive"),
    (["sigma=500"], "outside the model's noise range"),
    (["keep=30-50"], "keep: '30-50' is outside"),
    (["ss=auto"], "ss=input"),
    (["ss=HHHH"], "ss has 4 residues but length=40"),
    (["mechanism=none"], "mechanism must be replacement or guidance"),
])
def test_diversify_bad_input_one_error_nothing_written(tmp_path, capsys, args, message):
    from proteindsm.cli import main

    src = _input(tmp_path)
    out = tmp_path / "out"
    argv = ["diversify", f"input={src}", f"out={out}", "num=1", "progress=false", *args]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("proteindsm: error:") and message in err and "Traceback" not in err
    assert not any(out.glob("*.pdb"))


def test_diversify_writes_variants_report_and_manifest(tmp_path):
    import csv
    import json

    from proteindsm.cli import main
    from proteindsm.protein.data.io import read_backbones

    src = _input(tmp_path)
    out = tmp_path / "out"
    assert main(["diversify", f"input={src}", f"out={out}", "num=2", "sigma=0.5", "sampler=langevin_fast",
                 "keep=5-12", "ss=input", "progress=false"]) == 0
    rows = list(csv.DictReader(open(out / "report.csv")))
    assert [r["file"] for r in rows] == ["variant_000.pdb", "variant_001.pdb"]
    X = read_backbones(src)[0].coords
    for r in rows:
        Y = read_backbones(out / r["file"])[0].coords
        assert Y.shape == X.shape
        assert 0.0 < float(r["tm_to_input"]) <= 1.0 and float(r["kept_rmsd"]) >= 0.0
    text = (out / "variant_000.pdb").read_text()
    assert "REMARK  99 INPUT in.pdb" in text and "SS " in text and text.rstrip().endswith("END")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sigma"] == 0.5 and manifest["complete"] and manifest["evaluations"] > 0


def test_api_diversify_equals_the_cli(tmp_path):
    import proteindsm.protein as p
    from proteindsm.cli import main
    from proteindsm.protein.data.io import read_backbones

    src = _input(tmp_path)
    out = tmp_path / "cli"
    assert main(["diversify", f"input={src}", f"out={out}", "num=2", "sigma=0.5", "sampler=langevin_fast",
                 "steps=20", "keep=5-12", "progress=false"]) == 0
    res = p.diversify(src, 0.5, num=2, keep="5-12", sampler="langevin_fast", steps=20, progress=False)
    assert len(res) == 2 and res.manifest["sigma"] == 0.5
    for v, r in zip(res, res.report):
        np.testing.assert_allclose(v.coords, read_backbones(out / r["file"])[0].coords, atol=5.1e-4, rtol=0)  # PDB: 3 decimals


def test_interrupted_diversify_continues_and_equals_an_uninterrupted_run(tmp_path, monkeypatch, capsys):
    import json

    from proteindsm.cli import main
    from proteindsm.protein.generate import partial_diffusion

    src = _input(tmp_path)
    args = ["diversify", f"input={src}", "num=3", "batch_size=1", "sigma=0.5", "sampler=langevin_fast", "steps=20",
            "keep=5-12", "progress=false"]
    full = tmp_path / "full"
    assert main([*args, f"out={full}"]) == 0
    out = tmp_path / "part"
    real = partial_diffusion.known_residues                    # called once per batch when residues are kept
    monkeypatch.setattr(partial_diffusion, "known_residues", CallCounter(real, die_after=1))
    assert main([*args, f"out={out}"]) == 130
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] is False and [r["file"] for r in m["rows"]] == ["variant_000.pdb"]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "variant_000.pdb"]
    monkeypatch.setattr(partial_diffusion, "known_residues", real)
    # a partial folder with other settings: one error line, nothing written
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main([*[a if a != "sigma=0.5" else "sigma=0.6" for a in args], f"out={out}"]) == 2
    err = capsys.readouterr().err
    assert "partial diversify run made with other settings" in err and f"out={out}" in err
    assert len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # the same command completes it: only the missing batches are sampled, the variants are those of the full run
    counting = CallCounter(real)
    monkeypatch.setattr(partial_diffusion, "known_residues", counting)
    assert main([*args, f"out={out}"]) == 0
    assert counting.calls == 2
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] is True and m["files"] == ["variant_000.pdb", "variant_001.pdb", "variant_002.pdb"]
    assert m["settings"] == json.loads((full / "manifest.json").read_text())["settings"]
    atoms = lambda p: [line for line in p.read_text().splitlines() if line.startswith("ATOM")]  # noqa: E731
    for name in m["files"]:
        assert atoms(out / name) == atoms(full / name)
    strip = lambda p: [line.rsplit(",", 1)[0] for line in p.read_text().splitlines()]   # noqa: E731 (seconds differ)
    assert strip(out / "report.csv") == strip(full / "report.csv")
