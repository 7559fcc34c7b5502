"""A fast SE(3)-equivariant score network on backbones: invariant features in local residue frames.

Contract: the same as :class:`proteindsm.protein.model.network.BackboneScoreNet` — an
:class:`~proteindsm.protein.model.edm_model.EDMScoreModel` whose ``network`` maps the centred backbone
``x_c`` ``(B, L, 4, 3)`` (Å, N, CA, C, O), σ ``(B,)`` (Å), mask, residue index and the optional
``"ss"`` / ``"self_cond"`` inputs to the EDM raw output ``F`` ``(B, L, 4, 3)``; the wrapper turns it
into the denoiser ``D = c_skip x_c + c_out F`` and the score ``(D − x_c)/σ²``.

Why another network
-------------------
The e3nn tensor products of ``BackboneScoreNet`` run at ~700–900 residues/s (forward + backward) on
one CPU core.  Here every quantity is expressed in the residue's own frame, so all layers are plain
``Linear`` / attention on invariant features (FrameDiff / SALAD / ProteinMPNN style), which a CPU
runs several times faster per residue (``scripts/bench_train.py``, docs/benchmarks.md).

Frames and symmetry
-------------------
Residue i's frame ``R_i`` (3 × 3, columns e1, e2, e3) is built from its *noisy input* atoms by
Gram–Schmidt: ``e1 = (C − CA)/|·|``, ``e2`` = the part of ``N − CA`` orthogonal to e1, normalised,
``e3 = e1 × e2``.  Every input feature is a local coordinate ``R_iᵀ v`` of a difference vector, a
distance, or a relative rotation ``R_iᵀ R_j`` — invariant under a rotation Q of the input (``R_i →
Q R_i``) and under translation (differences / centred coordinates).  The network predicts 4 vectors
per residue in its frame, ``f_i`` ``(4, 3)``, and returns ``F_i = R_i f_i``: exactly
rotation-equivariant.  A reflection is not a rotation: ``e3 = e1 × e2`` does not flip with the
reflected atoms, so the local coordinates along e3 change sign and the output is not the mirror image
— the network can tell a right- from a left-handed helix (tests check both).

Scales: coordinates enter multiplied by ``σ_d c_in`` (Å at small σ, compressed at large σ, as in
``BackboneScoreNet``) and then divided by 10 Å for unit scale; the CA position relative to the chain
centroid enters as ``c_in · R_iᵀ CA_i`` (unit scale, where the residue sits in the globule).
:func:`geometry_deviations` adds the covalent bonds and angles of the residue and its two peptide
bonds as deviations from ideal *in units of σ*: at σ = 0.02 Å the denoiser must see 0.02 Å changes
of 1.5 Å bonds, which Å-scale inputs bury in the fourth digit.

Graph: the ``seq_neighbors`` sequence neighbours on each side plus the ``k_neighbors`` nearest other
residues by CA distance (:func:`proteindsm.protein.model.graph_inputs.knn_sequence_graph`), and with
``pair_conditioning`` the nearest residues of the strands that the residue's strand pairs with, and
with ``sc_neighbors`` the nearest residues *in the self-conditioning estimate* x̂₀ that are not already
neighbours (at large σ the noisy chain's kNN are nearly random, while x̂₀ already places sheet partners
and packed helices side by side: these slots let a residue attend to where the model thinks its
partners are); K slots per residue.  Edge features (computed once): the neighbour's four atoms in frame i, the relative
rotation, Gaussian RBFs of the 16 atom–atom distances (hydrogen-bond N···O, peptide C–N …), the
clipped relative sequence position, secondary-structure pair tokens, strand-pairing tokens and the
self-conditioning estimate's own relative geometry.

Layers (pre-norm residual, ``num_layers`` times): multi-head attention over the K slots with an
edge bias per head; each head also averages the edge features with its attention weights (the
"edge value" path, aggregated before projection so that the per-edge cost is O(K·heads·E), not
O(K·E·H)); a chain-mean "global" token; a SiLU feed-forward block.  Readout: LayerNorm → Linear to
12 numbers = ``f_i``, zero-initialised (``F = 0`` at initialisation: ``D = c_skip x``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from proteindsm.errors import InputError
from proteindsm.protein.data.secondary_structure import NUM_SS_TOKENS, SS_UNKNOWN
from proteindsm.protein.data.strand_pairing import NUM_PAIR_TOKENS, PAIR_ADJACENT, PAIR_UNKNOWN
from proteindsm.protein.model.edm_model import EDMScoreModel
from proteindsm.protein.model.graph_inputs import (NUM_SIGMA_FREQUENCIES, RBF_MAX_DISTANCE, knn_sequence_graph,
                                                   sigma_fourier_features, sigma_frequencies)
from proteindsm.protein.model.frame_features import (NUM_GEOMETRY_DEVIATIONS, gather_neighbours, geometry_deviations,
                                                     local_frames, partner_slots, rbf)
from proteindsm.protein.structure.domain import CA_INDEX

__all__ = ["FrameScoreNet"]

_PAIR_RBF_MAX = 12.0  # Å, last RBF centre of the 16 atom-pair distances
_UNIT = 10.0          # Å: local coordinates are divided by this for unit scale
_EPS = 1e-8


class _AttentionBlock(torch.nn.Module):
    """Pre-norm kNN attention with edge bias and edge values, a global token and a feed-forward block.

    ``h`` ``(B, L, H)``, ``edge`` ``(B, L, K, E)``, ``nbr_flat`` ``(B·L·K,)``, ``bias_mask`` ``(B, L, K)``
    (0 for real edges, −inf-like for masked ones), ``mask_f`` ``(B, L, 1)`` float → ``(B, L, H)``.
    """

    def __init__(self, node_dim: int, edge_dim: int, num_heads: int, attn_dim: int, ffn_mult: int = 2) -> None:
        super().__init__()
        if attn_dim % num_heads:
            raise InputError(f"FrameScoreNet: attn_dim ({attn_dim}) must be divisible by num_heads ({num_heads})")
        self.num_heads = num_heads
        self.attn_dim = attn_dim
        self.head_dim = attn_dim // num_heads
        self.norm = torch.nn.LayerNorm(node_dim)
        self.qkv = torch.nn.Linear(node_dim, 3 * attn_dim)
        self.edge_bias = torch.nn.Linear(edge_dim, num_heads, bias=False)
        self.out = torch.nn.Linear(attn_dim + num_heads * edge_dim, node_dim)
        self.glob = torch.nn.Linear(node_dim, node_dim)
        self.ffn_norm = torch.nn.LayerNorm(node_dim)
        self.ffn = torch.nn.Sequential(torch.nn.Linear(node_dim, ffn_mult * node_dim), torch.nn.SiLU(),
                                       torch.nn.Linear(ffn_mult * node_dim, node_dim))

    def forward(self, h: Tensor, edge: Tensor, nbr_flat: Tensor, bias_mask: Tensor, mask_f: Tensor) -> Tensor:
        batch, length, _ = h.shape
        nh, dh, width = self.num_heads, self.head_dim, self.attn_dim
        a = self.norm(h)
        qkv = self.qkv(a)
        q = qkv[..., :width]
        kv = gather_neighbours(qkv[..., width:], nbr_flat, batch, length)  # (B, L, K, 2A)
        k_j, v_j = kv[..., :width], kv[..., width:]
        num_slots = k_j.shape[2]
        logits = (q.reshape(batch, length, 1, nh, dh) * k_j.reshape(batch, length, num_slots, nh, dh)).sum(-1)
        logits = logits / math.sqrt(dh) + self.edge_bias(edge) + bias_mask[..., None]
        w = torch.softmax(logits, dim=2) * (bias_mask[..., None] == 0)  # (B, L, K, nh); 0 on masked slots
        node_msg = (w[..., None] * v_j.reshape(batch, length, num_slots, nh, dh)).sum(2).reshape(batch, length, width)
        edge_msg = torch.einsum("blkh,blke->blhe", w, edge).reshape(batch, length, -1)
        h = h + self.out(torch.cat([node_msg, edge_msg], dim=-1))
        # global token: the chain mean over real residues
        mean = (h * mask_f).sum(1, keepdim=True) / mask_f.sum(1, keepdim=True).clamp(min=1.0)
        h = h + self.glob(mean)
        return h + self.ffn(self.ffn_norm(h))


class FrameScoreNet(EDMScoreModel):
    """Score network on N, CA, C, O backbones built from invariant features in local residue frames.

    See the module docstring for the frames, symmetry argument, features and layers.

    Args:
        node_dim: width H of the residue features.
        edge_dim: width E of the edge features (computed once, shared by all layers).
        num_layers: attention blocks.
        num_heads: attention heads.
        attn_dim: total width of the attention queries, keys and values (divisible by ``num_heads``).
        k_neighbors: nearest (non-sequence) neighbours per residue, by CA distance.
        seq_neighbors: sequence neighbours on each side.
        max_relative_position: clip of the relative sequence position embedding.
        num_rbf: Gaussian RBFs of the effective CA–CA distance (0–20 Å).
        num_pair_rbf: Gaussian RBFs of each of the 16 atom-pair distances (0–12 Å).
        sigma_data: σ_d in Å of the EDM preconditioning.
        ss_conditioning: accept ``cond["ss"]`` (long ``(B, L)`` tokens L/H/E/unknown): a node
            embedding and a pair embedding on every edge; absent = all unknown.
        pair_conditioning: accept ``cond["ss_pairs"]`` (long ``(B, L, L)``, which strands pair:
            :mod:`proteindsm.protein.data.strand_pairing`): an embedding of the token on every edge,
            and ``partner_neighbors`` extra edge slots per residue to the nearest residues (by CA
            distance) of the strands its strand pairs with, so that paired strands see each other
            at any σ; absent = all unknown.
        partner_neighbors: those extra slots (with ``pair_conditioning``).
        self_conditioning: accept ``cond["self_cond"]`` (``(B, L, 4, 3)`` Å, the previous denoised
            estimate; absent = zeros, "no estimate"): its atoms in the noisy residue's frame (node)
            and its own relative geometry on every edge.
        sc_neighbors: extra edge slots per residue (with ``self_conditioning``) to the nearest residues
            by CA distance in the self-conditioning estimate that are not sequence neighbours and not
            already in the residue's other slots; masked out for rows without an estimate, so without
            one the network computes exactly what it computes with ``sc_neighbors=0``.
        ideal_geometry: idealise the denoised residues at small σ (:class:`EDMScoreModel`).
        ideal_sigma: σ_i in Å of that gate.

    All arguments are kept in ``self.config`` so ``FrameScoreNet(**config)`` rebuilds the model.
    """

    ADDITIVE_OPTIONS = ("ideal_geometry", "sc_neighbors")
    FREE_OPTIONS = ("ideal_geometry", "ideal_sigma")

    def __init__(
        self,
        *,
        node_dim: int = 128,
        edge_dim: int = 64,
        num_layers: int = 6,
        num_heads: int = 8,
        attn_dim: int = 64,
        k_neighbors: int = 24,
        seq_neighbors: int = 3,
        max_relative_position: int = 32,
        num_rbf: int = 16,
        num_pair_rbf: int = 8,
        sigma_data: float = 10.0,
        ss_conditioning: bool = True,
        pair_conditioning: bool = False,
        partner_neighbors: int = 4,
        self_conditioning: bool = True,
        sc_neighbors: int = 0,
        ideal_geometry: bool = False,
        ideal_sigma: float = 0.1,
    ) -> None:
        super().__init__()
        for name, value in (("node_dim", node_dim), ("edge_dim", edge_dim), ("num_layers", num_layers),
                            ("num_heads", num_heads), ("num_rbf", num_rbf), ("num_pair_rbf", num_pair_rbf)):
            if int(value) < 1:
                raise InputError(f"FrameScoreNet: {name} must be a positive integer, got {value!r}")
        if int(k_neighbors) < 0 or int(seq_neighbors) < 0 or int(max_relative_position) < 0:
            raise InputError("FrameScoreNet: k_neighbors, seq_neighbors and max_relative_position must be >= 0")
        if int(sc_neighbors) < 0 or (int(sc_neighbors) > 0 and not self_conditioning):
            raise InputError("FrameScoreNet: sc_neighbors must be >= 0, and > 0 only with self_conditioning=true")
        if int(k_neighbors) + int(seq_neighbors) < 1:
            raise InputError("FrameScoreNet: k_neighbors + seq_neighbors must be >= 1 (no edges otherwise)")
        if not float(sigma_data) > 0 or not float(ideal_sigma) > 0:
            raise InputError("FrameScoreNet: sigma_data and ideal_sigma must be > 0 Å")
        self.config: dict[str, Any] = dict(
            node_dim=int(node_dim), edge_dim=int(edge_dim), num_layers=int(num_layers), num_heads=int(num_heads),
            attn_dim=int(attn_dim), k_neighbors=int(k_neighbors), seq_neighbors=int(seq_neighbors),
            max_relative_position=int(max_relative_position), num_rbf=int(num_rbf), num_pair_rbf=int(num_pair_rbf),
            sigma_data=float(sigma_data), ss_conditioning=bool(ss_conditioning),
            pair_conditioning=bool(pair_conditioning), partner_neighbors=int(partner_neighbors),
            self_conditioning=bool(self_conditioning), sc_neighbors=int(sc_neighbors),
            ideal_geometry=bool(ideal_geometry),
            ideal_sigma=float(ideal_sigma),
        )
        self.sigma_data = float(sigma_data)
        self.ideal_geometry = bool(ideal_geometry)
        self.ideal_sigma = float(ideal_sigma)
        self.ss_conditioning = bool(ss_conditioning)
        self.pair_conditioning = bool(pair_conditioning)
        self.partner_neighbors = int(partner_neighbors) if self.pair_conditioning else 0
        if self.pair_conditioning and self.partner_neighbors < 1:
            raise InputError("FrameScoreNet: partner_neighbors must be >= 1 with pair_conditioning")
        self.self_conditioning = bool(self_conditioning)
        self.sc_neighbors = int(sc_neighbors)
        self.k_neighbors, self.seq_neighbors = int(k_neighbors), int(seq_neighbors)
        self.max_relative_position = int(max_relative_position)
        H, E = int(node_dim), int(edge_dim)

        self.register_buffer("sigma_freqs", sigma_frequencies(), persistent=False)
        self.register_buffer("rbf_centers", torch.linspace(0.0, RBF_MAX_DISTANCE, int(num_rbf)), persistent=False)
        self.rbf_width = RBF_MAX_DISTANCE / max(int(num_rbf) - 1, 1)
        self.register_buffer("pair_rbf_centers", torch.linspace(0.0, _PAIR_RBF_MAX, int(num_pair_rbf)),
                             persistent=False)
        self.pair_rbf_width = _PAIR_RBF_MAX / max(int(num_pair_rbf) - 1, 1)

        # node inputs: σ features (16) + N, C, O in the frame (9) + centroid position in the frame (3) + |·| (1)
        # + covalent geometry deviations in units of σ (15)
        node_in = 2 * NUM_SIGMA_FREQUENCIES + 13 + NUM_GEOMETRY_DEVIATIONS
        # edge inputs: 4 atoms of j in frame i (12) + R_iᵀR_j (9) + CA–CA RBF + 16 atom-pair distances × RBFs
        edge_in = 21 + int(num_rbf) + 16 * int(num_pair_rbf)
        self.node_mlp = torch.nn.Sequential(torch.nn.Linear(node_in, H), torch.nn.SiLU(), torch.nn.Linear(H, H))
        self.edge_mlp = torch.nn.Sequential(torch.nn.Linear(edge_in, E), torch.nn.SiLU(), torch.nn.Linear(E, E))
        self.edge_relpos = torch.nn.Embedding(2 * self.max_relative_position + 2, E)  # last index: other chain / far
        self.edge_sigma = torch.nn.Linear(2 * NUM_SIGMA_FREQUENCIES, E)
        self.edge_norm = torch.nn.LayerNorm(E)
        if self.ss_conditioning:
            self.ss_node = torch.nn.Embedding(NUM_SS_TOKENS, H)
            self.ss_edge = torch.nn.Embedding(NUM_SS_TOKENS * NUM_SS_TOKENS, E)
        if self.pair_conditioning:
            self.pair_edge = torch.nn.Embedding(NUM_PAIR_TOKENS, E)
        if self.self_conditioning:
            # node: the estimate's 4 atoms relative to the noisy CA, in the noisy frame (12) + flag (1)
            self.sc_node = torch.nn.Linear(13, H)
            # edge: the estimate's j atoms in the estimate's frame i (12) + its relative rotation (9) + CA–CA RBF
            self.sc_edge = torch.nn.Linear(21 + int(num_rbf), E)
        self.blocks = torch.nn.ModuleList(
            [_AttentionBlock(H, E, int(num_heads), int(attn_dim)) for _ in range(int(num_layers))])
        self.readout_norm = torch.nn.LayerNorm(H)
        self.readout = torch.nn.Linear(H, 12)
        torch.nn.init.zeros_(self.readout.weight)
        torch.nn.init.zeros_(self.readout.bias)

    def new_input_keys(self) -> list[str]:
        """No input of this network is optional in its checkpoints (used by warm starts)."""
        return []

    # ------------------------------------------------------------------ features
    def _edge_geometry(self, xs: Tensor, frames: Tensor, nbr_flat: Tensor, pair_rbf: bool) -> Tensor:
        """Invariant geometry of every edge i → j of the scaled backbone ``xs`` ``(B, L, 4, 3)`` (Å-like)
        with frames ``(B, L, 3, 3)``: ``(B, L, K, 21 + num_rbf [+ 16·num_pair_rbf])``."""
        batch, length = xs.shape[:2]
        ca = xs[:, :, CA_INDEX]
        xj = gather_neighbours(xs, nbr_flat, batch, length)  # (B, L, K, 4, 3)
        rj = gather_neighbours(frames, nbr_flat, batch, length)  # (B, L, K, 3, 3)
        diff = xj - ca[:, :, None, None, :]
        local = torch.einsum("blkad,bldc->blkac", diff, frames).flatten(3) / _UNIT  # (B, L, K, 12)
        rel_rot = torch.einsum("bldc,blkde->blkce", frames, rj).flatten(3)  # R_iᵀ R_j (B, L, K, 9)
        d_ca = torch.sqrt((diff[:, :, :, CA_INDEX] ** 2).sum(-1) + _EPS)
        feats = [local, rel_rot, rbf(d_ca, self.rbf_centers.to(xs.dtype), self.rbf_width)]
        if pair_rbf:
            pd = xj[:, :, :, :, None, :] - xs[:, :, None, None, :, :]  # (B, L, K, 4 (j), 4 (i), 3)
            d = torch.sqrt((pd * pd).sum(-1) + _EPS).flatten(3)  # (B, L, K, 16)
            feats.append(rbf(d, self.pair_rbf_centers.to(xs.dtype), self.pair_rbf_width).flatten(3))
        return torch.cat(feats, dim=-1)

    # ------------------------------------------------------------------ forward
    def network(self, x_c: Tensor, sigma: Tensor, mask: Tensor, res_idx: Tensor, cond: dict | None = None) -> Tensor:
        """F: centred ``(B, L, 4, 3)`` coords (0 at padding) → ``(B, L, 4, 3)`` (0 at padding).

        The geometric inputs (frames, local coordinates, distances) are computed in float32 even
        under bf16 autocast (``train.precision=bf16``): at σ = 0.02 Å they carry 0.1 % differences
        of Å-scale numbers, below bf16's resolution; the layers then run under the autocast."""
        cond = cond or {}
        batch, length = x_c.shape[:2]
        dtype = x_c.dtype
        mask_f = mask[..., None].to(dtype)
        ss = None
        if self.ss_conditioning:
            ss = cond.get("ss")
            if ss is None:
                ss = torch.full((batch, length), SS_UNKNOWN, dtype=torch.long, device=x_c.device)
            ss = torch.where(mask, ss.clamp(0, NUM_SS_TOKENS - 1), torch.full_like(ss, SS_UNKNOWN))
        # strand pairs: absent means all unknown — then no partner slots exist, and every edge gets the
        # unknown token's embedding without an (L, L) token matrix (the same result, less work)
        pairs = cond.get("ss_pairs") if self.pair_conditioning else None
        if pairs is not None:
            pair_ok = mask[:, :, None] & mask[:, None, :]
            pairs = torch.where(pair_ok, pairs.clamp(0, NUM_PAIR_TOKENS - 1), torch.full_like(pairs, PAIR_UNKNOWN))
        sc = cond.get("self_cond") if self.self_conditioning else None

        geo = torch.float64 if dtype == torch.float64 else torch.float32
        with torch.autocast(device_type=x_c.device.type, enabled=False):
            g = self._geometry(x_c.to(geo), sigma.to(geo), mask, res_idx, None if sc is None else sc.to(geo), pairs)
        g = {k: v.to(dtype) if torch.is_tensor(v) and v.is_floating_point() else v for k, v in g.items()}
        frames = g["frames"]

        h = self.node_mlp(g["node_in"])
        if ss is not None:
            h = h + self.ss_node(ss)
        if self.self_conditioning:
            h = h + self.sc_node(g["sc_node"]) * g["has_sc"][:, None, None]
        if g["nbr"] is None:  # a single residue: no edges
            f = self.readout(self.readout_norm(h)).reshape(batch, length, 4, 3)
            return torch.einsum("bldc,blac->blad", frames, f.to(dtype)) * mask_f[..., None]
        nbr, nbr_flat = g["nbr"], g["nbr_flat"]
        edge = self.edge_mlp(g["edge_geo"]) + self.edge_relpos(g["rel"]) + self.edge_sigma(g["s_feat"])[:, None, None, :]
        if ss is not None:
            ss_j = gather_neighbours(ss[..., None], nbr_flat, batch, length)[..., 0]
            edge = edge + self.ss_edge(ss[:, :, None] * NUM_SS_TOKENS + ss_j)
        if pairs is not None:
            edge = edge + self.pair_edge(torch.gather(pairs, 2, nbr))
        elif self.pair_conditioning:
            edge = edge + self.pair_edge.weight[PAIR_UNKNOWN]
        if self.self_conditioning:
            edge = edge + self.sc_edge(g["sc_geo"]) * g["has_sc"][:, None, None, None]
        edge = self.edge_norm(edge)
        bias_mask = torch.where(g["edge_mask"], torch.zeros((), dtype=dtype, device=x_c.device),
                                torch.full((), -1e9, dtype=dtype, device=x_c.device))
        for block in self.blocks:
            h = block(h, edge, nbr_flat, bias_mask, mask_f)
        f = self.readout(self.readout_norm(h)).reshape(batch, length, 4, 3).to(dtype)
        return torch.einsum("bldc,blac->blad", frames, f) * mask_f[..., None]

    def _estimate_slots(self, sc_ca: Tensor, mask: Tensor, res_idx: Tensor, has_sc: Tensor, nbr: Tensor,
                        edge_mask: Tensor) -> tuple[Tensor, Tensor]:
        """The ``sc_neighbors`` slots: per residue the nearest residues by CA distance in the
        self-conditioning estimate ``sc_ca`` ``(B, L, 3)`` among those that are real, not itself, more
        than ``seq_neighbors`` apart in sequence and not already in ``nbr`` ``(B, L, K)`` (where
        ``edge_mask``); all masked for rows without an estimate (``has_sc`` bool ``(B,)``).
        Returns long / bool ``(B, L, sc_neighbors)``."""
        length = sc_ca.shape[1]
        with torch.no_grad():
            taken = torch.zeros(mask.shape + (length,), dtype=torch.int32, device=mask.device)
            taken = taken.scatter_add_(2, nbr, edge_mask.to(torch.int32)) > 0   # masked slots add 0
            seq_sep = (res_idx[:, :, None] - res_idx[:, None, :]).abs()
            allowed = (mask[:, :, None] & mask[:, None, :] & (seq_sep > self.seq_neighbors) & ~taken
                       & has_sc[:, None, None])
        return partner_slots(sc_ca, allowed, self.sc_neighbors)

    def _geometry(self, x_c: Tensor, sigma: Tensor, mask: Tensor, res_idx: Tensor, sc: Tensor | None,
                  pairs: Tensor | None) -> dict[str, Any]:
        """The invariant inputs of :meth:`network` (float32 or float64, no parameters): frames, node
        inputs, the graph (``nbr`` ``(B, L, K)`` / flat / edge mask; None without edges), edge
        geometry, relative-position indices, σ features and the self-conditioning inputs."""
        batch, length = x_c.shape[:2]
        dtype = x_c.dtype
        _, _, c_in, c_noise = self.preconditioning.coefficients(sigma)
        scale = (self.sigma_data * c_in)[:, None, None, None]
        xs = x_c * scale  # Å at small σ, compressed at large σ
        frames = local_frames(xs)  # (B, L, 3, 3); the scale does not change them
        ca = xs[:, :, CA_INDEX]
        s_feat = sigma_fourier_features(c_noise, self.sigma_freqs.to(dtype))  # (B, 16)
        atoms = torch.einsum("blad,bldc->blac", xs[:, :, [0, 2, 3]] - ca[:, :, None], frames).flatten(2) / _UNIT
        glob = torch.einsum("bld,bldc->blc", x_c[:, :, CA_INDEX] * c_in[:, None, None], frames)
        node_in = torch.cat([s_feat[:, None, :].expand(batch, length, -1), atoms, glob,
                             glob.norm(dim=-1, keepdim=True), geometry_deviations(x_c, sigma, mask, res_idx)], dim=-1)
        out: dict[str, Any] = {"frames": frames, "node_in": node_in, "s_feat": s_feat, "nbr": None}
        if self.self_conditioning:
            sc = torch.zeros_like(x_c) if sc is None else sc
            # "no estimate" is all zeros before the wrapper's centring: every atom at one point
            spread = ((sc - sc[:, :1, :1]).abs().amax(dim=(2, 3)) * mask).amax(dim=1)  # (B,)
            out["has_sc"] = (spread > 1e-6).to(dtype)
            sc_rel = torch.einsum("blad,bldc->blac", (sc - x_c[:, :, CA_INDEX, None]) * scale, frames)
            out["sc_node"] = torch.cat([sc_rel.flatten(2) / _UNIT, mask[..., None].to(dtype)], dim=-1)

        nbr, edge_mask = knn_sequence_graph(ca, mask, res_idx, self.k_neighbors, self.seq_neighbors)
        if pairs is not None:
            partner, partner_mask = partner_slots(ca, pairs == PAIR_ADJACENT, self.partner_neighbors)
            nbr, edge_mask = torch.cat([nbr, partner], dim=-1), torch.cat([edge_mask, partner_mask], dim=-1)
        if self.sc_neighbors > 0 and length > 1:
            extra, extra_mask = self._estimate_slots(sc[:, :, CA_INDEX], mask, res_idx, out["has_sc"] > 0,
                                                     nbr, edge_mask)
            nbr, edge_mask = torch.cat([nbr, extra], dim=-1), torch.cat([edge_mask, extra_mask], dim=-1)
        if nbr.shape[-1] == 0:
            return out
        offsets = (torch.arange(batch, device=x_c.device) * length)[:, None, None]
        nbr_flat = (nbr + offsets).reshape(-1)
        rel = gather_neighbours(res_idx[..., None], nbr_flat, batch, length)[..., 0] - res_idx[:, :, None]
        far = rel.abs() > self.max_relative_position
        rel = torch.where(far, torch.full_like(rel, 2 * self.max_relative_position + 1),
                          rel + self.max_relative_position)
        out.update(nbr=nbr, nbr_flat=nbr_flat, edge_mask=edge_mask, rel=rel,
                   edge_geo=self._edge_geometry(xs, frames, nbr_flat, pair_rbf=True))
        if self.self_conditioning:
            out["sc_geo"] = self._edge_geometry(sc, local_frames(sc), nbr_flat, pair_rbf=False)
        return out
