"""Sampling images with the core samplers, classifier guidance, and FID tracking during training.

* :func:`sample_images` — prior σ_max·ε → any core sampler (annealed Langevin, reverse SDE, ODE) on the
  schedule's σ grid → images ``(N, C, H, W)`` clipped to [0, 1].  Guidance terms from
  :mod:`proteindsm.core.guidance` compose onto the score (``with_guidance``); the sampler never knows.
* :class:`FIDTracker` — a Trainer callback: at every validation it samples with the raw **and** the EMA
  weights from the same initial noise, computes FID / class balance, and writes the sample grids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from torch import Tensor, nn

from proteindsm.core import ClassifierGuidance, GeometricSchedule, Sampler, prior_sample, with_guidance
from proteindsm.core.guidance import GuidanceTerm

from .datasets import DATA_RANGE
from .fid import ImageMetrics
from .plots import save_grid


def class_guidance(classifier: nn.Module, target_class: int, scale: float) -> ClassifierGuidance:
    """The core classifier-guidance term for a noise-conditional classifier ``(x, σ, cond) -> logits``."""
    return ClassifierGuidance(classifier=classifier, target_class=int(target_class), scale=float(scale))


def sample_images(model: nn.Module, sampler: Sampler, schedule: GeometricSchedule, num: int,
                  shape: Sequence[int], *, num_levels: Optional[int] = None,
                  guidance: Sequence[GuidanceTerm] = (), seed: int = 0, batch_size: int = 500,
                  device: torch.device | str | None = None, clip: bool = True, progress: bool = False) -> Tensor:
    """``num`` images ``(num, C, H, W)`` (CPU, float32) from the score model ``model``.

    Args:
        model: score model ``(x, σ, cond) -> score`` (put in eval mode here).
        sampler: a core sampler (e.g. ``AnnealedLangevin``).
        schedule: gives σ_max for the prior and the descending σ grid (``num_levels`` levels).
        shape: ``(C, H, W)`` of one image.
        guidance: core guidance terms (e.g. :func:`class_guidance`).
        seed: the initial noise and the sampler's noise come from one generator seeded with ``seed``, so
            two models sampled with the same seed start from the same noise.
        clip: clip the result to the data range [0, 1] (Langevin leaves small excursions).
    """
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval()
    score_fn = with_guidance(model, list(guidance))
    sigmas = schedule.levels(num_levels, device=dev)
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    out = []
    for start in range(0, num, batch_size):
        b = min(batch_size, num - start)
        x0 = prior_sample((b, *shape), schedule.sigma_max, generator=gen, device=dev)
        res = sampler.sample(score_fn, x0, sigmas, generator=gen, progress=progress)
        out.append(res.x.float().cpu())
    x = torch.cat(out) if out else torch.empty((0, *shape))
    return x.clamp(*DATA_RANGE) if clip else x


class FIDTracker:
    """Trainer callback ``(trainer, step) -> metrics``: FID and class balance of samples from the raw and
    the EMA weights (same initial noise), and sample-grid PNGs ``samples/step_XXXXXX_{raw,ema}.png``."""

    def __init__(self, metrics: Optional[ImageMetrics], sampler: Sampler, schedule: GeometricSchedule,
                 shape: Sequence[int], out_dir: str | Path, *, num_samples: int = 500, num_levels: Optional[int] = None,
                 grid_size: int = 64, seed: int = 12345, batch_size: int = 500, track_raw: bool = True) -> None:
        self.metrics, self.sampler, self.schedule, self.shape = metrics, sampler, schedule, tuple(shape)
        self.out_dir = Path(out_dir)
        self.num_samples = num_samples if metrics is not None else grid_size
        self.num_levels, self.grid_size, self.seed = num_levels, grid_size, seed
        self.batch_size, self.track_raw = batch_size, track_raw
        self._cache: dict[int, dict[str, Any]] = {}

    def _one(self, model: nn.Module, step: int, tag: str) -> dict[str, Any]:
        x = sample_images(model, self.sampler, self.schedule, max(self.num_samples, self.grid_size), self.shape,
                          num_levels=self.num_levels, seed=self.seed, batch_size=self.batch_size)
        save_grid(self.out_dir / "samples" / f"step_{step:06d}_{tag}.png", x[: self.grid_size],
                  title=f"step {step}, {tag} weights")
        if self.metrics is None:
            return {}
        m = self.metrics.evaluate(x[: self.num_samples])
        return {f"fid_{tag}": m["fid"], f"label_entropy_{tag}": m["label_entropy"],
                f"mean_pred_entropy_{tag}": m["mean_pred_entropy"], f"class_hist_{tag}": m["class_hist"]}

    def __call__(self, trainer: Any, step: int) -> dict[str, Any]:
        if step in self._cache:  # the Trainer validates the last step twice when val_every divides max_steps
            return self._cache[step]
        record: dict[str, Any] = {}
        was_training = trainer.model.training
        if self.track_raw:
            record.update(self._one(trainer.model, step, "raw"))
        with trainer.ema.swapped_in(trainer.model) as model:
            record.update(self._one(model, step, "ema"))
        trainer.model.train(was_training)
        self._cache = {step: record}
        return record
