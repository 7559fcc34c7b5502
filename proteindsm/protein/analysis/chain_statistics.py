"""Per-chain records and per-set statistics of an evaluation (used by :mod:`proteindsm.protein.analysis.evaluate`).

A *record* (:func:`chain_record`) holds every per-chain value of one backbone ``(L, 4, 3)`` in Å
(N, CA, C, O); the set functions pool records into the statistics of the evaluation JSON: lengths
in Å, angles in degrees, fractions in [0, 1].  :class:`EvaluationRules` holds the thresholds of the
bond check and the clash figures; :func:`check_requested_ss` / :func:`ss_agreement` compare
requested secondary-structure strings with DSSP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from proteindsm.errors import InputError
from proteindsm.protein.analysis import metrics as M
from proteindsm.protein.analysis.ramachandran import (RamachandranMap, helix_handedness_counts,
                                                     ramachandran_allowed_fraction)
from proteindsm.protein.structure.properties import (
    RG_EXPONENT, as_backbone, contact_order, radius_of_gyration, secondary_structure,
    ss_fractions,
)
from proteindsm.protein.data.secondary_structure import SS_UNKNOWN, agreement, dssp_to_tokens, parse_ss_string

__all__ = ["EvaluationRules", "check_requested_ss", "chain_record", "core_stats", "evaluation_histograms",
           "per_sample_values", "pool_geometry", "ss_agreement", "summarise_set", "validate_backbone_set",
           "wasserstein_1d"]

_RAMA_EDGES = np.linspace(-180.0, 180.0, 37)
_CA_PAIR_EDGES = np.linspace(0.0, 20.0, 81)


def validate_backbone_set(backbones, name: str) -> list[np.ndarray]:
    """``backbones`` as float ``(L_i, 4, 3)`` arrays in Å; :class:`InputError` naming ``name[k]`` if the
    set is empty or a backbone is malformed or has fewer than 3 residues."""
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
class EvaluationRules:
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


def ss_agreement(requested: list[np.ndarray | None], records: list[dict]) -> dict:
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


def chain_record(X: np.ndarray, rama_map: RamachandranMap, rules: EvaluationRules) -> dict:
    """Every per-chain value the summaries need, for one ``(L, 4, 3)`` backbone in Å: internal geometry,
    DSSP string and fractions, Rg, contact order, clash / short N···O counts, bond check, Ramachandran
    and helix-handedness counts, CA pair distances."""
    g = M.internal_geometry(X)
    ss = secondary_structure(X)
    frac = ss_fractions(ss)
    n_helix, n_right, n_left = helix_handedness_counts(g["phi"], g["psi"], ss)
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
        "rama_allowed": ramachandran_allowed_fraction(g["phi"], g["psi"], rama_map),
        "rama_in": rama_map.contains(g["phi"], g["psi"]),
        "helix_counts": (n_helix, n_right, n_left),
        "ca_pairs": M.ca_pair_distances(X),
    }


def pool_geometry(records: list[dict], key: str) -> np.ndarray:
    """One internal-geometry series (e.g. ``"bond:N-CA"``, ``"phi"``) of every record, concatenated."""
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


def core_stats(records: list[dict], rules: EvaluationRules) -> dict:
    """Statistics shared by whole sets and per-length groups."""
    out: dict = {"n": len(records)}
    out["bond_length_mean_A"] = {k: _mean(pool_geometry(records, f"bond:{k}"))
                                 for k in M.IDEAL_BOND_LENGTHS}
    out["bond_length_mad_A"] = {k: _mean(np.abs(pool_geometry(records, f"bond:{k}") - ideal))
                                for k, ideal in M.IDEAL_BOND_LENGTHS.items()}
    out["bond_length_mad_mean_A"] = _mean(list(out["bond_length_mad_A"].values()))
    out["bond_check"] = _bond_check_stats(records, rules.bond_tolerance)
    out[f"bonds_all_within_{rules.bond_tolerance:g}A"] = out["bond_check"]["all_within_fraction"]
    out["bond_angle_mean_deg"] = {k: _mean(pool_geometry(records, f"angle:{k}"))
                                  for k in M.IDEAL_BOND_ANGLES}
    out["bond_angle_mad_deg"] = {k: _mean(np.abs(pool_geometry(records, f"angle:{k}") - ideal))
                                 for k, ideal in M.IDEAL_BOND_ANGLES.items()}
    out["bond_angle_mad_mean_deg"] = _mean(list(out["bond_angle_mad_deg"].values()))
    cc = pool_geometry(records, "ca_ca")
    out["ca_ca_consecutive_mean_A"] = _mean(cc)
    out["ca_ca_consecutive_std_A"] = float(cc.std()) if cc.size else None
    omega = pool_geometry(records, "omega")
    omega = omega[~np.isnan(omega)]
    out["cis_peptide_fraction"] = float((np.abs(omega) < 30.0).mean()) if omega.size else None
    rama_in = np.concatenate([r["rama_in"] for r in records])
    phi, psi = pool_geometry(records, "phi"), pool_geometry(records, "psi")
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


def summarise_set(records: list[dict], diversity: np.ndarray, novelty: np.ndarray | None,
                  novelty_subset_size: int, rules: EvaluationRules) -> dict:
    """Summary of one set (generated or reference): :func:`core_stats` plus lengths, the Rg power-law
    fit, diversity (pairwise TM-scores) and novelty (max TM-score to the train subset, or None)."""
    out = core_stats(records, rules)
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


def per_sample_values(records: list[dict], novelty: np.ndarray | None) -> dict:
    """Per-chain values of a set, one list per key aligned with ``records`` (for plots and tables)."""
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


def evaluation_histograms(gen: list[dict], ref: list[dict], rama_map: RamachandranMap) -> dict:
    """Histogram counts of the generated and reference records on shared bins: Ramachandran (10° cells),
    bond lengths (Å) and angles (deg) around ideal, consecutive and ``|i-j| >= 2`` CA distances (Å)."""
    out: dict = {}

    def rama(records):
        phi, psi = pool_geometry(records, "phi"), pool_geometry(records, "psi")
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
                                  "generated": _hist(pool_geometry(gen, f"bond:{k}"), edges),
                                  "reference": _hist(pool_geometry(ref, f"bond:{k}"), edges)}
    out["bond_angles"] = {}
    for k, ideal in M.IDEAL_BOND_ANGLES.items():
        edges = np.linspace(ideal - 20.0, ideal + 20.0, 81)
        out["bond_angles"][k] = {"edges_deg": edges.tolist(), "ideal_deg": ideal,
                                 "generated": _hist(pool_geometry(gen, f"angle:{k}"), edges),
                                 "reference": _hist(pool_geometry(ref, f"angle:{k}"), edges)}
    edges = np.linspace(2.5, 4.5, 81)
    out["ca_ca_consecutive"] = {"edges_A": edges.tolist(),
                                "generated": _hist(pool_geometry(gen, "ca_ca"), edges),
                                "reference": _hist(pool_geometry(ref, "ca_ca"), edges)}
    out["ca_pair_distances"] = {
        "edges_A": _CA_PAIR_EDGES.tolist(), "pairs": "CA-CA, |i-j| >= 2, < 20 Å",
        "generated": _hist(np.concatenate([r["ca_pairs"] for r in gen]), _CA_PAIR_EDGES),
        "reference": _hist(np.concatenate([r["ca_pairs"] for r in ref]), _CA_PAIR_EDGES)}
    return out


def wasserstein_1d(a, b) -> float | None:
    """1-D Wasserstein distance of two samples of values (None if either is empty)."""
    from scipy.stats import wasserstein_distance

    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(wasserstein_distance(a, b)) if a.size and b.size else None
