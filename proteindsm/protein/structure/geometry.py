"""Backbone geometry in torch: rigid superposition, random rotations, internal coordinates.

Conventions (see :mod:`proteindsm.protein.structure.backbone`)
----------------------------------------------------
``X``     float ``(..., L, 4, 3)`` in Å, atom order N, CA, C, O; any number of leading batch dims.
``mask``  bool ``(..., L)``, True for real residues; ``None`` means every residue is real.

Every function works in the dtype of its input (float32 or float64) and is differentiable with
respect to the coordinates (padding and undefined positions get zero gradient, never NaN).

Undefined values (the first ``phi``, the last ``psi``/``omega``, bonds to a residue that does not
exist or is padding) are returned as ``NaN``; reduce with ``torch.nanmean`` or index with
``~torch.isnan``.  Angles are in **radians** unless ``degrees=True``.  Residue ``i`` carries the
quantities that start at it: ``psi[i]``, ``omega[i]`` (CA(i)-C(i)-N(i+1)-CA(i+1)), the peptide
bond C(i)-N(i+1), and the CA(i)-CA(i+1) distance.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from proteindsm.protein.structure.backbone import (
    ANGLE_C_N_CA, ANGLE_CA_C_N, ANGLE_CA_C_O, ANGLE_N_CA_C,
    BOND_C_N, BOND_C_O, BOND_CA_C, BOND_N_CA, C, CA, N, O,
)

__all__ = [
    "BOND_NAMES", "ANGLE_NAMES",
    "apply_transform", "kabsch_align", "rmsd", "random_rotation",
    "angle_at", "dihedral_angle", "dihedrals", "bond_lengths", "bond_angles",
    "ca_ca_distances", "ca_distance_matrix", "radius_of_gyration", "distances_to_centroid",
    "backbone_from_dihedrals",
]

#: Channel order of :func:`bond_lengths` (last one is the peptide bond C(i)-N(i+1)).
BOND_NAMES: tuple[str, ...] = ("N-CA", "CA-C", "C-O", "C-N")
#: Channel order of :func:`bond_angles`: N-CA-C, CA(i)-C(i)-N(i+1), C(i)-N(i+1)-CA(i+1).
ANGLE_NAMES: tuple[str, ...] = ("N-CA-C", "CA-C-N", "C-N-CA")

_TINY = 1e-12


# ----------------------------------------------------------------------------------------------
# helpers
def _residue_mask(X: Tensor, mask: Tensor | None) -> Tensor:
    """bool ``(..., L)``: the given mask broadcast to ``X``'s residues, or all True."""
    if mask is None:
        return torch.ones(X.shape[:-2], dtype=torch.bool, device=X.device)
    return mask.to(torch.bool).expand(X.shape[:-2])


def _safe_norm(v: Tensor) -> Tensor:
    """Euclidean norm over the last dim with a finite gradient at 0."""
    return torch.sqrt((v * v).sum(-1).clamp_min(_TINY))


def _nan_where(valid: Tensor, value: Tensor) -> Tensor:
    return torch.where(valid, value, torch.full_like(value, float("nan")))


def _pad_last(v: Tensor, front: bool) -> Tensor:
    """Add one NaN entry to the last axis (at the front or the back)."""
    pad = torch.full_like(v[..., :1], float("nan")) if v.shape[-1] > 0 else \
        torch.full(v.shape[:-1] + (1,), float("nan"), dtype=v.dtype, device=v.device)
    return torch.cat([pad, v] if front else [v, pad], dim=-1)


def angle_at(a: Tensor, b: Tensor, c: Tensor) -> Tensor:
    """Angle at ``b`` between b->a and b->c, radians, via atan2 (stable near 0 and pi); points
    ``(..., 3)`` → ``(...)``."""
    u, v = a - b, c - b
    return torch.atan2(_safe_norm(torch.cross(u, v, dim=-1)), (u * v).sum(-1))


_angle = angle_at


