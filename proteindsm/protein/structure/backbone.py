"""Backbone tensor conventions, written once for the whole package.

Tensors
-------
``X``     float32 ``(B, L, 4, 3)`` in Å: the backbone atoms of each residue, in the order
          ``N, CA, C, O`` (index constants :data:`N`, :data:`CA`, :data:`C`, :data:`O`).
          Unbatched backbones are ``(L, 4, 3)``.
``mask``  bool ``(B, L)``: True for real residues, False for padding.  Padding positions of ``X``
          are 0 and carry no information.
``sigma`` noise scale ``(B,)`` in Å (data units), see ``proteindsm.core``.

Chains are continuous (no chain breaks); residue ``i`` is peptide-bonded to ``i + 1``.

Ideal geometry
--------------
Engh & Huber (1991) bond lengths (Å) and angles (degrees) of the trans peptide backbone; the three
angles at C (``CA-C-N``, ``CA-C=O``, ``O=C-N``) sum to 360° as they must for a planar sp2 carbon.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ATOM_NAMES", "N", "CA", "C", "O",
    "BOND_N_CA", "BOND_CA_C", "BOND_C_O", "BOND_C_N", "DIST_CA_CA",
    "ANGLE_N_CA_C", "ANGLE_CA_C_N", "ANGLE_C_N_CA", "ANGLE_CA_C_O", "ANGLE_O_C_N",
    "pad_batch", "center",
]

#: Backbone atom names in tensor order.
ATOM_NAMES: tuple[str, ...] = ("N", "CA", "C", "O")
N, CA, C, O = 0, 1, 2, 3

# Bond lengths, Å.
BOND_N_CA = 1.458
BOND_CA_C = 1.525
BOND_C_O = 1.231
BOND_C_N = 1.329  #: peptide bond C(i)-N(i+1)
DIST_CA_CA = 3.80  #: consecutive CA(i)-CA(i+1) for a trans peptide

# Bond angles, degrees.
ANGLE_N_CA_C = 111.2
ANGLE_CA_C_N = 116.2  #: CA(i)-C(i)-N(i+1)
ANGLE_C_N_CA = 121.7  #: C(i)-N(i+1)-CA(i+1)
ANGLE_CA_C_O = 120.8
ANGLE_O_C_N = 123.0  #: O(i)=C(i)-N(i+1)


def pad_batch(chains: Sequence[np.ndarray | Tensor]) -> tuple[Tensor, Tensor]:
    """Stack backbones of different lengths into one zero-padded batch.

    Args:
        chains: ``B`` backbones, each ``(L_i, 4, 3)`` in Å (numpy arrays or tensors).

    Returns:
        ``X`` float32 ``(B, L_max, 4, 3)`` (0 at padding) and ``mask`` bool ``(B, L_max)``.
    """
    if len(chains) == 0:
        raise ValueError("pad_batch needs at least one backbone")
    tensors = [torch.as_tensor(np.asarray(c) if not isinstance(c, Tensor) else c)
               for c in chains]
    for i, t in enumerate(tensors):
        if t.ndim != 3 or tuple(t.shape[1:]) != (4, 3):
            raise ValueError(f"pad_batch: backbone {i} has shape {tuple(t.shape)}, "
                             "expected (L, 4, 3)")
    lengths = torch.tensor([t.shape[0] for t in tensors])
    X = torch.zeros(len(tensors), int(lengths.max()), 4, 3, dtype=torch.float32)
    for i, t in enumerate(tensors):
        X[i, : t.shape[0]] = t.to(torch.float32)
    mask = torch.arange(X.shape[1])[None, :] < lengths[:, None]
    return X, mask


def center(X: Tensor, mask: Tensor | None = None) -> Tensor:
    """Translate each backbone so that the CA centroid of its valid residues is the origin.

    Args:
        X: ``(B, L, 4, 3)`` or ``(L, 4, 3)`` in Å.
        mask: bool ``(B, L)`` or ``(L,)``; None means every residue is valid.

    Returns:
        Tensor like ``X``; padding positions (``mask`` False) are set to 0.
    """
    if mask is None:
        mask = torch.ones(X.shape[:-2], dtype=torch.bool, device=X.device)
    m = mask.to(X.dtype)[..., None]                                  # (..., L, 1)
    ca = X[..., CA, :]                                               # (..., L, 3)
    centroid = (ca * m).sum(-2) / m.sum(-2).clamp_min(1.0)           # (..., 3)
    return (X - centroid[..., None, None, :]) * m[..., None]
