"""Guided design: guidance terms, predictor symmetry, a guided toy run, predictor training and the
``proteindsm design`` command (errors before sampling; exact measurements in the report)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from proteindsm.cli import main
from proteindsm.core import (ClassifierGuidance, Evaluation, GeometricSchedule, RegressionGuidance, ReverseSDE, prior_sample,
                             with_guidance)
from proteindsm.core.checkpoint import Checkpoint, save_checkpoint
from proteindsm.errors import InputError
from proteindsm.protein.structure import properties as P
from proteindsm.protein.data.corpus import load_corpus, save_corpus
from proteindsm.protein.generate.targets import (DESIGN_PROPERTIES, PropertyTarget, ResolvedTarget, guidance_terms,
                                                 load_predictor, radius_of_gyration_property, resolve_targets)
from proteindsm.protein.structure.geometry import backbone_from_dihedrals
from proteindsm.protein.data.io import read_backbones
from proteindsm.protein.model.network import BackboneScoreNet
from proteindsm.protein.model.predictor_features import residue_features
from proteindsm.protein.model.predictor_training import LabelledBackboneBatches, PropertyObjective
from proteindsm.protein.model.predictors import PropertyPredictor
from proteindsm.toy.datasets import TwoGaussians
from tests.interrupt import CallCounter
from tests.equivariance import assert_equivariant

SCHEDULE = dict(_target_="proteindsm.core.GeometricSchedule", sigma_min=0.02, sigma_max=60.0, num_levels=200,
                weight_power=2.0, sigma_data=10.0)
TINY_SCORE = dict(scalar_channels=8, vector_channels=2, num_layers=1, k_neighbors=4, seq_neighbors=1, lmax=1,
                  max_relative_position=8, num_rbf=4, sigma_data=10.0)
SMALL_PREDICTOR = dict(hidden=8, dilations=[1, 2], kernel_size=3)


def _backbones(B: int = 3, L: int = 24, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    phi = -60.0 + 20 * torch.randn(B, L, generator=g, dtype=torch.float64)
    psi = -45.0 + 60 * torch.randn(B, L, generator=g, dtype=torch.float64)
    return torch.stack([backbone_from_dihedrals(phi[b], psi[b]) for b in range(B)]).float()


def _predictor(out_dim: int = 1, seed: int = 0, **kw) -> PropertyPredictor:
    torch.manual_seed(seed)
    cfg = dict(SMALL_PREDICTOR, out_dim=out_dim, **kw)
    return PropertyPredictor(**cfg).eval()


# ----------------------------------------------------------------------------------------------- terms
def test_regression_guidance_equals_autograd_gradient_of_log_likelihood():
    f = _predictor(label_mean=0.4, label_std=0.2)
    x = _backbones() + 0.5 * torch.randn(3, 24, 4, 3, generator=torch.Generator().manual_seed(1))
    sigma = torch.tensor([0.5, 2.0, 8.0])
    mask = torch.ones(3, 24, dtype=torch.bool)
    mask[2, 18:] = False
    cond = {"mask": mask}
    target, tol, w = 0.8, 0.1, 2.5
    term = RegressionGuidance(f, target, tol, w)
    got = term(Evaluation.at(x, sigma, cond, torch.zeros_like(x)))

    xg = x.clone().requires_grad_(True)
    ll = -0.5 * ((f(xg, sigma, cond) - target) / tol) ** 2
    (want,) = torch.autograd.grad(ll.sum(), xg)
    assert torch.allclose(got, w * want, atol=1e-6, rtol=1e-5)
    assert got.abs().sum() > 0
    assert got[2, 18:].abs().max() == 0                 # padding never moves

    # the design layer builds the same term; radius_of_gyration converts its target to Rg / L^0.4
    rt = ResolvedTarget("radius_of_gyration", 12.0, w, 1.0, "regression", DESIGN_PROPERTIES["radius_of_gyration"], model=f)
    (built,) = guidance_terms([rt], 24)
    assert built.target == pytest.approx(12.0 / 24 ** 0.4) and built.tolerance == pytest.approx(1 / 24 ** 0.4)


def test_classifier_guidance_equals_autograd_gradient_and_terms_sum():
    clf = _predictor(out_dim=3, seed=3)
    reg = _predictor(seed=4)
    x = _backbones(2, 20, seed=5)
    sigma = torch.tensor([1.0, 3.0])
    got = ClassifierGuidance(clf, 1, 0.7)(Evaluation.at(x, sigma, None, torch.zeros_like(x)))
    xg = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad(torch.log_softmax(clf(xg, sigma, None), -1)[:, 1].sum(), xg)
    assert torch.allclose(got, 0.7 * want, atol=1e-6, rtol=1e-5)

    base = lambda x, s, c=None: -x / (1 + s[:, None, None, None] ** 2)   # noqa: E731
    terms = guidance_terms([ResolvedTarget("fold_class", 1.0, 0.7, None, "classification", DESIGN_PROPERTIES["fold_class"], model=clf),
                            ResolvedTarget("helix_fraction", 0.2, 1.5, 0.1, "regression", DESIGN_PROPERTIES["helix_fraction"],
                                           model=reg)], 20)
    total = with_guidance(base, terms)(x, sigma, None)
    xg = x.clone().requires_grad_(True)
    ll = 0.7 * torch.log_softmax(clf(xg, sigma, None), -1)[:, 1] - 1.5 * 0.5 * ((reg(xg, sigma, None) - 0.2) / 0.1) ** 2
    (want_sum,) = torch.autograd.grad(ll.sum(), xg)
    assert torch.allclose(total, base(x, sigma) + want_sum, atol=1e-5, rtol=1e-4)


def test_predictor_gradient_matches_finite_differences():
    f = _predictor(seed=7).double()
    x = _backbones(1, 10, seed=2).double().requires_grad_(True)
    sigma = torch.tensor([0.7], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda y: f(y, sigma, None), (x,), eps=1e-6, atol=1e-5)


# ----------------------------------------------------------------------------------------------- symmetry
@pytest.mark.parametrize("kind", ["classifier", "residue_mean"])
def test_predictor_is_rotation_and_translation_invariant_and_ignores_padding(kind):
    f = _predictor(out_dim=3, seed=11) if kind == "classifier" else _predictor(seed=12, readout="residue_mean")
    x = _backbones(3, 30, seed=9)
    mask = torch.ones(3, 30, dtype=torch.bool)
    mask[1, 22:] = False
    sigma = torch.tensor([0.1, 1.0, 10.0])
    out = f(x, sigma, {"mask": mask})

    def predict(y):
        y = y.clone()
        y[1, 22:] = float("nan")                                # padding may hold anything
        return f(y, sigma, {"mask": mask})

    for k in range(3):
        assert_equivariant(predict, x, kind="invariant", seed=k, rtol=2e-4)
    # a padded chain gives what the chain alone gives
    alone = f(x[1:2, :22], sigma[1:2], None)
    assert torch.allclose(alone, out[1:2], atol=1e-5)
    feats = residue_features(x, mask)
    assert feats[1, 22:].abs().max() == 0


# ----------------------------------------------------------------------------------------------- toy run
def test_guided_toy_run_moves_samples_to_the_target_class():
    data = TwoGaussians()                    # mode 0: weight 0.2 at (5, 5); mode 1: 0.8 at (-5, -5)
    sigmas = GeometricSchedule(sigma_min=0.01, sigma_max=30.0, num_levels=200).levels(dtype=torch.float64)
    sampler = ReverseSDE()

    def run(score_fn):
        g = torch.Generator().manual_seed(0)
        x0 = prior_sample((2000, 2), float(sigmas[0]), generator=g, dtype=torch.float64)
        return data.mode_of(sampler.sample(score_fn, x0, sigmas, generator=g).x)

    base = run(data.score)
    guided = run(with_guidance(data.score, [ClassifierGuidance(data.component_logits, 0, scale=1.0)]))
    frac_base, frac_guided = float((base == 0).double().mean()), float((guided == 0).double().mean())
    assert 0.15 < frac_base < 0.25, frac_base
    assert frac_guided > 0.95, frac_guided
    assert float((guided == -1).double().mean()) < 0.01           # guided samples stay on the data


# ----------------------------------------------------------------------------------------------- training
@pytest.fixture(scope="module")
def small_corpus(corpus_path, tmp_path_factory):
    full = load_corpus(corpus_path)
    train, val = full.indices("train"), full.indices("val")
    short = lambda idx: idx[full.lengths[idx] <= 80]              # noqa: E731
    sub = full.subset(np.concatenate([short(train)[:24], short(val)[:8]]))
    path = tmp_path_factory.mktemp("corpus") / "small.npz"
    save_corpus(path, sub)
    return path


def test_labelled_batches_and_objective(small_corpus):
    corpus = load_corpus(small_corpus)
    labels = np.arange(len(corpus), dtype=np.float64) / 100
    batches = LabelledBackboneBatches(corpus, corpus.indices("train"), tokens_per_batch=200, crop_length=256,
                                      labels=labels, seed=0)
    b = batches(3)
    assert b.target.shape == (len(b),) and b.target.dtype == torch.float64
    assert torch.equal(b.target, batches(3).target)                 # deterministic in step
    obj = PropertyObjective(GeometricSchedule(sigma_min=0.02, sigma_max=60.0), "regression")
    out = obj(_predictor(), b, obj.draw(b, torch.Generator().manual_seed(0)))
    assert out.loss.shape == (len(b),) and torch.isfinite(out.loss).all()

    # per-residue labels: the residue-mean predictor's chain value is the mean of its residue outputs
    residue = (np.arange(corpus.n_residues) % 3 == 0).astype(np.float32)
    rb = LabelledBackboneBatches(corpus, corpus.indices("train"), tokens_per_batch=200, crop_length=256,
                                 labels=labels, residue_labels=residue, seed=0)(3)
    assert rb.cond["residue_target"].shape == rb.mask.shape
    assert float(rb.cond["residue_target"][~rb.mask].abs().sum()) == 0
    f = _predictor(readout="residue_mean")
    p = f(rb.x, torch.ones(len(rb)), {"mask": rb.mask}, per_residue=True)
    chain = f(rb.x, torch.ones(len(rb)), {"mask": rb.mask})
    assert torch.allclose(chain, p.sum(1) / rb.mask.sum(1), atol=1e-6)
    draw = obj.draw(rb, torch.Generator().manual_seed(0))
    with_residues = obj(f, rb, draw).loss
    rb.cond.pop("residue_target")
    assert (with_residues > obj(f, rb, draw).loss).all()             # the per-residue BCE is added
    with pytest.raises(InputError, match="crop_length"):
        LabelledBackboneBatches(corpus, corpus.indices("train"), crop_length=40, labels=labels)


def test_train_predictor_command_writes_checkpoint_and_validation(small_corpus, tmp_path):
    out = tmp_path / "pred"
    export = tmp_path / "predictor_helix_fraction.safetensors"
    rc = main(["train", "experiment=predictor_helix_fraction", f"out={out}", f"data.path={small_corpus}",
               f"predictor.labels_cache={tmp_path / 'labels.npz'}", "train.max_steps=6", "train.log_every=3",
               "train.val_every=6", "train.warmup_steps=1", "data.tokens_per_batch=256", "device=cpu",
               "train.progress=false", "network.hidden=8", "network.dilations=[1]", f"export={export}"])
    assert rc == 0
    import json
    report = json.loads((out / "validation.json").read_text())
    assert len(report["per_sigma"]) == 8 and all(math.isfinite(v["rmse"]) for v in report["per_sigma"].values())
    loaded = load_predictor(export, "helix_fraction")
    assert loaded.metadata["property"] == "helix_fraction" and loaded.metadata["schedule"]["sigma_max"] == 60.0
    assert (tmp_path / "labels.npz").is_file()


# ----------------------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tiny untrained score model and predictors, saved like shipped inference checkpoints."""
    d = tmp_path_factory.mktemp("ckpt")
    schedule = {k: v for k, v in SCHEDULE.items()}
    torch.manual_seed(0)
    score = BackboneScoreNet(**TINY_SCORE)
    save_checkpoint(d / "score.safetensors", Checkpoint(model=score.state_dict(), metadata={
        "model_class": "BackboneScoreNet", "model_config": score.config, "schedule": schedule, "max_length": 64}))
    pdir = d / "predictors"
    for prop, out_dim, task in (("helix_fraction", 1, "regression"), ("rg_normalised", 1, "regression"),
                                ("fold_class", 3, "classification")):
        f = _predictor(out_dim=out_dim, label_mean=2.2 if prop == "rg_normalised" else 0.4, label_std=0.3)
        save_checkpoint(pdir / f"predictor_{prop}.safetensors", Checkpoint(model=f.state_dict(), metadata={
            "model_class": "PropertyPredictor", "model_config": f.config, "property": prop, "task": task,
            "schedule": schedule}))
    return d / "score.safetensors", pdir


