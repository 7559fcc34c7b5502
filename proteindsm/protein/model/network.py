"""SE(3)-equivariant, chirality-aware score network on protein backbones (e3nn).

Contract
--------
``BackboneScoreNet()(x, sigma, cond) -> score`` with

* ``x``: ``(B, L, 4, 3)`` backbone coordinates in Å, atom order N, CA, C, O;
* ``sigma``: ``(B,)`` noise level in Å (a 0-d tensor or float is broadcast);
* ``cond``: ``None`` or a dict with optional ``"mask"`` bool ``(B, L)`` (True = real residue; absent →
  all real) and optional ``"residue_index"`` long ``(B, L)`` (absent → ``arange(L)``);
* returns the score ``∇_x log p_σ(x)`` ``(B, L, 4, 3)`` in Å⁻¹, exactly 0 at padding positions and
  projected with :func:`proteindsm.protein.structure.domain.project_zero_ca_centroid` (zero mean CA score over
  valid residues).  Padding positions never influence real residues (their coordinates may be any
  finite or non-finite value).

Parametrisation (EDM, Karras et al. 2022)
-----------------------------------------
``x`` is centred on the CA centroid of its valid residues (``x_c``; so the output is
translation-invariant).  With ``σ_d = sigma_data``::

    c_skip = σ_d² / (σ² + σ_d²)     c_out = σ σ_d / sqrt(σ² + σ_d²)
    c_in   = 1 / sqrt(σ² + σ_d²)    c_noise = log(σ) / 4
    D(x)   = c_skip x_c + c_out F(c_in x_c, c_noise)
    score  = (D − x_c) / σ² = −x_c / (σ² + σ_d²) + σ_d / (σ sqrt(σ² + σ_d²)) · F

The last line is the same expression with the cancellation ``c_skip − 1`` done analytically, so the
score is accurate in float32 even at σ = 0.01 Å.  :meth:`BackboneScoreNet.denoise` returns ``D``.
All four coefficients, ``D`` and the score come from the core contract
:class:`proteindsm.core.denoiser.EDMPreconditioning` (``EDMScoreModel.preconditioning``, in
:mod:`proteindsm.protein.model.edm_model`);
``edm_coefficients`` is re-exported from :mod:`proteindsm.core.denoiser`.

The network F
-------------
A NequIP-style message-passing network over residues built from e3nn tensor products (inputs computed
in :mod:`proteindsm.protein.model.graph_inputs`, layers in :mod:`proteindsm.protein.model.equivariant_layers`):

* nodes = residues; node input vectors: N−CA, C−CA, O−CA scaled by ``σ_d c_in`` (≈ Å at low σ,
  compressed at high σ) and the CA position relative to the centroid scaled by ``c_in`` (unit
  scale; tells a residue where it sits in the globule); node input scalars: an embedding of the
  sinusoidal features of ``c_noise`` and, with ``residue_invariants=True`` (off in the shipped
  checkpoint), the 6 dot products of the three local vectors and their triple product (local
  handedness);
* edges: the ``seq_neighbors`` sequence neighbours on each side (``0 < |Δresidue_index| ≤ s``)
  plus the ``k_neighbors`` nearest other residues by CA distance — a fixed ``K = k + 2s`` slots
  per residue, which contains the union "kNN ∪ sequence neighbours" (computed with
  ``torch.cdist`` + ``topk`` per batch element on the centred coordinates; padding and self are
  excluded, slots left empty in short chains are masked out);
* edge scalars (computed once, shared by all layers): Gaussian RBFs of the *effective distance*
  ``d σ_d c_in`` (= d in Å at low σ, compressed at high σ; centres over 0–20 Å), an embedding of
  the relative sequence position ``i − j`` clipped to ``±max_relative_position``, and the σ
  embedding, through a small MLP;
* edge geometry: spherical harmonics ``l ≤ lmax`` of the unit vector ``CA_j − CA_i``;
* hidden node features: ``scalar_channels x 0e + vector_channels x 1e`` (l = 2 appears in the edge
  harmonics only: l = 2 node features cost ~3x the time for little gain at this size);
* layer (pre-norm residual): per-residue equivariant norm → ``o3.Linear`` →
  ``o3.TensorProduct`` ('uvu') of the neighbour's features with the edge harmonics, with per-edge
  weights ``Linear(SiLU(edge scalars + A s_i + B s_j))`` (``s`` = the 0e features of receiver and
  sender) → masked sum over the K slots / sqrt(K) → ``o3.Linear`` + ``o3.Linear`` self interaction
  → ``nn.Gate`` (SiLU on scalars, sigmoid gates on vectors) → added to the residual stream;
* readout: equivariant norm → ``o3.Linear`` to four vectors per residue (N, CA, C, O) = F, which
  has unit scale at initialisation for any chain size.

Neighbour aggregation is a dense masked sum over the K slots of each receiving residue (receivers
are contiguous), which is what ``index_add`` over a flat edge list would compute, without the
scatter.  Cost is linear in L except the ``cdist``/``topk`` neighbour search (O(L²), negligible up
to thousands of residues).

Chirality: SE(3), not E(3)
--------------------------
Proteins are chiral (α-helices are right-handed); a score network that is also equivariant to
reflections maps a mirror image to the mirror of its output and cannot prefer one hand.  Every irrep
here is declared with **even parity** ("0e", "1e", "2e"): the spherical harmonics are computed as
those of a *pseudo*-vector (``o3.SphericalHarmonics("0e+1e+2e")`` — the same polynomials, whose
rotation behaviour is identical to the usual ``1o``/``2e`` ones), and the residue vectors enter as
``1e``.  Under proper rotations nothing changes, so the network is exactly SO(3)-equivariant (and
translation-invariant by centring).  What changes is the bookkeeping of e3nn's parity selection
rules: with true vectors declared ``1o``, e3nn keeps every pseudo-quantity (the cross product
``1o ⊗ 1o → 1e``, the triple product ``(u × v) · w``, the sign of a dihedral) away from the ``1o``
output unless another pseudo-quantity cancels its sign, which is exactly what makes such a network
E(3)-equivariant (reflection included).  With everything declared even, ``1e ⊗ 1e → 1e`` (the cross
product) and ``1e ⊗ 1e → 0e`` on a cross product (a pseudoscalar: handedness) are ordinary paths
whose results feed the gates and the vector output.  Under a reflection ``x → −x`` the true vectors
and odd-l harmonics flip sign while these products do not, so ``score(−x) ≠ −score(x)`` in
general: the network can tell a right- from a left-handed helix.  ``tests/protein/test_network.py``
checks both claims (and that a parity-respecting EGNN is reflection-equivariant).

e3nn 0.6 basis: ``o3.spherical_harmonics`` takes ``(x, y, z)`` and its ``l = 1`` output is
``sqrt(3) (x, y, z) / |r|`` in the *same* Cartesian order, and the l = 1 Wigner matrix equals the
rotation matrix (checked in the tests), so Cartesian vectors enter and leave the tensor products
without a change of basis.  (The "y, z, x" remark in e3nn's docs concerns matching Wikipedia's
table of real spherical harmonics, not the l = 1 basis.)
"""

