"""``proteindsm image`` — DSM on small images with the shared core (config ``configs/image/image.yaml``).

    proteindsm image dataset=digits out=runs/digits
    proteindsm image dataset=digits out=runs/digits guidance.class=3 guidance.scale=2
    proteindsm image dataset=folder dataset.path=my_pngs out=runs/mine
    proteindsm image dataset=digits out=runs/digits inpaint=left_half        (inpaint_method=reconstruction)

What it does, in ``out``:

1. loads the images (scaled to [0, 1]) and trains — or reuses, from ``classifier.dir`` — the frozen
   feature classifier used for FID and class balance (labelled data only);
2. trains the σ-conditioned U-Net with the core DSM objective and Trainer (EMA on, resume from
   ``checkpoint.safetensors``); at every validation the FIDTracker samples raw and EMA weights
   (``samples/step_XXXXXX_{raw,ema}.png``, ``fid_raw``/``fid_ema`` lines in ``metrics.jsonl``);
3. after training: ``samples_final.png``, ``training_curves.png`` (loss + FID raw vs EMA) and
   ``metrics.json`` (data set, model size, classifier accuracy, data-vs-data FID floor, the FID trend,
   final metrics, guidance results);
4. with ``guidance.class=C``: trains (or reuses) the noise-conditional classifier and samples with the core
   ``ClassifierGuidance`` at ``guidance.scale``; the fraction of samples the *feature* classifier labels C
   goes to ``metrics.json`` (``guidance`` list) and the grid to ``guided_class{C}_scale{w}.png``;
5. with ``inpaint=left_half|top_half|centre|random`` (the region hidden) or ``inpaint_mask=FILE`` (.npy/PNG
   of the image size, nonzero = known): completes the first ``inpainting.num_images`` held-out (test)
   images from their visible part through the core conditioning (``inpaint_method=reconstruction``, the
   default, or ``replacement``; :mod:`proteindsm.image.inpainting`), next to unconditional samples from the same
   noise (cached in ``inpainting_unconditional.pt``); ``metrics.json`` (``inpainting`` list) gets how often
   the feature classifier gives the completion the original's label (and the unconditional samples' rate)
   and the MSE on the hidden pixels; the grid (original / visible part / completion) goes to
   ``inpaint_<mode>_<method>.png``.  Its settings are checked before any model work
   (:mod:`proteindsm.cli.image_inpainting`).

A model that has finished ``train.max_steps`` is not trained again; the command then only samples.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig, OmegaConf

from proteindsm.core import (Batch, DSMObjective, GeometricSchedule, Trainer, TrainConfig, ValidationSet,
                             read_metadata, resolve_device)
from proteindsm.errors import InputError
from proteindsm.fileio import atomic_write_text

from .config import instantiate_checked, require, resolve_path, to_container
from .image_inpainting import inpaint_plan, run_inpainting

CHECKPOINT = "checkpoint.safetensors"


def _load_dataset(cfg: DictConfig):
    node = cfg.dataset
    if "path" in node.keys():
        require(cfg, "dataset.path")
        node = OmegaConf.merge(node, {"path": str(resolve_path(node.path))})
    return instantiate_checked(node, "dataset")


def _sampler(cfg: DictConfig):
    node = OmegaConf.to_container(cfg.sampler, resolve=True)
    num_levels = int(node.pop("num_levels", 10))
    return instantiate_checked(OmegaConf.create(node), "sampler"), num_levels


def _check_same_run(out: Path, dataset_info: dict) -> None:
    ckpt = out / CHECKPOINT
    if not ckpt.is_file():
        return
    meta = read_metadata(ckpt)
    old = meta.get("dataset", {})
    if old and (old.get("name") != dataset_info["name"] or old.get("shape") != dataset_info["shape"]):
        raise InputError(f"{out} already holds a model trained on {old.get('name')!r} {old.get('shape')}; "
                         f"this run uses {dataset_info['name']!r} {dataset_info['shape']}: choose another out=")


def _read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            rows.append(json.loads(line))
    return rows


def _trend(records: list[dict]) -> list[dict]:
    """One row per validated step (last record wins): FID/entropy of raw and EMA weights."""
    rows: dict[int, dict] = {}
    for r in records:
        if "fid_ema" in r or "fid_raw" in r:
            rows[int(r["step"])] = {k: r.get(k) for k in ("step", "fid_raw", "fid_ema", "label_entropy_raw",
                                                           "label_entropy_ema", "val_loss")}
    return [rows[s] for s in sorted(rows)]


def run(cfg: DictConfig) -> int:
    from proteindsm.image.classifier import ClassifierConfig, accuracy, train_classifier
    from proteindsm.image.datasets import DATA_RANGE, max_pairwise_distance
    from proteindsm.image.fid import ImageMetrics
    from proteindsm.image.plots import save_grid, save_training_curves
    from proteindsm.image.sampling import FIDTracker, class_guidance, sample_images
    from proteindsm.image.unet import ImageUNet, UNetConfig

    out = Path(str(require(cfg, "out"))).expanduser()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    device = resolve_device(str(cfg.device))
    t_start = time.time()

    # ---------------------------------------------------------------- data, schedule, sampler, model
    data = _load_dataset(cfg)
    info = data.describe()
    _check_same_run(out, info)
    C, H, W = data.shape
    if cfg.guidance["class"] is not None:
        if not data.labelled:
            raise InputError("guidance.class needs a labelled data set (digits, mnist, sub-folders per class, "
                             "or 'y' in the .npz)")
        if not (isinstance(cfg.guidance["class"], int) and 0 <= cfg.guidance["class"] < data.num_classes):
            raise InputError(f"guidance.class must be a class index 0…{data.num_classes - 1}, "
                             f"got {cfg.guidance['class']!r}")
    inpaint = inpaint_plan(cfg, (C, H, W), len(data.x_test))
    s = cfg.schedule
    if str(s.sigma_max) == "auto":
        sigma_max = float(f"{max_pairwise_distance(data.x_train):.3g}")
    else:
        sigma_max = float(s.sigma_max)
    sampler, num_levels = _sampler(cfg)
    schedule = GeometricSchedule(float(s.sigma_min), sigma_max, num_levels=num_levels,
                                 weight_power=float(s.weight_power))
    torch.manual_seed(int(cfg.seed))
    ucfg = UNetConfig(in_channels=C, **to_container(cfg.model))
    model = ImageUNet(ucfg)
    print(f"proteindsm image: {info['name']} {C}×{H}×{W}, {info['train']} train / {info['test']} test images, "
          f"range [0, 1]; U-Net {model.num_parameters():,} parameters; σ ∈ [{schedule.sigma_min:g}, {sigma_max:g}]; "
          f"device {device}")

    summary: dict[str, Any] = {}
    if (out / "metrics.json").is_file():
        summary = json.loads((out / "metrics.json").read_text())
    summary.update(dataset=info, model={"class": ImageUNet.model_class, "config": ucfg.to_dict(),
                                        "parameters": model.num_parameters()},
                   schedule={"sigma_min": schedule.sigma_min, "sigma_max": sigma_max,
                             "sampling_levels": num_levels, "weight_power": schedule.weight_power},
                   sampler=to_container(cfg.sampler))

    # ---------------------------------------------------------------- frozen feature classifier (FID)
    clf_dir = Path(str(cfg.classifier.dir)).expanduser() if cfg.classifier.dir else out / "classifiers"
    metrics: Optional[ImageMetrics] = None
    feat_clf = None
    need_classifier = bool(cfg.metrics.enabled) or cfg.guidance["class"] is not None or inpaint is not None
    if need_classifier and not data.labelled:
        print("proteindsm image: the data set has no labels, so no FID/class metrics (metrics.enabled ignored)")
    elif need_classifier:
        k = cfg.classifier
        t0 = time.time()
        feat_clf = train_classifier(
            data.x_train, data.y_train,
            ClassifierConfig(in_channels=C, num_classes=data.num_classes, width=int(k.width),
                             feature_dim=int(k.feature_dim)),
            clf_dir / f"{data.name}_feature", steps=int(k.steps), batch_size=int(k.batch_size), lr=float(k.lr),
            seed=int(k.seed), device=str(device), metadata={"dataset": info, "role": "fid-features"})
        acc = accuracy(feat_clf, data.x_test, data.y_test)
        metrics = ImageMetrics.from_reference(feat_clf, data.x_train)
        n_floor = min(int(cfg.metrics.num_samples), len(data.x_test))
        floor = metrics.evaluate(data.x_test[:n_floor])
        summary["feature_classifier"] = {"test_accuracy": acc, "seconds": round(time.time() - t0, 1),
                                         "checkpoint": str(clf_dir / f"{data.name}_feature" / CHECKPOINT)}
        summary["data_fid_floor"] = {"fid_test_vs_train": floor["fid"], "num_samples": n_floor,
                                     "label_entropy": floor["label_entropy"]}
        print(f"proteindsm image: feature classifier test accuracy {acc:.3f}; FID(test {n_floor} vs train) = "
              f"{floor['fid']:.2f} (floor)")

    # ---------------------------------------------------------------- score model training
    t = cfg.train
    bs = min(int(t.batch_size), len(data.x_train))
    x_train = data.x_train

    def batch_for_step(step: int) -> Batch:
        import numpy as np
        idx = np.random.default_rng([int(cfg.seed), step]).choice(len(x_train), size=bs, replace=False)
        return Batch(x=x_train[torch.from_numpy(idx)])

    validation = None
    if len(data.x_test):
        validation = ValidationSet(batches=[Batch(x=data.x_test[:256])], sigmas=schedule.validation_sigmas(6))
    track_sampler = sampler
    if cfg.metrics.steps_per_level is not None and hasattr(sampler, "steps_per_level"):
        track_sampler = dataclasses.replace(sampler, steps_per_level=int(cfg.metrics.steps_per_level))
    tracker = FIDTracker(metrics, track_sampler, schedule, (C, H, W), out, num_samples=int(cfg.metrics.num_samples),
                         num_levels=num_levels, seed=int(cfg.metrics.seed), batch_size=int(cfg.sampling.batch_size),
                         track_raw=bool(cfg.metrics.track_raw))
    tc = TrainConfig(out_dir=str(out), max_steps=int(t.max_steps), lr=float(t.lr), warmup_steps=int(t.warmup_steps),
                     lr_schedule=str(t.lr_schedule), grad_clip=float(t.grad_clip), ema_decay=float(t.ema_decay),
                     log_every=int(t.log_every), val_every=int(t.val_every), checkpoint_every=int(t.checkpoint_every),
                     seed=int(cfg.seed), device=str(device), max_minutes=t.max_minutes, progress=bool(cfg.progress))
    meta = {"model_class": ImageUNet.model_class, "model_config": ucfg.to_dict(), "dataset": info,
            "dataset_config": to_container(cfg.dataset), "classifier_dir": str(clf_dir),
            "schedule": summary["schedule"], "data_range": list(DATA_RANGE)}
    trainer = Trainer(model, DSMObjective(schedule), batch_for_step, tc, validation=validation, metadata=meta,
                      callbacks=[tracker])
    trained_now = trainer.step < tc.max_steps
    if trained_now:
        res = trainer.fit()
        print(f"proteindsm image: trained to step {res.step} in {res.wall_seconds:.0f} s (last loss {res.last_loss:.4g})")
    else:
        print(f"proteindsm image: {out / CHECKPOINT} is already trained ({trainer.step} steps); sampling only")

    # ---------------------------------------------------------------- final samples
    use_ema = str(cfg.sampling.weights) == "ema"
    if str(cfg.sampling.weights) not in ("ema", "raw"):
        raise InputError(f"sampling.weights must be 'ema' or 'raw', got {cfg.sampling.weights!r}")
    if use_ema:
        trainer.ema.copy_to(trainer.model)
    score_model = trainer.model.eval()
    if trained_now or not (out / "samples_final.png").is_file():
        n_grid = int(cfg.sampling.num_samples)
        n_final = max(n_grid, int(cfg.metrics.num_samples)) if metrics is not None else n_grid
        t0 = time.time()
        x = sample_images(score_model, sampler, schedule, n_final, (C, H, W), num_levels=num_levels,
                          seed=int(cfg.seed) + 1, batch_size=int(cfg.sampling.batch_size), progress=bool(cfg.progress))
        secs = time.time() - t0
        save_grid(out / "samples_final.png", x[:n_grid], title=f"{info['name']}: {'EMA' if use_ema else 'raw'} "
                  f"weights, step {trainer.step}")
        summary["final"] = {"step": trainer.step, "weights": str(cfg.sampling.weights), "num_samples": n_final,
                            "sampling_seconds": round(secs, 2)}
        if metrics is not None:
            summary["final"].update(metrics.evaluate(x[: int(cfg.metrics.num_samples)]))
            print(f"proteindsm image: final {cfg.sampling.weights} samples: FID {summary['final']['fid']:.2f}, "
                  f"label entropy {summary['final']['label_entropy']:.3f} (max {summary['final']['max_label_entropy']:.3f})")
    records = _read_jsonl(out / "metrics.jsonl")
    summary["trend"] = _trend(records)
    if summary["trend"]:
        last = summary["trend"][-1]
        print("proteindsm image: FID at step {step}: raw {r}, EMA {e}".format(
            step=last["step"], r=_fmt(last.get("fid_raw")), e=_fmt(last.get("fid_ema"))))
    save_training_curves(out / "training_curves.png", records)

    # ---------------------------------------------------------------- classifier guidance
    g = cfg.guidance
    if g["class"] is not None:
        target = int(g["class"])
        k = g.classifier
        t0 = time.time()
        guide_clf = train_classifier(
            data.x_train, data.y_train,
            ClassifierConfig(in_channels=C, num_classes=data.num_classes, width=int(k.width), noise_conditional=True),
            clf_dir / f"{data.name}_guidance_s{schedule.sigma_min:g}-{sigma_max:g}", steps=int(k.steps),
            batch_size=int(k.batch_size), lr=float(k.lr), seed=int(k.seed), device=str(device), schedule=schedule,
            metadata={"dataset": info, "role": "guidance"})
        noisy_acc = {f"{sg:.3g}": accuracy(guide_clf, data.x_test, data.y_test, sigma=sg)
                     for sg in schedule.validation_sigmas(4).tolist()}
        train_s = time.time() - t0
        scale = float(g.scale)
        n = int(g.num_samples)
        t0 = time.time()
        x = sample_images(score_model, sampler, schedule, n, (C, H, W), num_levels=num_levels,
                          guidance=[class_guidance(guide_clf, target, scale)], seed=int(g.seed),
                          batch_size=int(cfg.sampling.batch_size), progress=bool(cfg.progress))
        secs = time.time() - t0
        entry: dict[str, Any] = {"class": target, "scale": scale, "num_samples": n, "step": trainer.step,
                                 "weights": str(cfg.sampling.weights), "sampling_seconds": round(secs, 2),
                                 "guidance_classifier_test_accuracy_at_sigma": noisy_acc,
                                 "guidance_classifier_seconds": round(train_s, 1)}
        if metrics is not None:
            m = metrics.evaluate(x, target_class=target)
            entry.update(target_fraction=m["target_fraction"], fid=m["fid"], class_hist=m["class_hist"])
        tag = f"{scale:g}".replace(".", "p")
        save_grid(out / f"guided_class{target}_scale{tag}.png", x[:100],
                  title=f"guided to class {target}, scale {scale:g}: "
                        f"{100 * entry.get('target_fraction', float('nan')):.0f}% classified as {target}")
        summary["guidance"] = [e for e in summary.get("guidance", [])
                               if not (e["class"] == target and e["scale"] == scale)] + [entry]
        print(f"proteindsm image: guidance class {target} scale {scale:g}: "
              f"{100 * entry.get('target_fraction', float('nan')):.1f}% of {n} samples classified as {target} "
              f"by the feature classifier ({secs:.0f} s)")

    # ---------------------------------------------------------------- inpainting (core conditioning)
    if inpaint is not None:
        summary["inpainting"] = [e for e in summary.get("inpainting", []) if e.get("tag") != inpaint["tag"]
                                 or e.get("num_images") != inpaint["num"] or e.get("seed") != inpaint["seed"]]
        summary["inpainting"].append(run_inpainting(cfg, inpaint, data, score_model, sampler, schedule, num_levels,
                                                     feat_clf, out, trainer.step))

    summary["wall_seconds_last_command"] = round(time.time() - t_start, 1)
    atomic_write_text(out / "metrics.json", json.dumps(summary, indent=2))
    print(f"proteindsm image: wrote {out}/metrics.json, samples_final.png, training_curves.png, samples/")
    return 0


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{float(v):.2f}"
