"""Guidance terms that compose onto a score function.

Classifier guidance (Song et al. 2021, §5; Dhariwal & Nichol 2021) uses Bayes' rule for the noised
marginals:  ∇_x log p_σ(x | y) = ∇_x log p_σ(x) + ∇_x log p(y | x, σ).  A guidance term returns the
second part (times a scale w); :func:`with_guidance` returns a new score function

    s_guided(x, σ, c) = s(x, σ, c) + Σ_k term_k(Evaluation(x, σ, c, s(x, σ, c), x̂₀)),

so samplers never branch on "is guided".  Every term is differentiated by autograd, also inside a
sampler's ``no_grad`` block.

The term protocol (:class:`GuidanceTerm`) is one argument, an :class:`Evaluation`: the state, σ,
cond, the base score s and the denoised estimate x̂₀ = x + σ² s (Tweedie), which
:func:`with_guidance` computes ONCE per evaluation with
:func:`~proteindsm.core.denoiser.denoised_estimate` and hands to every term (detached: terms hold s
fixed), so no term recomputes it and all terms see the same tensor.  A term reads only the fields
it needs; one record rather than a growing argument list keeps the call the same when a shared
quantity is added.

Terms provided:
* :class:`ClassifierGuidance` — log-softmax of a noise-conditional classifier at a target class.
* :class:`RegressionGuidance` — Gaussian log-likelihood −(f(x, σ) − y*)²/(2τ²) of a noise-conditional
  regressor f around a target y* (τ: tolerance, in the property's units).
* :class:`DenoisedPropertyGuidance` — the same Gaussian log-likelihood of a user's differentiable
  property evaluated on the denoised estimate x̂₀ = x + σ² s(x, σ) (s held fixed, so the gradient is
  ∇g(x̂₀) — Tweedie's estimate, no predictor training needed); with ``sigma_data`` the gradient is
  scaled by σ_d²/(σ_d² + σ²), the Jacobian ∂x̂₀/∂x for data of scale σ_d.
* :class:`NoiseAwareDenoisedGuidance` — the same property on x̂₀ with the uncertainty of x̂₀ (≈ σ per
  coordinate) propagated to the property, so the pull fades in as x̂₀ becomes informative.
* :class:`CalibratedRegressionGuidance` — :class:`RegressionGuidance` with the tolerance widened by
  the regressor's own error ε(σ) (its validation RMSE per σ).
* :class:`PotentialGuidance` — −w ∇U(x̂₀) for an energy U of clean data (restraints, steric
  repulsion), on at σ ≤ a threshold.
* :class:`ProjectionGuidance` — w (P(x̂₀) − x̂₀)/σ², with P(x̂₀) a nearby point where a restraint
  energy U vanishes (found by gradient descent on U): a stiff restraint without a stiff step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional, Protocol, Sequence

import torch
from torch import Tensor

from proteindsm.errors import InputError

from .denoiser import denoised_estimate
from .types import Cond, ScoreFn, expand_like

Predictor = Callable[[Tensor, Tensor, Cond], Tensor]
"""A noise-conditional model ``(x (B,...), sigma (B,), cond) -> (B,)`` values or ``(B, C)`` logits."""


@dataclass(frozen=True)
class Evaluation:
    """One evaluation of a guided score function, as every guidance term receives it.

    Attributes:
        x: the state ``(B, ...)``.
        sigma: the noise level ``(B,)``.
        cond: the network's extra inputs (or None).
        score: the base score s(x, σ, cond) ``(B, ...)``, before any term is added.
        x0_hat: the denoised estimate x̂₀ = x + σ² s ``(B, ...)``, detached (s held fixed), in ``x``'s
            dtype; computed once per evaluation (:meth:`at`) and shared by all terms.
    """

    x: Tensor
    sigma: Tensor
    cond: Cond
    score: Tensor
    x0_hat: Tensor

    @classmethod
    def at(cls, x: Tensor, sigma: Tensor, cond: Cond, score: Tensor) -> "Evaluation":
        """The record of an evaluation at ``x``, with x̂₀ computed by :func:`denoised_estimate`."""
        return cls(x, sigma, cond, score, denoised_estimate(x, sigma, score).detach())


class GuidanceTerm(Protocol):
    """``(evaluation: Evaluation) -> gradient`` (shape of ``evaluation.x``) added to the base score."""

    def __call__(self, ev: Evaluation) -> Tensor: ...


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

    def __call__(self, ev: Evaluation) -> Tensor:
        def log_likelihood(xg: Tensor) -> Tensor:
            logits = self.classifier(xg, ev.sigma, ev.cond)
            return torch.log_softmax(logits, dim=-1)[:, self.target_class]

        return self.scale * grad_of_log_likelihood(log_likelihood, ev.x)


@dataclass
class RegressionGuidance:
    """w·∇_x [−(f(x, σ) − target)²/(2τ²)] for a noise-conditional regressor ``f -> (B,)``."""

    predictor: Predictor
    target: float
    tolerance: float = 0.1
    scale: float = 1.0

    def __post_init__(self) -> None:
        _check_scale_tolerance(self.scale, self.tolerance)

    def __call__(self, ev: Evaluation) -> Tensor:
        def log_likelihood(xg: Tensor) -> Tensor:
            return gaussian_log_likelihood(self.predictor(xg, ev.sigma, ev.cond), self.target, self.tolerance)

        return self.scale * grad_of_log_likelihood(log_likelihood, ev.x)


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

    def __call__(self, ev: Evaluation) -> Tensor:
        # ∇ₓ g(x + σ² s) with s held fixed is ∇g at x̂₀ (∂x̂₀/∂x = I): differentiate at the shared x̂₀.
        def log_likelihood(x0: Tensor) -> Tensor:
            return gaussian_log_likelihood(self.property_fn(x0, ev.cond), self.target, self.tolerance)

        grad = self.scale * grad_of_log_likelihood(log_likelihood, ev.x0_hat)
        if self.sigma_data is not None:
            # ∂x̂₀/∂x ≈ σ_d²/(σ_d² + σ²) for data of scale σ_d (exact for Gaussian data): without it
            # the term is far too strong at large σ.
            grad = grad * expand_like(self.sigma_data ** 2 / (self.sigma_data ** 2 + ev.sigma ** 2), ev.x)
        return grad


@dataclass
class NoiseAwareDenoisedGuidance:
    """Guidance by a differentiable property ``g(x̂₀, cond) -> (B,)`` of the denoised estimate
    x̂₀ = x + σ² s(x, σ), with the uncertainty of x̂₀ propagated to g:

        log p(y* | x_σ) ≈ log N(y*; g(x̂₀), τ² + σ² ‖∇g(x̂₀)‖²),

    i.e. x₀ | x_σ ≈ N(x̂₀, σ² I) pushed through g linearised at x̂₀.  The term is
    ``w · (y* − g) / (τ² + σ²‖∇g‖²) · ∇g`` (s and the variance held fixed, as in
    :class:`DenoisedPropertyGuidance`, which is the σ → 0 limit).  Without the σ² ‖∇g‖² part the
    pull at σ ≈ σ_max, multiplied by a sampler's step σ_i² − σ_{i+1}², throws the sample apart;
    with it the term fades in as x̂₀ becomes informative.
    """

    property_fn: Callable[[Tensor, Cond], Tensor]
    target: float
    tolerance: float = 1.0
    scale: float = 1.0

    def __post_init__(self) -> None:
        _check_scale_tolerance(self.scale, self.tolerance)

    def __call__(self, ev: Evaluation) -> Tensor:
        x = ev.x
        with torch.enable_grad():
            xg = ev.x0_hat.detach().requires_grad_(True)
            g = self.property_fn(xg, ev.cond)
            (grad,) = torch.autograd.grad(g.sum(), xg)
        var = self.tolerance ** 2 + ev.sigma.to(x) ** 2 * grad.flatten(1).pow(2).sum(1)
        coef = (self.target - g.detach()) / var
        return self.scale * expand_like(coef, x) * grad


@dataclass
class CalibratedRegressionGuidance:
    """w · ∇_x log N(y*; f(x, σ), τ² + ε(σ)²) for a noise-conditional regressor f ``(B,)``.

    ε(σ) is the predictor's validation RMSE at σ (``rmse[k]`` measured at ``sigma_grid[k]``,
    ascending; interpolated linearly in log σ, constant beyond the table): f estimates E[y | x_σ],
    and y scatters around it by ε(σ), so the likelihood of the target is the tolerance τ widened by
    that error.  At σ ≈ σ_max, where f is no better than the label mean (ε ≈ label std), the pull
    shrinks by τ²/(τ² + std²); where f is accurate it is :class:`RegressionGuidance`.  Without
    this, a target far from the data mean is pushed for hardest at the highest σ, where f returns
    the mean and says nothing about the sample, and the early state over-shoots.  The variance
    depends on σ only, so the term is still the autograd gradient of a log-likelihood.
    """

    predictor: Predictor
    target: float
    tolerance: float
    scale: float
    sigma_grid: tuple[float, ...]
    rmse: tuple[float, ...]

    def __post_init__(self) -> None:
        _check_scale_tolerance(self.scale, self.tolerance)
        grid, err = tuple(float(s) for s in self.sigma_grid), tuple(float(r) for r in self.rmse)
        if (len(grid) == 0 or len(grid) != len(err) or any(s <= 0 for s in grid)
                or any(b <= a for a, b in zip(grid, grid[1:])) or any(not r >= 0 for r in err)):
            raise InputError("calibration table must be a non-empty ascending σ grid (> 0) with one "
                             f"RMSE >= 0 per σ; got sigma_grid={self.sigma_grid}, rmse={self.rmse}")
        self.sigma_grid, self.rmse = grid, err

    def variance(self, sigma: Tensor) -> Tensor:
        """τ² + ε(σ)² ``(B,)``, computed on σ's device (no host round trip)."""
        log_grid = torch.tensor(self.sigma_grid, dtype=torch.float64, device=sigma.device).log()
        err = torch.tensor(self.rmse, dtype=torch.float64, device=sigma.device)
        ls = sigma.detach().to(torch.float64).log().clamp(log_grid[0], log_grid[-1])
        if len(self.sigma_grid) == 1:
            e = err.expand_as(ls)
        else:
            hi = torch.searchsorted(log_grid, ls).clamp(1, len(self.sigma_grid) - 1)
            lo = hi - 1
            w = (ls - log_grid[lo]) / (log_grid[hi] - log_grid[lo])
            e = err[lo] + w * (err[hi] - err[lo])
        return (self.tolerance ** 2 + e ** 2).to(sigma.dtype)

    def __call__(self, ev: Evaluation) -> Tensor:
        var = self.variance(ev.sigma).to(ev.x.dtype)

        def log_likelihood(xg: Tensor) -> Tensor:
            return -0.5 * (self.predictor(xg, ev.sigma, ev.cond) - self.target) ** 2 / var

        return self.scale * grad_of_log_likelihood(log_likelihood, ev.x)


