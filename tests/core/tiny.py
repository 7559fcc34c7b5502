"""A tiny domain-free score model and data for the core trainer / checkpoint tests (fast, CPU), and
:func:`fixed_sigma_loss`, the loss measure of every trainer test (core and domains)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from proteindsm.core import DSMObjective, GeometricSchedule, TrainConfig, Trainer
from proteindsm.core.types import Batch

SCHEDULE = GeometricSchedule(sigma_min=0.05, sigma_max=5.0)


class TinyScore(nn.Module):
    """``(x, sigma, cond) -> score`` for 2-D points: an MLP on (x, log σ), output / σ."""

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.config = {"hidden": hidden}
        self.net = nn.Sequential(nn.Linear(3, hidden), nn.SiLU(), nn.Linear(hidden, 2))

    def forward(self, x: Tensor, sigma: Tensor, cond=None) -> Tensor:
        s = sigma.reshape(-1, 1).to(x)
        return self.net(torch.cat([x, torch.log(s)], -1)) / s


def batches(step: int) -> Batch:
    """Deterministic in ``step``: 32 points of N((1, −2), 0.5² I)."""
    g = torch.Generator().manual_seed(step)
    return Batch(x=torch.tensor([1.0, -2.0]) + 0.5 * torch.randn(32, 2, generator=g))


def trainer(out: Path, steps: int, *, seed: int = 0, checkpoint_every: int = 5, compile: bool = False) -> Trainer:
    torch.manual_seed(seed)
    cfg = TrainConfig(out_dir=str(out), max_steps=steps, lr=1e-2, warmup_steps=0, log_every=5,
                      val_every=10_000, checkpoint_every=checkpoint_every, seed=seed, device="cpu",
                      progress=False, ema_decay=0.9, compile=compile)
    model = TinyScore()
    return Trainer(model, DSMObjective(SCHEDULE), batches, cfg,
                   metadata={"model_class": "TinyScore", "model_config": model.config})


def fixed_sigma_loss(tr: Trainer, batch: Batch, sigmas=(0.1, 1.0, 5.0)) -> float:
    """The trainer's objective on ``batch`` at fixed σ values with fixed noise (mean over σ)."""
    obj, total = tr.objective, 0.0
    with torch.no_grad():
        for j, s in enumerate(sigmas):
            draw = obj.draw(batch, torch.Generator().manual_seed(j))
            draw["sigma"] = torch.full_like(draw["sigma"], s)
            total += float(obj(tr.model, batch, draw).loss.mean())
    return total / len(sigmas)
