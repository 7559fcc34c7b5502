"""Per-chain and pairwise quality metrics of backbones (numpy in, numpy/float out).

Backbones are ``(L, 4, 3)`` arrays in Å (atom order N, CA, C, O), numpy or torch.  The set-level
evaluation that aggregates these lives in :mod:`proteindsm.protein.analysis.evaluate`; the Ramachandran
allowed region and helix handedness in :mod:`proteindsm.protein.analysis.ramachandran`.

Definitions (all calibrated on the corpus ``backbones_pdb_nr40.npz``)
--------------------------------------------------------------------
Ideal geometry
    Engh & Huber (1991): N-CA 1.458, CA-C 1.525, C=O 1.231, C-N(+1) 1.329 Å; N-CA-C 111.2°,
    CA-C-N(+1) 116.2°, C-N(+1)-CA(+1) 121.7° (:data:`IDEAL_BOND_LENGTHS`,
    :data:`IDEAL_BOND_ANGLES`).
Clash
    a pair of backbone heavy atoms in residues ``|i - j| >= 2`` closer than: 2.2 Å for N···O and
    O···O (polar pairs: N-H···O=C hydrogen bonds at 2.8-3.0 Å are never flagged), 2.5 Å for any
    other pair, and CA···CA closer than 3.0 Å.  On 541 val + 1,000 train chains the per-chain
    minimum distances were: N···O 2.0 Å (0.1 % quantile) / 2.68 Å (median), O···O 2.0 / 3.1,
    carbon-containing pairs ≥ 2.35 Å (0.1 %), CA···CA ≥ 3.15 Å; this rule flags 0.65 % of real
    chains (a single 2.5 Å threshold for all pairs would flag 7.9 %).  This rule is also the
    steric sampling potential's (:func:`proteindsm.protein.generate.restraints.steric_clash_energy`) and is
    what :func:`clash_pair_count` applies by default.
Evaluation clash rule
    ``proteindsm evaluate`` counts a clash with one distance for every backbone atom pair
    (:data:`EVAL_CLASH_RULE`): atoms N, CA, C, O of residues ``|i - j| >= 3`` closer than 2.5 Å.
    Unlike the rule above it flags N···O contacts at 2.2-2.5 Å (over-short hydrogen bonds; real
    N-H···O=C N···O distances are ≈ 2.9 Å).  :func:`clash_pair_count` applies it when given
    ``thresholds=2.5, min_separation=3``; :func:`atom_pair_thresholds` builds rules restricted to
    some atom pairs (e.g. N···O closer than 2.6 Å).
Bond check
    :func:`bond_deviations`: ``|length - ideal|`` of every bond (N-CA, CA-C, C=O, C(i)-N(i+1));
    :func:`bond_check` reports whether all are within a tolerance and where the outliers sit
    (first / last residue: where generated chains tear).
TM-score
    TM-align (``tmtools.tm_align``) on CA atoms with a poly-glycine sequence.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from proteindsm.errors import InputError
from proteindsm.protein.structure import geometry
from proteindsm.protein.structure.backbone import (
    ANGLE_C_N_CA, ANGLE_CA_C_N, ANGLE_N_CA_C, ATOM_NAMES, BOND_C_N, BOND_C_O, BOND_CA_C, BOND_N_CA,
    CA,
)
from proteindsm.protein.structure.properties import as_backbone

__all__ = [
    "IDEAL_BOND_LENGTHS", "IDEAL_BOND_ANGLES", "CLASH_RULE", "EVAL_CLASH_RULE",
    "internal_geometry", "bond_deviations", "bond_check", "clash_thresholds", "atom_pair_thresholds",
    "clash_pair_count", "ca_pair_distances", "tm_score", "pairwise_tm_scores", "novelty_max_tm",
]

IDEAL_BOND_LENGTHS: dict[str, float] = {
    "N-CA": BOND_N_CA, "CA-C": BOND_CA_C, "C-O": BOND_C_O, "C-N": BOND_C_N}
IDEAL_BOND_ANGLES: dict[str, float] = {
    "N-CA-C": ANGLE_N_CA_C, "CA-C-N": ANGLE_CA_C_N, "C-N-CA": ANGLE_C_N_CA}

#: Clash rule (see module docstring); distances in Å.
CLASH_RULE: dict[str, float] = {
    "min_residue_separation": 2, "polar_pair_min_distance": 2.2, "other_pair_min_distance": 2.5,
    "ca_ca_min_distance": 3.0}

#: Default clash rule of ``proteindsm evaluate`` (see module docstring); distances in Å.  The
#: evaluate config (``clash.min_distance``, ``clash.min_separation``) overrides it.
EVAL_CLASH_RULE: dict[str, float] = {"min_distance": 2.5, "min_separation": 3}


# ----------------------------------------------------------------------------------------------
# internal geometry
def internal_geometry(X) -> dict[str, np.ndarray]:
    """Bond lengths (Å), bond angles (°), torsions (°) and CA(i)-CA(i+1) distances of a backbone.

    Returns a dict of float64 arrays: ``"bond:N-CA"`` ... ``"bond:C-N"`` and ``"angle:N-CA-C"`` ...
    (only defined values: ``C-N``, ``CA-C-N`` and ``C-N-CA`` have ``L - 1`` entries),
    ``"ca_ca"`` ``(L-1,)``, and ``"phi"``, ``"psi"``, ``"omega"`` ``(L,)`` with NaN where undefined.
    """
    Xt = torch.from_numpy(as_backbone(X))
    bonds = geometry.bond_lengths(Xt).numpy()
    angles = geometry.bond_angles(Xt, degrees=True).numpy()
    phi, psi, omega = (t.numpy() for t in geometry.dihedrals(Xt, degrees=True))
    out: dict[str, np.ndarray] = {}
    for k, name in enumerate(geometry.BOND_NAMES):
        v = bonds[:, k]
        out[f"bond:{name}"] = v[~np.isnan(v)]
    for k, name in enumerate(geometry.ANGLE_NAMES):
        v = angles[:, k]
        out[f"angle:{name}"] = v[~np.isnan(v)]
    cc = geometry.ca_ca_distances(Xt).numpy()
    out["ca_ca"] = cc[~np.isnan(cc)]
    out["phi"], out["psi"], out["omega"] = phi, psi, omega
    return out


def bond_deviations(X) -> np.ndarray:
    """``|bond length - ideal|`` in Å, float64 ``(L, 4)``, channels :data:`geometry.BOND_NAMES`
    (N-CA, CA-C, C=O, C(i)-N(i+1)); the peptide channel of the last residue is NaN."""
    bonds = geometry.bond_lengths(torch.from_numpy(as_backbone(X))).numpy()
    ideal = np.array([IDEAL_BOND_LENGTHS[k] for k in geometry.BOND_NAMES])
    return np.abs(bonds - ideal)


def _chain_end_bonds(L: int) -> np.ndarray:
    """bool ``(L, 4)``: bonds with an atom in the first or the last residue (the three bonds inside
    each end residue, and the peptide bonds C(0)-N(1) and C(L-2)-N(L-1))."""
    end = np.zeros((L, 4), dtype=bool)
    end[0], end[-1, :3] = True, True
    if L >= 2:
        end[L - 2, 3] = True
    return end


def bond_check(X, tolerance: float = 0.1) -> dict:
    """Are all bonds of a backbone within ``tolerance`` Å of ideal, and where are the outliers?

    Returns a dict: ``all_within`` (bool: every defined bond has ``|length - ideal| <= tolerance``),
    ``n_bonds``, ``n_outliers`` (bonds beyond it), ``n_outliers_at_ends`` (of those, bonds with an
    atom in the first or last residue), ``n_bonds_at_ends``, ``max_deviation_A``, and the worst
    bond: ``worst_residue`` (0-based residue that carries it), ``worst_bond`` (its
    :data:`geometry.BOND_NAMES` name), ``worst_at_end`` (bool).
    """
    if not tolerance >= 0:
        raise InputError(f"bond_check: tolerance must be >= 0 Å, got {tolerance}")
    dev = bond_deviations(X)
    defined = ~np.isnan(dev)
    d = np.where(defined, dev, -1.0)
    outlier = d > tolerance
    end = _chain_end_bonds(dev.shape[0]) & defined
    i, k = np.unravel_index(int(np.argmax(d)), d.shape)
    return {"all_within": not outlier.any(), "n_bonds": int(defined.sum()),
            "n_outliers": int(outlier.sum()), "n_outliers_at_ends": int((outlier & end).sum()),
            "n_bonds_at_ends": int(end.sum()), "max_deviation_A": float(d[i, k]),
            "worst_residue": int(i), "worst_bond": geometry.BOND_NAMES[k],
            "worst_at_end": bool(end[i, k])}


# ----------------------------------------------------------------------------------------------
# clashes and distances
def clash_thresholds() -> np.ndarray:
    """(4, 4) minimum allowed distance between atom types (N, CA, C, O), Å."""
    t = np.full((4, 4), CLASH_RULE["other_pair_min_distance"])
    polar = CLASH_RULE["polar_pair_min_distance"]
    t[0, 3] = t[3, 0] = t[3, 3] = polar
    t[1, 1] = CLASH_RULE["ca_ca_min_distance"]
    return t


def atom_pair_thresholds(distance: float, pairs: Sequence[tuple[str, str]] | None = None
                         ) -> np.ndarray:
    """(4, 4) minimum distances (Å) for :func:`clash_pair_count`: ``distance`` for the atom-type
    ``pairs`` (names from N, CA, C, O, either order; None: every pair) and 0 (never counted)
    elsewhere.  ``atom_pair_thresholds(2.6, [("N", "O")])`` counts N···O pairs below 2.6 Å."""
    if pairs is None:
        return np.full((4, 4), float(distance))
    t = np.zeros((4, 4))
    for a, b in pairs:
        try:
            ia, ib = ATOM_NAMES.index(a), ATOM_NAMES.index(b)
        except ValueError:
            raise InputError(f"atom_pair_thresholds: atom names must be among {ATOM_NAMES}, "
                             f"got {(a, b)}") from None
        t[ia, ib] = t[ib, ia] = float(distance)
    return t


def clash_pair_count(X, thresholds: float | np.ndarray | None = None,
                     min_separation: int | None = None) -> int:
    """Number of atom pairs of residues ``j - i >= min_separation`` closer than their threshold.

    Args:
        X: backbone ``(L, 4, 3)`` in Å.
        thresholds: None (default): :data:`CLASH_RULE`'s per-atom-type distances
            (:func:`clash_thresholds`, also the steric sampling potential's); a number: that
            distance for every pair of backbone atoms (the evaluation rule, :data:`EVAL_CLASH_RULE`);
            a (4, 4) array indexed by atom type (N, CA, C, O), e.g. :func:`atom_pair_thresholds`.
        min_separation: smallest residue separation ``|i - j|`` considered; None:
            ``CLASH_RULE["min_residue_separation"]`` (2).

    Returns:
        the count (0 means clash-free under that rule).
    """
    arr = as_backbone(X)
    L = arr.shape[0]
    sep = int(CLASH_RULE["min_residue_separation"] if min_separation is None else min_separation)
    if sep < 1:
        raise InputError(f"clash_pair_count: min_separation must be >= 1, got {sep}")
    if thresholds is None:
        t = clash_thresholds()
    else:
        t = np.asarray(thresholds, dtype=float)
        t = np.full((4, 4), float(t)) if t.ndim == 0 else t
        if t.shape != (4, 4):
            raise InputError(f"clash_pair_count: thresholds must be a number or a (4, 4) array, "
                             f"got shape {t.shape}")
    if L <= sep:
        return 0
    from scipy.spatial.distance import cdist

    a = arr.reshape(-1, 3)
    D = cdist(a, a).reshape(L, 4, L, 4)
    res = np.arange(L)
    far = (res[None, :] - res[:, None]) >= sep                       # upper triangle, i < j
    bad = D < t[None, :, None, :]
    return int((bad & far[:, None, :, None]).sum())


def ca_pair_distances(X, min_separation: int = 2, max_distance: float = 20.0) -> np.ndarray:
    """CA-CA distances (Å) of pairs ``j - i >= min_separation`` that are below ``max_distance``."""
    ca = as_backbone(X)[:, CA]
    i, j = np.triu_indices(ca.shape[0], k=min_separation)
    d = np.sqrt(((ca[i] - ca[j]) ** 2).sum(-1))
    return d[d < max_distance]


# ----------------------------------------------------------------------------------------------
# TM-score
def _ca_for_tm(X, name: str) -> np.ndarray:
    arr = as_backbone(X, name=name)
    if arr.shape[0] < 3:
        raise InputError(f"{name}: TM-align needs at least 3 residues, got {arr.shape[0]}")
    return np.ascontiguousarray(arr[:, CA])


def tm_score(X, Y) -> tuple[float, float]:
    """TM-align of two backbones on CA (poly-Gly): ``(TM normalised by X, TM normalised by Y)``."""
    from tmtools import tm_align

    a, b = _ca_for_tm(X, "X"), _ca_for_tm(Y, "Y")
    r = tm_align(a, b, "G" * len(a), "G" * len(b))
    return float(r.tm_norm_chain1), float(r.tm_norm_chain2)


def pairwise_tm_scores(backbones: Sequence, max_pairs: int | None = None,
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """Symmetric TM-score of distinct pairs: mean of the two normalisations (one per pair).

    With more than ``max_pairs`` pairs a random subset (``rng``) of that size is aligned.
    Cost ≈ 10-30 ms per pair for L = 100-160 on one core.
    """
    from tmtools import tm_align

    cas = [_ca_for_tm(X, f"backbone {k}") for k, X in enumerate(backbones)]
    i, j = np.triu_indices(len(cas), k=1)
    if max_pairs is not None and len(i) > max_pairs:
        pick = (rng or np.random.default_rng(0)).choice(len(i), size=max_pairs, replace=False)
        i, j = i[np.sort(pick)], j[np.sort(pick)]
    out = np.empty(len(i))
    for k, (a, b) in enumerate(zip(i, j)):
        r = tm_align(cas[a], cas[b], "G" * len(cas[a]), "G" * len(cas[b]))
        out[k] = 0.5 * (r.tm_norm_chain1 + r.tm_norm_chain2)
    return out


def novelty_max_tm(samples: Sequence, references: Sequence) -> np.ndarray:
    """For each sample, the highest TM-score (normalised by the sample's length) to any reference.

    Returns float64 ``(len(samples),)``; low values mean novel folds (≈ < 0.5: different fold).
    """
    from tmtools import tm_align

    refs = [_ca_for_tm(Y, f"reference {k}") for k, Y in enumerate(references)]
    out = np.zeros(len(samples))
    for k, X in enumerate(samples):
        a = _ca_for_tm(X, f"sample {k}")
        best = 0.0
        for b in refs:
            best = max(best, tm_align(a, b, "G" * len(a), "G" * len(b)).tm_norm_chain1)
        out[k] = best
    return out