def _check_sigma_window(kind: str, sigma_max: Optional[float], sigma_min: float = 0.0) -> None:
    """One clear error for a bad level window ``sigma_min ≤ σ ≤ sigma_max`` of a ``kind`` term."""
    if sigma_max is not None and not (math.isfinite(sigma_max) and sigma_max > 0):
        raise InputError(f"{kind} sigma_max must be a positive number or null, got {sigma_max}")
    if not (math.isfinite(sigma_min) and sigma_min >= 0 and (sigma_max is None or sigma_min < sigma_max)):
        raise InputError(f"{kind} sigma_min must be >= 0 and below sigma_max, got {sigma_min}")


def _in_sigma_window(sigma: Tensor, sigma_max: Optional[float], sigma_min: float = 0.0) -> Tensor:
    """Bool ``(B,)``: the levels with ``sigma_min ≤ σ ≤ sigma_max`` (no upper bound if None)."""
    on = sigma >= sigma_min
    if sigma_max is not None:
        on &= sigma <= sigma_max
    return on


@dataclass
class PotentialGuidance:
    """−w ∇U(x̂₀) for an energy ``U(x̂₀, cond) -> (B,)`` of clean data (a restraint or a physical
    prior, e.g. steric repulsion), evaluated on the denoised estimate x̂₀ = x + σ² s(x, σ) (s held
    fixed) and applied only at levels σ ≤ ``sigma_max`` (all levels if None).

    Added to the score it samples p_σ(x) · exp(−w U) (exp(−w U/σ²) with ``inverse_sigma_squared``) —
    a product of experts — at the levels where it is on; an energy that is zero on good samples leaves them untouched.  Restricting it to small σ
    keeps it away from the blurred x̂₀ of the coarse levels, where a contact energy is meaningless.

    ``inverse_sigma_squared=True`` uses −(w/σ²)∇U: for U in squared length units (σ²), w is then
    dimensionless, the restraint keeps the same strength relative to the data score (∝ 1/σ²) at every
    level and hardens into a wall as σ → 0.  With annealed Langevin's α = ε σ²/σ_min² = ½σ² (the
    shipped protein setting) and U a sum of squared overlaps (curvature 2), w = 1 removes an overlap
    in one step and w ≥ 2 overshoots (unstable).
    """

    energy_fn: Callable[[Tensor, Cond], Tensor]
    scale: float = 1.0
    sigma_max: Optional[float] = None
    inverse_sigma_squared: bool = False

    def __post_init__(self) -> None:
        _check_scale_tolerance(self.scale)
        _check_sigma_window("potential", self.sigma_max)

    def __call__(self, ev: Evaluation) -> Tensor:
        x, sigma = ev.x, ev.sigma
        on = _in_sigma_window(sigma, self.sigma_max)
        if self.scale == 0 or not bool(on.any()):
            return torch.zeros_like(x)
        grad = grad_of_log_likelihood(lambda xg: -self.energy_fn(xg, ev.cond), ev.x0_hat)
        weight = on.to(x.dtype) / (sigma.to(x.dtype) ** 2 if self.inverse_sigma_squared else 1.0)
        return self.scale * grad * expand_like(weight, x)


