"""Guidance terms that compose onto a score function.

Classifier guidance (Song et al. 2021, §5; Dhariwal & Nichol 2021) uses Bayes' rule for the noised
marginals:  ∇_x log p_σ(x | y) = ∇_x log p_σ(x) + ∇_x log p(y | x, σ).  A guidance term returns the
second part (times a scale w); :func:`with_guidance` returns a new score function

    s_guided(x, σ, c) = s(x, σ, c) + Σ_k term_k(x, σ, c, s(x, σ, c)),

so samplers never branch on "is guided".  Every term is differentiated by autograd, also inside a
sampler's ``no_grad`` block.

Terms provided:
* :class:`ClassifierGuidance` — log-softmax of a noise-conditional classifier at a target class.
* :class:`RegressionGuidance` — Gaussian log-likelihood −(f(x, σ) − y*)²/(2τ²) of a noise-conditional
  regressor f around a target y* (τ: tolerance, in the property's units).
* :class:`DenoisedPropertyGuidance` — the same Gaussian log-likelihood of a user's differentiable
  property evaluated on the denoised estimate x̂₀ = x + σ² s(x, σ) (s held fixed, so the gradient is
  ∇g(x̂₀) — Tweedie's estimate, no predictor training needed); with ``sigma_data`` the gradient is
  scaled by σ_d²/(σ_d² + σ²), the Jacobian ∂x̂₀/∂x for data of scale σ_d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence

import torch
from torch import Tensor

from proteindsm.errors import InputError

from .types import Cond, ScoreFn, expand_like

Predictor = Callable[[Tensor, Tensor, Cond], Tensor]
"""A noise-conditional model ``(x (B,...), sigma (B,), cond) -> (B,)`` values or ``(B, C)`` logits."""


class GuidanceTerm(Protocol):
    """``(x, sigma, cond, base_score) -> gradient`` (shape of ``x``) added to the base score."""

    def __call__(self, x: Tensor, sigma: Tensor, cond: Cond, base_score: Tensor) -> Tensor: ...


def grad_of_log_likelihood(log_likelihood: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """∇_x Σ_b log_likelihood(x)_b by autograd, enabled even inside ``torch.no_grad``; shape of ``x``."""
    with torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        ll = log_likelihood(xg)
        (grad,) = torch.autograd.grad(ll.sum(), xg)
    return grad


def gaussian_log_likelihood(value: Tensor, target: float | Tensor, tolerance: float) -> Tensor:
    """log N(target | value, τ²) up to a constant: −(value − target)²/(2τ²), per sample."""
    return -0.5 * ((value - target) / tolerance) ** 2


def _check_scale_tolerance(scale: float, tolerance: Optional[float] = None) -> None:
    if not (math.isfinite(scale) and scale >= 0):
        raise InputError(f"guidance scale must be a finite number >= 0, got {scale}")
    if tolerance is not None and not (math.isfinite(tolerance) and tolerance > 0):
        raise InputError(f"guidance tolerance must be a positive number, got {tolerance}")


@dataclass
class ClassifierGuidance:
    """w·∇_x log softmax(classifier(x, σ))[target] for a noise-conditional classifier ``(B, C)``."""

    classifier: Predictor
    target_class: int
    scale: float = 1.0

    def __post_init__(self) -> None:
        _check_scale_tolerance(self.scale)

    def __call__(self, x: Tensor, sigma: Tensor, cond: Cond, base_score: Tensor) -> Tensor:
        def log_likelihood(xg: Tensor) -> Tensor:
            logits = self.classifier(xg, sigma, cond)
            return torch.log_softmax(logits, dim=-1)[:, self.target_class]

        return self.scale * grad_of_log_likelihood(log_likelihood, x)


@dataclass
class RegressionGuidance:
    """w·∇_x [−(f(x, σ) − target)²/(2τ²)] for a noise-conditional regressor ``f -> (B,)``."""

    predictor: Predictor
    target: float
    tolerance: float = 0.1
    scale: float = 1.0

    def __post_init__(self) -> None:
        _check_scale_tolerance(self.scale, self.tolerance)

    def __call__(self, x: Tensor, sigma: Tensor, cond: Cond, base_score: Tensor) -> Tensor:
        def log_likelihood(xg: Tensor) -> Tensor:
            return gaussian_log_likelihood(self.predictor(xg, sigma, cond), self.target, self.tolerance)

        return self.scale * grad_of_log_likelihood(log_likelihood, x)


@dataclass
class DenoisedPropertyGuidance:
    """w·∇ [−(g(x̂₀) − target)²/(2τ²)] with x̂₀ = x + σ² s(x, σ) for a differentiable property
    ``g(x̂₀, cond) -> (B,)`` of clean data (e.g. a user's callable)."""

    property_fn: Callable[[Tensor, Cond], Tensor]
    target: float
    tolerance: float = 0.1
    scale: float = 1.0
    sigma_data: Optional[float] = None

    def __post_init__(self) -> None:
        _check_scale_tolerance(self.scale, self.tolerance)
        if self.sigma_data is not None and not self.sigma_data > 0:
            raise InputError(f"guidance sigma_data must be positive or null, got {self.sigma_data}")

    def __call__(self, x: Tensor, sigma: Tensor, cond: Cond, base_score: Tensor) -> Tensor:
        shift = expand_like(sigma, x) ** 2 * base_score.detach()

        def log_likelihood(xg: Tensor) -> Tensor:
            return gaussian_log_likelihood(self.property_fn(xg + shift, cond), self.target, self.tolerance)

        grad = self.scale * grad_of_log_likelihood(log_likelihood, x)
        if self.sigma_data is not None:
            # ∂x̂₀/∂x ≈ σ_d²/(σ_d² + σ²) for data of scale σ_d (exact for Gaussian data): without it
            # the term is far too strong at large σ.
            grad = grad * expand_like(self.sigma_data ** 2 / (self.sigma_data ** 2 + sigma ** 2), x)
        return grad


def with_guidance(score_fn: ScoreFn, terms: Sequence[GuidanceTerm]) -> ScoreFn:
    """A new score function: the base score plus the sum of the guidance terms."""
    terms = list(terms)
    if not terms:
        return score_fn

    def guided(x: Tensor, sigma: Tensor, cond: Cond = None) -> Tensor:
        base = score_fn(x, sigma, cond)
        total = base
        for term in terms:
            total = total + term(x, sigma, cond, base)
        return total

    return guided
