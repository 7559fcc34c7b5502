"""Exponential moving average of model weights (Song & Ermon 2020, "Improved techniques"), used for
sampling by default: θ_ema ← d·θ_ema + (1 − d)·θ after every optimiser step."""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
from torch import nn

from proteindsm.errors import InputError


class EMA:
    """Shadow copy of a model's floating-point parameters and buffers."""

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        if not 0.0 <= decay < 1.0:
            raise InputError(f"ema decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.shadow: dict[str, torch.Tensor] = {
            k: v.detach().clone() for k, v in model.state_dict().items() if v.is_floating_point()
        }

    @torch.no_grad()
    def update(self, model: nn.Module, step: Optional[int] = None) -> None:
        """One EMA step.  With ``step`` given, the decay warms up as min(d, (1 + t)/(10 + t)) so the
        random initial weights are forgotten quickly in short runs (Tensorflow's ExponentialMovingAverage
        with num_updates)."""
        decay = self.decay if step is None else min(self.decay, (1.0 + step) / (10.0 + step))
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].lerp_(v.detach(), 1.0 - decay)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Load the averaged weights into ``model`` (in place)."""
        model.load_state_dict(self.shadow, strict=False)

    @contextlib.contextmanager
    def swapped_in(self, model: nn.Module) -> Iterator[nn.Module]:
        """Temporarily use the EMA weights in ``model`` (e.g. for validation or sampling)."""
        backup = {k: v.detach().clone() for k, v in model.state_dict().items() if k in self.shadow}
        self.copy_to(model)
        try:
            yield model
        finally:
            model.load_state_dict(backup, strict=False)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self.shadow)

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        missing = set(self.shadow) - set(state)
        if missing:
            raise InputError(f"EMA state is missing tensors: {sorted(missing)[:5]}")
        for k in self.shadow:
            self.shadow[k].copy_(state[k])
