"""Equivariant building blocks of :class:`proteindsm.protein.model.network.BackboneScoreNet` (e3nn).

Node features are ``S x 0e + V x 1e`` ``(B, L, S + 3 V)`` (all parity-even: the network is SE(3)-,
deliberately not E(3)-equivariant, see :mod:`proteindsm.protein.model.network`):

* :func:`hidden_irreps` — the hidden node irreps;
* :class:`NodeNorm` — per-residue equivariant normalisation;
* :class:`ConvLayer` — one NequIP-style interaction (edge tensor product, aggregation over the K
  neighbour slots, gate, residual);
* :func:`drop_dead_einsums` — prunes the discarded einsums of e3nn's generated tensor-product code
  (a speed-up with identical results).
"""

from __future__ import annotations

import math

import torch
import torch.fx
from e3nn import nn as e3nn_nn
from e3nn import o3
from torch import Tensor

__all__ = ["ConvLayer", "NodeNorm", "drop_dead_einsums", "hidden_irreps"]


def hidden_irreps(scalar_channels: int, vector_channels: int, lmax: int) -> o3.Irreps:
    """Node feature irreps: scalars and vectors (all parity-even, see :mod:`proteindsm.protein.model.network`).

    Hidden features stop at l = 1; l = 2 appears in the edge spherical harmonics (``lmax``), whose
    ``1e ⊗ 2e → 1e`` path is cheap, while l = 2 node features would roughly double the cost.
    """
    del lmax
    return o3.Irreps(f"{scalar_channels}x0e + {vector_channels}x1e")


_PURE_DEAD_TARGETS = {torch.einsum, torch.functional.einsum, torch.tensordot, torch.functional.tensordot}


def drop_dead_einsums(module: torch.nn.Module) -> None:
    """Prune discarded einsums from the fx code e3nn generates for its tensor products (in place).

    e3nn 0.6 under torch >= 2.10 runs its generated fx code eagerly (no TorchScript), and the
    ``TensorProduct`` code computes einsums whose results it discards (``einsum = ...; einsum =
    None``) — TorchScript used to prune them.  Only unused ``einsum``/``tensordot`` calls are removed
    (pure functions; a generic ``eliminate_dead_code`` is NOT safe: e3nn's ``Extract`` fills its
    outputs with in-place ``copy_`` calls that have no users).  ~10 % faster tensor products on CPU,
    identical results; modules without such code (other e3nn versions) are left alone.
    """
    for sub in module.modules():
        if not isinstance(sub, o3.TensorProduct):
            continue
        for name in ("_compiled_main_left_right", "_compiled_main_right"):
            graph_module = getattr(sub, name, None)
            if not isinstance(graph_module, torch.fx.GraphModule):
                continue
            dead = [
                node
                for node in graph_module.graph.nodes
                if node.op == "call_function" and node.target in _PURE_DEAD_TARGETS and not node.users
            ]
            for node in dead:
                graph_module.graph.erase_node(node)
            if dead:
                graph_module.recompile()


