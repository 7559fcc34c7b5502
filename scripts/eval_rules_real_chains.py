#!/usr/bin/env python
"""Real-chain baselines of the evaluation's bond check and clash figures (val split of the corpus).

Usage:
    python scripts/eval_rules_real_chains.py [--corpus ../shared/data/backbones_pdb_nr40.npz] [--split val]

Uses the thresholds of ``configs/protein/evaluate.yaml`` (bonds.tolerance, clash.min_distance,
clash.min_separation, short_hbond.max_distance) and the functions ``proteindsm evaluate`` uses
(:func:`proteindsm.protein.analysis.metrics.bond_check`, :func:`~proteindsm.protein.analysis.metrics.clash_pair_count`).
About 15 s for the 541 val chains on one core.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from omegaconf import OmegaConf  # noqa: E402

from proteindsm.resources import config_root  # noqa: E402
from proteindsm.protein.analysis import metrics as M  # noqa: E402
from proteindsm.protein.data.corpus import load_corpus  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="../shared/data/backbones_pdb_nr40.npz")
    ap.add_argument("--split", default="val")
    args = ap.parse_args()
    cfg = OmegaConf.load(config_root() / "protein" / "evaluate.yaml")
    tol, dmin, sep = float(cfg.bonds.tolerance), float(cfg.clash.min_distance), int(cfg.clash.min_separation)
    d_no = float(cfg.short_hbond.max_distance)
    corpus = load_corpus(args.corpus)
    chains = [corpus.chain(i).astype(np.float64) for i in corpus.indices(args.split)]
    n_res = sum(len(x) for x in chains)
    clashes = np.array([M.clash_pair_count(x, dmin, sep) for x in chains])
    steric = np.array([M.clash_pair_count(x) for x in chains])
    short_no = sum(M.clash_pair_count(x, M.atom_pair_thresholds(d_no, [("N", "O")]), sep) for x in chains)
    bc = [M.bond_check(x, tol) for x in chains]
    n_out = sum(b["n_outliers"] for b in bc)
    print(f"{len(chains)} {args.split} chains, {n_res} residues")
    print(f"bonds all within {tol:g} Å: {np.mean([b['all_within'] for b in bc]):.3f} of chains; "
          f"{n_out} outlier bonds, {sum(b['n_outliers_at_ends'] for b in bc)} at a chain end")
    print(f"clash-free (any atom pair < {dmin:g} Å, |i-j| >= {sep}): {(clashes == 0).mean():.3f} "
          f"(mean {clashes.mean():.3f} pairs); steric-potential rule: {(steric == 0).mean():.3f}")
    print(f"N···O < {d_no:g} Å (|i-j| >= {sep}) per 100 residues: {100 * short_no / n_res:.3f} ({short_no} pairs)")


if __name__ == "__main__":
    main()
