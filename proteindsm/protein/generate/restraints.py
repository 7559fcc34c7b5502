"""Differentiable energies of backbones (steric repulsion, a compactness ceiling), used as sampling potentials
(:class:`proteindsm.core.PotentialGuidance`).

Tensor conventions: ``x`` ``(B, L, 4, 3)`` in Å (atoms N, CA, C, O), optional bool mask ``(B, L)``
in ``cond["mask"]``; energies ``(B,)`` in Å² (sums of squared overlaps).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import torch
from torch import Tensor

from proteindsm.errors import InputError

from proteindsm.protein.structure.backbone import CA
from proteindsm.protein.structure.geometry import radius_of_gyration
from proteindsm.protein.analysis.metrics import CLASH_RULE, clash_thresholds

__all__ = ["compactness_energy", "steric_clash_energy"]


def steric_clash_energy(x: Tensor, cond: Optional[Mapping[str, Any]] = None, margin: float = 0.2) -> Tensor:
    """Σ relu(t_ab + margin − d)² over atom pairs of residues ``|i − j| ≥ 2`` (Å², ``(B,)``).

    ``t_ab`` are the per-atom-type minimum distances of
    :data:`proteindsm.protein.analysis.metrics.CLASH_RULE` (N···O and O···O 2.2 Å, CA···CA 3.0 Å, any other
    pair 2.5 Å; ``proteindsm evaluate`` reports clashes under this rule as ``steric_rule_clashes``,
    its ``clash_free_fraction`` uses the stricter :data:`~proteindsm.protein.analysis.metrics.EVAL_CLASH_RULE`);
    ``margin`` (Å) starts the repulsion a little before a pair would count as a clash.
    Zero for every backbone that is clash-free by ``t + margin``, so as a sampling potential it only
    pushes apart atoms that collide.  Residues outside ``cond["mask"]`` are ignored.
    """
    if x.ndim != 4 or x.shape[-2:] != (4, 3):
        raise InputError(f"steric_clash_energy: x must be (B, L, 4, 3) Å, got shape {tuple(x.shape)}")
    if not margin >= 0:
        raise InputError(f"steric_clash_energy: margin must be >= 0 Å, got {margin}")
    B, L = x.shape[:2]
    sep = int(CLASH_RULE["min_residue_separation"])
    if L <= sep:
        return x.new_zeros(B)
    limit = torch.as_tensor(clash_thresholds(), dtype=x.dtype, device=x.device) + margin     # (4, 4)
    # Candidate residue pairs (exact pruning by the triangle inequality): atoms of residues i, j can be
    # closer than the largest limit only if |CA_i − CA_j| < limit_max + r_i + r_j, with r the largest
    # atom–CA distance of each residue.  Keeps the cost ~ L·(neighbours) instead of (4L)².
    with torch.no_grad():
        ca = x[:, :, CA]
        radius = (x - ca[:, :, None]).norm(dim=-1).amax(dim=-1)                           # (B, L)
        reach = float(limit.max()) + radius[:, :, None] + radius[:, None, :]
        res = torch.arange(L, device=x.device)
        ca_dist = torch.cdist(ca, ca, compute_mode="donot_use_mm_for_euclid_dist")   # exact, not via x·y
        cand = (ca_dist < reach + 1e-3) & ((res[None, :] - res[:, None]) >= sep)[None]       # i < j
        mask = cond.get("mask") if isinstance(cond, Mapping) else None
        if mask is not None:
            cand &= mask[:, :, None] & mask[:, None, :]
        b, i, j = cand.nonzero(as_tuple=True)
    diff = x[b, i][:, :, None, :] - x[b, j][:, None, :, :]                                # (K, 4, 4, 3)
    d = (diff.pow(2).sum(-1) + 1e-12).sqrt()
    overlap = torch.relu(limit - d).pow(2).sum(dim=(1, 2))                                # (K,)
    return x.new_zeros(B).index_add(0, b, overlap)


def compactness_energy(x: Tensor, cond: Optional[Mapping[str, Any]] = None, max_normalised: float = 3.3,
                       exponent: float = 0.4) -> Tensor:
    """n · relu(Rg − c·Lᵉ)² (Å², ``(B,)``): a flat-bottom ceiling on the radius of gyration.

    Rg is taken over all backbone atoms of the residues in ``cond["mask"]`` (so its gradient moves
    whole residues radially, not CA alone), L is the chain's residue count, ``c = max_normalised``
    (Å; the ceiling on Rg / L^0.4) and n = 4L atoms.  Zero for every chain at or below the ceiling.
    The factor n makes the curvature per atom O(1), like :func:`steric_clash_energy`'s: as a
    −(w/σ²)∇U potential with Langevin steps α = ½σ², w = 1 removes the excess in one step.
    """
    if x.ndim != 4 or x.shape[-2:] != (4, 3):
        raise InputError(f"compactness_energy: x must be (B, L, 4, 3) Å, got shape {tuple(x.shape)}")
    if not max_normalised > 0:
        raise InputError(f"compactness_energy: max_normalised must be > 0 Å, got {max_normalised}")
    mask = cond.get("mask") if isinstance(cond, Mapping) else None
    n_res = x.new_full(x.shape[:1], x.shape[1]) if mask is None else mask.to(x.dtype).sum(-1)   # (B,)
    n_atoms = (4.0 * n_res).clamp_min(1.0)
    rg = radius_of_gyration(x, mask, atoms="backbone")                                     # (B,) Å
    ceiling = max_normalised * (n_atoms / 4.0) ** exponent
    return n_atoms * torch.relu(rg - ceiling).pow(2)
