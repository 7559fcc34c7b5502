"""Conditioning on a known part of the state (inpainting, motif scaffolding), domain-free.

A :class:`KnownPart` says which elements of the state are known (``mask``) and the values they
must hold (``values``), optionally with an ``align`` hook that moves the target onto the current
estimate before it is compared (the protein domain superposes the motif, so the condition is
SE(3)-invariant and the model chooses where the motif sits).  Two mechanisms turn it into a new
score function on the one contract ``(x, sigma, cond) -> score``, so every sampler uses them
unchanged (samplers never branch on "is conditioned"):

* :class:`Replacement` (RePaint-style; Song et al. 2021, App. I "imputation"; Lugmayr et al. 2022).
  The known part of the noised state is distributed as y + σε, whose score is (y − x_k)/σ²; the
  unknown part keeps the model's joint score, evaluated at the state whose known part is (close to)
  its noised value:

      s_c(x, σ)_k = (ỹ − x_k)/σ²,      s_c(x, σ)_u = s(x, σ)_u,      ỹ = align(y, x̂₀) or y,

  with x̂₀ = x + σ² s(x, σ) (:func:`~proteindsm.core.denoiser.denoised_estimate`, as everywhere in
  the core; a mechanism wraps the score function, so x̂₀ is that of the function it wraps).  The known part is thereby *pulled* to its noised value at each level
  by the sampler's own step (an Euler ODE step keeps x_k − ỹ ∝ σ exactly; the final denoising step
  lands on ỹ), instead of being overwritten, which keeps the samplers untouched.  One model
  evaluation per call.

* :class:`ReconstructionGuidance` (Ho et al. 2022, video diffusion; Chung et al. 2023 DPS;
  Song et al. 2023 ΠGDM).  Bayes' rule with the likelihood of the known values given the noisy
  state, x₀ | x_σ ≈ N(x̂₀(x), r²(σ) I) on the known elements:

      s_c(x, σ) = s(x, σ) + w · Jᵀ M (ỹ − x̂₀) / r²(σ),     J = ∂x̂₀/∂x = I + σ² ∂s/∂x,
      r²(σ) = τ² + σ² σ_d²/(σ² + σ_d²)     (τ² + σ² without ``sigma_data``),

  M the known-element mask.  That is w ∇ₓ log N(ỹ; x̂₀(x), r²) — the gradient of the restraint
  −‖M(ỹ − x̂₀)‖²/(2r²) between the known part of the denoised estimate and its target, scaled per
  σ by 1/r²(σ).  Jᵀ(·) is one vector–Jacobian product through the score function (one backward
  pass per evaluation), so the unknown part is steered too, not only the known one;
  ``through_model=False`` takes J = I (s held fixed, as :class:`~proteindsm.core.DenoisedPropertyGuidance`).
  With an ``align`` hook the target is superposed on x̂₀ without a gradient through the fit: for a
  restraint U(x̂₀) = ½ min_g ‖M(g·y − x̂₀)‖², ∂U/∂x̂₀ = −M(g*·y − x̂₀) at the optimum g* (envelope
  theorem), so the term is the exact gradient of the invariant restraint.

Known answer (tests/core/test_conditioning.py): for data N(μ, Σ) with the exact noised score
−(Σ + σ²I)⁻¹(x − μ), samples of both mechanisms reproduce the conditional of the unknown
coordinates given the known ones, N(μ_u + Σ_uk Σ_kk⁻¹(y − μ_k), Σ_uu − Σ_uk Σ_kk⁻¹ Σ_ku).

Shapes: ``x`` ``(B, *event)``; ``values`` broadcastable to ``x``; ``mask`` bool ``x.shape[:k]``
(k ≥ 1; e.g. ``(B, L)`` residues of a ``(B, L, 4, 3)`` backbone) or ``x.shape``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from proteindsm.errors import InputError

from .denoiser import denoised_estimate
from .types import Cond, ScoreFn, expand_like

__all__ = ["Aligner", "KnownPart", "Replacement", "ReconstructionGuidance", "with_conditioning"]

Aligner = Callable[[Tensor, Tensor, Tensor], Tensor]
"""``(target (B, *event), estimate (B, *event), mask) -> target moved to fit estimate`` on the masked
elements (e.g. an optimal rigid superposition); called without gradient, must not change ``mask``."""


@dataclass
class KnownPart:
    """The condition: ``values`` at the elements where ``mask`` is True (other entries ignored),
    compared after ``align(values, estimate, mask)`` when an aligner is given."""

    values: Tensor
    mask: Tensor
    align: Optional[Aligner] = None

    def __post_init__(self) -> None:
        if self.mask.dim() < 1 or self.mask.dim() > self.values.dim():
            raise InputError(f"known-part mask must have 1 to {self.values.dim()} dims (a prefix of the "
                             f"values' shape {tuple(self.values.shape)}), got {tuple(self.mask.shape)}")
        if tuple(self.values.shape[:self.mask.dim()]) != tuple(self.mask.shape):
            raise InputError(f"known-part mask shape {tuple(self.mask.shape)} must be a prefix of the "
                             f"values' shape {tuple(self.values.shape)}")
        if not bool(torch.isfinite(self.values[self.mask.to(torch.bool)]).all()):
            raise InputError("known-part values must be finite where the mask is True")

    def _check(self, x: Tensor) -> None:
        if tuple(x.shape) != tuple(self.values.shape):
            raise InputError(f"known-part values have shape {tuple(self.values.shape)} but the state "
                             f"has {tuple(x.shape)}")

    def target(self, estimate: Tensor) -> Tensor:
        """The target in the frame of ``estimate`` (shape of the state), without gradient."""
        values = self.values.to(estimate)
        if self.align is None:
            return values
        with torch.no_grad():
            return self.align(values, estimate.detach(), self.mask.to(torch.bool)).detach()

    def weights(self, x: Tensor) -> Tensor:
        """1 at known elements, 0 elsewhere, broadcastable against ``x``."""
        return expand_like(self.mask.to(device=x.device, dtype=x.dtype), x)


def _sigma_factor(sigma: Tensor, x: Tensor) -> Tensor:
    return expand_like(sigma.to(x.dtype), x)


@dataclass
class Replacement:
    """Replacement conditioning (see the module docstring): the known part's score is that of its
    noised value, (ỹ − x_k)/σ², the rest is the model's.  ``align_to``: ``"denoised"`` superposes
    the target on x̂₀ = x + σ² s (robust at large σ, where x is mostly noise) or ``"state"`` on x."""

    known: KnownPart
    align_to: str = "denoised"

    def __post_init__(self) -> None:
        if self.align_to not in ("denoised", "state"):
            raise InputError(f"replacement align_to must be 'denoised' or 'state', got {self.align_to!r}")

    def wrap(self, score_fn: ScoreFn) -> ScoreFn:
        known = self.known

        def conditioned(x: Tensor, sigma: Tensor, cond: Cond = None) -> Tensor:
            known._check(x)
            s = score_fn(x, sigma, cond)
            s2 = _sigma_factor(sigma, x) ** 2
            ref = denoised_estimate(x, sigma, s) if self.align_to == "denoised" else x
            target = known.target(ref)
            m = known.weights(x)
            return m * (target - x) / s2 + (1 - m) * s

        return conditioned


@dataclass
class ReconstructionGuidance:
    """Reconstruction guidance on the denoised estimate (see the module docstring):
    s + w Jᵀ M (ỹ − x̂₀)/r²(σ), r²(σ) = τ² + σ² σ_d²/(σ² + σ_d²) (τ² + σ² when ``sigma_data`` is None).

    Args:
        known: the condition.
        scale: w ≥ 0 (1 = the Gaussian likelihood as written).
        tolerance: τ ≥ 0, in the units of x: slack of the restraint (0 = as tight as the estimate).
        sigma_data: σ_d, the data's scale per coordinate, for the variance of x₀ given x_σ.
        through_model: J by a vector–Jacobian product through ``score_fn`` (steers the unknown
            part too; one backward pass per call); False: J = I (only the known part is pulled).
        sigma_max: on at levels σ ≤ this only (None: every level); off, the model's score is returned.
    """

    known: KnownPart
    scale: float = 1.0
    tolerance: float = 0.0
    sigma_data: Optional[float] = None
    through_model: bool = True
    sigma_max: Optional[float] = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and self.scale >= 0):
            raise InputError(f"reconstruction guidance scale must be a finite number >= 0, got {self.scale}")
        if not (math.isfinite(self.tolerance) and self.tolerance >= 0):
            raise InputError(f"reconstruction guidance tolerance must be >= 0, got {self.tolerance}")
        if self.sigma_data is not None and not (math.isfinite(self.sigma_data) and self.sigma_data > 0):
            raise InputError(f"reconstruction guidance sigma_data must be positive or null, got {self.sigma_data}")
        if self.sigma_max is not None and not (math.isfinite(self.sigma_max) and self.sigma_max > 0):
            raise InputError(f"reconstruction guidance sigma_max must be positive or null, got {self.sigma_max}")

    def variance(self, sigma: Tensor) -> Tensor:
        """r²(σ) ``(B,)``: τ² plus the variance of x₀ given x_σ per coordinate."""
        s2 = sigma ** 2
        post = s2 if self.sigma_data is None else s2 * self.sigma_data ** 2 / (s2 + self.sigma_data ** 2)
        return self.tolerance ** 2 + post

    def wrap(self, score_fn: ScoreFn) -> ScoreFn:
        known = self.known

        def conditioned(x: Tensor, sigma: Tensor, cond: Cond = None) -> Tensor:
            known._check(x)
            on = torch.ones_like(sigma, dtype=torch.bool) if self.sigma_max is None else sigma <= self.sigma_max
            if self.scale == 0 or not bool(on.any()):
                return score_fn(x, sigma, cond)
            coef = known.weights(x) * _sigma_factor(on.to(x.dtype) / self.variance(sigma.to(x.dtype)), x)
            if not self.through_model:
                s = score_fn(x, sigma, cond)
                x0 = denoised_estimate(x, sigma, s)
                return s + self.scale * coef * (known.target(x0) - x0)
            with torch.enable_grad():
                xg = x.detach().requires_grad_(True)
                s = score_fn(xg, sigma, cond)
                x0 = denoised_estimate(xg, sigma, s)   # differentiable: J = ∂x̂₀/∂x through the model
                residual = coef * (known.target(x0) - x0.detach())
                (vjp,) = torch.autograd.grad(x0, xg, grad_outputs=residual)
            return s.detach() + self.scale * vjp

        return conditioned


def with_conditioning(score_fn: ScoreFn, mechanism: Optional[Replacement | ReconstructionGuidance]) -> ScoreFn:
    """``score_fn`` conditioned by ``mechanism`` (a :class:`Replacement` or a
    :class:`ReconstructionGuidance`); ``score_fn`` itself when ``mechanism`` is None.  Wrap the model
    (with or without guidance terms composed onto it); the result composes with further guidance."""
    return score_fn if mechanism is None else mechanism.wrap(score_fn)