from __future__ import annotations

from typing import Any

import torch
from e3nn import o3
from torch import Tensor

from proteindsm.core.denoiser import edm_coefficients
from proteindsm.errors import InputError
from proteindsm.protein.structure.domain import CA_INDEX
from proteindsm.protein.data.secondary_structure import NUM_SS_TOKENS, SS_UNKNOWN
from proteindsm.protein.model.edm_model import EDMScoreModel
from proteindsm.protein.model.equivariant_layers import ConvLayer, NodeNorm, drop_dead_einsums, hidden_irreps
from proteindsm.protein.model.graph_inputs import (NUM_RESIDUE_INVARIANTS, NUM_SIGMA_FREQUENCIES, RBF_MAX_DISTANCE,
                                                   knn_sequence_graph, residue_invariants, sigma_fourier_features,
                                                   sigma_frequencies)

__all__ = ["BackboneScoreNet", "edm_coefficients"]

_PAIR_RBF_MAX = 12.0  # Å, last RBF centre of the atom-pair distances (atom_pair_features)


class BackboneScoreNet(EDMScoreModel):
    """SE(3)-equivariant (not reflection-equivariant) EDM score network on N, CA, C, O backbones.

    See the module docstring for the parametrisation, graph and chirality argument.

    Args:
        scalar_channels: multiplicity of ``0e`` node features.
        vector_channels: multiplicity of ``1e`` node features.
        num_layers: interaction layers.
        k_neighbors: nearest (non-sequence) neighbours per residue, by CA distance.
        seq_neighbors: sequence neighbours on each side (``|Δresidue_index| ≤ seq_neighbors``).
        lmax: maximum degree of the edge spherical harmonics.
        max_relative_position: clip of the relative sequence position embedding.
        num_rbf: Gaussian RBFs of the effective CA–CA distance (centres 0–20 Å).
        sigma_data: σ_d in Å for the EDM preconditioning.
        residue_invariants: also feed each residue's 7 local invariants (Gram matrix of N−CA, C−CA,
            O−CA and their triple product) as node scalars.  Off in the shipped checkpoint, which was
            trained before this option existed.
        atom_pair_features: also feed, on every edge ``i → j``, the 16 effective distances between the
            backbone atoms (N, CA, C, O) of ``i`` and ``j`` (each as its value and ``num_pair_rbf``
            Gaussian RBFs over 0–12 Å), so that peptide-bond lengths, angles across the bond and
            N···O hydrogen-bond distances are direct inputs instead of something the tensor products
            must reconstruct from CA–CA geometry.  Off in the shipped checkpoint.
        num_pair_rbf: RBFs per atom-pair distance (with ``atom_pair_features``).
        ss_conditioning: accept ``cond["ss"]`` (long ``(B, L)``, tokens L/H/E/unknown of
            :mod:`proteindsm.protein.data.secondary_structure`): an embedding added to each residue's
            scalars and an embedding of the token pair (i, j) added to every edge.  Absent labels =
            all unknown.  Zero-initialised, so a model warm-started from a checkpoint without it
            starts as that checkpoint.
        self_conditioning: accept ``cond["self_cond"]`` (``(B, L, 4, 3)`` Å, the previous denoised
            estimate x̂₀; absent = zeros, "no estimate"): x̂₀'s N/C/O − CA vectors and its CA
            displacement from x (node vectors, 1e) and RBFs of x̂₀'s CA–CA distance on every edge.
            Zero-initialised like ``ss_conditioning``.
        ideal_geometry: rebuild the denoised estimate from its residue frames with ideal geometry
            at small σ (see :class:`EDMScoreModel`).  Has no parameters.
        ideal_sigma: σ_i in Å, where the ideal-geometry gate g(σ) = 1/(1 + (σ/σ_i)⁴) is 1/2.

    All arguments are stored in ``self.config`` so ``BackboneScoreNet(**config)`` rebuilds it.
    """

    def __init__(
        self,
        *,
        scalar_channels: int = 64,
        vector_channels: int = 16,
        num_layers: int = 4,
        k_neighbors: int = 16,
        seq_neighbors: int = 2,
        lmax: int = 2,
        max_relative_position: int = 32,
        num_rbf: int = 16,
        sigma_data: float = 10.0,
        residue_invariants: bool = False,
        atom_pair_features: bool = False,
        num_pair_rbf: int = 8,
        ss_conditioning: bool = False,
        self_conditioning: bool = False,
        ideal_geometry: bool = False,
        ideal_sigma: float = 0.1,
    ) -> None:
        super().__init__()
        self.ss_conditioning = bool(ss_conditioning)
        self.self_conditioning = bool(self_conditioning)
        self.ideal_geometry = bool(ideal_geometry)
        self.ideal_sigma = float(ideal_sigma)
        if not self.ideal_sigma > 0:
            raise InputError(f"BackboneScoreNet: ideal_sigma must be > 0 Å, got {ideal_sigma!r}")
        self.residue_invariants = bool(residue_invariants)
        self.atom_pair_features = bool(atom_pair_features)
        for name, value in (
            ("scalar_channels", scalar_channels),
            ("vector_channels", vector_channels),
            ("num_layers", num_layers),
            ("num_rbf", num_rbf),
            ("num_pair_rbf", num_pair_rbf),
        ):
            if int(value) < 1:
                raise InputError(f"BackboneScoreNet: {name} must be a positive integer, got {value!r}")
        if int(k_neighbors) < 0 or int(seq_neighbors) < 0 or int(max_relative_position) < 0:
            raise InputError(
                "BackboneScoreNet: k_neighbors, seq_neighbors and max_relative_position must be >= 0, got "
                f"{k_neighbors!r}, {seq_neighbors!r}, {max_relative_position!r}"
            )
        if int(k_neighbors) + int(seq_neighbors) < 1:
            raise InputError("BackboneScoreNet: k_neighbors + seq_neighbors must be >= 1 (no edges otherwise)")
        if int(lmax) < 1:
            raise InputError(f"BackboneScoreNet: lmax must be >= 1, got {lmax!r}")
        if not float(sigma_data) > 0:
            raise InputError(f"BackboneScoreNet: sigma_data must be > 0 Å, got {sigma_data!r}")

        self.config: dict[str, Any] = dict(
            scalar_channels=int(scalar_channels),
            vector_channels=int(vector_channels),
            num_layers=int(num_layers),
            k_neighbors=int(k_neighbors),
            seq_neighbors=int(seq_neighbors),
            lmax=int(lmax),
            max_relative_position=int(max_relative_position),
            num_rbf=int(num_rbf),
            sigma_data=float(sigma_data),
            residue_invariants=bool(residue_invariants),
            atom_pair_features=bool(atom_pair_features),
            num_pair_rbf=int(num_pair_rbf),
            ss_conditioning=bool(ss_conditioning),
            self_conditioning=bool(self_conditioning),
            ideal_geometry=bool(ideal_geometry),
            ideal_sigma=float(ideal_sigma),
        )
        self.sigma_data = float(sigma_data)
        self.k_neighbors = int(k_neighbors)
        self.seq_neighbors = int(seq_neighbors)
        self.max_relative_position = int(max_relative_position)
        self.num_slots = self.k_neighbors + 2 * self.seq_neighbors

        s_ch = int(scalar_channels)
        edge_dim = s_ch
        self.irreps_hidden = hidden_irreps(s_ch, int(vector_channels), int(lmax))
        self.irreps_sh = o3.Irreps([(1, (l, 1)) for l in range(int(lmax) + 1)])  # 0e + 1e + 2e ...
        self.spherical_harmonics = o3.SphericalHarmonics(self.irreps_sh, normalize=True, normalization="component")

        # σ embedding: sinusoidal(c_noise) → MLP.
        self.register_buffer(
            "sigma_freqs", sigma_frequencies(), persistent=False
        )
        self.sigma_mlp = torch.nn.Sequential(
            torch.nn.Linear(2 * NUM_SIGMA_FREQUENCIES, s_ch), torch.nn.SiLU(), torch.nn.Linear(s_ch, s_ch), torch.nn.SiLU()
        )

        # Node embedding: σ embedding + 7 residue invariants (0e) and 4 input vectors (1e) → hidden irreps.
        n_inv = NUM_RESIDUE_INVARIANTS if self.residue_invariants else 0
        self.irreps_node_in = o3.Irreps(f"{s_ch + n_inv}x0e + 4x1e")
        self.node_embed = o3.Linear(self.irreps_node_in, self.irreps_hidden)

        # Edge scalars: RBF(effective distance) + relpos embedding + σ embedding → 2-layer MLP.
        self.register_buffer("rbf_centers", torch.linspace(0.0, RBF_MAX_DISTANCE, int(num_rbf)), persistent=False)
        self.rbf_width = RBF_MAX_DISTANCE / max(int(num_rbf) - 1, 1)
        self.edge_rbf = torch.nn.Linear(int(num_rbf), edge_dim)
        self.edge_relpos = torch.nn.Embedding(2 * self.max_relative_position + 1, edge_dim)
        if self.atom_pair_features:
            self.register_buffer("pair_rbf_centers", torch.linspace(0.0, _PAIR_RBF_MAX, int(num_pair_rbf)),
                                 persistent=False)
            self.pair_rbf_width = _PAIR_RBF_MAX / max(int(num_pair_rbf) - 1, 1)
            self.edge_pairs = torch.nn.Linear(16 * (1 + int(num_pair_rbf)), edge_dim)
        self.edge_sigma = torch.nn.Linear(s_ch, edge_dim, bias=False)
        self.edge_mlp = torch.nn.Sequential(torch.nn.SiLU(), torch.nn.Linear(edge_dim, edge_dim))

        self.layers = torch.nn.ModuleList(
            [ConvLayer(self.irreps_hidden, self.irreps_sh, edge_dim, self.num_slots) for _ in range(int(num_layers))]
        )
        if self.ss_conditioning:
            self.ss_node = torch.nn.Embedding(NUM_SS_TOKENS, s_ch)
            self.ss_edge = torch.nn.Embedding(NUM_SS_TOKENS * NUM_SS_TOKENS, edge_dim)
            torch.nn.init.zeros_(self.ss_node.weight)
            torch.nn.init.zeros_(self.ss_edge.weight)
        if self.self_conditioning:
            self.sc_node = o3.Linear(o3.Irreps("4x1e"), self.irreps_hidden)
            self.sc_edge = torch.nn.Linear(int(num_rbf), edge_dim, bias=False)
            with torch.no_grad():
                self.sc_node.weight.zero_()
                self.sc_edge.weight.zero_()
        self.readout_norm = NodeNorm(s_ch, int(vector_channels))
        self.readout = o3.Linear(self.irreps_hidden, o3.Irreps("4x1e"))
        drop_dead_einsums(self)

    #: Options that add zero-initialised inputs (or no parameters): a checkpoint trained without
    #: them warm-starts a model with them (``proteindsm train init_from=...``).
    ADDITIVE_OPTIONS = ("ss_conditioning", "self_conditioning", "ideal_geometry")
    #: Options without parameters: they may take any value in a warm start.
    FREE_OPTIONS = ("ideal_geometry", "ideal_sigma")

    def new_input_keys(self) -> list[str]:
        """Names of the tensors that the additive options add (absent from older checkpoints)."""
        prefixes = tuple(p for p, on in (("ss_", self.ss_conditioning), ("sc_", self.self_conditioning)) if on)
        return [k for k in self.state_dict() if prefixes and k.startswith(prefixes)]

    # ------------------------------------------------------------------ forward
    def network(self, x_c: Tensor, sigma: Tensor, mask: Tensor, res_idx: Tensor, cond: dict | None = None) -> Tensor:
        """F(c_in x_c, c_noise): ``(B, L, 4, 3)`` centred coords (0 at padding) → ``(B, L, 4, 3)``.

        ``cond`` holds the optional ``"ss"`` / ``"self_cond"`` inputs (see :class:`EDMScoreModel`);
        they are ignored unless the matching option is on."""
        cond = cond or {}
        batch, length = x_c.shape[:2]
        dtype = x_c.dtype
        sd = self.sigma_data
        _, _, c_in, c_noise = self.preconditioning.coefficients(sigma)
        c_in_ = c_in[:, None, None]

        # σ embedding.
        s_emb = self.sigma_mlp(sigma_fourier_features(c_noise, self.sigma_freqs.to(dtype)))  # (B, S)

        # Node inputs.
        ca = x_c[:, :, CA_INDEX, :]  # (B, L, 3)
        local = (x_c[:, :, [0, 2, 3], :] - ca[:, :, None, :]) * (sd * c_in_[..., None])  # (B, L, 3, 3)
        glob = ca * c_in_  # (B, L, 3)
        vecs = torch.cat([local, glob[:, :, None, :]], dim=2).reshape(batch, length, 12)
        scalars = [s_emb[:, None, :].expand(batch, length, -1)]
        if self.residue_invariants:
            scalars.append(residue_invariants(local))
        node_in = torch.cat([*scalars, vecs], dim=-1)
        h = self.node_embed(node_in)
        ss = None
        if self.ss_conditioning:
            ss = cond.get("ss")
            if ss is None:
                ss = torch.full((batch, length), SS_UNKNOWN, dtype=torch.long, device=x_c.device)
            ss = torch.where(mask, ss.clamp(0, NUM_SS_TOKENS - 1), torch.full_like(ss, SS_UNKNOWN))
            h = h + torch.nn.functional.pad(self.ss_node(ss), (0, h.shape[-1] - self.config["scalar_channels"]))
        sc = None
        if self.self_conditioning:
            sc = cond.get("self_cond")
            sc = torch.zeros_like(x_c) if sc is None else sc
            sc_ca = sc[:, :, CA_INDEX, :]
            sc_vecs = torch.cat([(sc[:, :, [0, 2, 3], :] - sc_ca[:, :, None, :]),
                                 ((sc_ca - ca) * c_in_)[:, :, None, :]], dim=2)
            h = h + self.sc_node(sc_vecs.reshape(batch, length, 12))

        # Graph and edge features.
        nbr, edge_mask = knn_sequence_graph(ca, mask, res_idx, self.k_neighbors, self.seq_neighbors)
        num_slots = nbr.shape[-1]
        if num_slots == 0:
            return self.readout(self.readout_norm(h)).reshape(batch, length, 4, 3)
        offsets = (torch.arange(batch, device=x_c.device) * length)[:, None, None]
        nbr_flat = (nbr + offsets).reshape(-1)
        ca_flat = ca.reshape(batch * length, 3)
        rel = ca_flat.index_select(0, nbr_flat).reshape(batch, length, num_slots, 3) - ca[:, :, None, :]
        sh = self.spherical_harmonics(rel).reshape(batch * length * num_slots, -1)
        dist = torch.sqrt((rel * rel).sum(-1) + 1e-12) * (sd * c_in)[:, None, None]  # effective distance (Å)
        rbf = torch.exp(-0.5 * ((dist[..., None] - self.rbf_centers.to(dtype)) / self.rbf_width) ** 2)
        rel_pos = res_idx.reshape(-1).index_select(0, nbr_flat).reshape(batch, length, num_slots)
        rel_pos = (res_idx[:, :, None] - rel_pos).clamp(-self.max_relative_position, self.max_relative_position)
        edge = (
            self.edge_rbf(rbf)
            + self.edge_relpos(rel_pos + self.max_relative_position)
            + self.edge_sigma(s_emb)[:, None, None, :]
        )
        if self.atom_pair_features:
            edge = edge + self.edge_pairs(self._atom_pair_inputs(x_c, nbr_flat, sd * c_in))
        if ss is not None:
            ss_j = ss.reshape(-1).index_select(0, nbr_flat).reshape(batch, length, num_slots)
            edge = edge + self.ss_edge(ss[:, :, None] * NUM_SS_TOKENS + ss_j)
        if sc is not None:
            sc_ca_flat = sc_ca.reshape(batch * length, 3)
            sc_rel = sc_ca_flat.index_select(0, nbr_flat).reshape(batch, length, num_slots, 3) - sc_ca[:, :, None, :]
            sc_dist = torch.sqrt((sc_rel * sc_rel).sum(-1) + 1e-12)  # Å, the estimate's CA–CA distance
            sc_rbf = torch.exp(-0.5 * ((sc_dist[..., None] - self.rbf_centers.to(dtype)) / self.rbf_width) ** 2)
            edge = edge + self.sc_edge(sc_rbf)
        edge_feat = self.edge_mlp(edge).reshape(batch * length * num_slots, -1)
        emask = edge_mask.reshape(-1, 1).to(dtype)

        for layer in self.layers:
            h = layer(h, sh, edge_feat, nbr_flat, emask, num_slots)
        return self.readout(self.readout_norm(h)).reshape(batch, length, 4, 3)

    def _atom_pair_inputs(self, x_c: Tensor, nbr_flat: Tensor, scale: Tensor) -> Tensor:
        """Edge inputs of ``atom_pair_features``: ``(B, L, 4, 3)`` coords, flat neighbour indices
        ``(B·L·K,)``, per-chain distance scale ``σ_d c_in`` ``(B,)`` → ``(B, L, K, 16·(1 + num_pair_rbf))``.

        The 16 distances ``|X_j[a] − X_i[b]|`` (a, b ∈ N, CA, C, O) are rotation- and
        translation-invariant; each enters as ``d/10`` (value, clipped at 30 Å) and as Gaussian RBFs."""
        batch, length = x_c.shape[:2]
        other = x_c.reshape(batch * length, 4, 3).index_select(0, nbr_flat).reshape(batch, length, -1, 4, 3)
        diff = other[:, :, :, :, None, :] - x_c[:, :, None, None, :, :]  # (B, L, K, 4 (j), 4 (i), 3)
        d = torch.sqrt((diff * diff).sum(-1) + 1e-12).flatten(3) * scale[:, None, None, None]  # (B, L, K, 16)
        rbf = torch.exp(-0.5 * ((d[..., None] - self.pair_rbf_centers.to(d.dtype)) / self.pair_rbf_width) ** 2)
        return torch.cat([(d / 10.0).clamp(max=3.0), rbf.flatten(3)], dim=-1)
