"""Local-distance auxiliary loss on the denoised backbone (FrameDiff, Yim et al. 2023, §4.2).

At small σ the network's denoised estimate x̂₀ ``(B, L, 4, 3)`` Å is compared with the clean chain
through the distances between its backbone atoms (N, CA, C, O of every residue) that are shorter
than ``cutoff`` in the clean chain:

    ℓ = w · mean_{(a, b): d_ab < cutoff, a ≠ b} (‖x̂₀_a − x̂₀_b‖ − d_ab)²     (Å²), on rows with σ ≤ σ_max,

which holds peptide bonds, backbone H-bond geometry (N···O ≈ 2.9 Å) and the cross-strand distances
of β-ladders (CA–CA 4.4–5.5 Å) directly, where plain DSM sees only per-atom errors.  Invariant to
rotations and translations of either chain (distances only; tested).  Used through
:class:`proteindsm.core.DSMObjective` ``auxiliary=`` (``objective.local_distance`` in the training
config); validation losses stay plain DSM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from proteindsm.protein.model.auxiliary_settings import check_finite_nonnegative

__all__ = ["LocalDistanceLoss"]


@dataclass
class LocalDistanceLoss:
    """``(x0_hat, x0, mask, sigma) -> (B,)``: the weighted mean squared error (Å²) of the atom-pair
    distances of x̂₀ against those of x₀ that are below ``cutoff`` Å, on rows with σ ≤ ``sigma_max``
    Å (0 on the others and on rows without pairs)."""

    weight: float = 0.25
    cutoff: float = 6.0
    sigma_max: float = 2.0

    def __post_init__(self) -> None:
        check_finite_nonnegative("local_distance", self, ("weight", "cutoff", "sigma_max"))

    def __call__(self, x0_hat: Tensor, x0: Tensor, mask: Optional[Tensor], sigma: Tensor) -> Tensor:
        B, L = x0.shape[:2]
        out = x0_hat.new_zeros(B)
        rows = (sigma <= self.sigma_max).nonzero().flatten()
        if self.weight == 0 or rows.numel() == 0:
            return out
        atoms_hat = x0_hat[rows].reshape(len(rows), L * 4, 3)
        atoms = x0[rows].reshape(len(rows), L * 4, 3).to(atoms_hat.dtype)
        valid = (torch.ones(len(rows), L, dtype=torch.bool, device=x0.device) if mask is None
                 else mask[rows].to(torch.bool)).repeat_interleave(4, dim=1)
        with torch.no_grad():
            d_true = torch.cdist(atoms, atoms)
            pairs = (d_true < self.cutoff) & valid[:, :, None] & valid[:, None, :]
            pairs &= ~torch.eye(L * 4, dtype=torch.bool, device=x0.device)
        diff = atoms_hat[:, :, None, :] - atoms_hat[:, None, :, :]
        d_hat = (diff.pow(2).sum(-1) + 1e-8).sqrt()   # smooth at coincident atoms (cdist's gradient is not)
        err = (d_hat - d_true).pow(2) * pairs
        per_row = err.flatten(1).sum(1) / pairs.flatten(1).sum(1).clamp_min(1)
        return out.index_put((rows,), self.weight * per_row)