# ----------------------------------------------------------------------------------------------
# rigid transforms
def apply_transform(X: Tensor, R: Tensor, t: Tensor) -> Tensor:
    """Rotate then translate points: ``X @ R^T + t``.

    Args:
        X: ``(..., *, 3)`` points in Å (e.g. a backbone ``(..., L, 4, 3)``).
        R: ``(..., 3, 3)`` rotation; ``t``: ``(..., 3)`` translation in Å (leading dims of X).
    """
    extra = X.dim() - R.dim() + 1      # point dims between the batch dims and xyz
    Rb = R.reshape(R.shape[:-2] + (1,) * extra + (3, 3))
    tb = t.reshape(t.shape[:-1] + (1,) * extra + (3,))
    return (Rb @ X.unsqueeze(-1)).squeeze(-1) + tb


def kabsch_align(P: Tensor, Q: Tensor, mask: Tensor | None = None
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """Optimal proper rigid superposition of ``P`` onto ``Q`` (Kabsch, det R = +1).

    Args:
        P, Q: ``(..., L, A, 3)`` in Å — ``A`` atoms per residue (4 for a backbone; pass
            ``X[..., CA:CA + 1, :]`` to fit on CA only and apply the result with
            :func:`apply_transform`).
        mask: bool ``(..., L)``; residues with False are ignored in the fit.

    Returns:
        ``(P_aligned, R, t)``: ``P_aligned = P @ R^T + t`` ``(..., L, A, 3)``, with ``R``
        ``(..., 3, 3)`` and ``t`` ``(..., 3)`` minimising the masked squared deviation to ``Q``.
    """
    if P.shape != Q.shape or P.dim() < 3 or P.shape[-1] != 3:
        raise ValueError(f"kabsch_align: P {tuple(P.shape)} and Q {tuple(Q.shape)} must both be "
                         "(..., L, A, 3)")
    m = _residue_mask(P, mask)
    w = m[..., None].expand(P.shape[:-1]).to(P.dtype).flatten(-2)[..., None]     # (..., LA, 1)
    p, q = P.flatten(-3, -2), Q.flatten(-3, -2)                                   # (..., LA, 3)
    n = w.sum(-2).clamp_min(1.0)                                                  # (..., 1)
    pc, qc = (w * p).sum(-2) / n, (w * q).sum(-2) / n                             # (..., 3)
    H = ((p - pc[..., None, :]) * w).transpose(-1, -2) @ (q - qc[..., None, :])   # (..., 3, 3)
    U, _, Vh = torch.linalg.svd(H)
    d = torch.sign(torch.linalg.det(Vh.transpose(-1, -2) @ U.transpose(-1, -2)))
    d = torch.where(d == 0, torch.ones_like(d), d)
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.transpose(-1, -2) @ D @ U.transpose(-1, -2)
    t = qc - (R @ pc[..., None]).squeeze(-1)
    return apply_transform(P, R, t), R, t


def rmsd(P: Tensor, Q: Tensor, mask: Tensor | None = None, align: bool = True) -> Tensor:
    """Root-mean-square deviation over all atoms of the masked residues, Å, shape ``(...)``.

    Args:
        P, Q: ``(..., L, A, 3)`` in Å.  mask: bool ``(..., L)``.
        align: superpose ``P`` onto ``Q`` first (:func:`kabsch_align`); False compares as given.
    """
    if align:
        P = kabsch_align(P, Q, mask)[0]
    m = _residue_mask(P, mask)[..., None].expand(P.shape[:-1]).to(P.dtype)      # (..., L, A)
    sq = ((P - Q) ** 2).sum(-1) * m
    return torch.sqrt(sq.sum((-1, -2)) / m.sum((-1, -2)).clamp_min(1.0) + _TINY)


def random_rotation(generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
                    shape: Sequence[int] = (), device: torch.device | str | None = None) -> Tensor:
    """Uniformly random proper rotation matrices (Haar measure on SO(3); det = +1).

    Drawn as normalised Gaussian quaternions.  Returns ``(*shape, 3, 3)`` of ``dtype``.
    """
    gen_device = generator.device if generator is not None else device
    q = torch.randn(tuple(shape) + (4,), generator=generator, dtype=torch.float64,
                    device=gen_device)
    q = q / q.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    R = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], -1).reshape(tuple(shape) + (3, 3))
    return R.to(dtype=dtype, device=device if device is not None else R.device)


