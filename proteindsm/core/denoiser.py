"""The denoiser contract: EDM preconditioning and the score of a denoiser, written once.

Every network of the package is reached as a score function ``(x, sigma, cond) -> score``
(:class:`proteindsm.core.types.ScoreFn`).  Inside, a network outputs a raw, unit-scale ``F`` and
this module turns it into a denoiser ``D`` and a score, with ``σ`` ``(B,)`` broadcast over ``x``
``(B, ...)`` by :func:`~proteindsm.core.types.expand_like`:

EDM (Karras et al. 2022, Table 1), :class:`EDMPreconditioning` — the protein networks::

    c_skip = σ_d² / (σ² + σ_d²)     c_out = σ σ_d / √(σ² + σ_d²)
    c_in   = 1 / √(σ² + σ_d²)       c_noise = ln(σ) / 4
    D(x)   = c_skip x + c_out F(c_in x, c_noise)
    score  = (D − x) / σ²  =  −x / (σ² + σ_d²) + σ_d / (σ √(σ² + σ_d²)) · F

The last line is ``(D − x)/σ²`` with ``c_skip − 1 = −σ²/(σ² + σ_d²)`` cancelled analytically, so it
is accurate in float32 down to σ = 0.01 σ_d (:meth:`EDMPreconditioning.score`).

Noise prediction, :class:`NoisePredictionPreconditioning` — the image U-Net and the toy MLP: the
same input scaling ``c_in`` with the VE (NCSN) output ``c_skip = 1``, ``c_out = σ``, i.e.
``D = x + σ F``, ``score = (D − x)/σ² = F/σ`` (F ≈ −ε̂).  Those networks embed ``log σ`` themselves
(no ``c_noise``).

Any denoiser becomes a score with :func:`score_from_denoised` (``(D − x)/σ²``, the one place that
conversion is written) or :class:`DenoiserScore`; the way back, Tweedie's denoised estimate
x̂₀ = x + σ² s, is :func:`denoised_estimate` — the one place *that* is written (guidance terms,
conditioning and self-conditioning all call it).

Float expressions are kept exactly as the networks wrote them before they moved here, so shipped
checkpoints reproduce bitwise: the EDM class computes ``σ·σ + σ_d·σ_d`` and ``1/√·``, the
noise-prediction class ``σ**2 + σ_d**2`` and ``torch.rsqrt`` (its :meth:`~NoisePredictionPreconditioning.scale_input`
divides by ``√(σ² + σ_d²)``).  The two ``c_in`` agree to a few ulp (``tests/core/test_denoiser.py``).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor

from .types import expand_like

__all__ = [
    "DenoiserScore",
    "EDMCoefficients",
    "EDMPreconditioning",
    "NoisePredictionPreconditioning",
    "denoised_estimate",
    "edm_coefficients",
    "score_from_denoised",
]


def score_from_denoised(x: Tensor, sigma: Tensor, denoised: Tensor) -> Tensor:
    """Score of a denoiser, ``(D − x)/σ²``: ``x``, ``denoised`` ``(B, ...)``, ``sigma`` ``(B,)``."""
    return (denoised - x) / expand_like(sigma, x) ** 2


def denoised_estimate(x: Tensor, sigma: Tensor, score: Tensor) -> Tensor:
    """Tweedie's denoised estimate x̂₀ = x + σ² s(x, σ) = E[x₀ | x_σ = x]: ``x``, ``score`` ``(B, ...)``,
    ``sigma`` ``(B,)``; σ is cast to ``x``'s dtype, so x̂₀ has the dtype of ``x``.  Differentiable in
    ``x`` and ``score`` (callers detach where s is held fixed)."""
    return x + expand_like(sigma.to(x.dtype), x) ** 2 * score


class DenoiserScore:
    """A score function ``(x, sigma, cond) -> (D(x, sigma, cond) − x)/σ²`` from a denoiser ``D``."""

    def __init__(self, denoiser: Callable[[Tensor, Tensor, Optional[dict]], Tensor]) -> None:
        self.denoiser = denoiser

    def __call__(self, x: Tensor, sigma: Tensor, cond: Optional[dict] = None) -> Tensor:
        return score_from_denoised(x, sigma, self.denoiser(x, sigma, cond))


class EDMCoefficients(NamedTuple):
    """The four EDM coefficients, each ``(B,)`` like σ."""

    c_skip: Tensor
    c_out: Tensor
    c_in: Tensor
    c_noise: Tensor


def _check_sigma_data(sigma_data: float) -> float:
    sd = float(sigma_data)
    if not (math.isfinite(sd) and sd > 0):
        raise ValueError(f"sigma_data must be a positive finite number, got {sigma_data!r}")
    return sd


class EDMPreconditioning:
    """EDM preconditioning with data standard deviation ``sigma_data`` (σ_d, in data units).

    All methods take ``sigma`` ``(B,)`` (> 0); ``x`` and ``f`` are ``(B, ...)``.  See the module
    docstring for the formulas.
    """

    def __init__(self, sigma_data: float) -> None:
        self.sigma_data = _check_sigma_data(sigma_data)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sigma_data={self.sigma_data!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.sigma_data == self.sigma_data  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.sigma_data))

    # -- coefficients, (B,) -> (B,)
    def coefficients(self, sigma: Tensor) -> EDMCoefficients:
        """``(c_skip, c_out, c_in, c_noise)``, each ``(B,)``."""
        sd = self.sigma_data
        sd2 = sd * sd
        s2 = sigma * sigma
        c_skip = sd2 / (s2 + sd2)
        c_out = sigma * sd / torch.sqrt(s2 + sd2)
        c_in = 1.0 / torch.sqrt(s2 + sd2)
        c_noise = torch.log(sigma) / 4.0
        return EDMCoefficients(c_skip, c_out, c_in, c_noise)

    def c_skip(self, sigma: Tensor) -> Tensor:
        """σ_d² / (σ² + σ_d²)."""
        return self.coefficients(sigma).c_skip

    def c_out(self, sigma: Tensor) -> Tensor:
        """σ σ_d / √(σ² + σ_d²)."""
        return self.coefficients(sigma).c_out

    def c_in(self, sigma: Tensor) -> Tensor:
        """1 / √(σ² + σ_d²)."""
        return self.coefficients(sigma).c_in

    def c_noise(self, sigma: Tensor) -> Tensor:
        """ln(σ) / 4."""
        return self.coefficients(sigma).c_noise

    # -- on tensors like x
    def scale_input(self, x: Tensor, sigma: Tensor, center: float = 0.0) -> Tensor:
        """``c_in (x − center)``, computed as ``(x − center) / √(σ² + σ_d²)``."""
        return (x - center) / torch.sqrt(self._noised_variance(expand_like(sigma, x)))

    def denoise(self, x: Tensor, sigma: Tensor, f: Tensor) -> Tensor:
        """``D = c_skip x + c_out F``."""
        c = self.coefficients(sigma)
        return expand_like(c.c_skip, x) * x + expand_like(c.c_out, x) * f

    def score(self, x: Tensor, sigma: Tensor, f: Tensor) -> Tensor:
        """``(D − x)/σ²`` written from ``F``: ``−x/(σ² + σ_d²) + σ_d/(σ √(σ² + σ_d²)) F``."""
        sd = self.sigma_data
        s = expand_like(sigma, x)
        return -x / (s * s + sd * sd) + (sd / (s * torch.sqrt(s * s + sd * sd))) * f

    def _noised_variance(self, sigma: Tensor) -> Tensor:
        sd = self.sigma_data
        return sigma * sigma + sd * sd


class NoisePredictionPreconditioning(EDMPreconditioning):
    """EDM input scaling ``c_in = 1/√(σ² + σ_d²)`` with the VE output ``c_skip = 1``, ``c_out = σ``:
    ``D = x + σ F`` and ``score = F/σ`` (F predicts −ε).

    ``c_noise`` is ``ln σ`` (the networks using this class embed ``log σ``).
    """

    def coefficients(self, sigma: Tensor) -> EDMCoefficients:
        """``(1, σ, c_in, ln σ)``, each ``(B,)``; ``c_in`` computed with ``torch.rsqrt``."""
        return EDMCoefficients(torch.ones_like(sigma), sigma, torch.rsqrt(self._noised_variance(sigma)),
                               torch.log(sigma))

    def denoise(self, x: Tensor, sigma: Tensor, f: Tensor) -> Tensor:
        """``D = x + σ F``."""
        return x + expand_like(sigma, x) * f

    def score(self, x: Tensor, sigma: Tensor, f: Tensor) -> Tensor:
        """``F/σ`` (= ``(D − x)/σ²``); ``x`` is used for its shape only."""
        return f / expand_like(sigma, f)

    def _noised_variance(self, sigma: Tensor) -> Tensor:
        return sigma ** 2 + self.sigma_data ** 2


def edm_coefficients(sigma: Tensor, sigma_data: float) -> EDMCoefficients:
    """``EDMPreconditioning(sigma_data).coefficients(sigma)``: ``(c_skip, c_out, c_in, c_noise)``, each ``(B,)``."""
    return EDMPreconditioning(sigma_data).coefficients(sigma)
