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

The reference set comes from :mod:`proteindsm.protein.analysis.reference_chains`; per-chain records
and set statistics from :mod:`proteindsm.protein.analysis.chain_statistics`; the plots from
:mod:`proteindsm.protein.analysis.evaluation_plots`.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from proteindsm.errors import InputError
from proteindsm.fileio import atomic_write_text
from proteindsm.protein.analysis import metrics as M
from proteindsm.protein.analysis.chain_statistics import (
    EvaluationRules, check_requested_ss, chain_record, core_stats, evaluation_histograms, per_sample_values,
    pool_geometry, ss_agreement, summarise_set, validate_backbone_set, wasserstein_1d,
)
from proteindsm.protein.analysis.evaluation_plots import write_evaluation_plots
from proteindsm.protein.analysis.ramachandran import RamachandranMap, default_ramachandran_map

__all__ = ["evaluate_backbones", "geometry_summary", "write_evaluation"]


def geometry_summary(backbones: Sequence, *, rama_map: RamachandranMap | None = None,
                     name: str = "backbones", bond_tolerance: float = 0.1,
                     clash_min_distance: float = M.EVAL_CLASH_RULE["min_distance"],
                     clash_min_separation: int = int(M.EVAL_CLASH_RULE["min_separation"]),
                     short_no_distance: float = 2.6) -> dict:
    """The per-set statistics of :func:`evaluate_backbones` (bond/angle deviations from ideal,
    bond check, Ramachandran, handedness, clashes, secondary structure, Rg) for one set of
    ``(L_i, 4, 3)`` backbones in Å, without a reference, diversity or novelty — cheap enough for
    sweeps.  The keyword thresholds are those of :func:`evaluate_backbones`."""
    rules = EvaluationRules(bond_tolerance, clash_min_distance, int(clash_min_separation), short_no_distance)
    rama_map = rama_map or default_ramachandran_map()
    return core_stats([chain_record(X, rama_map, rules) for X in validate_backbone_set(backbones, name)],
                       rules)


def evaluate_backbones(samples: Sequence, reference: Sequence, *,
                       train_set_for_novelty: Sequence | None = None,
                       novelty_subset_size: int = 50, max_diversity_pairs: int = 1000,
                       seed: int = 0, rama_map: RamachandranMap | None = None,
                       bond_tolerance: float = 0.1,
                       clash_min_distance: float = M.EVAL_CLASH_RULE["min_distance"],
                       clash_min_separation: int = int(M.EVAL_CLASH_RULE["min_separation"]),
                       short_no_distance: float = 2.6,
                       requested_ss: Sequence[str | None] | None = None,
                       sample_names: Sequence[str] | None = None) -> dict:
    """Evaluate generated backbones next to a reference set of real ones.

    Args:
        samples: generated backbones, each ``(L_i, 4, 3)`` in Å (L_i >= 3).
        reference: real backbones (e.g. :func:`proteindsm.protein.analysis.reference_chains.reference_from_corpus`
            of the samples' lengths).
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
    gen_x = validate_backbone_set(samples, "samples")
    ref_x = validate_backbone_set(reference, "reference")
    if novelty_subset_size < 1 or max_diversity_pairs < 1:
        raise InputError("evaluate_backbones: novelty_subset_size and max_diversity_pairs must be "
                         f">= 1, got {novelty_subset_size} and {max_diversity_pairs}")
    wanted_ss = check_requested_ss(requested_ss, gen_x, sample_names)
    rules = EvaluationRules(bond_tolerance, clash_min_distance, int(clash_min_separation), short_no_distance)
    rng = np.random.default_rng(seed)
    rmap = rama_map or default_ramachandran_map()
    gen = [chain_record(X, rmap, rules) for X in gen_x]
    ref = [chain_record(X, rmap, rules) for X in ref_x]

    subset, subset_idx = None, None
    if train_set_for_novelty is not None and len(train_set_for_novelty) > 0:
        n_sub = min(novelty_subset_size, len(train_set_for_novelty))
        subset_idx = np.sort(rng.choice(len(train_set_for_novelty), size=n_sub, replace=False))
        subset = validate_backbone_set([train_set_for_novelty[i] for i in subset_idx],
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
        return {str(L): core_stats(groups[L], rules) for L in sorted(groups)}

    def values(records, key):
        return [r[key] for r in records]

    dist = {f"wasserstein_{k}": wasserstein_1d(values(gen, k), values(ref, k))
            for k in ("helix_fraction", "strand_fraction", "coil_fraction", "rg_normalised",
                      "contact_order")}
    dist["wasserstein_ca_pair_distance_A"] = wasserstein_1d(
        np.concatenate(values(gen, "ca_pairs")), np.concatenate(values(ref, "ca_pairs")))
    dist["wasserstein_ca_ca_consecutive_A"] = wasserstein_1d(pool_geometry(gen, "ca_ca"), pool_geometry(ref, "ca_ca"))

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
        "generated": summarise_set(gen, div_gen, nov_gen, n_sub, rules),
        "reference": summarise_set(ref, div_ref, nov_ref, n_sub, rules),
        "distribution_distances": dist,
        "per_length": {"generated": per_length(gen), "reference": per_length(ref)},
        "per_sample": {"generated": per_sample_values(gen, nov_gen),
                       "reference": per_sample_values(ref, nov_ref)},
        "histograms": evaluation_histograms(gen, ref, rmap),
        "ss_agreement": None if wanted_ss is None else ss_agreement(wanted_ss, gen),
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
        written += write_evaluation_plots(result, Path(plots_dir))
    return written