# ----------------------------------------------------------------------------------------------
# internal coordinates
def dihedral_angle(p0: Tensor, p1: Tensor, p2: Tensor, p3: Tensor) -> Tensor:
    """Dihedral p0-p1-p2-p3 in radians, IUPAC sign (trans = ±pi), points ``(..., 3)`` -> ``(...)``.

    Degenerate (collinear) inputs give 0 with zero gradient.
    """
    b0, b1, b2 = p1 - p0, p2 - p1, p3 - p2
    n1, n2 = torch.cross(b0, b1, dim=-1), torch.cross(b1, b2, dim=-1)
    b1n = b1 / _safe_norm(b1)[..., None]
    x = (n1 * n2).sum(-1)
    y = (torch.cross(n1, n2, dim=-1) * b1n).sum(-1)
    ok = (x * x + y * y) > _TINY
    return torch.where(ok, torch.atan2(torch.where(ok, y, torch.zeros_like(y)),
                                       torch.where(ok, x, torch.ones_like(x))),
                       torch.zeros_like(x))


def dihedrals(X: Tensor, mask: Tensor | None = None, degrees: bool = False
              ) -> tuple[Tensor, Tensor, Tensor]:
    """Backbone torsions ``(phi, psi, omega)``, each ``(..., L)``, radians (degrees if asked).

    ``phi[i]  = C(i-1)-N(i)-CA(i)-C(i)``  (NaN for i = 0)
    ``psi[i]  = N(i)-CA(i)-C(i)-N(i+1)``  (NaN for the last residue)
    ``omega[i] = CA(i)-C(i)-N(i+1)-CA(i+1)`` (NaN for the last residue; ±180° for trans)
    Values that involve a padding residue are NaN.  Right-handed α-helix: phi ≈ -57°, psi ≈ -47°.
    """
    m = _residue_mask(X, mask)
    pair = m[..., :-1] & m[..., 1:]                                   # (..., L-1)
    n, ca, c = X[..., N, :], X[..., CA, :], X[..., C, :]
    phi = dihedral_angle(c[..., :-1, :], n[..., 1:, :], ca[..., 1:, :], c[..., 1:, :])
    psi = dihedral_angle(n[..., :-1, :], ca[..., :-1, :], c[..., :-1, :], n[..., 1:, :])
    omg = dihedral_angle(ca[..., :-1, :], c[..., :-1, :], n[..., 1:, :], ca[..., 1:, :])
    phi = _pad_last(_nan_where(pair, phi), front=True)
    psi = _pad_last(_nan_where(pair, psi), front=False)
    omg = _pad_last(_nan_where(pair, omg), front=False)
    if degrees:
        phi, psi, omg = torch.rad2deg(phi), torch.rad2deg(psi), torch.rad2deg(omg)
    return phi, psi, omg


def bond_lengths(X: Tensor, mask: Tensor | None = None) -> Tensor:
    """Covalent bond lengths ``(..., L, 4)`` in Å, channels :data:`BOND_NAMES`.

    ``[..., i, :] = |N-CA|(i), |CA-C|(i), |C=O|(i), |C(i)-N(i+1)|``; the last channel is NaN for
    the last residue and where residue i+1 is padding; all channels NaN at padding.
    """
    m = _residue_mask(X, mask)
    n, ca, c, o = X[..., N, :], X[..., CA, :], X[..., C, :], X[..., O, :]
    intra = torch.stack([_safe_norm(ca - n), _safe_norm(c - ca), _safe_norm(o - c)], -1)
    intra = _nan_where(m[..., None], intra)
    pept = _nan_where(m[..., :-1] & m[..., 1:], _safe_norm(n[..., 1:, :] - c[..., :-1, :]))
    return torch.cat([intra, _pad_last(pept, front=False)[..., None]], -1)


