"""Plain-torch EGNN (Satorras et al. 2021) score network — a SPEED BASELINE only.

Used in benchmarks to put the cost of :class:`proteindsm.protein.model.network.BackboneScoreNet` in
context: same forward signature and EDM parametrisation (centring on the CA centroid, ``c_in`` /
``c_out`` / ``c_skip``, score projected with ``project_zero_ca_centroid``), same hidden width, layer
count and residue graph (sequence neighbours + k nearest by CA,
:func:`proteindsm.protein.model.graph_inputs.knn_sequence_graph`).

Do not train it for generation: an EGNN is built only from distances and difference vectors, so it
is E(3)-equivariant — equivariant to reflections too.  It maps a mirror image to the mirror of its
output, so it cannot prefer right-handed helices over left-handed ones (see "Chirality: SE(3), not
E(3)" in the architecture notes; the test suite checks that ``score(−x) == −score(x)`` here).

Shapes: ``x`` ``(B, L, 4, 3)`` Å (N, CA, C, O); ``sigma`` ``(B,)`` Å; ``cond`` as for
``BackboneScoreNet``; output ``(B, L, 4, 3)`` Å⁻¹.

Layer (multi-channel coordinates: each residue carries its four atoms ``X_i ∈ R^{4×3}``, in units of
``c_in`` Å)::

    m_ij = φ_e(h_i, h_j, RBF(|CA_i − CA_j| σ_d), relpos_ij, σ)        (edge MLP, width H)
    X_i^a ← X_i^a + (1/K) Σ_j (X_i^a − X_j^CA) φ_x(m_ij)^a               (a ∈ N, CA, C, O)
    h_i  ← h_i + φ_h(h_i, (1/K) Σ_j m_ij)

and ``F = X_final − X_initial``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from proteindsm.errors import InputError
from proteindsm.protein.structure.domain import CA_INDEX
from proteindsm.protein.model.edm_model import EDMScoreModel
from proteindsm.protein.model.graph_inputs import (NUM_SIGMA_FREQUENCIES, RBF_MAX_DISTANCE, knn_sequence_graph,
                                                   sigma_fourier_features, sigma_frequencies)

__all__ = ["EGNNBaseline"]



class _EGNNLayer(torch.nn.Module):
    def __init__(self, hidden: int, num_rbf: int) -> None:
        super().__init__()
        self.w_src = torch.nn.Linear(hidden, hidden)
        self.w_dst = torch.nn.Linear(hidden, hidden, bias=False)
        self.w_rbf = torch.nn.Linear(num_rbf, hidden, bias=False)
        self.edge_mlp = torch.nn.Sequential(torch.nn.SiLU(), torch.nn.Linear(hidden, hidden), torch.nn.SiLU())
        self.coord_mlp = torch.nn.Linear(hidden, 4)
        self.node_mlp = torch.nn.Sequential(
            torch.nn.Linear(2 * hidden, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, hidden)
        )

    def forward(
        self,
        h: Tensor,
        coords: Tensor,
        edge_static: Tensor,
        nbr_flat: Tensor,
        edge_mask: Tensor,
        rbf_fn: Any,
        scale: float,
    ) -> tuple[Tensor, Tensor]:
        batch, length, hidden = h.shape
        num_slots = nbr_flat.numel() // (batch * length)
        ca = coords[:, :, CA_INDEX, :]  # (B, L, 3)
        ca_j = ca.reshape(batch * length, 3).index_select(0, nbr_flat).reshape(batch, length, num_slots, 3)
        # c_in units × σ_d = effective distance (Å at low σ)
        dist = torch.sqrt(((ca[:, :, None, :] - ca_j) ** 2).sum(-1) + 1e-12) * scale
        src = self.w_src(h)[:, :, None, :]
        dst = self.w_dst(h).reshape(batch * length, hidden).index_select(0, nbr_flat)
        pre = src + dst.reshape(batch, length, num_slots, hidden) + self.w_rbf(rbf_fn(dist)) + edge_static
        m = self.edge_mlp(pre) * edge_mask[..., None]  # (B, L, K, H)
        phi = self.coord_mlp(m)  # (B, L, K, 4)
        diff = coords[:, :, None, :, :] - ca_j[:, :, :, None, :]  # (B, L, K, 4, 3)
        coords = coords + (diff * phi[..., None]).sum(dim=2) / num_slots
        h = h + self.node_mlp(torch.cat([h, m.sum(dim=2) / num_slots], dim=-1))
        return h, coords


class EGNNBaseline(EDMScoreModel):
    """E(3)-equivariant EGNN score network (speed baseline; NOT chirality-aware).

    Args:
        hidden_channels: width of node and edge features (match ``BackboneScoreNet.scalar_channels``).
        num_layers, k_neighbors, seq_neighbors, max_relative_position, num_rbf, sigma_data: as for
            ``BackboneScoreNet``.

    ``forward(x (B,L,4,3) Å, sigma (B,) Å, cond) -> score (B,L,4,3)``; arguments kept in ``self.config``.
    """

    def __init__(
        self,
        *,
        hidden_channels: int = 64,
        num_layers: int = 4,
        k_neighbors: int = 16,
        seq_neighbors: int = 2,
        max_relative_position: int = 32,
        num_rbf: int = 16,
        sigma_data: float = 10.0,
    ) -> None:
        super().__init__()
        if int(hidden_channels) < 1 or int(num_layers) < 1 or int(num_rbf) < 1:
            raise InputError("EGNNBaseline: hidden_channels, num_layers and num_rbf must be positive integers")
        if int(k_neighbors) + int(seq_neighbors) < 1 or not float(sigma_data) > 0:
            raise InputError("EGNNBaseline: need k_neighbors + seq_neighbors >= 1 and sigma_data > 0")
        self.config: dict[str, Any] = dict(
            hidden_channels=int(hidden_channels),
            num_layers=int(num_layers),
            k_neighbors=int(k_neighbors),
            seq_neighbors=int(seq_neighbors),
            max_relative_position=int(max_relative_position),
            num_rbf=int(num_rbf),
            sigma_data=float(sigma_data),
        )
        hid = int(hidden_channels)
        self.sigma_data = float(sigma_data)
        self.k_neighbors = int(k_neighbors)
        self.seq_neighbors = int(seq_neighbors)
        self.max_relative_position = int(max_relative_position)
        self.register_buffer("sigma_freqs", sigma_frequencies(), persistent=False)
        self.register_buffer("rbf_centers", torch.linspace(0.0, RBF_MAX_DISTANCE, int(num_rbf)), persistent=False)
        self.rbf_width = RBF_MAX_DISTANCE / max(int(num_rbf) - 1, 1)
        self.sigma_mlp = torch.nn.Sequential(
            torch.nn.Linear(2 * NUM_SIGMA_FREQUENCIES, hid), torch.nn.SiLU(), torch.nn.Linear(hid, hid), torch.nn.SiLU()
        )
        # Node invariants: 6 intra-residue distances + |CA − centroid|, all × c_in σ_d-ish scale.
        self.node_in = torch.nn.Linear(hid + 7, hid)
        self.edge_relpos = torch.nn.Embedding(2 * self.max_relative_position + 1, hid)
        self.edge_sigma = torch.nn.Linear(hid, hid, bias=False)
        self.layers = torch.nn.ModuleList([_EGNNLayer(hid, int(num_rbf)) for _ in range(int(num_layers))])

    def _rbf(self, dist: Tensor) -> Tensor:
        return torch.exp(-0.5 * ((dist[..., None] - self.rbf_centers.to(dist.dtype)) / self.rbf_width) ** 2)

    def network(self, x_c: Tensor, sigma: Tensor, mask: Tensor, residue_index: Tensor,
                cond: dict | None = None) -> Tensor:
        """F ``(B, L, 4, 3)`` from the centred backbone ``x_c`` ``(B, L, 4, 3)`` (see EDMScoreModel)."""
        batch, length = x_c.shape[:2]
        _, _, c_in, c_noise = self.preconditioning.coefficients(sigma)
        s_emb = self.sigma_mlp(sigma_fourier_features(c_noise, self.sigma_freqs.to(x_c.dtype)))
        coords0 = x_c * c_in[:, None, None, None]  # unit scale
        pairs = torch.cdist(x_c, x_c)  # (B, L, 4, 4) intra-residue distances
        iu = torch.triu_indices(4, 4, offset=1, device=x_c.device)
        intra = pairs[:, :, iu[0], iu[1]] * (self.sigma_data * c_in)[:, None, None]
        radial = coords0[:, :, CA_INDEX, :].norm(dim=-1, keepdim=True)
        h = self.node_in(torch.cat([s_emb[:, None, :].expand(batch, length, -1), intra, radial], dim=-1))

        nbr, edge_mask = knn_sequence_graph(
            x_c[:, :, CA_INDEX, :], mask, residue_index, self.k_neighbors, self.seq_neighbors
        )
        num_slots = nbr.shape[-1]
        if num_slots == 0:
            return torch.zeros_like(x_c)
        nbr_flat = (nbr + (torch.arange(batch, device=x_c.device) * length)[:, None, None]).reshape(-1)
        rel_pos = residue_index.reshape(-1).index_select(0, nbr_flat).reshape(batch, length, num_slots)
        rel_pos = (residue_index[:, :, None] - rel_pos).clamp(-self.max_relative_position, self.max_relative_position)
        edge_static = self.edge_relpos(rel_pos + self.max_relative_position) + self.edge_sigma(s_emb)[:, None, None, :]
        emask = edge_mask.to(x_c.dtype)

        coords = coords0
        for layer in self.layers:
            h, coords = layer(h, coords, edge_static, nbr_flat, emask, self._rbf, self.sigma_data)
        return coords - coords0