def descend(energy_fn: Callable[[Tensor, Cond], Tensor], x: Tensor, cond: Cond, step: float,
            iterations: int) -> Tensor:
    """``iterations`` steps of plain gradient descent on Σ_b U(x, cond)_b from ``x`` (shape of ``x``,
    no graph).  Converges for ``step`` < 2 / (largest curvature of U)."""
    y = x.detach()
    for _ in range(iterations):
        y = y + step * grad_of_log_likelihood(lambda yg: -energy_fn(yg, cond), y)   # a step along −∇U
    return y


@dataclass
class ProjectionGuidance:
    """w (P(x̂₀) − x̂₀)/σ² at levels ``sigma_min`` ≤ σ ≤ ``sigma_max``: the denoised estimate x̂₀ = x + σ² s(x, σ)
    (s held fixed) is moved onto the zero set of a restraint energy ``U(x, cond) -> (B,)`` by
    ``iterations`` gradient-descent steps of size ``step`` (:func:`descend`), and the score gains the
    displacement over σ².

    Why not :class:`PotentialGuidance` with a large w: a restraint must beat the data score, which
    pulls x toward x̂₀ with strength ∝ 1/σ², but a potential's Langevin step grows with w times U's
    curvature and overshoots once that passes ~2 (many coupled distance restraints diverge).  Here
    the pull is a displacement of known size: with annealed Langevin at α/T = σ² (ε σ²/σ_N² with
    ε/σ_N² = ½ at T = ½, the protein default) the step from this term alone is exactly w·(P(x̂₀) − x̂₀),
    so w = 1 lands x̂₀'s restrained part on the restraint and any w in (0, 1] is stable.  In the stiff
    limit it samples p_σ(x) restricted near {U = 0} (a projected / manifold-constrained sampler, cf.
    Chung et al. 2022), not a product of experts with a finite weight.

    ``step`` must be below 2 / (U's largest curvature) for the descent to converge; the term checks
    nothing about convergence — the caller's energy and step are tested together.
    """

    energy_fn: Callable[[Tensor, Cond], Tensor]
    scale: float = 1.0
    sigma_max: Optional[float] = None
    iterations: int = 50
    step: float = 0.05
    sigma_min: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and 0 <= self.scale <= 1):
            raise InputError(f"projection scale w must be in [0, 1] (1 = land on the restraint), got {self.scale}")
        _check_sigma_window("projection", self.sigma_max, self.sigma_min)
        if not (isinstance(self.iterations, int) and self.iterations >= 1):
            raise InputError(f"projection iterations must be an int >= 1, got {self.iterations!r}")
        if not (math.isfinite(self.step) and self.step > 0):
            raise InputError(f"projection step must be > 0, got {self.step}")

    def __call__(self, ev: Evaluation) -> Tensor:
        x, sigma, x0_hat = ev.x, ev.sigma, ev.x0_hat
        on = _in_sigma_window(sigma, self.sigma_max, self.sigma_min)
        if self.scale == 0 or not bool(on.any()):
            return torch.zeros_like(x)
        s2 = expand_like(sigma.to(x.dtype), x) ** 2
        moved = descend(self.energy_fn, x0_hat, ev.cond, self.step, self.iterations)
        return self.scale * (moved - x0_hat) / s2 * expand_like(on.to(x.dtype), x)


def with_guidance(score_fn: ScoreFn, terms: Sequence[GuidanceTerm]) -> ScoreFn:
    """A new score function: the base score plus the sum of the guidance terms.

    Per evaluation the base score is computed once and x̂₀ = x + σ² s once (:meth:`Evaluation.at`);
    every term receives that same :class:`Evaluation`."""
    terms = list(terms)
    if not terms:
        return score_fn

    def guided(x: Tensor, sigma: Tensor, cond: Cond = None) -> Tensor:
        base = score_fn(x, sigma, cond)
        ev = Evaluation.at(x, sigma, cond, base)
        total = base
        for term in terms:
            total = total + term(ev)
        return total

    return guided