def bond_angles(X: Tensor, mask: Tensor | None = None, degrees: bool = False) -> Tensor:
    """Backbone bond angles ``(..., L, 3)``, radians (or degrees), channels :data:`ANGLE_NAMES`.

    ``N(i)-CA(i)-C(i)``, ``CA(i)-C(i)-N(i+1)``, ``C(i)-N(i+1)-CA(i+1)``; the last two are NaN for
    the last residue; NaN wherever a padding residue is involved.
    """
    m = _residue_mask(X, mask)
    pair = m[..., :-1] & m[..., 1:]
    n, ca, c = X[..., N, :], X[..., CA, :], X[..., C, :]
    a0 = _nan_where(m, _angle(n, ca, c))
    a1 = _pad_last(_nan_where(pair, _angle(ca[..., :-1, :], c[..., :-1, :], n[..., 1:, :])), False)
    a2 = _pad_last(_nan_where(pair, _angle(c[..., :-1, :], n[..., 1:, :], ca[..., 1:, :])), False)
    out = torch.stack([a0, a1, a2], -1)
    return torch.rad2deg(out) if degrees else out


def ca_ca_distances(X: Tensor, mask: Tensor | None = None) -> Tensor:
    """Consecutive CA(i)-CA(i+1) distances ``(..., L)`` in Å (last residue and padding: NaN).

    About 3.80 Å for trans peptides, 2.9 Å for cis.
    """
    m = _residue_mask(X, mask)
    ca = X[..., CA, :]
    d = _nan_where(m[..., :-1] & m[..., 1:], _safe_norm(ca[..., 1:, :] - ca[..., :-1, :]))
    return _pad_last(d, front=False)


def ca_distance_matrix(X: Tensor, mask: Tensor | None = None) -> Tensor:
    """All CA-CA distances ``(..., L, L)`` in Å; 0 on the diagonal, NaN for padding pairs."""
    m = _residue_mask(X, mask)
    ca = X[..., CA, :]
    d = _safe_norm(ca[..., :, None, :] - ca[..., None, :, :])
    eye = torch.eye(d.shape[-1], dtype=torch.bool, device=d.device)
    d = torch.where(eye, torch.zeros_like(d), d)
    return _nan_where(m[..., :, None] & m[..., None, :], d)


def _centred_points(X: Tensor, mask: Tensor | None, atoms: str) -> tuple[Tensor, Tensor, Tensor]:
    """Points relative to their masked centroid ``(..., P, 3)``, the point mask ``(..., P, 1)`` in
    X's dtype and the point count ``(..., 1)`` (``P = L`` for ``"CA"``, ``4L`` for ``"backbone"``)."""
    m = _residue_mask(X, mask).to(X.dtype)[..., None]                # (..., L, 1)
    if atoms == "CA":
        pts = X[..., CA, :]                                           # (..., L, 3)
    elif atoms == "backbone":
        pts = X.reshape(*X.shape[:-3], -1, 3)                         # (..., 4L, 3)
        m = m.repeat_interleave(X.shape[-2], dim=-2)                  # (..., 4L, 1)
    else:
        raise ValueError(f"radius_of_gyration: atoms must be 'CA' or 'backbone', got {atoms!r}")
    n = m.sum(-2).clamp_min(1.0)                                      # (..., 1)
    centroid = (pts * m).sum(-2) / n                                  # (..., 3)
    return pts - centroid[..., None, :], m, n


def radius_of_gyration(X: Tensor, mask: Tensor | None = None, atoms: str = "CA",
                       eps: float = _TINY) -> Tensor:
    """Radius of gyration of the masked residues, Å, shape ``(...)`` — the one Rg of the package.

    ``Rg = sqrt(mean_i |p_i - mean p|^2 + eps)``, unweighted, over the CA atoms (``atoms="CA"``, the
    definition the design report, the evaluation and the predictors' features use) or over all four
    backbone atoms N, CA, C, O (``atoms="backbone"``: its gradient moves whole residues, so guidance
    or a restraint on it does not stretch N-CA-C bonds).  ``eps`` (Å²) keeps the gradient finite
    for a single point (Rg = sqrt(eps) there): 1e-12 by default, 1e-6 in the predictors' features
    and the differentiable design property (:func:`proteindsm.protein.generate.targets.radius_of_gyration_property`),
    0 for the exact measurement (:func:`proteindsm.protein.structure.properties.radius_of_gyration`).

    Args:
        X: ``(..., L, 4, 3)`` backbone in Å.
        mask: bool ``(..., L)`` (0/1 floats work too); None means every residue is real.
    """
    d, m, n = _centred_points(X, mask, atoms)
    sq = ((d ** 2).sum(-1, keepdim=True) * m).sum(-2) / n
    return torch.sqrt(sq.squeeze(-1) + eps)


