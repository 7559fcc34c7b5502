"""Noise schedules: training σ distribution, sampling σ grid, loss weight λ(σ).

Song & Ermon (2019) use a geometric sequence σ_1 > σ_2 > … > σ_L; we train on the continuous
log-uniform distribution over [σ_min, σ_max] (Song et al. 2021, VE SDE) and sample on a geometric
grid.  The loss weight is λ(σ) = σ^p with p = 2 by default, which makes every σ contribute O(1)
for data of unit scale.  With ``sigma_data`` set, λ(σ) = σ^p·(1 + σ²/σ_data²): for p = 2 this is the
EDM weighting (Karras et al. 2022), under which a denoiser-parametrised network regresses a target of
unit variance at every σ — useful when σ_max ≫ σ_data (protein coordinates).

``training_focus = (σ_lo, σ_hi, share)`` spends a share of the training draws in one σ window: σ is
drawn log-uniformly on [σ_lo, σ_hi] with probability ``share`` and on [σ_min, σ_max] otherwise, so
the window holds share + (1 − share)·ln(σ_hi/σ_lo)/ln(σ_max/σ_min) of the draws (tested).  Every σ
keeps a positive density, so the minimiser of the DSM loss at each σ (the true score) is unchanged;
a network of finite capacity spends more of it in the window — where a sampler spends its steps
(cf. the non-uniform noise-level draws of EDM and Proteina).  The sampling grid and the validation
σ values do not change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from proteindsm.errors import InputError


@dataclass(frozen=True)
class GeometricSchedule:
    """Geometric σ grid between ``sigma_max`` and ``sigma_min`` (units of the data) with
    ``num_levels`` levels for sampling, log-uniform σ for training, and λ(σ) = σ^``weight_power``
    (× (1 + σ²/``sigma_data``²) when ``sigma_data`` is given).  ``training_focus`` (σ_lo, σ_hi,
    share), or None: the share of training draws made log-uniformly in [σ_lo, σ_hi] (module doc)."""

    sigma_min: float
    sigma_max: float
    num_levels: int = 10
    weight_power: float = 2.0
    sigma_data: Optional[float] = None
    training_focus: Optional[tuple[float, float, float]] = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sigma_min) and self.sigma_min > 0):
            raise InputError(f"schedule.sigma_min must be a positive number, got {self.sigma_min}")
        if not (math.isfinite(self.sigma_max) and self.sigma_max > self.sigma_min):
            raise InputError(
                f"schedule.sigma_max must be larger than sigma_min, got sigma_min={self.sigma_min}, "
                f"sigma_max={self.sigma_max}"
            )
        if int(self.num_levels) != self.num_levels or self.num_levels < 1:
            raise InputError(f"schedule.num_levels must be a positive integer, got {self.num_levels}")
        if self.sigma_data is not None and not self.sigma_data > 0:
            raise InputError(f"schedule.sigma_data must be positive or null, got {self.sigma_data}")
        if self.training_focus is not None:
            object.__setattr__(self, "training_focus", self._checked_focus(self.training_focus))

    def _checked_focus(self, focus) -> tuple[float, float, float]:
        """``training_focus`` as (σ_lo, σ_hi, share) floats, or one error naming the field."""
        expected = (f"schedule.training_focus must be [sigma_lo, sigma_hi, share] with "
                    f"{self.sigma_min} <= sigma_lo < sigma_hi <= {self.sigma_max} (Å) and 0 <= share <= 1")
        try:
            lo, hi, share = (float(v) for v in focus)
        except (TypeError, ValueError):
            raise InputError(f"{expected}, got {focus!r}") from None
        if not (self.sigma_min <= lo < hi <= self.sigma_max and 0.0 <= share <= 1.0):
            raise InputError(f"{expected}, got {[lo, hi, share]}")
        return lo, hi, share

    def levels(self, num_levels: Optional[int] = None, *, device: torch.device | str | None = None,
               dtype: torch.dtype = torch.float32) -> Tensor:
        """Descending σ grid ``(n,)``: σ_max, …, σ_min (geometric).  ``n`` defaults to ``num_levels``;
        with ``n == 1`` the grid is just ``[σ_min]`` (plain Langevin at the smallest noise)."""
        n = self.num_levels if num_levels is None else int(num_levels)
        if n < 1:
            raise InputError(f"number of σ levels must be a positive integer, got {num_levels}")
        if n == 1:
            return torch.tensor([self.sigma_min], device=device, dtype=dtype)
        exps = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
        grid = self.sigma_max * (self.sigma_min / self.sigma_max) ** exps
        return grid.to(device=device, dtype=dtype)

    def sample_training_sigmas(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """``(n,)`` σ drawn log-uniformly on [σ_min, σ_max] (float32, CPU); with ``training_focus``
        a share of them log-uniformly in its window instead."""
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        if self.training_focus is None:
            log_s = math.log(self.sigma_min) + u * (math.log(self.sigma_max) - math.log(self.sigma_min))
            return log_s.exp().float()
        f_lo, f_hi, share = self.training_focus
        focused = torch.rand(n, generator=generator, dtype=torch.float64) < share
        lo = torch.where(focused, math.log(f_lo), math.log(self.sigma_min))
        hi = torch.where(focused, math.log(f_hi), math.log(self.sigma_max))
        return (lo + u * (hi - lo)).exp().float()

    def loss_weight(self, sigma: Tensor) -> Tensor:
        """λ(σ) = σ^p (times 1 + σ²/σ_data² when ``sigma_data`` is set), shape of ``sigma``."""
        weight = sigma ** self.weight_power
        if self.sigma_data is not None:
            weight = weight * (1 + (sigma / self.sigma_data) ** 2)
        return weight

    def validation_sigmas(self, n: int = 8) -> Tensor:
        """``(n,)`` fixed σ values (geometric, descending) at which validation loss is reported."""
        return self.levels(n)


def sampling_sigmas(sigma_min: float, sigma_max: float, num_levels: int, *, rho: Optional[float] = None,
                    device: torch.device | str | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Descending sampling grid ``(num_levels,)`` from ``sigma_max`` to ``sigma_min`` (units of the data).

    ``rho=None``: geometric (:meth:`GeometricSchedule.levels`, equal steps in log σ).  ``rho`` > 0:
    the spacing of Karras et al. (2022, eq. 5), σ_i = (σ_max^(1/ρ) + i/(N−1)·(σ_min^(1/ρ) −
    σ_max^(1/ρ)))^ρ: ρ = 1 is linear in σ, ρ → ∞ geometric; in between (EDM: ρ = 7) the grid
    spends more levels at small σ than a linear one and more at large σ than a geometric one.
    """
    schedule = GeometricSchedule(sigma_min=sigma_min, sigma_max=sigma_max, num_levels=num_levels)
    if rho is None or num_levels == 1:
        return schedule.levels(device=device, dtype=dtype)
    if not (math.isfinite(rho) and rho > 0):
        raise InputError(f"sampler.rho must be a positive number or null (geometric grid), got {rho}")
    i = torch.linspace(0.0, 1.0, int(num_levels), dtype=torch.float64)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    grid = (hi + i * (lo - hi)) ** rho
    grid[0], grid[-1] = sigma_max, sigma_min
    return grid.to(device=device, dtype=dtype)
