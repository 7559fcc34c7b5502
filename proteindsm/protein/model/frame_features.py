"""Invariant inputs of :class:`proteindsm.protein.model.frame_network.FrameScoreNet` (no parameters).

* :func:`local_frames` — right-handed residue frames from N, CA, C ``(..., 4, 3)`` → ``(..., 3, 3)``;
* :func:`geometry_deviations` — covalent bonds and angles minus ideal, in units of σ, ``(B, L, 15)``;
* :func:`partner_slots` — the nearest residues of the strands a residue's strand pairs with;
* :func:`gather_neighbours` / :func:`rbf` — neighbour gathering and Gaussian radial bases.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from proteindsm.protein.structure.backbone import (ANGLE_C_N_CA, ANGLE_CA_C_N, ANGLE_CA_C_O, ANGLE_N_CA_C, ANGLE_O_C_N,
                                                   BOND_C_N, BOND_C_O, BOND_CA_C, BOND_N_CA)
from proteindsm.protein.structure.geometry import angle_at
from proteindsm.protein.structure.ideal_geometry import residue_frames

__all__ = ["NUM_GEOMETRY_DEVIATIONS", "local_frames", "geometry_deviations", "partner_slots", "gather_neighbours",
           "rbf"]

_EPS = 1e-8


def local_frames(x: Tensor) -> Tensor:
    """Right-handed residue frames from N, CA, C: ``(..., 4, 3)`` → ``(..., 3, 3)`` with columns
    ``e1`` (CA→C), ``e2`` (towards N, ⟂ e1) — the Gram–Schmidt pair of
    :func:`proteindsm.protein.structure.ideal_geometry.residue_frames` — and ``e3 = e1 × e2``.  A
    degenerate residue (all atoms at one point, e.g. padding at 0) gives a zero matrix, not NaN."""
    e1, e2 = residue_frames(x)
    return torch.stack([e1, e2, torch.linalg.cross(e1, e2, dim=-1)], dim=-1)


#: Node features of :func:`geometry_deviations`.
NUM_GEOMETRY_DEVIATIONS = 15
_ARM = 1.4            # Å: an angle deviation (rad) times this arm is the displacement it stands for
_TAU = 0.03           # Å: spread of real bond lengths, the floor of the σ normalisation


def geometry_deviations(x: Tensor, sigma: Tensor, mask: Tensor, residue_index: Tensor) -> Tensor:
    """Covalent geometry of each residue relative to ideal, in units of the noise: ``(B, L, 15)``.

    ``x`` ``(B, L, 4, 3)`` Å, ``sigma`` ``(B,)`` Å.  Deviations from the ideal values of
    :mod:`proteindsm.protein.structure.backbone` — bonds N–CA, CA–C, C=O and angles N–CA–C, CA–C=O in the
    residue (5); C–N, CA–C–N, C–N–CA, O=C–N of the peptide bond to the next residue and the same of
    the previous residue's bond (4 + 4), each with a flag saying the bond exists (consecutive
    residue index, both real) — bonds in Å, angles as radians × 1.4 Å, all divided by
    ``sqrt(2σ² + τ²)`` (τ = 0.03 Å) and clipped to ±10.  At small σ these are O(1) where the
    Å-scale coordinates differ by 0.1 %, which is what the denoiser needs to see there; rotation-
    and translation-invariant."""
    n, ca, c, o = x.unbind(dim=2)
    rad = math.pi / 180.0

    def dist(a: Tensor, b: Tensor) -> Tensor:
        return torch.sqrt(((a - b) ** 2).sum(-1) + _EPS)

    intra = torch.stack([dist(n, ca) - BOND_N_CA, dist(ca, c) - BOND_CA_C, dist(c, o) - BOND_C_O,
                         _ARM * (angle_at(n, ca, c) - ANGLE_N_CA_C * rad),
                         _ARM * (angle_at(ca, c, o) - ANGLE_CA_C_O * rad)], dim=-1)
    n1, ca1 = torch.roll(n, -1, dims=1), torch.roll(ca, -1, dims=1)
    pep = torch.stack([dist(c, n1) - BOND_C_N, _ARM * (angle_at(ca, c, n1) - ANGLE_CA_C_N * rad),
                       _ARM * (angle_at(c, n1, ca1) - ANGLE_C_N_CA * rad),
                       _ARM * (angle_at(o, c, n1) - ANGLE_O_C_N * rad)], dim=-1)  # bond i → i+1
    bonded = (mask & torch.roll(mask, -1, dims=1)
              & (torch.roll(residue_index, -1, dims=1) - residue_index == 1))
    bonded[:, -1] = False
    pep = pep * bonded[..., None]
    prev_pep, prev_bonded = torch.roll(pep, 1, dims=1), torch.roll(bonded, 1, dims=1)
    prev_bonded[:, 0] = False
    prev_pep = prev_pep * prev_bonded[..., None]
    scale = torch.sqrt(2.0 * sigma**2 + _TAU**2)[:, None, None]
    dev = (torch.cat([intra, pep, prev_pep], dim=-1) / scale).clamp(-10.0, 10.0)
    flags = torch.stack([bonded, prev_bonded], dim=-1).to(x.dtype)
    return torch.cat([dev, flags], dim=-1) * mask[..., None]


def gather_neighbours(t: Tensor, nbr_flat: Tensor, batch: int, length: int) -> Tensor:
    """``t`` ``(B, L, ...)`` indexed by flat neighbour indices ``(B·L·K,)`` → ``(B, L, K, ...)``."""
    out = t.reshape(batch * length, *t.shape[2:]).index_select(0, nbr_flat)
    return out.reshape(batch, length, -1, *t.shape[2:])


def partner_slots(ca: Tensor, adjacent: Tensor, num: int) -> tuple[Tensor, Tensor]:
    """The ``num`` nearest residues (CA distance) among each residue's strand partners.

    ``ca`` ``(B, L, 3)``, ``adjacent`` bool ``(B, L, L)`` → ``(nbr, mask)`` long / bool ``(B, L, num)``
    (mask False where a residue has fewer partners; those slots point at residue 0)."""
    num = min(num, ca.shape[1])
    with torch.no_grad():
        d = torch.cdist(ca, ca, compute_mode="donot_use_mm_for_euclid_dist")
        key = torch.where(adjacent, d, torch.full_like(d, float("inf")))
        key, nbr = torch.topk(key, num, dim=-1, largest=False, sorted=False)
        ok = torch.isfinite(key)
    return torch.where(ok, nbr, torch.zeros_like(nbr)), ok


def rbf(d: Tensor, centers: Tensor, width: float) -> Tensor:
    """Gaussian radial basis ``exp(−((d − c)/w)²/2)``: ``(...)`` → ``(..., len(centers))`` (in-place
    steps on one temporary: this runs on every edge of every evaluation)."""
    z = d[..., None] - centers
    z.mul_(1.0 / width)
    return z.square_().mul_(-0.5).exp_()
