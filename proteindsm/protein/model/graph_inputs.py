"""Inputs of the residue-graph score networks, computed from the centred backbone.

Shared by :class:`proteindsm.protein.model.network.BackboneScoreNet` and
:class:`proteindsm.protein.model.egnn_baseline.EGNNBaseline`:

* :func:`sigma_fourier_features` — sinusoidal features of the EDM ``c_noise = log(σ)/4``, ``(B,)`` →
  ``(B, 2 F)``;
* :func:`residue_invariants` — the 7 rotation invariants of a residue's local N−CA, C−CA, O−CA
  vectors ``(B, L, 3, 3)`` → ``(B, L, 7)`` (Gram matrix and the handedness triple product);
* :func:`knn_sequence_graph` — the residue graph: sequence neighbours plus the k nearest other
  residues by CA distance, as fixed slots ``(B, L, K)`` with an edge mask.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["NUM_RESIDUE_INVARIANTS", "knn_sequence_graph", "residue_invariants", "sigma_fourier_features"]

#: Features returned by :func:`residue_invariants`: Gram matrix of the 3 local vectors (6) + their
#: triple product (1).
NUM_RESIDUE_INVARIANTS = 7


NUM_SIGMA_FREQUENCIES = 8
"""Frequencies of the c_noise embedding (→ 16 sin/cos features), shared by the score networks."""
RBF_MAX_DISTANCE = 20.0
"""Å, last centre of the radial basis of effective CA distances, shared by the score networks."""


def sigma_frequencies() -> Tensor:
    """The ``(NUM_SIGMA_FREQUENCIES,)`` angular frequencies π·2^k, k evenly spaced on [0, 5], of
    :func:`sigma_fourier_features`."""
    return math.pi * 2.0 ** torch.linspace(0.0, 5.0, NUM_SIGMA_FREQUENCIES)


def sigma_fourier_features(c_noise: Tensor, freqs: Tensor) -> Tensor:
    """Sinusoidal features of ``c_noise``: ``(B,)`` → ``(B, 2 F)`` (sin then cos)."""
    arg = c_noise[:, None] * freqs[None, :]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)



def knn_sequence_graph(
    ca: Tensor, mask: Tensor, residue_index: Tensor, k_neighbors: int, seq_neighbors: int
) -> tuple[Tensor, Tensor]:
    """Residue graph: sequence neighbours plus the k nearest other residues, as fixed slots.

    Each residue i gets ``K = min(k + 2 s, L − 1)`` slots, filled with the residues j ≠ i with
    ``|residue_index_i − residue_index_j| ≤ s`` first, then the nearest remaining residues by CA
    distance; this contains the union "k nearest ∪ sequence neighbours".  Padding residues and self
    are never neighbours; slots that cannot be filled (short chains, padding rows) are masked out.
    Selection is done per batch element with ``torch.cdist`` + ``topk`` (no gradient: only the
    indices are used).

    Args:
        ca: ``(B, L, 3)`` CA coordinates (any common scale).
        mask: bool ``(B, L)``.
        residue_index: long ``(B, L)``.
        k_neighbors, seq_neighbors: k and s above.

    Returns:
        ``(nbr, edge_mask)``: long ``(B, L, K)`` neighbour indices into L and bool ``(B, L, K)``.
    """
    batch, length, _ = ca.shape
    num_slots = min(k_neighbors + 2 * seq_neighbors, max(length - 1, 0))
    with torch.no_grad():
        dist = torch.cdist(ca, ca, compute_mode="donot_use_mm_for_euclid_dist")  # (B, L, L)
        pair_ok = mask[:, :, None] & mask[:, None, :]
        pair_ok = pair_ok & ~torch.eye(length, dtype=torch.bool, device=ca.device)[None]
        seq_sep = (residue_index[:, :, None] - residue_index[:, None, :]).abs()
        key = torch.where(pair_ok & (seq_sep <= seq_neighbors), torch.full_like(dist, -1.0), dist)
        key = torch.where(pair_ok, key, torch.full_like(dist, float("inf")))
        key, nbr = torch.topk(key, num_slots, dim=-1, largest=False, sorted=False)
        edge_mask = torch.isfinite(key)  # False: padding / empty slot of a short chain
    return nbr, edge_mask


def residue_invariants(local: Tensor) -> Tensor:
    """Rotation invariants of a residue's local vectors ``(B, L, 3, 3)`` (N−CA, C−CA, O−CA) → ``(B, L, 7)``.

    The 6 dot products ``u_a · u_b`` (a ≤ b) and the triple product ``(N−CA) · ((C−CA) × (O−CA))`` — a
    pseudoscalar, i.e. local handedness, which is allowed as a plain "0e" input here because the
    network is SE(3)- and deliberately not E(3)-equivariant (see :mod:`proteindsm.protein.model.network`).
    """
    gram = torch.einsum("blad,blcd->blac", local, local)
    iu = torch.triu_indices(3, 3, device=local.device)
    triple = (local[:, :, 0] * torch.linalg.cross(local[:, :, 1], local[:, :, 2], dim=-1)).sum(-1, keepdim=True)
    return torch.cat([gram[:, :, iu[0], iu[1]], triple], dim=-1)
