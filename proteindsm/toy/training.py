"""Glue between the toy data sets and the core's one trainer (:class:`proteindsm.core.Trainer`).

Nothing here loops over steps: :func:`train_score_model` builds the deterministic batch function
and validation set and hands them to ``Trainer.fit``.
"""

from __future__ import annotations

from typing import Any, Optional

import torch
from torch import nn

from proteindsm.core import (Batch, GeometricSchedule, Objective, TrainConfig, Trainer, TrainResult,
                             ValidationSet)
from proteindsm.core.types import BatchFn
from proteindsm.errors import InputError

from .datasets import ToyDataset


def toy_batches(dataset: ToyDataset, batch_size: int, seed: int) -> BatchFn:
    """``step -> Batch`` of ``batch_size`` fresh samples ``(batch_size, 2)``, deterministic in
    ``(seed, step)`` (a resumed run sees the same data)."""
    if int(batch_size) != batch_size or batch_size < 1:
        raise InputError(f"train.batch_size must be a positive integer, got {batch_size!r}")

    def batch_for_step(step: int) -> Batch:
        g = torch.Generator().manual_seed(int(seed) * 1_000_003 + 17 + int(step))
        return Batch(x=dataset.sample(int(batch_size), g))

    return batch_for_step


def toy_validation(dataset: ToyDataset, schedule: GeometricSchedule, n: int, seed: int,
                   num_sigmas: int = 6) -> ValidationSet:
    """A fixed validation batch of ``n`` samples (seeded apart from training data) evaluated at
    ``num_sigmas`` geometric σ values of ``schedule``."""
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + 999_983)
    return ValidationSet(batches=[Batch(x=dataset.sample(int(n), g))],
                         sigmas=schedule.validation_sigmas(num_sigmas))


def train_score_model(model: nn.Module, dataset: ToyDataset, objective: Objective, schedule: GeometricSchedule,
                      config: TrainConfig, *, batch_size: int = 256, val_size: int = 2000,
                      metadata: Optional[dict[str, Any]] = None) -> tuple[Trainer, TrainResult]:
    """Train ``model`` on samples of ``dataset`` with the core :class:`Trainer` (EMA, checkpoints in
    ``config.out_dir``, resume).  Returns the trainer (``trainer.ema`` holds the averaged weights)
    and its :class:`TrainResult`."""
    batches = toy_batches(dataset, batch_size, config.seed)
    validation = toy_validation(dataset, schedule, val_size, config.seed) if val_size > 0 else None
    trainer = Trainer(model, objective, batches, config, validation=validation,
                      metadata=metadata)
    return trainer, trainer.fit()
