"""Self-conditioning (Chen et al. 2022, "Analog Bits"; as in RFdiffusion, FrameFlow, Proteina), domain-free.

The network receives its own previous estimate of the clean data, x̂₀, as an extra input under the
key :data:`SELF_COND_KEY` of ``cond`` (same shape as ``x``; all zeros means "no estimate").  The core
only ever computes x̂₀ from a score through Tweedie's formula, ``x̂₀ = x + σ² s(x, σ)``
(:func:`proteindsm.core.denoiser.denoised_estimate`), so any
score function that accepts the key works, whatever its domain.

Training (:func:`self_conditioned_cond`, used by :func:`proteindsm.core.loss.dsm_loss`): for the rows
chosen (a random half of each batch by default), a first pass without gradient gives x̂₀, which is
fed to the second, differentiated pass; the other rows get zeros.  The model therefore learns both
the plain score and the self-conditioned one.

Sampling (:class:`SelfConditioning`): wraps a score function so each evaluation feeds the estimate
of the previous one; the first evaluation of a run gets zeros.  A new run is detected when the state
changes shape or σ jumps up by more than :data:`NEW_RUN_SIGMA_RATIO` (every sampler starts at σ_max
and descends; the churn of :class:`proteindsm.core.EDMStochastic` raises σ by at most √2 within a
run), or by :meth:`reset`.
Wrap the *model* (before guidance terms), so x̂₀ is the model's own estimate.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from .denoiser import denoised_estimate
from .types import Cond, ScoreFn, expand_like

__all__ = ["SELF_COND_KEY", "self_conditioned_cond", "SelfConditioning"]

#: The key of ``cond`` that carries the previous estimate x̂₀.
SELF_COND_KEY = "self_cond"

#: σ rising by more than this factor between two evaluations starts a new run (estimate reset).
NEW_RUN_SIGMA_RATIO = 2.0


def self_conditioned_cond(score_fn: ScoreFn, x_noisy: Tensor, sigma: Tensor, cond: Cond,
                          rows: Tensor) -> dict:
    """``cond`` plus :data:`SELF_COND_KEY`: x̂₀ of a first, gradient-free pass for ``rows`` (bool
    ``(B,)``), zeros elsewhere.  The first pass itself sees zeros (no estimate)."""
    base = dict(cond or {})
    zeros = torch.zeros_like(x_noisy)
    base[SELF_COND_KEY] = zeros
    if bool(rows.any()):
        with torch.no_grad():
            est = denoised_estimate(x_noisy, sigma, score_fn(x_noisy, sigma, base)).detach()
        base[SELF_COND_KEY] = torch.where(expand_like(rows.to(torch.bool), x_noisy), est, zeros)
    return base


class SelfConditioning:
    """A score function that feeds each evaluation the x̂₀ of the previous one (see the module docstring).

    Args:
        score_fn: the model, ``(x, sigma, cond) -> score``, accepting ``cond[SELF_COND_KEY]``.
    """

    def __init__(self, score_fn: ScoreFn) -> None:
        self.score_fn = score_fn
        self.reset()

    def reset(self) -> None:
        """Forget the previous estimate (the next call gets zeros)."""
        self._estimate: Optional[Tensor] = None
        self._last_sigma: Optional[float] = None

    def __call__(self, x: Tensor, sigma: Tensor, cond: Cond = None) -> Tensor:
        top = float(sigma.max()) if sigma.numel() else 0.0
        stale = (self._estimate is None or self._estimate.shape != x.shape
                 or (self._last_sigma is not None and top > self._last_sigma * NEW_RUN_SIGMA_RATIO))
        estimate = torch.zeros_like(x) if stale else self._estimate.to(dtype=x.dtype)
        score = self.score_fn(x, sigma, {**dict(cond or {}), SELF_COND_KEY: estimate})
        self._estimate = denoised_estimate(x, sigma, score).detach()
        self._last_sigma = top
        return score
