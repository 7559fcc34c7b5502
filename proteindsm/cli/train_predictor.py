"""``proteindsm train experiment=predictor_<property>``: a noise-conditional property predictor.

Dispatched from :mod:`proteindsm.cli.train` when ``kind == "predictor"``.  Uses the same core
Trainer, data and σ schedule as the score model; labels are exact properties of whole corpus chains
(cached in ``predictor.labels_cache``), so nothing is cropped.  Writes, next to the checkpoint,
``validation.json``: the error per σ bucket on the validation split (RMSE / MAE in property units,
or accuracy), with the error of a constant prediction (train mean / majority class) for scale.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from proteindsm.core import Trainer, ValidationSet
from proteindsm.errors import InputError
from proteindsm.fileio import atomic_write_text

from . import config
from .config import instantiate_checked, require, resolve_path, to_container, train_config


def train_predictor(cfg: DictConfig) -> int:
    from proteindsm.protein.data.corpus import load_corpus
    from proteindsm.protein.model.checkpoints import export_inference_checkpoint
    from proteindsm.protein.model.predictor_training import (RESIDUE_LABELS, LabelledBackboneBatches, PropertyObjective,
                                                             evaluate_predictor, labelled_validation_batches,
                                                             load_or_compute_labels)
    from proteindsm.protein.model.predictors import PREDICTABLE, PREDICTOR_MODELS

    prop = str(require(cfg, "predictor.property"))
    if prop not in PREDICTABLE:
        raise InputError(f"predictor.property {prop!r} has no predictor; choose one of {sorted(PREDICTABLE)}")
    spec = PREDICTABLE[prop]
    out = Path(str(require(cfg, "out")))
    d = cfg.data
    corpus = load_corpus(resolve_path(require(cfg, "data.path")))
    crop = int(d.crop_length)
    cache = cfg.predictor.get("labels_cache")
    labels = load_or_compute_labels(corpus, resolve_path(cache) if cache else None,
                                    progress=bool(cfg.train.progress))
    y = labels[prop]
    residue = None
    if bool(cfg.predictor.get("residue_supervision", False)):
        if prop not in RESIDUE_LABELS:
            raise InputError(f"predictor.residue_supervision: {prop!r} has no per-residue labels; only "
                             f"{sorted(RESIDUE_LABELS)}")
        if cfg.network.get("readout") != "residue_mean":
            raise InputError("predictor.residue_supervision needs network.readout=residue_mean")
        residue = (labels["residue_ss"] == RESIDUE_LABELS[prop]).astype(np.float32)

    def usable(split: str) -> np.ndarray:
        idx = corpus.indices(split)
        keep = idx[corpus.lengths[idx] <= crop]
        if len(keep) < len(idx):
            print(f"{split}: skipping {len(idx) - len(keep)} chains longer than data.crop_length={crop} "
                  f"(labels are whole-chain properties)")
        return keep

    train_idx, val_idx = usable(str(d.train_split)), usable(str(d.val_split))
    if len(val_idx) == 0:
        raise InputError(f"validation split {d.val_split!r} has no chains of length <= {crop}")
    if spec.task == "regression":
        extra = dict(out_dim=1, label_mean=float(y[train_idx].mean()), label_std=float(y[train_idx].std() + 1e-6))
    else:
        extra = dict(out_dim=spec.num_classes)
    node = OmegaConf.to_container(cfg.network, resolve=True)
    node.update(extra)
    network = instantiate_checked(OmegaConf.create(node), "network")
    name = type(network).__name__
    if name not in PREDICTOR_MODELS:
        raise InputError(f"network._target_ must be one of {sorted(PREDICTOR_MODELS)} for a predictor, got {name}")
    schedule = instantiate_checked(cfg.schedule, "schedule")
    objective = PropertyObjective(schedule, task=spec.task,
                                  residue_weight=float(cfg.predictor.get("residue_weight", 1.0)))
    batches = LabelledBackboneBatches(corpus, train_idx, tokens_per_batch=int(d.tokens_per_batch), crop_length=crop,
                                      max_batch_size=int(d.max_batch_size), seed=int(cfg.seed), labels=y,
                                      residue_labels=residue)
    val_chains = d.get("val_chains")
    val_batches = labelled_validation_batches(corpus, val_idx, y, num_chains=None if val_chains is None else int(val_chains),
                                              crop_length=crop, residue_labels=residue)
    sigmas = schedule.validation_sigmas(8)

    def per_sigma_metrics(trainer: Trainer, step: int) -> dict:
        with trainer.ema.swapped_in(trainer.model):
            trainer.model.eval()
            res = evaluate_predictor(trainer.model, objective, val_batches, sigmas.tolist())
        return {"val_error_per_sigma": res}

    metadata = {
        "model_class": name, "model_config": network.config, "kind": "predictor",
        "property": prop, "task": spec.task, "class_names": list(spec.class_names),
        "residue_supervision": residue is not None,
        "schedule": to_container(cfg.schedule), "max_length": crop,
        "labels": {"mean_train": float(y[train_idx].mean()), "std_train": float(y[train_idx].std()),
                   "function": f"proteindsm.protein.structure.properties.{prop}"},
        "data": {"path": str(d.path), "train_split": d.train_split, "val_split": d.val_split,
                 "n_train_chains": int(len(train_idx)), "n_val_chains": int(len(val_idx))},
        "command": config.LAST_COMMAND,
    }
    trainer = Trainer(network, objective, batches, train_config(cfg, out), metadata=metadata,
                      validation=ValidationSet(val_batches, sigmas), callbacks=[per_sigma_metrics])
    result = trainer.fit()
    if not trainer.dist.is_main:
        return 0
    report = validation_report(result.history, y[val_idx], y[train_idx], spec.task)
    report.update(property=prop, step=result.step, wall_seconds=round(result.wall_seconds, 1),
                  n_val_chains=int(len(val_idx)))
    atomic_write_text(out / "validation.json", json.dumps(report, indent=2))
    print(f"trained {prop} predictor to step {result.step} in {result.wall_seconds:.0f} s; "
          f"checkpoint: {result.checkpoint}")
    print(format_validation(report))
    if cfg.get("export"):
        dst = export_inference_checkpoint(result.checkpoint, Path(str(cfg.export)))
        attach_validation(dst, report)
        print(f"exported EMA weights to {dst}")
    return 0


def attach_validation(path: Path, report: dict) -> None:
    """Record the per-σ validation error in an (inference) checkpoint's metadata: design guidance
    widens its likelihood by it (``validation_rmse_per_sigma``, regression only)."""
    from proteindsm.core.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(path)
    ckpt.metadata["validation"] = report
    if report.get("task") == "regression":
        ckpt.metadata["validation_rmse_per_sigma"] = {s: v["rmse"] for s, v in report["per_sigma"].items()}
    save_checkpoint(path, ckpt)


def validation_report(history: list[dict], y_val: np.ndarray, y_train: np.ndarray, task: str) -> dict:
    """The last per-σ validation errors plus the error of a constant prediction."""
    last = next((h["val_error_per_sigma"] for h in reversed(history) if "val_error_per_sigma" in h), {})
    if task == "regression":
        c = float(y_train.mean())
        baseline = {"rmse": float(np.sqrt(((y_val - c) ** 2).mean())), "mae": float(np.abs(y_val - c).mean())}
    else:
        majority = int(np.bincount(y_train.astype(int)).argmax())
        baseline = {"accuracy": float((y_val.astype(int) == majority).mean())}
    return {"task": task, "per_sigma": last, "constant_prediction": baseline}


def format_validation(report: dict) -> str:
    metric = "rmse" if report["task"] == "regression" else "accuracy"
    rows = [f"  {'σ (Å)':>8s} {metric:>9s}"]
    for s, v in report["per_sigma"].items():
        rows.append(f"  {s:>8s} {v[metric]:9.4f}")
    rows.append(f"  {'constant':>8s} {report['constant_prediction'][metric]:9.4f}")
    return "\n".join(rows)
