"""``proteindsm image`` end to end with a tiny model: training, FID tracking, files, guidance, errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from proteindsm.cli import main

REPO = Path(__file__).resolve().parents[2]


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

TINY = ["dataset=digits", "progress=false", "device=cpu", "model.channels=8", "model.emb_dim=32", "model.groups=4",
        "train.max_steps=20", "train.val_every=10", "train.log_every=5", "train.warmup_steps=2",
        "metrics.num_samples=40", "sampler.steps_per_level=2", "sampler.num_levels=4", "sampling.num_samples=16",
        "classifier.width=8", "classifier.feature_dim=16", "classifier.steps=30",
        "guidance.classifier.width=8", "guidance.classifier.steps=30", "guidance.num_samples=20"]


def test_image_command_trains_tracks_and_guides(tmp_path):
    out = tmp_path / "run"
    assert main(["image", f"out={out}", *TINY]) == 0
    for name in ("checkpoint.safetensors", "metrics.jsonl", "metrics.json", "samples_final.png", "training_curves.png",
                 "samples/step_000010_ema.png", "samples/step_000020_raw.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "metrics.json").read_text())
    assert [r["step"] for r in summary["trend"]] == [10, 20]
    assert all(r["fid_raw"] > 0 and r["fid_ema"] > 0 for r in summary["trend"])
    assert summary["dataset"]["range"] == [0.0, 1.0] and summary["final"]["num_samples"] == 40
    # a second call reuses the trained model and only samples with guidance
    assert main(["image", f"out={out}", *TINY, "guidance.class=3", "guidance.scale=2"]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    g = summary["guidance"][0]
    assert g["class"] == 3 and g["scale"] == 2.0 and 0.0 <= g["target_fraction"] <= 1.0
    assert (out / "guided_class3_scale2.png").is_file()
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert max(json.loads(line)["step"] for line in lines) == 20  # no extra training
    # the ε × T grid script on the same run
    fig = tmp_path / "grid.png"
    assert _script("grid_langevin").main(["--run", str(out), "--eps", "2e-5", "1e-3", "--steps", "2",
                                          "--num-samples", "24", "--levels", "4", "--out", str(fig)]) == 0
    cells = json.loads(fig.with_suffix(".json").read_text())["cells"]
    assert fig.is_file() and len(cells) == 2


def test_bench_script_runs():
    assert _script("bench_image").main(["--devices", "cpu", "--datasets", "digits", "--batch", "4", "--levels", "2",
                                        "--steps", "1", "--repeats", "1", "--channels", "8"]) == 0


def test_image_command_errors_are_one_line(tmp_path, capsys):
    assert main(["image", f"out={tmp_path}/a", "dataset=nope"]) == 2
    assert "available" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["image", f"out={tmp_path}/b", "dataset=folder", f"dataset.path={tmp_path}/empty"]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(["image", f"out={tmp_path}/c", "dataset=folder"]) == 2
    assert "dataset.path" in capsys.readouterr().err
    assert main(["image", f"out={tmp_path}/d", *TINY, "guidance.class=12"]) == 2
