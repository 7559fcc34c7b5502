"""Evaluate a set of generated backbones against real ones: one JSON report plus PNG plots.

Inputs are lists of backbones ``(L, 4, 3)`` in Å (numpy or torch; atom order N, CA, C, O).  Every
metric is computed for the generated AND the reference set with the same code, so each number has
a real-protein baseline next to it.  Definitions (ideal values, Ramachandran map, clash rules,
bond check, TM-score) are in :mod:`proteindsm.protein.analysis.metrics`; secondary structure, Rg and contact
order in :mod:`proteindsm.protein.structure.properties`.  When the generated backbones came with requested
secondary-structure strings (``requested_ss``; the ``ss`` key of a samples folder's
``manifest.json``), the result also holds their per-residue 3-state agreement with DSSP.

Cost on one CPU core: ≈ 15 ms per chain for geometry/DSSP/clashes, plus TM-align at ≈ 10-25 ms
per pair at L = 100 (tm_align holds the GIL, so threads do not help): up to
``max_diversity_pairs`` pairs per set for diversity and ``n_chains x novelty_subset_size``
alignments per set for novelty.  100 generated + 100 reference chains of L = 100 with the defaults
take roughly 2-5 minutes, almost all of it novelty.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from proteindsm.errors import InputError
from proteindsm.fileio import atomic_write_text, atomic_write_with
from proteindsm.protein.analysis import metrics as M
from proteindsm.protein.structure.backbone import CA
from proteindsm.protein.data.corpus import load_corpus
from proteindsm.protein.structure.properties import (
    RG_EXPONENT, as_backbone, contact_order, radius_of_gyration, secondary_structure,
    ss_fractions,
)
from proteindsm.protein.data.secondary_structure import SS_UNKNOWN, agreement, dssp_to_tokens, parse_ss_string

__all__ = ["load_corpus_chains", "reference_from_corpus", "evaluate_backbones", "geometry_summary",
           "check_requested_ss", "write_evaluation"]

_RAMA_EDGES = np.linspace(-180.0, 180.0, 37)
_CA_PAIR_EDGES = np.linspace(0.0, 20.0, 81)


# ----------------------------------------------------------------------------------------------
# corpus
def load_corpus_chains(npz_path: str | Path, split: str | None = None
                       ) -> tuple[list[np.ndarray], np.ndarray]:
    """Chains of a corpus ``.npz`` (read and validated by :func:`proteindsm.protein.data.corpus.load_corpus`).

    Args:
        npz_path: the corpus file, e.g. ``backbones_pdb_nr40.npz``.
        split: keep only chains whose ``split`` entry equals this (e.g. ``"val"``); None keeps all.

    Returns:
        ``(chains, ids)``: float32 ``(L_i, 4, 3)`` arrays in Å and their ids.
    """
    return load_corpus(npz_path).chains(split)


def reference_from_corpus(npz_path: str | Path, lengths: Sequence[int], split: str = "val",
                          n_per_length: int | None = None, seed: int = 0,
                          return_info: bool = False):
    """Real chains of the requested lengths, for a like-for-like reference set.

    For each distinct length ``L`` in ``lengths`` it takes ``n_per_length`` chains (default: as
    many as ``L`` occurs in ``lengths``, so the reference has the samples' length multiset) from
    ``split``: first, in random order, chains of length ``L .. L + max(8, 15 % of L)``; if those
    run out, the nearest longer chains, then the longest shorter ones (kept whole, so their length
    is below ``L``); chains are reused (with other crops) only if the split has too few.  A chain
    longer than ``L`` is cropped to a random contiguous window of ``L`` residues.  Every chain is
    re-centred on its CA centroid.

    Returns:
        list of float32 ``(L, 4, 3)`` arrays; with ``return_info`` also a list of dicts
        ``{"id", "source_length", "start", "length"}`` saying what was taken.
    """
    try:
        wanted = Counter(int(L) for L in lengths)
    except (TypeError, ValueError):
        raise InputError(f"reference_from_corpus: lengths must be integers, got {lengths!r}"
                         ) from None
    if not wanted or min(wanted) < 3:
        raise InputError(f"reference_from_corpus: lengths must be a non-empty list of integers "
                         f">= 3, got {sorted(wanted)}")
    if n_per_length is not None and n_per_length < 1:
        raise InputError(f"reference_from_corpus: n_per_length must be >= 1, got {n_per_length}")
    chains, ids = load_corpus_chains(npz_path, split)
    lens = np.array([len(c) for c in chains])
    rng = np.random.default_rng(seed)
    out, info = [], []
    for L in sorted(wanted):
        n = n_per_length or wanted[L]
        tol = max(8, int(round(0.15 * L)))
        near = rng.permutation(np.flatnonzero((lens >= L) & (lens <= L + tol)))
        rest = np.setdiff1d(np.arange(len(chains)), near)
        key = np.where(lens[rest] >= L, lens[rest] - L, 100_000 + (L - lens[rest]))
        order = np.concatenate([near, rest[np.lexsort((rng.random(len(rest)), key))]])
        for k in np.resize(order, n):
            src = chains[k]
            start = int(rng.integers(0, len(src) - L + 1)) if len(src) > L else 0
            X = np.array(src[start:start + L], dtype=np.float32)
            X -= X[:, CA].mean(0)
            out.append(X)
            info.append({"id": str(ids[k]), "source_length": int(len(src)), "start": start,
                         "length": int(len(X))})
    return (out, info) if return_info else out


# ----------------------------------------------------------------------------------------------
# per-chain records and set summaries
def _validate_set(backbones, name: str) -> list[np.ndarray]:
    if backbones is None or len(backbones) == 0:
        raise InputError(f"{name}: expected a non-empty list of (L, 4, 3) backbones")
    out = []
    for k, X in enumerate(backbones):
        arr = as_backbone(X, name=f"{name}[{k}]")
        if arr.shape[0] < 3:
            raise InputError(f"{name}[{k}]: needs at least 3 residues, got {arr.shape[0]}")
        out.append(arr)
    return out


@dataclass(frozen=True)
class _Rules:
    """Thresholds of the bond check and the clash figures (the evaluate config's values)."""

    bond_tolerance: float = 0.1                                   # Å from ideal
    clash_min_distance: float = M.EVAL_CLASH_RULE["min_distance"]      # Å, any backbone atom pair
    clash_min_separation: int = int(M.EVAL_CLASH_RULE["min_separation"])
    short_no_distance: float = 2.6                                # Å, N···O "too-short H-bond"

    def __post_init__(self):
        if not (self.bond_tolerance >= 0 and self.clash_min_distance > 0
                and self.short_no_distance > 0 and int(self.clash_min_separation) >= 1):
            raise InputError(f"evaluate: need bond_tolerance >= 0, clash_min_distance > 0, "
                             f"short_no_distance > 0 and clash_min_separation >= 1; got {self}")


def check_requested_ss(requested_ss: Sequence[str | None] | None, backbones: Sequence,
                       names: Sequence[str] | None = None) -> list[np.ndarray | None] | None:
    """Parse requested secondary-structure strings, one per backbone (None: nothing requested).

    Each string is over L/H/E (DSSP letters accepted) and ``-`` (unspecified), and must have one
    letter per residue of its backbone; otherwise :class:`InputError` naming the backbone
    (``names[k]``, default ``samples[k]``) and both lengths.  Cheap: run it before heavy work.

    Returns:
        None if ``requested_ss`` is None or holds no string, else a list of ``int64`` token arrays
        (:mod:`proteindsm.protein.data.secondary_structure`) or None per backbone.
    """
    if requested_ss is None:
        return None
    if len(requested_ss) != len(backbones):
        raise InputError(f"requested_ss: {len(requested_ss)} entries for {len(backbones)} backbones "
                         "(one string or None per backbone)")
    out: list[np.ndarray | None] = []
    for k, (text, X) in enumerate(zip(requested_ss, backbones)):
        name = names[k] if names is not None else f"samples[{k}]"
        if text is None:
            out.append(None)
            continue
        tokens = parse_ss_string(text, field=f"{name}: requested secondary structure 'ss'")
        n_res = len(X)
        if len(tokens) != n_res:
            raise InputError(f"{name}: requested secondary structure 'ss' has {len(tokens)} letters "
                             f"but the backbone has {n_res} residues")
        out.append(tokens)
    return out if any(t is not None for t in out) else None


def _ss_agreement(requested: list[np.ndarray | None], records: list[dict]) -> dict:
    """Per-backbone 3-state agreement of requested tokens with each record's DSSP."""
    per, n_pos, n_match = [], 0, 0
    for want, r in zip(requested, records):
        if want is None:
            per.append(None)
            continue
        got = dssp_to_tokens(r["ss"])
        per.append(agreement(want, got))
        known = want != SS_UNKNOWN
        n_pos += int(known.sum())
        n_match += int((want[known] == got[known]).sum())
    vals = [v for v in per if v is not None]
    return {"mean": _mean(vals), "n_backbones": len(vals), "n_positions": n_pos,
            "pooled_fraction": n_match / n_pos if n_pos else None, "per_backbone": per}


def _chain_record(X: np.ndarray, rama_map: M.RamachandranMap, rules: _Rules) -> dict:
    g = M.internal_geometry(X)
    ss = secondary_structure(X)
    frac = ss_fractions(ss)
    n_helix, n_right, n_left = M.helix_handedness_counts(g["phi"], g["psi"], ss)
    rg = radius_of_gyration(X)
    return {
        "length": X.shape[0], "geometry": g, "ss": ss, **{f"{k}_fraction": v for k, v in
                                                           frac.items()},
        "rg": rg, "rg_normalised": rg / X.shape[0] ** RG_EXPONENT,
        "contact_order": contact_order(X),
        "clash_pairs": M.clash_pair_count(X, rules.clash_min_distance, rules.clash_min_separation),
        "clash_pairs_steric_rule": M.clash_pair_count(X),
        "short_no_pairs": M.clash_pair_count(
            X, M.atom_pair_thresholds(rules.short_no_distance, [("N", "O")]),
            rules.clash_min_separation),
        "bond_check": M.bond_check(X, rules.bond_tolerance),
        "rama_allowed": M.ramachandran_allowed_fraction(g["phi"], g["psi"], rama_map),
        "rama_in": rama_map.contains(g["phi"], g["psi"]),
        "helix_counts": (n_helix, n_right, n_left),
        "ca_pairs": M.ca_pair_distances(X),
    }


def _pool(records: list[dict], key: str) -> np.ndarray:
    return np.concatenate([r["geometry"][key] for r in records])


def _mean(v) -> float | None:
    v = np.asarray(v, dtype=float)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else None


def _bond_check_stats(records: list[dict], tolerance: float) -> dict:
    bc = [r["bond_check"] for r in records]
    n_bonds, n_out = sum(b["n_bonds"] for b in bc), sum(b["n_outliers"] for b in bc)
    failing = [b for b in bc if not b["all_within"]]
    return {
        "tolerance_A": tolerance,
        "all_within_fraction": float(np.mean([b["all_within"] for b in bc])),
        "outlier_bond_fraction": n_out / n_bonds if n_bonds else None,
        "outliers_at_chain_ends_fraction":
            sum(b["n_outliers_at_ends"] for b in bc) / n_out if n_out else None,
        "chain_end_share_of_bonds": sum(b["n_bonds_at_ends"] for b in bc) / n_bonds if n_bonds
        else None,
        "worst_bond_at_chain_end_fraction":
            float(np.mean([b["worst_at_end"] for b in failing])) if failing else None,
        "max_deviation_A_mean": _mean([b["max_deviation_A"] for b in bc]),
    }


def _core_stats(records: list[dict], rules: _Rules) -> dict:
    """Statistics shared by whole sets and per-length groups."""
    out: dict = {"n": len(records)}
    out["bond_length_mean_A"] = {k: _mean(_pool(records, f"bond:{k}"))
                                 for k in M.IDEAL_BOND_LENGTHS}
    out["bond_length_mad_A"] = {k: _mean(np.abs(_pool(records, f"bond:{k}") - ideal))
                                for k, ideal in M.IDEAL_BOND_LENGTHS.items()}
    out["bond_length_mad_mean_A"] = _mean(list(out["bond_length_mad_A"].values()))
    out["bond_check"] = _bond_check_stats(records, rules.bond_tolerance)
    out[f"bonds_all_within_{rules.bond_tolerance:g}A"] = out["bond_check"]["all_within_fraction"]
    out["bond_angle_mean_deg"] = {k: _mean(_pool(records, f"angle:{k}"))
                                  for k in M.IDEAL_BOND_ANGLES}
    out["bond_angle_mad_deg"] = {k: _mean(np.abs(_pool(records, f"angle:{k}") - ideal))
                                 for k, ideal in M.IDEAL_BOND_ANGLES.items()}
    out["bond_angle_mad_mean_deg"] = _mean(list(out["bond_angle_mad_deg"].values()))
    cc = _pool(records, "ca_ca")
    out["ca_ca_consecutive_mean_A"] = _mean(cc)
    out["ca_ca_consecutive_std_A"] = float(cc.std()) if cc.size else None
    omega = _pool(records, "omega")
    omega = omega[~np.isnan(omega)]
    out["cis_peptide_fraction"] = float((np.abs(omega) < 30.0).mean()) if omega.size else None
    rama_in = np.concatenate([r["rama_in"] for r in records])
    phi, psi = _pool(records, "phi"), _pool(records, "psi")
    defined = ~(np.isnan(phi) | np.isnan(psi))
    out["ramachandran_allowed_fraction"] = float(rama_in[defined].mean()) if defined.any() else None
    n_helix, n_right, n_left = np.sum([r["helix_counts"] for r in records], axis=0).tolist()
    out["helix_handedness"] = {
        "n_helix_residues": n_helix, "n_right_handed": n_right, "n_left_handed": n_left,
        "right_handed_fraction": n_right / (n_right + n_left) if n_right + n_left else None}
    clashes = np.array([r["clash_pairs"] for r in records])
    out["clash_free_fraction"] = float((clashes == 0).mean())
    out["clash_pairs_mean"] = float(clashes.mean())
    steric = np.array([r["clash_pairs_steric_rule"] for r in records])
    out["steric_rule_clashes"] = {"clash_free_fraction": float((steric == 0).mean()),
                                  "clash_pairs_mean": float(steric.mean())}
    n_res = sum(r["length"] for r in records)
    out["short_no_pairs_per_100_residues"] = \
        100.0 * sum(r["short_no_pairs"] for r in records) / n_res
    for k in ("helix_fraction", "strand_fraction", "coil_fraction", "contact_order"):
        out[f"{k}_mean"] = _mean([r[k] for r in records])
    out["rg_mean_A"] = _mean([r["rg"] for r in records])
    rgn = np.array([r["rg_normalised"] for r in records])
    out["rg_normalised_mean"], out["rg_normalised_std"] = float(rgn.mean()), float(rgn.std())
    return out


def _rg_power_law(records: list[dict]) -> dict | None:
    """Least-squares fit ``Rg = a * L**nu`` (needs >= 2 distinct lengths)."""
    L = np.array([r["length"] for r in records], float)
    if len(np.unique(L)) < 2:
        return None
    nu, log_a = np.polyfit(np.log(L), np.log([r["rg"] for r in records]), 1)
    return {"prefactor_A": float(np.exp(log_a)), "exponent": float(nu)}


def _summarise(records: list[dict], diversity: np.ndarray, novelty: np.ndarray | None,
               novelty_subset_size: int, rules: _Rules) -> dict:
    out = _core_stats(records, rules)
    L = np.array([r["length"] for r in records])
    out["length"] = {"min": int(L.min()), "max": int(L.max()), "mean": float(L.mean())}
    out["rg_power_law_fit"] = _rg_power_law(records)
    out["diversity"] = {"mean_pairwise_tm": _mean(diversity), "n_pairs": int(len(diversity))}
    if novelty is None:
        out["novelty"] = None
    else:
        out["novelty"] = {"mean_max_tm_to_train": _mean(novelty),
                          "median_max_tm_to_train": float(np.median(novelty)),
                          "fraction_max_tm_below_0.5": float((novelty < 0.5).mean()),
                          "train_subset_size": novelty_subset_size}
    return out


def _per_sample(records: list[dict], novelty: np.ndarray | None) -> dict:
    keys = ("length", "helix_fraction", "strand_fraction", "coil_fraction", "rg",
            "rg_normalised", "contact_order", "clash_pairs", "rama_allowed")
    out = {k: [r[k] for r in records] for k in keys}
    out["rg_A"] = out.pop("rg")
    out["ramachandran_allowed_fraction"] = out.pop("rama_allowed")
    out["bond_length_mad_A"] = [
        _mean([np.abs(r["geometry"][f"bond:{k}"] - v).mean() for k, v in
               M.IDEAL_BOND_LENGTHS.items()]) for r in records]
    out["bonds_all_within"] = [r["bond_check"]["all_within"] for r in records]
    out["bond_max_deviation_A"] = [r["bond_check"]["max_deviation_A"] for r in records]
    out["bond_outliers"] = [r["bond_check"]["n_outliers"] for r in records]
    out["short_no_pairs"] = [r["short_no_pairs"] for r in records]
    out["novelty_max_tm"] = None if novelty is None else novelty.tolist()
    return out


def _hist(values: np.ndarray, edges: np.ndarray) -> list[int]:
    """Counts with values outside ``edges`` clipped into the end bins."""
    v = np.clip(values, edges[0], edges[-1])
    return np.histogram(v, bins=edges)[0].tolist()


def _histograms(gen: list[dict], ref: list[dict], rama_map: M.RamachandranMap) -> dict:
    out: dict = {}

    def rama(records):
        phi, psi = _pool(records, "phi"), _pool(records, "psi")
        ok = ~(np.isnan(phi) | np.isnan(psi))
        return np.histogram2d(phi[ok], psi[ok], bins=[_RAMA_EDGES, _RAMA_EDGES])[0].astype(int)

    out["ramachandran"] = {
        "edges_deg": _RAMA_EDGES.tolist(), "layout": "counts[phi_bin][psi_bin]",
        "generated": rama(gen).tolist(), "reference": rama(ref).tolist(),
        "allowed": rama_map.allowed.astype(int).tolist() if rama_map.n_bins == 36 else None}
    out["bond_lengths"] = {}
    for k, ideal in M.IDEAL_BOND_LENGTHS.items():
        edges = np.linspace(ideal - 0.3, ideal + 0.3, 61)
        out["bond_lengths"][k] = {"edges_A": edges.tolist(), "ideal_A": ideal,
                                  "generated": _hist(_pool(gen, f"bond:{k}"), edges),
                                  "reference": _hist(_pool(ref, f"bond:{k}"), edges)}
    out["bond_angles"] = {}
    for k, ideal in M.IDEAL_BOND_ANGLES.items():
        edges = np.linspace(ideal - 20.0, ideal + 20.0, 81)
        out["bond_angles"][k] = {"edges_deg": edges.tolist(), "ideal_deg": ideal,
                                 "generated": _hist(_pool(gen, f"angle:{k}"), edges),
                                 "reference": _hist(_pool(ref, f"angle:{k}"), edges)}
    edges = np.linspace(2.5, 4.5, 81)
    out["ca_ca_consecutive"] = {"edges_A": edges.tolist(),
                                "generated": _hist(_pool(gen, "ca_ca"), edges),
                                "reference": _hist(_pool(ref, "ca_ca"), edges)}
    out["ca_pair_distances"] = {
        "edges_A": _CA_PAIR_EDGES.tolist(), "pairs": "CA-CA, |i-j| >= 2, < 20 Å",
        "generated": _hist(np.concatenate([r["ca_pairs"] for r in gen]), _CA_PAIR_EDGES),
        "reference": _hist(np.concatenate([r["ca_pairs"] for r in ref]), _CA_PAIR_EDGES)}
    return out


def _wasserstein(a, b) -> float | None:
    from scipy.stats import wasserstein_distance

    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(wasserstein_distance(a, b)) if a.size and b.size else None


def geometry_summary(backbones: Sequence, *, rama_map: M.RamachandranMap | None = None,
                     name: str = "backbones", bond_tolerance: float = 0.1,
                     clash_min_distance: float = M.EVAL_CLASH_RULE["min_distance"],
                     clash_min_separation: int = int(M.EVAL_CLASH_RULE["min_separation"]),
                     short_no_distance: float = 2.6) -> dict:
    """The per-set statistics of :func:`evaluate_backbones` (bond/angle deviations from ideal,
    bond check, Ramachandran, handedness, clashes, secondary structure, Rg) for one set of
    ``(L_i, 4, 3)`` backbones in Å, without a reference, diversity or novelty — cheap enough for
    sweeps.  The keyword thresholds are those of :func:`evaluate_backbones`."""
    rules = _Rules(bond_tolerance, clash_min_distance, int(clash_min_separation), short_no_distance)
    rama_map = rama_map or M.default_ramachandran_map()
    return _core_stats([_chain_record(X, rama_map, rules) for X in _validate_set(backbones, name)],
                       rules)


def evaluate_backbones(samples: Sequence, reference: Sequence, *,
                       train_set_for_novelty: Sequence | None = None,
                       novelty_subset_size: int = 50, max_diversity_pairs: int = 1000,
                       seed: int = 0, rama_map: M.RamachandranMap | None = None,
                       bond_tolerance: float = 0.1,
                       clash_min_distance: float = M.EVAL_CLASH_RULE["min_distance"],
                       clash_min_separation: int = int(M.EVAL_CLASH_RULE["min_separation"]),
                       short_no_distance: float = 2.6,
                       requested_ss: Sequence[str | None] | None = None,
                       sample_names: Sequence[str] | None = None) -> dict:
    """Evaluate generated backbones next to a reference set of real ones.

    Args:
        samples: generated backbones, each ``(L_i, 4, 3)`` in Å (L_i >= 3).
        reference: real backbones (e.g. :func:`reference_from_corpus` of the samples' lengths).
        train_set_for_novelty: training backbones; novelty is the max TM-score (normalised by
            the sample) of each chain to ``novelty_subset_size`` of them drawn at random (seeded).
            None skips novelty.
        max_diversity_pairs: cap on aligned pairs per set for the mean pairwise TM-score
            (a seeded random subset of pairs beyond it).
        seed: seeds every random choice (novelty subset, diversity pairs).
        rama_map: allowed-region map; default the packaged corpus map.
        bond_tolerance: Å; a backbone passes the bond check when every bond (N-CA, CA-C, C=O,
            C(i)-N(i+1)) is within it of ideal (key ``bonds_all_within_<tol>A``, ``bond_check``).
        clash_min_distance, clash_min_separation: the clash rule (:data:`metrics.EVAL_CLASH_RULE`):
            any two backbone atoms of residues ``|i - j| >= clash_min_separation`` closer than
            ``clash_min_distance`` Å (``clash_free_fraction``, ``clash_pairs_mean``).  The
            sampling potential's per-atom-type rule is reported as ``steric_rule_clashes``.
        short_no_distance: Å; N···O pairs (same separation) closer than this are counted per 100
            residues (``short_no_pairs_per_100_residues``: over-short hydrogen bonds).
        requested_ss: one secondary-structure string (L/H/E, ``-`` = unspecified) or None per
            sample; gives ``ss_agreement`` (see :func:`check_requested_ss` for the checks).
        sample_names: names of the samples in error messages (default ``samples[k]``).

    Returns:
        JSON-serialisable dict (NaN written as None): ``meta``, ``generated`` and ``reference``
        summaries (same keys), ``distribution_distances`` (1-D Wasserstein, generated vs
        reference), ``per_length`` (core statistics by chain length), ``per_sample`` (per-chain
        values for plots), ``histograms`` (Ramachandran, bond lengths/angles, CA distances),
        ``ss_agreement`` (None without ``requested_ss``; else ``mean`` over backbones of the
        fraction of labelled positions where DSSP's 3-state label matches, ``per_backbone``
        aligned with the samples, ``pooled_fraction`` over all labelled residues).
    """
    gen_x = _validate_set(samples, "samples")
    ref_x = _validate_set(reference, "reference")
    if novelty_subset_size < 1 or max_diversity_pairs < 1:
        raise InputError("evaluate_backbones: novelty_subset_size and max_diversity_pairs must be "
                         f">= 1, got {novelty_subset_size} and {max_diversity_pairs}")
    wanted_ss = check_requested_ss(requested_ss, gen_x, sample_names)
    rules = _Rules(bond_tolerance, clash_min_distance, int(clash_min_separation), short_no_distance)
    rng = np.random.default_rng(seed)
    rmap = rama_map or M.default_ramachandran_map()
    gen = [_chain_record(X, rmap, rules) for X in gen_x]
    ref = [_chain_record(X, rmap, rules) for X in ref_x]

    subset, subset_idx = None, None
    if train_set_for_novelty is not None and len(train_set_for_novelty) > 0:
        n_sub = min(novelty_subset_size, len(train_set_for_novelty))
        subset_idx = np.sort(rng.choice(len(train_set_for_novelty), size=n_sub, replace=False))
        subset = _validate_set([train_set_for_novelty[i] for i in subset_idx],
                               "train_set_for_novelty subset")
    div_gen = M.pairwise_tm_scores(gen_x, max_diversity_pairs, rng)
    div_ref = M.pairwise_tm_scores(ref_x, max_diversity_pairs, rng)
    nov_gen = M.novelty_max_tm(gen_x, subset) if subset else None
    nov_ref = M.novelty_max_tm(ref_x, subset) if subset else None
    n_sub = len(subset) if subset else 0

    def per_length(records):
        groups: dict[int, list] = defaultdict(list)
        for r in records:
            groups[r["length"]].append(r)
        return {str(L): _core_stats(groups[L], rules) for L in sorted(groups)}

    def values(records, key):
        return [r[key] for r in records]

    dist = {f"wasserstein_{k}": _wasserstein(values(gen, k), values(ref, k))
            for k in ("helix_fraction", "strand_fraction", "coil_fraction", "rg_normalised",
                      "contact_order")}
    dist["wasserstein_ca_pair_distance_A"] = _wasserstein(
        np.concatenate(values(gen, "ca_pairs")), np.concatenate(values(ref, "ca_pairs")))
    dist["wasserstein_ca_ca_consecutive_A"] = _wasserstein(_pool(gen, "ca_ca"), _pool(ref, "ca_ca"))

    result = {
        "meta": {
            "n_generated": len(gen), "n_reference": len(ref), "seed": seed,
            "max_diversity_pairs": max_diversity_pairs,
            "novelty_train_subset_size": n_sub,
            "novelty_train_subset_indices": None if subset_idx is None else subset_idx.tolist(),
            "ideal_bond_lengths_A": M.IDEAL_BOND_LENGTHS,
            "ideal_bond_angles_deg": M.IDEAL_BOND_ANGLES,
            "clash_rule": {"min_distance": rules.clash_min_distance,
                           "min_separation": rules.clash_min_separation,
                           "atom_pairs": "all backbone atoms N, CA, C, O"},
            "steric_potential_clash_rule": M.CLASH_RULE,
            "bond_tolerance_A": rules.bond_tolerance,
            "short_no_max_distance_A": rules.short_no_distance,
            "ramachandran_map": {"n_bins": rmap.n_bins, "coverage": rmap.coverage,
                                 "source": rmap.source},
            "definitions": {
                "bond_length_mad_A": "mean |length - Engh&Huber ideal| over all bonds of the set",
                "ramachandran_allowed_fraction": "residues with defined phi/psi in allowed cells",
                "helix_handedness": "DSSP helix residues: right phi<0,-120<psi<60; left phi>0,"
                                    "-60<psi<120; fraction = right/(right+left)",
                "clash_free_fraction": "chains with no backbone atom pair (|i-j| >= "
                                       "clash_rule.min_separation) closer than "
                                       "clash_rule.min_distance",
                "steric_rule_clashes": "the same with the steric potential's per-atom-type "
                                       "distances (|i-j| >= 2; N···O, O···O 2.2 Å, CA···CA 3.0 Å, "
                                       "other 2.5 Å): the figure evaluate reported before",
                "short_no_pairs_per_100_residues": "N···O pairs (|i-j| >= clash_rule."
                                                   "min_separation) closer than "
                                                   "short_no_max_distance_A, per 100 residues",
                "bond_check": "all_within_fraction: backbones whose every bond (N-CA, CA-C, C=O, "
                              "C(i)-N(i+1)) is within bond_tolerance_A of ideal; "
                              "outliers_at_chain_ends_fraction: of the bonds beyond it, those "
                              "with an atom in the first or last residue (chance level: "
                              "chain_end_share_of_bonds); worst_bond_at_chain_end_fraction: of "
                              "the failing backbones, those whose worst bond is at an end",
                "ss_agreement": "per backbone: fraction of requested positions (not '-') whose "
                                "pydssp 3-state label (L/H/E) equals the requested one",
                "secondary_structure": "pydssp 3-state: H = DSSP H/G/I, E = E/B, C = rest",
                "rg_normalised": "CA radius of gyration / L^0.4 (Å)",
                "contact_order": "relative contact order, CA < 8 Å, |i-j| >= 3",
                "diversity": "mean TM-score over pairs of the set, TM = mean of the two "
                             "normalisations (TM-align, CA, poly-Gly)",
                "novelty": "max TM-score (normalised by the chain) to the train subset",
                "wasserstein": "1-D Wasserstein distance of per-chain values (CA pair "
                               "distances: pooled over chains)",
            },
        },
        "generated": _summarise(gen, div_gen, nov_gen, n_sub, rules),
        "reference": _summarise(ref, div_ref, nov_ref, n_sub, rules),
        "distribution_distances": dist,
        "per_length": {"generated": per_length(gen), "reference": per_length(ref)},
        "per_sample": {"generated": _per_sample(gen, nov_gen),
                       "reference": _per_sample(ref, nov_ref)},
        "histograms": _histograms(gen, ref, rmap),
        "ss_agreement": None if wanted_ss is None else _ss_agreement(wanted_ss, gen),
    }
    return _jsonable(result)


def _jsonable(obj):
    """Plain Python types only; NaN/inf become None."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


# ----------------------------------------------------------------------------------------------
# output
def write_evaluation(result: dict, out_json: str | Path, plots_dir: str | Path | None = None
                     ) -> list[Path]:
    """Write ``result`` (from :func:`evaluate_backbones`) as JSON and, optionally, PNG plots.

    Plots (matplotlib Agg, no display needed) in ``plots_dir``: ``ramachandran.png``,
    ``rg_vs_length.png``, ``sse_fractions.png``, ``bond_lengths.png``, ``bond_angles.png``,
    ``ca_pair_distances.png``.  Every file is written atomically.  Returns the paths written.
    """
    text = json.dumps(_jsonable(result), indent=1, allow_nan=False)
    written = [atomic_write_text(out_json, text + "\n")]
    if plots_dir is not None:
        written += _write_plots(result, Path(plots_dir))
    return written


def _new_figure(ncols: int, width: float = 4.2, height: float = 3.6):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def _save(fig, path: Path) -> Path:
    return atomic_write_with(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))


_COLORS = {"generated": "tab:red", "reference": "tab:blue"}


def _write_plots(result: dict, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    H, S = result["histograms"], result["per_sample"]
    written = []

    # Ramachandran
    fig, axes = _new_figure(2)
    edges = np.asarray(H["ramachandran"]["edges_deg"])
    centres = 0.5 * (edges[1:] + edges[:-1])
    for ax, which in zip(axes, ("generated", "reference")):
        counts = np.asarray(H["ramachandran"][which], float)
        dens = counts / max(counts.sum(), 1.0)
        ax.imshow(np.log10(dens.T + 1e-5), origin="lower", extent=[-180, 180, -180, 180],
                  cmap="viridis", aspect="equal")
        if H["ramachandran"].get("allowed") is not None:
            ax.contour(centres, centres, np.asarray(H["ramachandran"]["allowed"], float).T,
                       levels=[0.5], colors="white", linewidths=0.8)
        frac = result[which]["ramachandran_allowed_fraction"]
        ax.set_title(f"{which}: {frac:.3f} allowed" if frac is not None else which)
        ax.set_xlabel("phi (deg)")
        ax.set_ylabel("psi (deg)")
    written.append(_save(fig, out / "ramachandran.png"))

    # Rg vs length
    fig, (ax,) = _new_figure(1, width=5.0)
    for which in ("generated", "reference"):
        L, rg = np.asarray(S[which]["length"]), np.asarray(S[which]["rg_A"])
        ax.scatter(L, rg, s=8, alpha=0.6, color=_COLORS[which], label=which)
        fit = result[which]["rg_power_law_fit"]
        if fit:
            x = np.linspace(L.min(), L.max(), 50)
            ax.plot(x, fit["prefactor_A"] * x ** fit["exponent"], color=_COLORS[which],
                    label=f"{fit['prefactor_A']:.2f} L^{fit['exponent']:.2f}")
    ax.set_xlabel("length L (residues)")
    ax.set_ylabel("Rg of CA (Å)")
    ax.legend(fontsize=8)
    written.append(_save(fig, out / "rg_vs_length.png"))

    # secondary-structure fractions
    fig, axes = _new_figure(3)
    bins = np.linspace(0, 1, 21)
    for ax, key in zip(axes, ("helix_fraction", "strand_fraction", "coil_fraction")):
        for which in ("generated", "reference"):
            ax.hist(S[which][key], bins=bins, density=True, histtype="step", lw=1.5,
                    color=_COLORS[which], label=which)
        ax.set_xlabel(key)
    axes[0].legend(fontsize=8)
    written.append(_save(fig, out / "sse_fractions.png"))

    # bond lengths / angles / CA pair distances
    def step_panels(group: dict, unit_key: str, ideal_key: str | None, name: str, xlabel: str):
        fig, axes = _new_figure(len(group), width=3.6)
        for ax, (key, h) in zip(axes, group.items()):
            e = np.asarray(h[unit_key])
            for which in ("generated", "reference"):
                c = np.asarray(h[which], float)
                ax.stairs(c / max(c.sum(), 1.0), e, color=_COLORS[which], label=which)
            if ideal_key:
                ax.axvline(h[ideal_key], color="k", lw=0.8, ls="--")
            ax.set_xlabel(f"{key} {xlabel}")
        axes[0].legend(fontsize=8)
        return _save(fig, out / name)

    written.append(step_panels(H["bond_lengths"], "edges_A", "ideal_A", "bond_lengths.png", "(Å)"))
    written.append(step_panels(H["bond_angles"], "edges_deg", "ideal_deg", "bond_angles.png",
                               "(deg)"))
    written.append(step_panels({"CA-CA |i-j|>=2": H["ca_pair_distances"],
                                "CA(i)-CA(i+1)": H["ca_ca_consecutive"]}, "edges_A", None,
                               "ca_pair_distances.png", "(Å)"))
    return written
