"""Classifier-free guidance (Ho & Salimans 2022), domain-free.

A model trained with its conditioning dropped at random (e.g. secondary-structure labels replaced by
"unknown") is both a conditional score s(x, σ | c) and an unconditional one s(x, σ).  Classifier-free
guidance samples with

    s_w(x, σ | c) = s(x, σ) + w · (s(x, σ | c) − s(x, σ)),

the score of p_σ(x) · p_σ(c | x)^w up to the error of the implicit classifier: w = 1 is the
conditional model, w = 0 the unconditional one, w > 1 follows the condition more strictly (at some
cost in diversity).  For Gaussians p(x | c) = N(μ_c, Σ), p(x) = N(μ_0, Σ) it is exactly the score of
N(μ_0 + w (μ_c − μ_0), Σ) at every σ (the known answer of tests/core/test_free_guidance.py).

The "unconditional" evaluation is the same score function called with the ``keys`` of ``cond``
removed — the domain's convention for "no condition" (the protein network reads an absent ``ss`` /
``ss_pairs`` as all-unknown, as in training with the labels dropped).  It wraps the model like the
conditioning mechanisms (:mod:`proteindsm.core.conditioning`), before guidance terms and inside
self-conditioning, so both passes get the same previous estimate and x̂₀ is the guided one.  Cost: a
second network evaluation at every level inside the σ window ``sigma_min ≤ σ ≤ sigma_max``, none
outside it or when ``cond`` carries none of the keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import torch
from torch import Tensor

from proteindsm.errors import InputError

from .types import Cond, ScoreFn, expand_like

__all__ = ["ClassifierFreeGuidance"]


@dataclass
class ClassifierFreeGuidance:
    """Wraps a score function into s(x, σ) + w (s(x, σ | c) − s(x, σ)) (see the module docstring).

    Args:
        weight: w ≥ 0 (1: the conditional score unchanged, no second pass).
        keys: the entries of ``cond`` that make up the condition c (dropped for the unconditional pass).
        sigma_max: guide only at σ ≤ this (None: no upper bound); elsewhere the conditional score.
        sigma_min: guide only at σ ≥ this.
    """

    weight: float
    keys: Sequence[str] = field(default_factory=tuple)
    sigma_max: Optional[float] = None
    sigma_min: float = 0.0

    def __post_init__(self) -> None:
        if not (isinstance(self.weight, (int, float)) and math.isfinite(self.weight) and self.weight >= 0):
            raise InputError(f"free guidance weight must be a number >= 0, got {self.weight!r}")
        self.keys = tuple(str(k) for k in self.keys)
        if not self.keys:
            raise InputError("free guidance needs the cond keys that make up the condition (keys=[...])")
        if self.sigma_max is not None and not (math.isfinite(self.sigma_max) and self.sigma_max > 0):
            raise InputError(f"free guidance sigma_max must be a positive number or null, got {self.sigma_max!r}")
        if not (math.isfinite(self.sigma_min) and self.sigma_min >= 0
                and (self.sigma_max is None or self.sigma_min < self.sigma_max)):
            raise InputError(f"free guidance sigma_min must be >= 0 and below sigma_max, got {self.sigma_min!r}")

    def active(self, sigma: Tensor) -> Tensor:
        """Bool ``(B,)``: the rows whose σ lies in the guidance window."""
        on = sigma >= self.sigma_min
        if self.sigma_max is not None:
            on &= sigma <= self.sigma_max
        return on

    def wrap(self, score_fn: ScoreFn) -> ScoreFn:
        """The guided score function ``(x, sigma (B,), cond) -> score``."""

        def guided(x: Tensor, sigma: Tensor, cond: Cond = None) -> Tensor:
            conditional = score_fn(x, sigma, cond)
            given = dict(cond or {})
            on = self.active(sigma)
            if self.weight == 1.0 or not any(k in given for k in self.keys) or not bool(on.any()):
                return conditional
            unconditional = score_fn(x, sigma, {k: v for k, v in given.items() if k not in self.keys})
            w = torch.where(on, torch.as_tensor(float(self.weight), dtype=x.dtype, device=x.device),
                            torch.ones((), dtype=x.dtype, device=x.device))
            return unconditional + expand_like(w, x) * (conditional - unconditional)

        return guided
