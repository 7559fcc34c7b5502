"""Residue geometry by construction: rebuild a backbone from per-residue rigid frames.

:func:`idealise_backbone` maps any ``(B, L, 4, 3)`` backbone (e.g. the raw output of a denoiser) to
one whose residues have exact Engh & Huber internal geometry:

* each residue's frame is read from its own N, CA, C by Gram–Schmidt (AlphaFold2's
  ``rigidFrom3Points``): origin CA, ``e1 = (C − CA)/|C − CA|``, ``e2`` the unit component of
  ``N − CA`` orthogonal to ``e1``;
* CA stays where it is; C is placed at ``BOND_CA_C`` along ``e1``; N at ``BOND_N_CA`` in the
  (e1, e2) plane at the angle ``ANGLE_N_CA_C`` — so N–CA, CA–C and N–CA–C are exact whatever the
  input, including the first and last residue of a chain;
* O is placed from the peptide plane: at ``BOND_C_O`` from C, at the angle ``ANGLE_CA_C_O`` to
  C→CA, in the plane of CA(i), C(i), N(i+1) and on the side away from N(i+1) (the rebuilt N of the
  next residue).  Where there is no next residue (chain end, padding, or a gap in
  ``residue_index``), the plane is the one of CA(i), C(i) and the input's own O(i) — the C=O bond
  and the CA–C=O angle are exact there too.

What it does not fix: the peptide bond C(i)–N(i+1) and the angles across it, which depend on where
the frames of neighbouring residues sit (as in FrameDiff / RFdiffusion).

The map is rotation- and translation-equivariant, differentiable (norms are guarded, so degenerate
inputs give finite values and gradients) and idempotent on ideal residues.  Shapes: ``X`` ``(..., L,
4, 3)`` Å, ``mask`` bool ``(..., L)``; padding is returned as 0.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from proteindsm.protein.structure.backbone import ANGLE_CA_C_O, ANGLE_N_CA_C, BOND_C_O, BOND_CA_C, BOND_N_CA, C, CA, N, O

__all__ = ["residue_frames", "idealise_backbone", "place_carbonyl_oxygen", "bonded_to_next"]

_EPS = 1e-8


def _unit(v: Tensor) -> Tensor:
    return v / torch.sqrt((v * v).sum(-1, keepdim=True) + _EPS)


def residue_frames(X: Tensor) -> tuple[Tensor, Tensor]:
    """Gram–Schmidt frames of each residue: ``(e1, e2)`` each ``(..., L, 3)`` (unit, orthogonal);
    ``e1`` points from CA to C, ``e2`` towards N in the N–CA–C plane."""
    ca = X[..., CA, :]
    e1 = _unit(X[..., C, :] - ca)
    v = X[..., N, :] - ca
    e2 = _unit(v - (v * e1).sum(-1, keepdim=True) * e1)
    return e1, e2


def _in_plane_away(origin: Tensor, toward: Tensor, other: Tensor, angle_deg: float, length: float) -> Tensor:
    """Point at ``length`` from ``origin`` making ``angle_deg`` with ``toward − origin``, in the plane
    of the three points, on the side opposite ``other``."""
    u = _unit(toward - origin)
    w = other - origin
    p = _unit(w - (w * u).sum(-1, keepdim=True) * u)
    a = math.radians(angle_deg)
    return origin + length * (math.cos(a) * u - math.sin(a) * p)


def bonded_to_next(mask: Tensor, residue_index: Optional[Tensor] = None) -> Tensor:
    """bool ``(B, L)``: residue i is peptide-bonded to i + 1 — both real (``mask`` ``(B, L)``) and, with
    ``residue_index`` ``(B, L)``, numbered consecutively; False for the last residue."""
    has_next = torch.zeros_like(mask)
    if mask.shape[1] > 1:
        bonded = mask[:, 1:] & mask[:, :-1]
        if residue_index is not None:
            bonded = bonded & ((residue_index[:, 1:] - residue_index[:, :-1]) == 1)
        has_next[:, :-1] = bonded
    return has_next


def place_carbonyl_oxygen(ca: Tensor, c: Tensor, n: Tensor, o_input: Tensor, has_next: Tensor) -> Tensor:
    """O of every residue from the peptide plane: ``(B, L, 3)`` Å.

    At ``BOND_C_O`` from C and ``ANGLE_CA_C_O`` to C→CA, in the plane of CA(i), C(i), N(i+1) on the
    side away from N(i+1) where ``has_next`` (bool ``(B, L)``); elsewhere in the plane of CA(i), C(i)
    and ``o_input`` (i), on its side.  ``ca``, ``c``, ``n``, ``o_input``: ``(B, L, 3)`` Å.
    """
    n_next = torch.cat([n[:, 1:], n[:, -1:]], dim=1)  # last row is a placeholder
    mirror_o = 2.0 * c - o_input                      # "away from the mirror" = towards the input O
    other = torch.where(has_next[..., None], n_next, mirror_o)
    return _in_plane_away(c, ca, other, ANGLE_CA_C_O, BOND_C_O)


def idealise_backbone(X: Tensor, mask: Optional[Tensor] = None, residue_index: Optional[Tensor] = None) -> Tensor:
    """Ideal-geometry backbone with the residue frames of ``X`` (see the module docstring).

    Args:
        X: ``(B, L, 4, 3)`` backbone in Å (N, CA, C, O).
        mask: bool ``(B, L)``, True for real residues (None: all real).
        residue_index: long ``(B, L)``; consecutive residues are bonded only where it increases by 1
            (None: ``arange(L)``).

    Returns:
        ``(B, L, 4, 3)`` in Å, 0 at padding.
    """
    batch, length = X.shape[:2]
    if mask is None:
        mask = torch.ones(batch, length, dtype=torch.bool, device=X.device)
    mask = mask.to(torch.bool)
    ca = X[:, :, CA, :]
    e1, e2 = residue_frames(X)
    a = math.radians(ANGLE_N_CA_C)
    c_new = ca + BOND_CA_C * e1
    n_new = ca + BOND_N_CA * (math.cos(a) * e1 + math.sin(a) * e2)

    o_new = place_carbonyl_oxygen(ca, c_new, n_new, X[:, :, O, :], bonded_to_next(mask, residue_index))

    out = torch.stack([n_new, ca, c_new, o_new], dim=2)
    return torch.where(mask[..., None, None], out, torch.zeros((), dtype=X.dtype, device=X.device))
