"""Backbone-overlap auxiliary loss on the denoised backbone (the "between-residue clash" term of
AlphaFold2's structural violation loss, Jumper et al. 2021, suppl. 1.9.11, on N/CA/C/O).

Without the sampling-time steric potential the network's backbones overlap: carbonyl O···O of two
loops at 1.5–2.2 Å and helix N(i+4)···O(i) at 1.7–2.2 Å (real chains: ≥ 2.6 Å; docs/training.md).
Plain DSM and the local-distance loss average such a pair into thousands of correct ones; this term
counts only the overlaps.  For the denoised estimate x̂₀ ``(B, L, 4, 3)`` Å of a row with σ ≤
``sigma_max`` and every pair of backbone atoms of residues ``|i − j| ≥ min_separation``:

    ℓ = w · Σ_pairs relu(min(t, d⁰_ab) − ‖x̂₀_a − x̂₀_b‖)² / L      (Å² per residue),

t = ``distance``: a pair is penalised only where it is closer than both t and its distance d⁰ in the
clean chain, so the loss is exactly 0 on every training chain, real close contacts included.
Invariant to rotations and translations (distances only; tested).  Combined with other auxiliary
losses through :func:`proteindsm.core.sum_of_denoised_losses`; ``objective.clash`` in the training
config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from proteindsm.errors import InputError
from proteindsm.protein.model.auxiliary_settings import check_finite_nonnegative

__all__ = ["ClashLoss"]


@dataclass
class ClashLoss:
    """``(x0_hat, x0, mask, sigma) -> (B,)``: the weighted sum of squared overlaps (Å²) of x̂₀'s
    backbone atom pairs ``|i − j| ≥ min_separation`` below min(``distance``, clean distance), per
    valid residue, on rows with σ ≤ ``sigma_max`` Å (0 on the others)."""

    weight: float = 1.0
    distance: float = 3.0
    min_separation: int = 3
    sigma_max: float = 2.0

    def __post_init__(self) -> None:
        check_finite_nonnegative("clash", self, ("weight", "distance", "sigma_max"))
        sep = float(self.min_separation)
        if sep != int(sep) or sep < 1:
            raise InputError(f"objective.clash.min_separation must be an integer >= 1, got {self.min_separation}")
        self.min_separation = int(sep)

    def __call__(self, x0_hat: Tensor, x0: Tensor, mask: Optional[Tensor], sigma: Tensor) -> Tensor:
        B, L = x0.shape[:2]
        out = x0_hat.new_zeros(B)
        rows = (sigma <= self.sigma_max).nonzero().flatten()
        if self.weight == 0 or rows.numel() == 0 or L <= self.min_separation:
            return out
        atoms_hat = x0_hat[rows].reshape(len(rows), L * 4, 3)
        atoms = x0[rows].reshape(len(rows), L * 4, 3).to(atoms_hat.dtype)
        valid = (torch.ones(len(rows), L, dtype=torch.bool, device=x0.device) if mask is None
                 else mask[rows].to(torch.bool))
        with torch.no_grad():
            residue = torch.arange(L, device=x0.device).repeat_interleave(4)
            far = (residue[:, None] - residue[None, :]).abs() >= self.min_separation
            valid_atoms = valid.repeat_interleave(4, dim=1)
            pairs = far & valid_atoms[:, :, None] & valid_atoms[:, None, :]
            target = torch.cdist(atoms, atoms).clamp_max(self.distance)
            # only pairs that can be closer than their target matter: skip the far ones cheaply
            candidate = pairs & (torch.cdist(atoms_hat.detach(), atoms_hat.detach()) < target)
        idx = candidate.nonzero(as_tuple=True)
        if idx[0].numel() == 0:
            return out
        r, a, b = idx
        diff = atoms_hat[r, a] - atoms_hat[r, b]
        d_hat = (diff.pow(2).sum(-1) + 1e-8).sqrt()   # smooth at coincident atoms
        overlap = (target[r, a, b] - d_hat).clamp_min(0).pow(2)
        per_row = torch.zeros(len(rows), dtype=overlap.dtype, device=overlap.device).index_add(0, r, overlap)
        per_row = 0.5 * per_row / valid.sum(1).clamp_min(1)   # each pair was counted twice (a, b) and (b, a)
        return out.index_put((rows,), self.weight * per_row)
