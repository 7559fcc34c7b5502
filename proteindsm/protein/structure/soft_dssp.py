"""Differentiable secondary-structure fractions from DSSP's hydrogen-bond energy.

DSSP (Kabsch & Sander 1983) assigns a backbone N–H···O=C hydrogen bond where the electrostatic
energy E = 0.084 · 332 · (1/r_ON + 1/r_CH − 1/r_OH − 1/r_CN) kcal/mol is below −0.5, and builds
helices and β-ladders from patterns of such bonds.  pydssp (Minami 2023) replaces the threshold by a
smooth step, so the bond "map" ``hb[i, j] ∈ [0, 1]`` is differentiable in the coordinates; its own
``assign`` then thresholds the patterns again.  Here the patterns are kept continuous:

* antiparallel bridge (i, j): hb(i→j)·hb(j→i) + hb(i−1→j+1)·hb(j−1→i+1)
* parallel bridge (i, j):     hb(i−1→j)·hb(j→i+1) + hb(j−1→i)·hb(i→j+1)
  (a→b: the C=O of a accepts from the N–H of b; |i − j| ≥ 3)
* 4-turn at i: hb(i→i+4); α-helix residues i+1 … i+4 where turns at i and i+1 overlap,

and a residue's soft membership is 1 − Π(1 − p) over the patterns that would make it a strand
(helix) residue.  With pydssp's own cutoff (−0.5 kcal/mol) the soft strand fraction follows DSSP's
closely on real chains (tests); as a guidance property a higher ``cutoff`` (default 0 kcal/mol)
widens the band where a nearly formed bond still has a gradient, so guidance can pull two segments
into register before their bonds are complete.

These are properties of a *clean* backbone, for guided design on the denoised estimate
(``proteindsm design property=strand_fraction function=proteindsm.protein.structure.soft_dssp.soft_strand_fraction``,
docs/design.md); the design report measures the exact DSSP fractions.

Tensor conventions: ``x`` ``(B, L, 4, 3)`` in Å (N, CA, C, O), optional bool ``cond["mask"]``
``(B, L)`` (padding at the end of a chain); results ``(B,)`` or ``(B, L)`` in [0, 1].
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import torch
import torch.nn.functional as F
from pydssp.pydssp_torch import get_hbond_map
from torch import Tensor

from proteindsm.errors import InputError

__all__ = ["soft_hbond_map", "smooth_distance", "soft_strand_membership", "soft_helix_membership",
           "soft_strand_fraction", "soft_helix_fraction", "DSSP_CUTOFF", "GUIDANCE_CUTOFF"]

#: pydssp's (and DSSP's) hydrogen-bond energy cutoff, kcal/mol.
DSSP_CUTOFF = -0.5
#: The wider cutoff used when the fractions steer sampling (kcal/mol).
GUIDANCE_CUTOFF = 0.0
_MIN_BRIDGE_SEPARATION = 3


def _check(x: Tensor, name: str) -> None:
    if x.ndim != 4 or x.shape[-2:] != (4, 3):
        raise InputError(f"{name}: x must be (B, L, 4, 3) Å (N, CA, C, O), got shape {tuple(x.shape)}")


def _mask(x: Tensor, cond: Optional[Mapping[str, Any]]) -> Tensor:
    mask = None if cond is None else cond.get("mask")
    if mask is None:
        return torch.ones(x.shape[:2], dtype=x.dtype, device=x.device)
    return mask.to(device=x.device, dtype=x.dtype)


def smooth_distance(a: Tensor, b: Tensor) -> Tensor:
    """``sqrt(|a − b|² + 1e-6)`` over the last axis, Å: a distance with a finite gradient at 0."""
    return torch.sqrt((a - b).pow(2).sum(-1) + 1e-6)


def _unit(v: Tensor) -> Tensor:
    return v / torch.sqrt(v.pow(2).sum(-1, keepdim=True) + 1e-8)


def soft_hbond_map(x: Tensor, mask: Optional[Tensor] = None, cutoff: float = DSSP_CUTOFF,
                   margin: float = 1.0, *, ramp: str = "sine", width: float = 0.25) -> Tensor:
    """The one differentiable DSSP H-bond map of the package.

    ``hb[b, a, d]`` ∈ [0, 1], ``(B, L, L)``: the C=O of residue a accepts a hydrogen bond from the
    N–H of residue d, from DSSP's electrostatic energy
    ``E = 0.084·332 (1/r_ON + 1/r_CH − 1/r_OH − 1/r_CN)`` kcal/mol with the amide H placed as pydssp
    does (on the bisector of C(d−1)→N(d) and CA(d)→N(d), 1.01 Å; no H for residue 0).  Two smooth
    versions of DSSP's step ``E < cutoff``, chosen by ``ramp``:

    * ``"sine"`` (default; the soft DSSP fractions of this module and guidance by them): pydssp's
      ``get_hbond_map`` — 1 below ``cutoff − 2·margin``, 0 above ``cutoff``, a sine ramp between;
      exact distances; pydssp's local mask (acceptor d, d − 1, d − 2 excluded); ``mask`` zeroes
      rows and columns of masked residues.
    * ``"sigmoid"`` (the features of :mod:`proteindsm.protein.model.predictor_features`, whose shipped
      checkpoints were trained with it): ``sigmoid((cutoff − E) / width)``, distances
      :func:`smooth_distance` floored at 0.5 Å (bounded energy on noised inputs), zero for
      ``|a − d| < 3``, for masked acceptors and for donors d = 0 or whose residue d − 1 is masked;
      its tail leaves sigmoid(cutoff / width) ≈ 0.12 on pairs with E ≈ 0; ``margin`` is unused.

    Args:
        x: ``(B, L, 4, 3)`` backbone in Å (N, CA, C, O).
        mask: ``(B, L)`` bool or 0/1 float; None means every residue is real.
    """
    _check(x, "soft_hbond_map")
    if ramp == "sigmoid":
        return _sigmoid_hbond_map(x, mask, cutoff, width)
    if ramp != "sine":
        raise InputError(f"soft_hbond_map: ramp must be 'sine' or 'sigmoid', got {ramp!r}")
    if x.shape[1] < 3:
        return x.new_zeros(x.shape[0], x.shape[1], x.shape[1])
    hb = get_hbond_map(x, cutoff=cutoff, margin=margin).to(x.dtype)   # [b, donor, acceptor]
    hb = hb.transpose(-1, -2)                                          # [b, acceptor, donor]
    if mask is not None:
        m = mask.to(dtype=x.dtype, device=x.device)
        hb = hb * m[:, :, None] * m[:, None, :]
    return hb


def _sigmoid_hbond_map(x: Tensor, mask: Optional[Tensor], cutoff: float, width: float) -> Tensor:
    """``ramp="sigmoid"`` of :func:`soft_hbond_map`."""
    m = _mask(x, None if mask is None else {"mask": mask})
    n, ca, c, o = x[:, :, 0], x[:, :, 1], x[:, :, 2], x[:, :, 3]
    c_prev = torch.cat([c[:, :1], c[:, :-1]], 1)
    h = n + 1.01 * _unit(_unit(n - c_prev) + _unit(n - ca))
    donor = m * torch.cat([torch.zeros_like(m[:, :1]), m[:, :-1]], 1)      # residue d >= 1 with d-1 real

    def inv(a: Tensor, b: Tensor) -> Tensor:
        return 1.0 / smooth_distance(a[:, :, None], b[:, None, :]).clamp_min(0.5)

    e = 0.084 * 332.0 * (inv(o, n) + inv(c, h) - inv(o, h) - inv(c, n))
    L = x.shape[1]
    idx = torch.arange(L, device=x.device)
    far = ((idx[None, :] - idx[:, None]).abs() >= _MIN_BRIDGE_SEPARATION).to(x.dtype)
    return torch.sigmoid((cutoff - e) / width) * far[None] * m[:, :, None] * donor[:, None, :]


def _mask_and_map(x: Tensor, cond: Optional[Mapping[str, Any]], cutoff: float, name: str,
                  min_length: int) -> tuple[Tensor, Optional[Tensor]]:
    """The residue mask ``(B, L)`` as x's dtype and the masked H-bond map (None for chains shorter
    than a pattern needs)."""
    _check(x, name)
    m = _mask(x, cond)
    return m, (soft_hbond_map(x, m, cutoff) if x.shape[1] >= min_length else None)


def soft_strand_membership(x: Tensor, cond: Optional[Mapping[str, Any]] = None,
                           cutoff: float = DSSP_CUTOFF) -> Tensor:
    """Soft β-bridge membership of each residue, ``(B, L)`` in [0, 1] (DSSP's E and B residues)."""
    m, hb = _mask_and_map(x, cond, cutoff, "soft_strand_membership", min_length=3)
    if hb is None:
        return torch.zeros_like(m)
    L = x.shape[1]
    win = hb.unfold(1, 3, 1).unfold(2, 3, 1)        # (B, L−2, L−2, 3, 3): win[i, j, a, b] = hb[i+a, j+b]
    rev = win.transpose(1, 2)                       # rev[i, j, a, b] = hb[j+a, i+b]
    parallel = win[..., 0, 1] * rev[..., 1, 2] + rev[..., 0, 1] * win[..., 1, 2]
    antiparallel = win[..., 1, 1] * rev[..., 1, 1] + win[..., 0, 2] * rev[..., 0, 2]
    bridge = F.pad(parallel + antiparallel, [1, 1, 1, 1]).clamp(max=1.0)    # (B, L, L), centre residues
    idx = torch.arange(L, device=x.device)
    far = ((idx[:, None] - idx[None, :]).abs() >= _MIN_BRIDGE_SEPARATION).to(x.dtype)
    bridge = bridge * far
    return (1.0 - torch.prod(1.0 - bridge, dim=-1)) * m


def soft_helix_membership(x: Tensor, cond: Optional[Mapping[str, Any]] = None,
                          cutoff: float = DSSP_CUTOFF) -> Tensor:
    """Soft α-helix (DSSP H, from consecutive 4-turns) membership of each residue, ``(B, L)``."""
    m, hb = _mask_and_map(x, cond, cutoff, "soft_helix_membership", min_length=6)
    if hb is None:
        return torch.zeros_like(m)
    B, L = x.shape[:2]
    turn4 = torch.diagonal(hb, offset=4, dim1=-2, dim2=-1)          # (B, L−4): hb(i → i+4)
    start = turn4[:, :-1] * turn4[:, 1:]                            # (B, L−5): helix at i+1 … i+4
    miss = torch.ones(B, L, dtype=x.dtype, device=x.device)
    for k in range(1, 5):                                           # residue i+k covered by start i
        miss = miss * F.pad(1.0 - start, [k, 5 - k], value=1.0)      # back to length L
    return (1.0 - miss) * m


def _fraction(member: Tensor, m: Tensor) -> Tensor:
    return (member * m).sum(-1) / m.sum(-1).clamp_min(1.0)


def soft_strand_fraction(x: Tensor, cond: Optional[Mapping[str, Any]] = None,
                         cutoff: float = GUIDANCE_CUTOFF) -> Tensor:
    """Soft DSSP strand fraction, ``(B,)`` — a guidance property for ``proteindsm design``.
    ``cutoff`` (kcal/mol): :data:`GUIDANCE_CUTOFF` by default; :data:`DSSP_CUTOFF` tracks DSSP."""
    return _fraction(soft_strand_membership(x, cond, cutoff), _mask(x, cond))


def soft_helix_fraction(x: Tensor, cond: Optional[Mapping[str, Any]] = None,
                        cutoff: float = GUIDANCE_CUTOFF) -> Tensor:
    """Soft DSSP α-helix fraction, ``(B,)`` (see :func:`soft_strand_fraction`)."""
    return _fraction(soft_helix_membership(x, cond, cutoff), _mask(x, cond))
