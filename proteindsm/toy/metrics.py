"""Sample-quality metrics for 2-D toy data.

* :func:`mode_fractions` — fraction of samples in each mode of a data set (``dataset.mode_of``),
  the fraction off the support, and the largest error against the true mode weights.  This is the
  metric of Song & Ermon (2019, §3.2): with exact scores, plain Langevin dynamics gets the relative
  weights of separated modes wrong, annealed Langevin gets them right.
* :func:`sliced_wasserstein` — sliced Wasserstein-p distance between two point clouds, averaged over
  seeded random directions (1-D Wasserstein distances from sorted projections; clouds of different
  sizes are compared at matching quantiles).
* :func:`score_error` — RMS of σ·(s_θ − s) on noised data, the noise-prediction error (O(1) units).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import torch
from torch import Tensor

from proteindsm.errors import InputError

from .datasets import ToyDataset


def mode_fractions(dataset: ToyDataset, x: Tensor) -> dict[str, Any]:
    """Mode statistics of samples ``x (n, 2)``.

    Returns ``{"mode_fractions": [f_0, …, f_{K-1}], "off_support": f_-1, "mode_weight_error":
    max_k |f_k − w_k|}`` where ``w_k`` are ``dataset.true_mode_weights``.  Non-finite samples count
    as off the support.
    """
    if x.dim() != 2 or x.shape[0] < 1:
        raise InputError(f"samples must have shape (n, 2) with n >= 1, got {tuple(x.shape)}")
    finite = torch.isfinite(x).all(1).cpu()
    modes = torch.full((x.shape[0],), -1, dtype=torch.long)
    if finite.any():
        modes[finite] = dataset.mode_of(x[finite.to(x.device)])
    n = float(x.shape[0])
    k = dataset.num_modes
    fractions = [float((modes == j).sum()) / n for j in range(k)]
    truth = dataset.true_mode_weights
    return {"mode_fractions": fractions, "off_support": float((modes < 0).sum()) / n,
            "mode_weight_error": max(abs(f - w) for f, w in zip(fractions, truth))}


def _quantiles_sorted(v: Tensor, m: int) -> Tensor:
    """Values of the sorted columns ``v (n, P)`` at the m mid-point quantiles (i + ½)/m, linearly
    interpolated: ``(m, P)``."""
    n = v.shape[0]
    if n == m:
        return v
    pos = (torch.arange(m, dtype=v.dtype, device=v.device) + 0.5) / m * n - 0.5
    pos = pos.clamp(0, n - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=n - 1)
    frac = (pos - lo.to(v.dtype))[:, None]
    return v[lo] * (1 - frac) + v[hi] * frac


def sliced_wasserstein(x: Tensor, y: Tensor, *, num_projections: int = 256, p: float = 1.0,
                       seed: int = 0) -> float:
    """Sliced Wasserstein-p distance between ``x (n, d)`` and ``y (m, d)`` (data units):

        SW_p(x, y) = ( E_θ W_p^p(θᵀx, θᵀy) )^(1/p),  θ uniform on the unit sphere,

    estimated with ``num_projections`` directions from a generator seeded with ``seed`` (the same
    directions for every call with that seed, so numbers are comparable across samplers).
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1] or min(x.shape[0], y.shape[0]) < 1:
        raise InputError(f"sliced_wasserstein needs (n, d) and (m, d) point clouds, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    if int(num_projections) != num_projections or num_projections < 1 or not (p >= 1):
        raise InputError("sliced_wasserstein needs num_projections >= 1 and p >= 1")
    x = x.detach().to(torch.float64).cpu()
    y = y.detach().to(torch.float64).cpu()
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        return math.inf
    g = torch.Generator().manual_seed(int(seed))
    theta = torch.randn(x.shape[1], int(num_projections), generator=g, dtype=torch.float64)
    theta = theta / theta.norm(dim=0, keepdim=True)
    px, _ = torch.sort(x @ theta, dim=0)
    py, _ = torch.sort(y @ theta, dim=0)
    m = min(px.shape[0], py.shape[0])
    qx, qy = _quantiles_sorted(px, m), _quantiles_sorted(py, m)
    return float((qx - qy).abs().pow(p).mean() ** (1.0 / p))


ScoreFn = Callable[[Tensor, Tensor, Optional[dict]], Tensor]


@torch.no_grad()
def score_error(score_fn: ScoreFn, exact_score: ScoreFn, data: Tensor, sigmas: Sequence[float], *,
                seed: int = 0) -> dict[str, float]:
    """RMS ‖σ·(s_θ(x_σ, σ) − s(x_σ, σ))‖ over x_σ = x + σε for ``data (n, 2)``, at each σ:
    ``{"<σ>": error}`` (dimensionless: 1.0 is as large as the noise itself)."""
    g = torch.Generator().manual_seed(int(seed))
    out: dict[str, float] = {}
    for s in sigmas:
        x = data + float(s) * torch.randn(data.shape, generator=g, dtype=data.dtype)
        sig = torch.full((data.shape[0],), float(s), dtype=data.dtype)
        diff = (score_fn(x, sig, None) - exact_score(x, sig, None)) * float(s)
        out[f"{float(s):.4g}"] = float(diff.pow(2).sum(1).mean().sqrt())
    return out
