"""Translation invariance for protein backbones: CA-centroid centring, projection and noise.

Tensor conventions (see ``proteindsm.protein.structure.backbone``): a backbone ``x`` is ``(B, L, 4, 3)`` in Å
with atom order N, CA, C, O; ``mask`` is bool ``(B, L)``, True for real residues.  Padding
positions carry no information: every function here returns exactly 0 there.

Convention (one for the whole package)
--------------------------------------
Backbones live in the *zero-CA-centroid slice*: the mean CA position over the valid residues of each
chain is the origin.  A displacement ``v`` (noise, score, sampler update) is brought into that slice
with :func:`project_zero_ca_centroid`::

    project(v) = v - mean_valid(v[:, :, CA])        # the same 3-vector subtracted from all 4 atoms

i.e. we move along rigid translations (which change nothing about a structure) until the CA
centroid is zero.  This is a linear, idempotent projection whose kernel is exactly the rigid
translations, so ``project(v + t) == project(v)`` for any translation ``t``; it is *not* the
orthogonal projection (that one would shift only the CA atoms and break bond lengths).  The noise
model uses the same map: ``eps = project(sigma * N(0, I))`` (:func:`zero_ca_centroid_noise`), so a
noised centred backbone stays centred, and the score network projects its output the same way.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "CA_INDEX",
    "masked_ca_centroid",
    "center_on_ca_centroid",
    "project_zero_ca_centroid",
    "zero_ca_centroid_noise",
]

#: Index of the CA atom in the N, CA, C, O atom axis (matches ``proteindsm.protein.structure.backbone``).
CA_INDEX = 1


def _mask_or_all(v: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return torch.ones(v.shape[:2], dtype=torch.bool, device=v.device)
    return mask.to(device=v.device, dtype=torch.bool)


def masked_ca_centroid(x: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean CA position over valid residues.

    Args:
        x: ``(B, L, 4, 3)`` coordinates (or displacements) in Å.
        mask: bool ``(B, L)``, True for real residues; None means all real.

    Returns:
        ``(B, 1, 1, 3)`` centroid in Å (0 for a chain with no valid residue), ready to broadcast.
        Values at padding positions of ``x`` (even NaN/inf) do not influence it.
    """
    m = _mask_or_all(x, mask)
    ca = torch.where(m[..., None], x[:, :, CA_INDEX, :], torch.zeros((), dtype=x.dtype, device=x.device))
    count = m.sum(dim=1).clamp(min=1).to(x.dtype)  # (B,)
    return (ca.sum(dim=1) / count[:, None])[:, None, None, :]


def center_on_ca_centroid(x: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Translate each backbone so that its valid-residue CA centroid is the origin.

    Args:
        x: ``(B, L, 4, 3)`` in Å.
        mask: bool ``(B, L)`` or None (all real).

    Returns:
        ``(x_c, centroid)``: ``x_c`` is ``(B, L, 4, 3)`` with exactly 0 at padding positions;
        ``centroid`` is ``(B, 1, 1, 3)`` so that ``x == x_c + centroid`` at valid positions.
    """
    m = _mask_or_all(x, mask)
    centroid = masked_ca_centroid(x, m)
    x_c = torch.where(m[..., None, None], x - centroid, torch.zeros((), dtype=x.dtype, device=x.device))
    return x_c, centroid


def project_zero_ca_centroid(v: Tensor, mask: Tensor | None = None) -> Tensor:
    """Project a displacement onto the zero-CA-centroid slice along rigid translations.

    ``project(v) = v - mean_valid(v[:, :, CA])``, the same 3-vector subtracted from all four atoms of
    every valid residue; padding positions are set to exactly 0.  Linear, idempotent, and
    ``project(v + t) == project(v)`` for any per-chain translation ``t``.

    Args:
        v: ``(B, L, 4, 3)`` displacement / score / coordinates (Å or Å⁻¹).
        mask: bool ``(B, L)``, True for real residues; None means all real.

    Returns:
        ``(B, L, 4, 3)`` with ``mean_valid(out[:, :, CA]) == 0`` and 0 at padding.
    """
    return center_on_ca_centroid(v, mask)[0]


def zero_ca_centroid_noise(
    like: Tensor,
    sigma: Tensor | float,
    mask: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Gaussian noise in the zero-CA-centroid slice: ``project(sigma * N(0, I))``.

    Args:
        like: ``(B, L, 4, 3)`` tensor giving shape, dtype and device.
        sigma: ``(B,)`` noise level in Å (or a float).
        mask: bool ``(B, L)`` or None (all real).
        generator: optional ``torch.Generator`` for reproducibility.

    Returns:
        ``(B, L, 4, 3)`` noise in Å, 0 at padding, zero CA centroid over valid residues.
    """
    eps = torch.randn(like.shape, dtype=like.dtype, device=like.device, generator=generator)
    sigma_t = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    if sigma_t.ndim == 1:
        sigma_t = sigma_t[:, None, None, None]
    return project_zero_ca_centroid(eps * sigma_t, mask)
