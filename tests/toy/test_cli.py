"""`proteindsm toy`: outputs, exact-score mode, checkpoint reuse, and one clear error line per bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from proteindsm.cli import main
from proteindsm.core import Checkpoint, save_checkpoint

FAST = ["train.steps=40", "train.log_every=20", "train.val_every=20", "train.checkpoint_every=20",
        "train.val_size=200", "sample.n=300", "samplers.langevin.steps_per_level=50",
        "samplers.annealed_langevin.steps_per_level=5", "samplers.reverse_sde.levels=20",
        "samplers.predictor_corrector.levels=10", "samplers.ode.levels=10", "plots.grid=8"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("toy") / "run"
    assert main(["toy", f"out={out}", "model.hidden=32", *FAST]) == 0
    return out


def test_cli_writes_metrics_plots_and_checkpoint(trained_run):
    m = json.loads((trained_run / "metrics.json").read_text())
    names = ["langevin", "annealed_langevin", "reverse_sde", "predictor_corrector", "ode"]
    assert list(m["samplers"]) == names
    for name in names:
        entry = m["samplers"][name]
        assert len(entry["mode_fractions"]) == 2 and 0 <= entry["off_support"] <= 1
        assert entry["swd"] >= 0 and entry["seconds"] >= 0 and entry["num_evaluations"] > 0
    assert m["samplers"]["annealed_langevin"]["num_evaluations"] == 10 * 5 + 1
    assert m["samplers"]["ode"]["num_evaluations"] == 10 + 9
    assert m["train"]["objective"] == "dsm" and m["train"]["steps"] == 40
    for f in ("samples.png", "score_field.png"):
        assert (trained_run / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (trained_run / "checkpoint.safetensors").is_file() and (trained_run / "metrics.jsonl").is_file()


def test_rerun_resumes_and_checkpoint_reuse(trained_run, tmp_path):
    # same out: the trainer finds its checkpoint at step 40 and only samples again
    assert main(["toy", f"out={trained_run}", "model.hidden=32", *FAST, "plots.enabled=false"]) == 0
    # sample the trained model elsewhere from its checkpoint (its model_config comes from the file)
    out = tmp_path / "again"
    assert main(["toy", f"out={out}", f"checkpoint={trained_run / 'checkpoint.safetensors'}",
                 "sample.samplers=[reverse_sde]", "sample.n=100", "samplers.reverse_sde.levels=10",
                 "plots.enabled=false"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["train"]["steps"] == 40 and not (out / "checkpoint.safetensors").exists()


def test_exact_score_needs_no_training(tmp_path):
    out = tmp_path / "exact"
    assert main(["toy", "dataset=ring", "score=exact", f"out={out}", "sample.n=500",
                 "sample.samplers=[predictor_corrector]", "plots.grid=8"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["train"] is None and len(m["true_mode_weights"]) == 8
    assert m["samplers"]["predictor_corrector"]["off_support"] < 0.05
    assert not (out / "checkpoint.safetensors").exists() and (out / "score_field.png").is_file()


def test_ssm_objective_from_the_command_line(tmp_path):
    out = tmp_path / "ssm"
    assert main(["toy", "objective=ssm", f"out={out}", "model.hidden=16", *FAST,
                 "sample.samplers=[ode]", "plots.enabled=false"]) == 0
    assert json.loads((out / "metrics.json").read_text())["train"]["objective"] == "ssm"


def _other_model_checkpoint(path: Path) -> Path:
    save_checkpoint(path, Checkpoint(model={"w": torch.zeros(2)},
                                     metadata={"model_class": "proteindsm.image.network.UNet", "model_config": {}}))
    return path


BAD = {
    "unknown_dataset": (["dataset=nope"], "unknown dataset 'nope'; available: checkerboard, eight_gaussians"),
    "unknown_objective": (["objective=nope"], "unknown objective 'nope'"),
    "unknown_sampler": (["sample.samplers=[annealed_langevin,nope]"], "unknown sampler 'nope'"),
    "unknown_key": (["nope=1"], "nope"),
    "sigma_min_ge_sigma_max": (["schedule.sigma_min=60"], "sigma_max must be larger than sigma_min"),
    "sigma_min_zero": (["schedule.sigma_min=0"], "sigma_min must be a positive number"),
    "sampler_outside_trained_range": (["samplers.annealed_langevin.sigma_max=80"], "outside the trained range"),
    "eps_zero": (["samplers.annealed_langevin.eps=0"], "samplers.annealed_langevin: sampler.eps must be a positive"),
    "eps_negative": (["samplers.langevin.eps=-0.1"], "sampler.eps must be a positive number"),
    "steps_per_level_zero": (["samplers.annealed_langevin.steps_per_level=0"], "steps_per_level must be an integer"),
    "train_steps_zero": (["train.steps=0"], "train.steps must be a positive integer"),
    "train_steps_negative": (["train.steps=-3"], "train.steps must be a positive integer"),
    "levels_zero": (["samplers.ode.levels=0"], "samplers.ode.levels must be a positive integer"),
    "n_zero": (["sample.n=0"], "sample.n must be a positive integer"),
    "snr_negative": (["samplers.predictor_corrector.snr=-1"], "snr must be a positive number"),
    "ode_method": (["samplers.ode.method=rk4"], "method must be 'euler' or 'heun'"),
    "bad_init": (["samplers.langevin.init=gaussian"], "init must be one of uniform, prior"),
    "unknown_sampler_arg": (["+samplers.ode.foo=1"], "invalid samplers.ode settings: "),
    "bad_score_mode": (["score=magic"], "score must be one of net, exact"),
    "exact_without_closed_form": (["dataset=moons", "score=exact"], "has no closed-form score"),
    "missing_checkpoint": (["checkpoint=/nonexistent/ckpt.safetensors"], "checkpoint file not found"),
    "diverging_sampler": (["score=exact", "samplers.langevin.eps=1e6", "sample.samplers=[langevin]"],
                          "sampler langevin diverged"),
    "bad_lr": (["train.lr=0"], "train.lr must be a positive number"),
    "bad_threads": (["threads=0"], "threads must be a positive integer"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_one_clear_line(name, tmp_path, capsys):
    overrides, message = BAD[name]
    assert main(["toy", f"out={tmp_path / 'out'}", *overrides]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("proteindsm: error:"), err
    assert message in err[0], err[0]
    assert not (tmp_path / "out" / "checkpoint.safetensors").exists()


def test_missing_out_is_an_error(capsys):
    assert main(["toy"]) == 2
    assert "out" in capsys.readouterr().err


def test_checkpoint_of_another_model_is_refused(tmp_path, capsys):
    ckpt = _other_model_checkpoint(tmp_path / "unet.safetensors")
    assert main(["toy", f"out={tmp_path / 'o'}", f"checkpoint={ckpt}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "proteindsm.image.network.UNet" in err[0] and "ToyScoreMLP" in err[0]


def test_checkpoint_of_another_dataset_is_refused(trained_run, tmp_path, capsys):
    assert main(["toy", "dataset=ring", f"out={tmp_path / 'o'}",
                 f"checkpoint={trained_run / 'checkpoint.safetensors'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "trained on dataset 'two_gaussians', not 'ring'" in err


def test_resuming_into_another_datasets_run_is_refused(trained_run, capsys):
    assert main(["toy", "dataset=eight_gaussians", f"out={trained_run}", "model.hidden=32", *FAST]) == 2
    assert "was trained with another" in capsys.readouterr().err