def _design(checkpoints, out: Path, *extra: str) -> int:
    score, pdir = checkpoints
    return main(["design", f"checkpoint={score}", f"predictor_dir={pdir}", f"out={out}", "length=14", "num=2",
                 "steps=6", "device=cpu", "progress=false", "sampler=reverse_sde", *extra])  # untrained net: AL diverges


@pytest.mark.parametrize("args, message", [
    (["property=helix_fraction", "target=1.7"], "outside what the property can take"),
    (["property=rg_normalised", "target=-2"], "outside what the property can take"),
    (["property=fold_class", "target=5"], "must be a class"),
    (["property=helixness", "target=0.5"], "unknown property 'helixness'"),
    (["property=coil_fraction", "target=0.5"], "without a predictor"),
    (["property=helix_fraction"], "no target"),
    (["property=helix_fraction", "target=0.5", "predictor=/nonexistent/p.safetensors"], "not found"),
    (["property=strand_fraction", "target=0.4", "predictor=/nonexistent/s.safetensors"], "not found"),
    (["property=contact_order", "target=0.2"], "no predictor for 'contact_order'"),
    (["property=helix_fraction", "target=0.5", "scale=-1"], "scale must be >= 0"),
    (["function=no_such_module.prop", "target=1"], "cannot import"),
    (["property=strand_fraction", "function=proteindsm.protein.structure.soft_dssp.soft_strand_fraction", "target=1.7"],
     "outside what the property can take"),
    (["property=rg_normalised", "target=3.5"], "above the compactness ceiling"),
    (["function=proteindsm.protein.generate.targets.radius_of_gyration_property", "property=radius_of_gyration", "target=40"],
     "above the compactness ceiling"),
    (["property=helix_fraction", "target=0.5", "sheet.fraction=0.95", "sheet.strand_length=4"], "does not fit 14 residues"),
    (["property=helix_fraction", "target=0.5", "sheet.fraction=0.4", "sheet.scale=1.5"], "sheet.scale must be in (0, 1]"),
    (["property=helix_fraction", "target=0.5", "sheet.fraction=many"], "sheet.fraction must be auto, null or"),
    (["property=strand_fraction", "target=0.4", "sheet.strand_length=2"], "sheet.strand_length must be an int >= 3"),
])
def test_design_rejects_bad_requests_before_sampling(checkpoints, tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert _design(checkpoints, out, *args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert not out.exists()                                    # nothing sampled, nothing written


def test_design_rg_target_above_the_ceiling_runs_with_the_ceiling_off(checkpoints, tmp_path):
    out = tmp_path / "open"
    assert _design(checkpoints, out, "property=rg_normalised", "target=3.5", "compactness.scale=0") == 0
    assert json.loads((out / "manifest.json").read_text())["compactness"] is None


def test_design_divergence_is_one_clear_error_naming_the_scale(checkpoints, tmp_path, capsys):
    """The untrained test network diverges under annealed Langevin: one line naming the step, σ and
    the guidance scale, exit status 1, no backbone written."""
    out = tmp_path / "diverged"
    assert _design(checkpoints, out, "sampler=annealed_langevin", "sampler.eps=1.0",
                   "property=helix_fraction", "target=0.5", "scale=4") == 1
    err = capsys.readouterr().err
    assert err.startswith("proteindsm: error: sampler produced NaN/inf at step") and err.count("\n") == 1, err
    assert "smaller guidance scale (now: helix_fraction 4)" in err
    assert not list(out.glob("**/*.pdb"))


def test_design_predictor_of_another_property_is_refused(checkpoints, tmp_path, capsys):
    _, pdir = checkpoints
    assert _design(checkpoints, tmp_path / "o", "property=helix_fraction", "target=0.5",
                   f"predictor={pdir / 'predictor_rg_normalised.safetensors'}") == 2
    assert "predicts 'rg_normalised'" in capsys.readouterr().err


def test_design_end_to_end_report_has_exact_measurements(checkpoints, tmp_path):
    out = tmp_path / "design"
    rc = _design(checkpoints, out, "properties=[{property: helix_fraction, target: 0.6, scale: 2},"
                                   "{property: radius_of_gyration, target: 9.0},"
                                   "{property: fold_class, target: 0}]",
                 "function=proteindsm.protein.generate.targets.radius_of_gyration_property", "target=8.0", "tolerance=0.5")
    assert rc == 0
    rows = list(csv.DictReader((out / "design_report.csv").open()))
    assert list(rows[0]) == ["file", "length", "seed", "property", "target", "measured", "unguided_measured",
                             "abs_error", "unguided_abs_error", "unguided_file"]
    assert len(rows) == 2 * 4
    for r in rows:
        (guided,) = read_backbones(out / r["file"], max_peptide_bond=1e9)      # untrained model: no splits
        (base,) = read_backbones(out / r["unguided_file"], max_peptide_bond=1e9)
        prop = r["property"]
        if prop == "proteindsm.protein.generate.targets.radius_of_gyration_property":
            exact = lambda X: float(radius_of_gyration_property(torch.as_tensor(X)[None])[0])   # noqa: E731
        else:
            exact = P.PROPERTIES[prop].function
        for col, X in (("measured", guided.coords), ("unguided_measured", base.coords)):
            assert float(r[col]) == pytest.approx(exact(X), abs=2e-3), (prop, col)
        err = float(r["abs_error"])
        if prop == "fold_class":
            assert err == float(int(float(r["measured"])) != int(float(r["target"])))
        else:
            assert err == pytest.approx(abs(float(r["measured"]) - float(r["target"])), abs=1e-5)


def test_function_steering_a_known_property_is_measured_exactly(checkpoints, tmp_path):
    """property=strand_fraction guided by the soft DSSP fraction: no predictor needed, and the report
    gives the exact DSSP strand fraction, not the soft function's value."""
    out = tmp_path / "soft"
    assert _design(checkpoints, out, "property=strand_fraction", "target=0.4", "scale=4",
                   "function=proteindsm.protein.structure.soft_dssp.soft_strand_fraction") == 0
    rows = list(csv.DictReader((out / "design_report.csv").open()))
    assert len(rows) == 2 and {r["property"] for r in rows} == {"strand_fraction"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["targets"][0]["tolerance"] == 0.1  # τ: the property's default, not the functions' 1.0
    for r in rows:
        (guided,) = read_backbones(out / r["file"], max_peptide_bond=1e9)
        assert float(r["measured"]) == pytest.approx(P.strand_fraction(guided.coords), abs=1e-6)


def test_design_scale_zero_reproduces_the_unguided_baseline(checkpoints, tmp_path):
    out = tmp_path / "zero"
    assert _design(checkpoints, out, "property=helix_fraction", "target=0.9", "scale=0") == 0
    for f in sorted(out.glob("*.pdb")):
        (a,) = read_backbones(f, max_peptide_bond=1e9)
        (b,) = read_backbones(out / "unguided" / f.name, max_peptide_bond=1e9)
        assert np.array_equal(a.coords, b.coords)


def test_resolve_targets_checks_sigma_range(checkpoints):
    _, pdir = checkpoints
    with pytest.raises(InputError, match="trained on σ"):
        resolve_targets([PropertyTarget("helix_fraction", 0.5)], sigma_range=(0.02, 200.0), predictor_dir=pdir)
    assert len(resolve_targets([PropertyTarget("helix_fraction", 0.5)], sigma_range=(0.05, 50.0),
                               predictor_dir=pdir)) == 1


def test_denoised_property_guidance_equals_autograd_gradient():
    from proteindsm.core import NoiseAwareDenoisedGuidance

    x = _backbones(2, 16, seed=4)
    base = -0.1 * x
    sigma = torch.tensor([0.3, 4.0])
    term = NoiseAwareDenoisedGuidance(radius_of_gyration_property, 7.0, 0.5, 1.3)
    got = term(Evaluation.at(x, sigma, None, base))
    x0 = (x + sigma[:, None, None, None] ** 2 * base).requires_grad_(True)
    g = radius_of_gyration_property(x0)
    (dg,) = torch.autograd.grad(g.sum(), x0)
    var = 0.5 ** 2 + sigma ** 2 * dg.flatten(1).pow(2).sum(1)          # held fixed
    x0 = x0.detach().requires_grad_(True)
    ll = -0.5 * (radius_of_gyration_property(x0) - 7.0) ** 2 / var
    (want,) = torch.autograd.grad(ll.sum(), x0)
    assert torch.allclose(got, 1.3 * want, atol=1e-6, rtol=1e-5)


def test_calibrated_regression_guidance_equals_autograd_gradient():
    from proteindsm.core import CalibratedRegressionGuidance
    from proteindsm.protein.generate.targets import predictor_calibration

    grid, rmse = predictor_calibration({"validation_rmse_per_sigma": {"60": 0.2, "1.0": 0.04, "0.02": 0.01}})
    assert grid == (0.02, 1.0, 60.0) and rmse == (0.01, 0.04, 0.2)
    f = _predictor(readout="residue_mean", seed=21)
    x = _backbones(3, 18, seed=6)
    sigma = torch.tensor([0.02, 1.0, math.sqrt(60.0)])            # halfway between 1 and 60 in log σ
    term = CalibratedRegressionGuidance(f, 0.7, 0.1, 3.0, grid, rmse)
    var = term.variance(sigma)
    assert torch.allclose(var, torch.tensor([0.1 ** 2 + 0.01 ** 2, 0.1 ** 2 + 0.04 ** 2, 0.1 ** 2 + 0.12 ** 2]),
                          atol=1e-5)
    got = term(Evaluation.at(x, sigma, None, torch.zeros_like(x)))
    xg = x.clone().requires_grad_(True)
    (want,) = torch.autograd.grad((-0.5 * (f(xg, sigma, None) - 0.7) ** 2 / var).sum(), xg)
    assert torch.allclose(got, 3.0 * want, atol=1e-6, rtol=1e-5)
    # the pull is weaker where the predictor is less accurate (same residual, larger σ)
    plain = RegressionGuidance(f, 0.7, 0.1, 3.0)(Evaluation.at(x, sigma, None, torch.zeros_like(x)))
    ratio = got.flatten(1).norm(dim=1) / plain.flatten(1).norm(dim=1)
    assert torch.allclose(ratio, 0.1 ** 2 / var, rtol=1e-4)


def test_design_takes_the_steric_potential_and_records_it(checkpoints, tmp_path):
    out = tmp_path / "steric"
    assert _design(checkpoints, out, "property=helix_fraction", "target=0.5", "steric.scale=1",
                   "steric.sigma_max=100", "compactness.scale=0") == 0     # the steric term alone
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["steric"] == {"scale": 1.0, "sigma_max": 100.0, "margin": 0.2}
    from proteindsm.protein.analysis.metrics import clash_pair_count
    for f in sorted(out.glob("*.pdb")) + sorted((out / "unguided").glob("*.pdb")):   # both sets get it
        (chain,) = read_backbones(f, max_peptide_bond=1e9)
        assert clash_pair_count(chain.coords) == 0


def _sheet(out: Path) -> dict | None:
    return json.loads((out / "manifest.json").read_text())["sheet"]


def test_design_strand_target_lays_out_a_sheet_blueprint_and_records_it(checkpoints, tmp_path, capsys):
    """sheet.fraction=auto: a strand_fraction target gets a meander of that fraction (2 strands of 4
    at L = 20), recorded in the manifest; too short a chain gets none, with a note; other targets and
    sheet.fraction=null get none; an explicit fraction applies to any target."""
    soft = ["property=strand_fraction", "target=0.4", "scale=4",
            "function=proteindsm.protein.structure.soft_dssp.soft_strand_fraction"]
    assert _design(checkpoints, tmp_path / "auto", *soft, "length=[8,20]") == 0
    sheet = _sheet(tmp_path / "auto")
    assert sheet["fraction"] == 0.4 and sheet["fraction_from"] == "strand_fraction target" and sheet["scale"] == 1.0
    layouts = sheet["blueprints"]["20"]                       # sheet.vary=true: one layout per backbone
    assert sheet["vary"] is True and len(layouts) == 2 and sheet["blueprints"]["8"] is None
    assert all(len(b["strands"]) == 2 and b["strand_residues"] == 8 for b in layouts)
    assert "no β-sheet blueprint for L = 8" in capsys.readouterr().out
    assert _design(checkpoints, tmp_path / "one", *soft, "sheet.vary=false", "length=20") == 0
    assert _sheet(tmp_path / "one")["blueprints"]["20"]["strands"] == [[5, 9], [11, 15]]   # centred, shared
    assert _design(checkpoints, tmp_path / "off", *soft, "sheet.fraction=null") == 0
    assert _sheet(tmp_path / "off") is None
    assert _design(checkpoints, tmp_path / "helix", "property=helix_fraction", "target=0.5") == 0
    assert _sheet(tmp_path / "helix") is None
    assert _design(checkpoints, tmp_path / "explicit", "property=helix_fraction", "target=0.2",
                   "sheet.fraction=0.5", "sheet.scale=0.5") == 0
    sheet = _sheet(tmp_path / "explicit")
    assert sheet["fraction_from"] == "sheet.fraction" and sheet["scale"] == 0.5
    assert {b["strand_residues"] for b in sheet["blueprints"]["14"]} == {8}


@pytest.mark.parametrize("vary", [False, True])
def test_design_blueprint_holds_the_output_on_the_sheet(checkpoints, tmp_path, vary):
    """With the blueprint on to the last level (sigma_max above the grid) the written backbones of
    the untrained test network satisfy their blueprint's restraints within 0.3 Å (PDB rounding and
    the final denoising step included) — with sheet.vary each backbone its own layout, which the
    batch finds through cond["sample_index"]; the unguided twins do not."""
    from proteindsm.protein.generate.sheet_blueprint import blueprint_distances, meander_blueprint, varied_meanders

    out = tmp_path / "held"
    assert _design(checkpoints, out, "property=helix_fraction", "target=0.5", "scale=0", "sheet.fraction=0.5",
                   "sheet.sigma_max=1000", "steps=20", f"sheet.vary={str(vary).lower()}", "num=3", "batch_size=2",
                   "ideal_output=false") == 0   # the sampler's own output: the untrained net's is far from ideal
    bps = varied_meanders(14, 0.5, 3, seed=0) if vary else [meander_blueprint(14, 0.5)] * 3
    if vary:
        assert len({b.strands for b in bps}) > 1                  # the layouts differ (this seed)
    worst_guided, worst_free = [], []
    for n, f in enumerate(sorted(out.glob("*.pdb"))):
        bp = bps[n]
        for path, worst in ((f, worst_guided), (out / "unguided" / f.name, worst_free)):
            (b,) = read_backbones(path, max_peptide_bond=1e9)
            d = blueprint_distances(torch.as_tensor(b.coords, dtype=torch.float64)[None], bp)[0].numpy()
            worst.append(float(np.max(np.maximum(bp.lower - d, 0) + np.maximum(d - bp.upper, 0))))
    assert max(worst_guided) < 0.3 and min(worst_free) > 0.5, (worst_guided, worst_free)


def test_strand_fraction_is_steered_by_the_soft_dssp_function_unless_a_predictor_is_named(checkpoints, tmp_path):
    """property=strand_fraction without predictor= uses its DesignProperty's default function (soft DSSP strand fraction
    on x̂₀, τ 0.1) — no predictor needed, the report measures DSSP exactly; predictor=PATH takes the
    predictor (here one of another property: refused, naming both)."""
    out = tmp_path / "default"
    assert _design(checkpoints, out, "property=strand_fraction", "target=0.4", "scale=4") == 0
    (t,) = json.loads((out / "manifest.json").read_text())["targets"]
    assert t["kind"] == "function" and t["function"] == "proteindsm.protein.structure.soft_dssp.soft_strand_fraction"
    assert t["tolerance"] == 0.1 and t["predictor"] is None
    for r in csv.DictReader((out / "design_report.csv").open()):
        (b,) = read_backbones(out / r["file"], max_peptide_bond=1e9)
        assert float(r["measured"]) == pytest.approx(P.strand_fraction(b.coords), abs=1e-6)
    _, pdir = checkpoints
    with pytest.raises(InputError, match="predicts 'helix_fraction', not 'strand_fraction'"):
        resolve_targets([PropertyTarget("strand_fraction", 0.4, predictor=pdir / "predictor_helix_fraction.safetensors")])


def test_design_view_page_shows_guided_and_unguided_backbones(checkpoints, tmp_path):
    out = tmp_path / "view"
    assert _design(checkpoints, out, "property=helix_fraction", "target=0.5", "view=true") == 0
    page = (out / "view.html").read_text()
    assert (out / "3Dmol-min.js").is_file() and json.loads((out / "manifest.json").read_text())["view"] == "view.html"
    assert page.count("unguided/len14_") >= 2 and "len14_000.pdb" in page


def _coords_of(path: Path) -> np.ndarray:
    (chain,) = read_backbones(path, max_peptide_bond=1e9)
    return chain.coords


def test_api_design_equals_the_cli(checkpoints, tmp_path):
    """proteindsm.protein.design(...) gives the CLI's backbones bitwise, and its report rows are the
    exact measurements of those backbones."""
    import proteindsm.protein as p

    score, pdir = checkpoints
    out = tmp_path / "cli"
    assert _design(checkpoints, out, "property=radius_of_gyration", "target=8.0", "length=[12,14]") == 0
    d = p.design("radius_of_gyration", 8.0, length=[12, 14], num=2, checkpoint=str(score), predictor_dir=pdir,
                 steps=6, device="cpu", progress=False, sampler="reverse_sde")
    assert [b.name for b in d] == ["len12_000", "len12_001", "len14_000", "len14_001"]
    assert d[0].coords.shape == (12, 4, 3) and len(d.unguided) == 4
    for b, u in zip(d, d.unguided):
        np.testing.assert_allclose(b.coords, _coords_of(out / f"{b.name}.pdb"), atol=5.1e-4, rtol=0)
        np.testing.assert_allclose(u.coords, _coords_of(out / "unguided" / f"{u.name}.pdb"), atol=5.1e-4, rtol=0)
    rows = list(csv.DictReader((out / "design_report.csv").open()))
    assert [r["file"] for r in rows] == [r["file"] for r in d.report]
    for r, b in zip(d.report, d):
        assert r["measured"] == pytest.approx(P.radius_of_gyration(b.coords), abs=1e-5)
    assert d.summary[0]["property"] == "radius_of_gyration" and d.summary[0]["n"] == 4


def test_design_api_defaults_are_the_design_config_defaults():
    from proteindsm.cli.config import compose
    from proteindsm.protein.generate.guided import DEFAULT_SCALE, SHEET_DEFAULTS

    cfg = compose("protein", "design", [])
    assert float(cfg.scale) == DEFAULT_SCALE
    assert dict(cfg.sheet) == SHEET_DEFAULTS


def test_interrupted_design_run_is_continued(checkpoints, tmp_path, monkeypatch, capsys):
    """A design run killed after its first batch keeps it (manifest complete: false, no report yet);
    the same command re-makes only the missing batches and ends with the full run's files."""
    import proteindsm.protein.generate.sampling as sampling

    args = ("property=helix_fraction", "target=0.6", "num=2", "batch_size=1")
    full = tmp_path / "full"
    assert _design(checkpoints, full, *args) == 0
    out = tmp_path / "part"
    real = sampling._sample_batch
    monkeypatch.setattr(sampling, "_sample_batch", CallCounter(real, die_after=1))
    assert _design(checkpoints, out, *args) == 130
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] is False and [f["file"] for f in m["files"]] == ["len14_000.pdb"]
    assert not (out / "design_report.csv").exists()
    # another target into the partial folder: refused, nothing changed
    monkeypatch.setattr(sampling, "_sample_batch", real)
    capsys.readouterr()
    assert _design(checkpoints, out, "property=helix_fraction", "target=0.3", "num=2", "batch_size=1") == 2
    assert "partial run made with other settings" in capsys.readouterr().err
    counting = CallCounter(real)
    monkeypatch.setattr(sampling, "_sample_batch", counting)
    assert _design(checkpoints, out, *args) == 0
    assert counting.calls == 3            # guided batch 2 + both unguided batches
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] is True and m["targets"][0]["target"] == 0.6
    for name in ("len14_000.pdb", "len14_001.pdb", "unguided/len14_000.pdb", "unguided/len14_001.pdb"):
        assert (out / name).read_text() == (full / name).read_text()
    assert (out / "design_report.csv").read_text() == (full / "design_report.csv").read_text()


def test_design_properties_are_objects_with_their_own_rules():
    """Each built-in property carries its range check, per-length target, measurement and error."""
    rg, fold, helix = (DESIGN_PROPERTIES[k] for k in ("radius_of_gyration", "fold_class", "helix_fraction"))
    assert rg.for_length(12.0, 1.0, 32) == pytest.approx((12.0 / 32 ** 0.4, 1.0 / 32 ** 0.4))
    assert rg.normalised_rg(12.0, 32) == pytest.approx(12.0 / 32 ** 0.4) and helix.normalised_rg(0.5, 32) is None
    assert helix.for_length(0.5, 0.1, 32) == (0.5, 0.1)
    assert fold.check("mainly-beta" if "mainly-beta" in P.FOLD_CLASS_NAMES else P.FOLD_CLASS_NAMES[1]) == 1.0
    assert fold.error(2.0, 1.0) == 1.0 and fold.error(1.0, 1.0) == 0.0
    assert helix.error(0.3, 0.5) == pytest.approx(0.2)
    assert {k for k, v in DESIGN_PROPERTIES.items() if v.ss_state} == {"helix_fraction", "strand_fraction"}
    with pytest.raises(InputError, match="outside what the property can take"):
        helix.check(1.5)