def distances_to_centroid(X: Tensor, mask: Tensor | None = None, atoms: str = "CA",
                          eps: float = _TINY) -> Tensor:
    """``sqrt(|p_i - mean p|^2 + eps)`` in Å, ``(..., L)`` (``(..., 4L)`` for ``atoms="backbone"``),
    with the masked centroid of :func:`radius_of_gyration`; padding positions are not zeroed."""
    d, _, _ = _centred_points(X, mask, atoms)
    return torch.sqrt((d ** 2).sum(-1) + eps)


# ----------------------------------------------------------------------------------------------
# internal -> Cartesian
def _place(a: Tensor, b: Tensor, c: Tensor, bond: float, angle: float, torsion: Tensor) -> Tensor:
    """NeRF: atom d with |cd| = bond, angle b-c-d = angle (rad), dihedral a-b-c-d = torsion."""
    bc = c - b
    bc = bc / bc.norm(dim=-1, keepdim=True)
    nrm = torch.cross(b - a, bc, dim=-1)
    nrm = nrm / nrm.norm(dim=-1, keepdim=True)
    m = torch.stack([bc, torch.cross(nrm, bc, dim=-1), nrm], -1)     # columns
    d2 = torch.stack([torch.full_like(torsion, -bond * math.cos(angle)),
                      bond * math.sin(angle) * torch.cos(torsion),
                      bond * math.sin(angle) * torch.sin(torsion)], -1)
    return c + (m @ d2[..., None]).squeeze(-1)


def backbone_from_dihedrals(phi: Tensor, psi: Tensor, omega: Tensor | None = None,
                            degrees: bool = True) -> Tensor:
    """Build a backbone with Engh & Huber bond lengths/angles from torsions (NeRF).

    Args:
        phi, psi: ``(..., L)`` torsions (``phi[0]`` is unused; ``psi[-1]`` only places the last O).
        omega: ``(..., L)`` (``omega[-1]`` unused); default 180° (trans).
        degrees: whether the torsions are given in degrees (default) or radians.

    Returns:
        ``X`` ``(..., L, 4, 3)`` in Å in the dtype of ``phi`` (float64 recommended).  Each O lies
        in the peptide plane, anti to N(i+1) (N-CA-C-O torsion = psi + 180°).
    """
    phi, psi = torch.as_tensor(phi), torch.as_tensor(psi)
    if not phi.is_floating_point():
        phi = phi.to(torch.float64)
    psi = psi.to(phi.dtype)
    omega = torch.full_like(phi, 180.0 if degrees else math.pi) if omega is None \
        else torch.as_tensor(omega).to(phi.dtype)
    if degrees:
        phi, psi, omega = torch.deg2rad(phi), torch.deg2rad(psi), torch.deg2rad(omega)
    L = phi.shape[-1]
    batch = phi.shape[:-1]
    r = math.radians
    n0 = torch.zeros(batch + (3,), dtype=phi.dtype)
    ca0 = n0 + torch.tensor([BOND_N_CA, 0.0, 0.0], dtype=phi.dtype)
    c0 = ca0 + BOND_CA_C * torch.tensor([-math.cos(r(ANGLE_N_CA_C)), math.sin(r(ANGLE_N_CA_C)),
                                         0.0], dtype=phi.dtype)
    ns, cas, cs = [n0], [ca0], [c0]
    for i in range(L - 1):
        ns.append(_place(ns[i], cas[i], cs[i], BOND_C_N, r(ANGLE_CA_C_N), psi[..., i]))
        cas.append(_place(cas[i], cs[i], ns[i + 1], BOND_N_CA, r(ANGLE_C_N_CA), omega[..., i]))
        cs.append(_place(cs[i], ns[i + 1], cas[i + 1], BOND_CA_C, r(ANGLE_N_CA_C), phi[..., i + 1]))
    os_ = [_place(ns[i], cas[i], cs[i], BOND_C_O, r(ANGLE_CA_C_O), psi[..., i] + math.pi)
           for i in range(L)]
    return torch.stack([torch.stack(ns, -2), torch.stack(cas, -2), torch.stack(cs, -2),
                        torch.stack(os_, -2)], -2)
