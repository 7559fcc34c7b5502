"""The nearest ideal-geometry chain to a backbone: rigid ideal residues fitted, peptide bonds closed.

:func:`fit_ideal_backbone` is what ``ideal_output`` applies to sampled backbones.  It differs from
:func:`proteindsm.protein.structure.ideal_geometry.idealise_backbone` (the differentiable rebuild used
inside the denoiser) in two ways:

1. each residue's ideal N–CA–C triangle (Engh & Huber bonds and angle) is *superposed* onto the
   input's N, CA, C (Kabsch, proper rotations only), instead of being hung from CA along the CA→C
   direction — so the three atoms move as little as an ideal residue allows (Gram–Schmidt keeps CA
   and C's direction exactly and puts the whole error on N, which then breaks the peptide bond);
2. the residues are then moved as rigid bodies (a rotation about their CA and a translation each) to
   minimise ``Σ |x − x_input|²`` over N, CA, C plus ``peptide_weight ×`` the squared deviations of the
   three distances across each peptide bond from ideal — C(i)–N(i+1) (bond 1.329 Å), CA(i)–N(i+1)
   and C(i)–CA(i+1) (which fix the angles CA–C–N 116.2° and C–N–CA 121.7°) — by L-BFGS.

A third, flat-bottom term acts on the non-bonded contacts (atoms of residues ≥ 3 apart):

* a contact at ``relax_from`` (2.2 Å) to ``contact_floor`` (2.65 Å: above the evaluation's 2.5 Å
  clash rule and its 2.6 Å short-N···O count, below real H-bonds, ~2.9 Å) in the input is moved out to
  ``contact_floor``.  These are the too-short N···O(i+4) "H-bonds" (2.4–2.5 Å; real chains ~2.9 Å)
  and O···O contacts that sampled backbones are full of — measured: every sub-2.5 Å contact of the
  48-backbone default evaluation set is one of them (docs/protein.md, "Ideal output");
* a contact closer than ``relax_from`` is a real overlap of two chain segments: it is kept at least
  at its input distance (not made worse) but not pushed apart, so it stays visible to any clash check
  (this is not a steric potential);
* every other contact is kept at least ``contact_floor`` apart, so the small moves of the fit
  (~0.06 Å rms) never push an atom pair across the clash threshold.

O is placed from the peptide plane exactly as in ``idealise_backbone`` (C=O 1.231 Å, CA–C=O
120.8°, in the plane of CA(i), C(i), N(i+1), away from N(i+1); at a chain end in the plane of the
input's own O).  The intra-residue geometry is exact by construction; the peptide geometry is exact
to the optimiser's tolerance where the input's neighbouring frames allow it.  A broken chain — input
C(i)–N(i+1) longer than ``break_distance`` (2 Å) — is not restrained there and stays visibly broken
rather than being dragged shut.

Every term is rotation- and translation-invariant, so the minimiser is equivariant; the default 100
L-BFGS iterations stop close to it (peptide distances within ~0.01 Å of ideal; atoms within a few
hundredths of an Å of where a longer run ends), at
~0.1 s per 100-residue backbone in batches of 8 on one (shared) CPU thread (scripts/bench_ideal_fit.py).  Shapes: ``X`` ``(B, L, 4, 3)``
Å, ``mask`` bool ``(B, L)``; padding is returned as 0.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from proteindsm.protein.structure.backbone import (ANGLE_C_N_CA, ANGLE_CA_C_N, ANGLE_N_CA_C, BOND_C_N,
                                                   BOND_CA_C, BOND_N_CA, C, CA, N, O)
from proteindsm.protein.structure.geometry import kabsch_align
from proteindsm.protein.structure.ideal_geometry import bonded_to_next, place_carbonyl_oxygen

__all__ = ["fit_ideal_backbone", "ideal_residue_triangle", "PEPTIDE_DISTANCES"]


def _law_of_cosines(a: float, b: float, angle_deg: float) -> float:
    return math.sqrt(a * a + b * b - 2.0 * a * b * math.cos(math.radians(angle_deg)))


#: Ideal distances across the peptide bond (Å): C(i)–N(i+1), CA(i)–N(i+1), C(i)–CA(i+1).
PEPTIDE_DISTANCES: tuple[float, float, float] = (
    BOND_C_N,
    _law_of_cosines(BOND_CA_C, BOND_C_N, ANGLE_CA_C_N),
    _law_of_cosines(BOND_C_N, BOND_N_CA, ANGLE_C_N_CA),
)


def ideal_residue_triangle(dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """The ideal N, CA, C of one residue in a local frame, ``(3, 3)`` Å (rows N, CA, C; CA at 0)."""
    a = math.radians(ANGLE_N_CA_C)
    return torch.tensor([[BOND_N_CA * math.cos(a), BOND_N_CA * math.sin(a), 0.0],
                         [0.0, 0.0, 0.0],
                         [BOND_CA_C, 0.0, 0.0]], dtype=dtype, device=device)


def _superpose_triangles(target: Tensor) -> Tensor:
    """Ideal triangles superposed (Kabsch, det +1) onto each residue of ``target`` ``(B, L, 3 atoms, 3)``:
    every residue is its own one-residue fit of :func:`~proteindsm.protein.structure.geometry.kabsch_align`."""
    ideal = ideal_residue_triangle(target.dtype, target.device).expand(target.shape)
    return kabsch_align(ideal[:, :, None], target[:, :, None])[0][:, :, 0]


def _rotate(v: Tensor, w: Tensor) -> Tensor:
    """Rodrigues: the points ``v`` ``(B, L, k, 3)`` rotated by the rotation vectors ``w`` ``(B, L, 3)``
    (radians); smooth at ``w = 0`` (the series of sin θ/θ and (1 − cos θ)/θ² there)."""
    theta2 = (w * w).sum(-1, keepdim=True)[..., None]                    # (B, L, 1, 1)
    small = theta2 < 1e-8
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / torch.where(small, 1.0, theta2))
    k = w[:, :, None, :].expand_as(v)
    kxv = torch.cross(k, v, dim=-1)
    return v + a * kxv + b * torch.cross(k, kxv, dim=-1)


_CHUNK = 1024   # atoms per block of the contact search
_REACH = 2.0    # Å beyond the floor: pairs farther apart than floor + _REACH are not watched (the fit moves
                # atoms 0.06 Å rms on sampled backbones, a few Å at most on a far-from-ideal input)


def _close_contacts(x: Tensor, mask: Tensor, floor: float, relax_from: float) -> tuple[Tensor, Tensor]:
    """Non-bonded atom pairs (residues ≥ 3 apart) of ``x`` ``(B, L, 4, 3)`` closer than ``floor + _REACH`` Å:
    ``(P, 3)`` long rows ``(batch, atom i, atom j)`` over the flattened ``L·4`` atoms, and their floors
    ``(P,)`` Å: the input distance below ``relax_from``, else ``floor``."""
    batch, length = x.shape[:2]
    res = torch.arange(length, device=x.device).repeat_interleave(4)
    rows, floors = [], []
    for b in range(batch):
        p = x[b].reshape(-1, 3)
        real = mask[b].repeat_interleave(4)
        for lo in range(0, p.shape[0], _CHUNK):          # blocks of atoms: memory linear in L
            d = torch.cdist(p[lo:lo + _CHUNK], p)
            ri = res[lo:lo + _CHUNK]
            keep = ((d < floor + _REACH) & ((ri[:, None] - res[None, :]).abs() >= 3)
                    & (torch.arange(lo, lo + d.shape[0], device=x.device)[:, None] < torch.arange(p.shape[0], device=x.device)[None, :])
                    & real[lo:lo + _CHUNK, None] & real[None, :])
            i, j = torch.nonzero(keep, as_tuple=True)
            rows.append(torch.stack([torch.full_like(i, b), i + lo, j], -1))
            dij = d[i, j]
            floors.append(torch.where(dij < relax_from, dij, torch.full_like(dij, floor)))
    return torch.cat(rows), torch.cat(floors)


def fit_ideal_backbone(X: Tensor, mask: Optional[Tensor] = None, residue_index: Optional[Tensor] = None, *,
                       peptide_weight: float = 100.0, contact_floor: float = 2.65, relax_from: float = 2.2,
                       break_distance: float = 2.0, position_weight: Optional[Tensor] = None,
                       max_iterations: int = 100) -> Tensor:
    """The ideal-geometry chain nearest to ``X`` (see the module docstring).

    Args:
        X: ``(B, L, 4, 3)`` backbone in Å (N, CA, C, O).
        mask: bool ``(B, L)``, True for real residues (None: all real).
        residue_index: long ``(B, L)``; residues are peptide-bonded only where it increases by 1
            (None: ``arange(L)``).
        peptide_weight: weight of the peptide distance restraints against the positional term
            (both in Å²).
        contact_floor: Å; two atoms of residues ≥ 3 apart end at least this far apart, unless the
            input has them closer than ``relax_from`` (a flat-bottom term with ``peptide_weight``).
        relax_from: Å; input contacts closer than this are overlaps, kept at least at their input
            distance but not pushed apart; ``relax_from = contact_floor`` pushes no contact out.
        break_distance: Å; where the input's C(i)–N(i+1) is longer, the chain is broken there and
            the bond is not restrained (the output stays broken and fails any bond check);
            a larger value closes wider tears, for chains known to be continuous (scaffolds use 4 Å).
        position_weight: optional ``(B, L)`` ≥ 0 weight of each residue's positional term (None: 1):
            e.g. 10 on motif residues keeps them nearly in place and lets the rest of the chain give way.
        max_iterations: L-BFGS iterations of the rigid-body refinement (0: superposition only).

    Returns:
        ``(B, L, 4, 3)`` in ``X``'s dtype, Å; 0 at padding.  The batch is minimised jointly (one L-BFGS
        run: the terms do not couple backbones, so only where the iterations stop depends on the
        batch — measured: up to 0.035 Å between 4 backbones of 60 fitted together and one by one).
    """
    dtype = X.dtype
    x = X.detach().to(torch.float64)
    batch, length = x.shape[:2]
    if mask is None:
        mask = torch.ones(batch, length, dtype=torch.bool, device=x.device)
    mask = mask.to(torch.bool)
    has_next = bonded_to_next(mask, residue_index)
    has_next[:, :-1] &= (x[:, :-1, C] - x[:, 1:, N]).norm(dim=-1) <= break_distance   # not across a break
    bonded = has_next[:, :-1]
    target = x[:, :, [N, CA, C], :]
    start = _superpose_triangles(target)                 # (B, L, 3, 3)
    centre = start[:, :, 1:2, :]
    local = start - centre
    w = mask.to(x.dtype)
    if position_weight is not None:
        w = w * position_weight.to(x.dtype)
    ideal = torch.tensor(PEPTIDE_DISTANCES, dtype=x.dtype, device=x.device)
    rot_vec = torch.zeros(batch, length, 3, dtype=x.dtype, device=x.device, requires_grad=True)
    shift = torch.zeros(batch, length, 3, dtype=x.dtype, device=x.device, requires_grad=True)

    def atoms() -> Tensor:
        return _rotate(local, rot_vec) + centre + shift[:, :, None, :]

    o_input = x[:, :, O, :]

    def oxygen(a: Tensor) -> Tensor:
        return place_carbonyl_oxygen(a[:, :, 1], a[:, :, 2], a[:, :, 0], o_input, has_next)

    pairs, floors = _close_contacts(x, mask, contact_floor, relax_from)

    def energy() -> Tensor:
        a = atoms()
        o = oxygen(a)
        e = (w[..., None] * ((a - target) ** 2).sum(-1)).sum() + (w * ((o - o_input) ** 2).sum(-1)).sum()
        if pairs.shape[0]:
            flat = torch.cat([a, o[:, :, None, :]], dim=2).reshape(batch, length * 4, 3)
            d = (flat[pairs[:, 0], pairs[:, 1]] - flat[pairs[:, 0], pairs[:, 2]]).norm(dim=-1)
            e = e + peptide_weight * (torch.relu(floors - d) ** 2).sum()
        if length > 1:
            c_i, ca_i = a[:, :-1, 2], a[:, :-1, 1]
            n_j, ca_j = a[:, 1:, 0], a[:, 1:, 1]
            d = torch.stack([(c_i - n_j).norm(dim=-1), (ca_i - n_j).norm(dim=-1), (c_i - ca_j).norm(dim=-1)], -1)
            e = e + peptide_weight * (bonded[..., None].to(x.dtype) * (d - ideal) ** 2).sum()
        return e

    if max_iterations > 0 and length > 1 and bool(bonded.any()):
        opt = torch.optim.LBFGS([rot_vec, shift], lr=1.0, max_iter=int(max_iterations), history_size=20,
                                tolerance_grad=1e-10, tolerance_change=1e-14, line_search_fn="strong_wolfe")

        def closure() -> Tensor:
            opt.zero_grad()
            e = energy()
            e.backward()
            return e

        with torch.enable_grad():
            opt.step(closure)
    with torch.no_grad():
        a = atoms()
        out = torch.cat([a, oxygen(a)[:, :, None, :]], dim=2)
        out = torch.where(mask[..., None, None], out, torch.zeros((), dtype=out.dtype, device=out.device))
    return out.to(dtype)