class NodeNorm(torch.nn.Module):
    """Per-residue equivariant normalisation of ``S x 0e + V x 1e`` features ``(..., S + 3 V)``.

    Scalars: layer norm (with affine).  Vectors: divided by the RMS norm of the residue's V vectors,
    times a learned per-channel gain (a rotation-invariant rescaling, so equivariance and the
    parity-even bookkeeping are untouched).  Acts on each residue separately, so padding cannot leak.
    Keeps the pre-norm residual stack at unit scale whatever the input size (e.g. long extended
    chains, whose centroid-relative positions reach ~15 in ``c_in`` units).
    """

    def __init__(self, num_scalars: int, num_vectors: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_scalars = num_scalars
        self.num_vectors = num_vectors
        self.eps = eps
        self.scalar_norm = torch.nn.LayerNorm(num_scalars, eps=eps)
        self.vector_gain = torch.nn.Parameter(torch.ones(num_vectors))

    def forward(self, h: Tensor) -> Tensor:
        scalars = self.scalar_norm(h[..., : self.num_scalars])
        vec = h[..., self.num_scalars :].unflatten(-1, (self.num_vectors, 3))
        rms = torch.sqrt((vec * vec).sum(-1).mean(-1, keepdim=True) + self.eps)  # (..., 1)
        vec = vec * (self.vector_gain / rms)[..., None]
        return torch.cat([scalars, vec.flatten(-2)], dim=-1)


class ConvLayer(torch.nn.Module):
    """One NequIP-style interaction: linear → edge tensor product → aggregate → linear → gate → residual.

    The per-edge tensor-product weights are ``Linear(SiLU(e_ij + A s_i + B s_j))`` with ``e_ij`` the
    shared edge embedding and ``s_i``, ``s_j`` the scalar (0e) features of the receiving and sending
    residue, so a message depends on the invariants of both ends, not only on their distance.

    Shapes: node features ``(B, L, irreps_hidden.dim)``; edge sh ``(E, irreps_sh.dim)`` and edge
    scalars ``(E, edge_dim)`` with ``E = B L K`` in (b, i, slot) order; neighbour flat indices
    ``(E,)``; edge mask ``(E, 1)``.
    """

    def __init__(self, irreps_hidden: o3.Irreps, irreps_sh: o3.Irreps, edge_dim: int, num_slots: int) -> None:
        super().__init__()
        num_vectors = irreps_hidden.count(o3.Irrep("1e"))
        if irreps_hidden != o3.Irreps(f"{irreps_hidden.count(o3.Irrep('0e'))}x0e + {num_vectors}x1e"):
            raise ValueError(f"ConvLayer expects hidden irreps 'Sx0e + Vx1e', got {irreps_hidden}")
        self.norm = NodeNorm(irreps_hidden.count(o3.Irrep("0e")), num_vectors)
        self.linear_in = o3.Linear(irreps_hidden, irreps_hidden)

        # 'uvu' instructions: every (hidden irrep) ⊗ (sh irrep) → output irrep present in hidden.
        allowed = {ir for _, ir in irreps_hidden}
        mid: list[tuple[int, o3.Irrep]] = []
        instructions: list[tuple[int, int, int, str, bool]] = []
        for i1, (mul, ir1) in enumerate(irreps_hidden):
            for i2, (_, ir2) in enumerate(irreps_sh):
                for ir_out in ir1 * ir2:
                    if ir_out in allowed:
                        instructions.append((i1, i2, len(mid), "uvu", True))
                        mid.append((mul, ir_out))
        irreps_mid = o3.Irreps(mid)
        irreps_mid_sorted, perm, _ = irreps_mid.sort()
        instructions = [(i1, i2, perm[i_out], mode, w) for i1, i2, i_out, mode, w in instructions]
        self.tp = o3.TensorProduct(
            irreps_hidden,
            irreps_sh,
            irreps_mid_sorted,
            instructions,
            shared_weights=False,
            internal_weights=False,
        )
        # Tensor-product weights from the edge scalars and the invariants of both end residues.
        self.num_scalars = irreps_hidden.count(o3.Irrep("0e"))
        self.edge_recv = torch.nn.Linear(self.num_scalars, edge_dim, bias=False)
        self.edge_send = torch.nn.Linear(self.num_scalars, edge_dim, bias=False)
        self.weight_net = torch.nn.Linear(edge_dim, self.tp.weight_numel)

        scalars = o3.Irreps([(mul, ir) for mul, ir in irreps_hidden if ir.l == 0])
        gated = o3.Irreps([(mul, ir) for mul, ir in irreps_hidden if ir.l > 0])
        gates = o3.Irreps(f"{gated.num_irreps}x0e")
        self.gate = e3nn_nn.Gate(
            scalars, [torch.nn.functional.silu], gates, [torch.sigmoid], gated
        )
        self.linear_out = o3.Linear(self.tp.irreps_out.simplify(), self.gate.irreps_in)
        self.self_interaction = o3.Linear(irreps_hidden, self.gate.irreps_in)
        self._msg_norm = 1.0 / math.sqrt(num_slots)

    def forward(
        self, h: Tensor, sh: Tensor, edge_feat: Tensor, nbr_flat: Tensor, edge_mask: Tensor, num_slots: int
    ) -> Tensor:
        batch, length, dim = h.shape
        hn = self.norm(h)  # pre-norm residual block
        hl = self.linear_in(hn).reshape(batch * length, dim)
        h_j = hl.index_select(0, nbr_flat)  # (E, dim)
        scalars = hn[..., : self.num_scalars]  # hidden irreps are sorted: the 0e block comes first
        recv = self.edge_recv(scalars)[:, :, None, :]  # (B, L, 1, De)
        send = self.edge_send(scalars).reshape(batch * length, -1).index_select(0, nbr_flat)
        pre = edge_feat.reshape(batch, length, num_slots, -1) + recv + send.reshape(batch, length, num_slots, -1)
        weight = self.weight_net(torch.nn.functional.silu(pre)).reshape(batch * length * num_slots, -1)
        weight = weight * edge_mask  # masked edges carry no message
        msg = self.tp(h_j, sh, weight)  # (E, mid)
        agg = msg.reshape(batch, length, num_slots, -1).sum(dim=2) * self._msg_norm
        z = self.linear_out(agg) + self.self_interaction(hn)
        return h + self.gate(z)
