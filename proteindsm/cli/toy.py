"""``proteindsm toy``: train (or load, or use the exact score of) a 2-D score model, sample it with
every core sampler, and write metrics and plots.

    proteindsm toy dataset=two_gaussians out=runs/toy            # train the MLP, then sample
    proteindsm toy dataset=two_gaussians score=exact out=DIR     # analytic score, no training
    proteindsm toy objective=ssm out=DIR                         # sliced score matching instead of DSM
    proteindsm toy checkpoint=DIR/checkpoint.safetensors out=DIR2  # sample a trained model again

Writes to ``out``: ``metrics.json`` (per sampler: fraction of samples per mode, off-support fraction,
sliced Wasserstein distance to true samples, score evaluations, seconds), ``samples.png`` (data
and each sampler's samples), ``score_field.png`` (learned/exact σ·s and their error at a few σ),
``samples.npz`` (the samples), and — when training — the trainer's ``checkpoint.safetensors``,
``metrics.jsonl`` and ``train_config.json``.  See docs/toy.md.  The components (data set, schedule,
objective, samplers) are built and checked by :mod:`proteindsm.cli.toy_components`.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
from omegaconf import DictConfig

from proteindsm.core import (GeometricSchedule, TrainConfig, load_checkpoint, load_weights_into, read_metadata,
                             resolve_device)
from proteindsm.errors import InputError, SamplerDivergedError
from proteindsm.fileio import atomic_write_bytes, atomic_write_text

from .config import prepare_out_dir, require, to_container
from .toy_components import (build_dataset, build_objective, build_samplers, build_schedule, checked_float, checked_int,
                             checked_positive_float, checked_positive_int)

SCORE_MODES = ("net", "exact")


# ---------------------------------------------------------------------------- score function
def _model_metadata(cfg: DictConfig, dataset, model, objective_name: str, schedule: GeometricSchedule) -> dict:
    from proteindsm.toy.model import MODEL_CLASS

    return {"model_class": MODEL_CLASS, "model_config": model.config, "dataset": dataset.describe(),
            "dataset_config": to_container(cfg.dataset), "objective": objective_name,
            "schedule": {"sigma_min": schedule.sigma_min, "sigma_max": schedule.sigma_max,
                         "weight_power": schedule.weight_power}}


def _data_scale(cfg: DictConfig, dataset) -> float:
    if cfg.model.get("data_scale") is not None:
        return checked_positive_float("model.data_scale", cfg.model.data_scale)
    x = dataset.sample(10_000, torch.Generator().manual_seed(12345))  # not the run's seed: same model per data set
    return round(float(x.std(0).mean()), 4)


def _check_same_run(path: Path, meta: dict, keys: tuple[str, ...]) -> None:
    """Refuse to resume from a checkpoint trained on another data set / model / objective."""
    old = read_metadata(path)
    for key in keys:
        if json.dumps(old.get(key), sort_keys=True) != json.dumps(meta.get(key), sort_keys=True):
            raise InputError(
                f"{path} was trained with another {key} ({old.get(key)!r}, now {meta.get(key)!r}); use another "
                f"out=, or train.resume=false to overwrite it")


def load_toy_checkpoint(path: Path, dataset, device: torch.device):
    """The EMA model of a toy checkpoint (its data set must match the one asked for)."""
    from proteindsm.toy.model import MODEL_CLASS, ToyScoreMLP

    ckpt = load_checkpoint(path, expected_model_class=MODEL_CLASS)
    trained_on = (ckpt.metadata.get("dataset") or {}).get("name")
    if trained_on != dataset.name:
        raise InputError(f"checkpoint {path} was trained on dataset {trained_on!r}, not {dataset.name!r}; "
                         f"pass dataset={trained_on}")
    try:
        model = ToyScoreMLP(**ckpt.metadata["model_config"])
    except (KeyError, TypeError) as exc:
        raise InputError(f"checkpoint {path} has an unusable model_config ({exc})") from None
    load_weights_into(model, ckpt.weights(prefer_ema=True), path)
    return model.to(device).eval(), ckpt.metadata


def train_model(cfg: DictConfig, dataset, schedule: GeometricSchedule, out: Path, device: torch.device,
                seed: int) -> tuple[torch.nn.Module, dict]:
    """Train the MLP with the core trainer (resuming from ``out/checkpoint.safetensors``); returns
    the model holding its EMA weights and a summary."""
    from proteindsm.toy.model import ToyScoreMLP
    from proteindsm.toy.training import train_score_model

    t = cfg.train
    steps = checked_positive_int("train.steps", t.steps)
    batch_size = checked_positive_int("train.batch_size", t.batch_size)
    val_size = checked_int("train.val_size", t.val_size, 0)
    objective_name, objective = build_objective(cfg, schedule)
    torch.manual_seed(seed)
    m = cfg.model
    model = ToyScoreMLP(hidden=m.hidden, depth=m.depth, sigma_features=m.sigma_features,
                        fourier_features=m.fourier_features, fourier_scale=m.fourier_scale,
                        data_scale=_data_scale(cfg, dataset))
    meta = _model_metadata(cfg, dataset, model, objective_name, schedule)
    config = TrainConfig(out_dir=str(out), max_steps=steps, lr=checked_positive_float("train.lr", t.lr),
                         warmup_steps=checked_int("train.warmup_steps", t.warmup_steps, 0),
                         grad_clip=checked_float("train.grad_clip", t.grad_clip, 0.0),
                         ema_decay=checked_float("train.ema_decay", t.ema_decay, 0.0), log_every=checked_positive_int("train.log_every", t.log_every),
                         val_every=checked_positive_int("train.val_every", t.val_every),
                         checkpoint_every=checked_positive_int("train.checkpoint_every", t.checkpoint_every),
                         seed=seed, device=str(device), resume=bool(t.resume), progress=bool(t.progress))
    existing = out / "checkpoint.safetensors"
    if config.resume and existing.is_file():
        _check_same_run(existing, meta, ("model_class", "model_config", "dataset_config", "objective", "schedule"))
    trainer, result = train_score_model(model, dataset, objective, schedule, config, batch_size=batch_size,
                                        val_size=val_size, metadata=meta)
    trainer.ema.copy_to(model)
    model.eval()
    losses = [h["loss"] for h in result.history if "loss" in h]
    summary = {"objective": objective_name, "steps": result.step, "seconds": round(result.wall_seconds, 2),
               "first_logged_loss": losses[0] if losses else None, "last_logged_loss": losses[-1] if losses else None,
               "checkpoint": str(result.checkpoint), "model_config": model.config}
    val = [h for h in result.history if "val_loss" in h]
    if val:
        summary["val_loss"] = val[-1]["val_loss"]
        summary["val_loss_per_sigma"] = val[-1]["val_loss_per_sigma"]
    return model, summary


def _as_score_fn(model: torch.nn.Module, device: torch.device) -> Callable:
    """Score function on CPU tensors that runs ``model`` on ``device``."""
    def score(x: torch.Tensor, sigma: torch.Tensor, cond=None) -> torch.Tensor:
        with torch.no_grad():
            return model(x.to(device), sigma.to(device), cond).to(x.device)
    return score


def reference_metrics(dataset, data: torch.Tensor, n: int, seed: int, swd_seed: int, repeats: int = 4) -> dict:
    """The metrics of fresh TRUE samples against ``data`` (the noise floor at this sample size):
    SWD mean and standard deviation over ``repeats`` independent sets, mode statistics of the first."""
    from proteindsm.toy.metrics import mode_fractions, sliced_wasserstein

    sets = [dataset.sample(n, torch.Generator().manual_seed(seed * 1_000_003 + 202 + r)) for r in range(repeats)]
    swd = torch.tensor([sliced_wasserstein(data, ref, seed=swd_seed) for ref in sets], dtype=torch.float64)
    return {"swd_between_true_sample_sets": float(swd.mean()), "swd_std": float(swd.std()) if repeats > 1 else 0.0,
            **mode_fractions(dataset, sets[0])}


# ---------------------------------------------------------------------------- run
def run(cfg: DictConfig) -> int:
    threads = cfg.get("threads")
    if threads is None:
        return _run(cfg)
    threads = checked_positive_int("threads", threads)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _run(cfg)
    finally:
        torch.set_num_threads(before)


def _run(cfg: DictConfig) -> int:
    from proteindsm.toy.metrics import mode_fractions, score_error, sliced_wasserstein
    from proteindsm.toy.plots import plot_extent, plot_samples, plot_score_field

    score_mode = str(cfg.score)
    if score_mode not in SCORE_MODES:
        raise InputError(f"score must be one of {', '.join(SCORE_MODES)}, got {cfg.score!r}")
    out_value = require(cfg, "out")
    seed = checked_int("seed", cfg.seed, 0)
    dataset = build_dataset(cfg)
    schedule = build_schedule(cfg)
    specs = build_samplers(cfg, schedule, score_mode)
    n = checked_positive_int("sample.n", cfg.sample.n)
    plot_sigmas = [checked_positive_float("plots.sigmas", s) for s in (to_container(cfg.plots.sigmas) or [])]
    plot_grid = checked_positive_int("plots.grid", cfg.plots.grid)
    device = resolve_device(str(cfg.device))
    checkpoint = cfg.get("checkpoint")
    if score_mode == "exact":
        if checkpoint is not None:
            raise InputError("checkpoint= is used with score=net only (score=exact needs no model)")
        if not dataset.has_exact_score:
            raise InputError(f"dataset {dataset.name!r} has no closed-form score; use score=net")
    elif checkpoint is not None:
        from .config import resolve_path
        checkpoint = resolve_path(checkpoint)
        if not Path(checkpoint).is_file():
            raise InputError(f"checkpoint file not found: {checkpoint}")
    out = prepare_out_dir(out_value)

    report: dict[str, Any] = {"dataset": dataset.describe(), "dataset_config": to_container(cfg.dataset),
                              "score": score_mode, "seed": seed, "n_samples": n, "device": str(device),
                              "schedule": {"sigma_min": schedule.sigma_min, "sigma_max": schedule.sigma_max},
                              "true_mode_weights": dataset.true_mode_weights}
    model: Optional[torch.nn.Module] = None
    if score_mode == "exact":
        score_fn = dataset.score
        report["train"] = None
    elif checkpoint is not None:
        model, meta = load_toy_checkpoint(Path(checkpoint), dataset, device)
        trained = meta.get("schedule") or {}
        if trained and (schedule.sigma_min < trained["sigma_min"] * (1 - 1e-6)
                        or schedule.sigma_max > trained["sigma_max"] * (1 + 1e-6)):
            raise InputError(f"schedule σ range [{schedule.sigma_min}, {schedule.sigma_max}] lies outside the "
                             f"checkpoint's trained range [{trained['sigma_min']}, {trained['sigma_max']}]")
        score_fn = _as_score_fn(model, device)
        report["train"] = {"checkpoint": str(checkpoint), "steps": meta.get("step"),
                           "objective": meta.get("objective"), "model_config": meta.get("model_config")}
    else:
        model, summary = train_model(cfg, dataset, schedule, out, device, seed)
        score_fn = _as_score_fn(model, device)
        report["train"] = summary
        print(f"trained {summary['objective']} for {summary['steps']} steps in {summary['seconds']} s "
              f"→ {summary['checkpoint']}")

    data = dataset.sample(n, torch.Generator().manual_seed(seed * 1_000_003 + 101))
    swd_seed = seed + 11
    report["reference"] = reference_metrics(dataset, data, n, seed, swd_seed)
    if model is not None and dataset.has_exact_score:
        report["score_error"] = score_error(score_fn, dataset.score, data, plot_sigmas, seed=seed)

    samples: dict[str, torch.Tensor] = {}
    report["samplers"] = {}
    for i, spec in enumerate(specs):
        g = torch.Generator().manual_seed(seed * 1_000_003 + 1000 + i)
        x0 = spec.initial_state(n, g)
        t0 = time.perf_counter()
        try:
            res = spec.sampler.sample(score_fn, x0, spec.grid, generator=g, progress=bool(cfg.sample.progress))
        except SamplerDivergedError as exc:
            raise InputError(f"sampler {spec.name} diverged: {exc}") from None
        seconds = time.perf_counter() - t0
        x = res.x.detach().cpu()
        samples[spec.name] = x
        entry = {**mode_fractions(dataset, x), "swd": sliced_wasserstein(x, data, seed=swd_seed),
                 "num_evaluations": res.num_evaluations, "seconds": round(seconds, 3),
                 "config": spec.describe()}
        report["samplers"][spec.name] = entry
        fr = ", ".join(f"{f:.3f}" for f in entry["mode_fractions"][:8])
        print(f"{spec.name:>20s}: modes [{fr}{', …' if dataset.num_modes > 8 else ''}] off {entry['off_support']:.3f} "
              f"SWD {entry['swd']:.3f} ({res.num_evaluations} evals, {seconds:.1f} s)")

    files = ["metrics.json", "samples.npz"]
    if bool(cfg.plots.enabled) and plot_sigmas:
        extent = plot_extent(data)
        captions = {k: f"modes {[round(f, 2) for f in v['mode_fractions'][:4]]}{'…' if dataset.num_modes > 4 else ''}"
                       f" SWD {v['swd']:.2f}" for k, v in report["samplers"].items()}
        title = f"{dataset.name}, score={score_mode}"
        plot_samples(out / "samples.png", data, samples, extent, captions=captions, title=title)
        plot_score_field(out / "score_field.png", plot_sigmas, extent,
                         learned=score_fn if model is not None else None,
                         exact=dataset.score if dataset.has_exact_score else None,
                         data=data[:2000], grid=plot_grid, title=title)
        files += ["samples.png", "score_field.png"]
    buf = io.BytesIO()
    np.savez(buf, data=data.numpy(), **{k: v.numpy() for k, v in samples.items()})
    atomic_write_bytes(out / "samples.npz", buf.getvalue())
    report["files"] = files
    atomic_write_text(out / "metrics.json", json.dumps(report, indent=2))
    print(f"wrote {', '.join(files)} to {out}")
    return 0
