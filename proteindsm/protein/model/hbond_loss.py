"""Backbone hydrogen-bond geometry loss on the denoised backbone.

Sampled strands that come close to their partner often fail DSSP's hydrogen-bond test: on the 48
validation strings with pairs, of run 2's requested strand residues within 5.5 Å of their partner
segment 66 % are in a DSSP ladder with it (real chains 98 %) and 16 % point a carbonyl O at a
partner carbonyl O (< 3 Å; real 0 %) — the strand is placed, its peptide planes are not
(docs/training.md, "Run 3").  DSM and the local-distance loss weigh these few distances like any
other; this term weighs only them.  For every backbone hydrogen bond of the *clean* chain
(DSSP's electrostatic energy below −0.5 kcal/mol: acceptor C=O of residue a, donor N–H of residue d,
:func:`proteindsm.protein.structure.soft_dssp.soft_hbond_map`), the four distances that fix its
geometry — O(a)···N(d), C(a)···N(d), O(a)···CA(d) and O(a)···C(d−1) (the amide H lies on the bisector
of C(d−1)→N(d) and CA(d)→N(d)) — are compared between the denoised estimate x̂₀ and the clean chain:

    ℓ = w · mean_{H-bonds of x₀} Σ_{4 distances} (d̂ − d⁰)²      (Å²), on rows with σ ≤ σ_max.

Zero on the clean chain, invariant to rotations and translations (distances only; tested); through
:func:`proteindsm.core.sum_of_denoised_losses` with the other auxiliary losses (``objective.hbond``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor

from proteindsm.protein.model.auxiliary_settings import check_finite_nonnegative
from proteindsm.protein.structure.soft_dssp import DSSP_CUTOFF, soft_hbond_map

__all__ = ["HBondLoss"]

_N, _CA, _C, _O = 0, 1, 2, 3


@dataclass
class HBondLoss:
    """``(x0_hat, x0, mask, sigma) -> (B,)``: the weighted mean over the clean chain's DSSP hydrogen
    bonds of the squared errors (Å²) of their four defining distances in x̂₀, on rows with σ ≤
    ``sigma_max`` Å (0 on the others and on rows without hydrogen bonds)."""

    weight: float = 0.25
    sigma_max: float = 2.0

    def __post_init__(self) -> None:
        check_finite_nonnegative("hbond", self, ("weight", "sigma_max"))

    def __call__(self, x0_hat: Tensor, x0: Tensor, mask: Optional[Tensor], sigma: Tensor) -> Tensor:
        B, L = x0.shape[:2]
        out = x0_hat.new_zeros(B)
        rows = (sigma <= self.sigma_max).nonzero().flatten()
        if self.weight == 0 or rows.numel() == 0 or L < 3:
            return out
        clean = x0[rows].to(x0_hat.dtype)
        pred = x0_hat[rows]
        with torch.no_grad():
            m = None if mask is None else mask[rows].to(torch.bool)
            bonded = soft_hbond_map(clean.float(), m, cutoff=DSSP_CUTOFF) > 0   # [r, acceptor, donor]: E < −0.5
            bonded[:, :, 0] = False                                              # no amide H on residue 0
        r, a, d = bonded.nonzero(as_tuple=True)
        if r.numel() == 0:
            return out
        pairs = ((a, _O, d, _N), (a, _C, d, _N), (a, _O, d, _CA), (a, _O, d - 1, _C))
        err = 0.0
        for i, ai, j, aj in pairs:
            d_hat = (pred[r, i, ai] - pred[r, j, aj]).pow(2).sum(-1).add(1e-8).sqrt()
            d_ref = (clean[r, i, ai] - clean[r, j, aj]).pow(2).sum(-1).sqrt()
            err = err + (d_hat - d_ref).pow(2)
        n = torch.zeros(len(rows), dtype=pred.dtype, device=pred.device).index_add(0, r, torch.ones_like(err))
        per_row = torch.zeros_like(n).index_add(0, r, err) / n.clamp_min(1)
        return out.index_put((rows,), self.weight * per_row)
