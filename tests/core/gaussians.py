"""Analytic score functions used by the core tests (known answers)."""

from __future__ import annotations

from torch import Tensor


def gaussian_score(mean: Tensor, std: float):
    """Exact noised score of N(mean, std² I) perturbed by N(0, σ² I): −(x − μ)/(s² + σ²)."""

    def score(x: Tensor, sigma: Tensor, cond=None) -> Tensor:
        var = std ** 2 + sigma.reshape(-1, *([1] * (x.dim() - 1))) ** 2
        return -(x - mean.to(x)) / var

    return score
