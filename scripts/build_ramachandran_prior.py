"""Fit the Ramachandran prior (``proteindsm/protein/assets/ramachandran_prior.json``) to the corpus
training split: a 14-component mixture of von Mises products over (φ, ψ)
(:func:`proteindsm.protein.torsion_prior.fit_von_mises_mixture`).

    python scripts/build_ramachandran_prior.py --corpus ../shared/data/backbones_pdb_nr40.npz

Uses ``--chains`` random training chains (seed 0); validation chains are left out so the prior never
sees the evaluation's reference set.  Writes the asset atomically and prints its summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from proteindsm.fileio import atomic_write_text
    from proteindsm.protein.evaluate import load_corpus_chains
    from proteindsm.protein.metrics import internal_geometry
    from proteindsm.protein.torsion_prior import RAMACHANDRAN_PRIOR_ASSET, fit_von_mises_mixture

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default=str(REPO.parent / "shared" / "data" / "backbones_pdb_nr40.npz"))
    ap.add_argument("--chains", type=int, default=1500, help="random training chains to use")
    ap.add_argument("--components", type=int, default=14)
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(RAMACHANDRAN_PRIOR_ASSET))
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    chains, _ = load_corpus_chains(Path(args.corpus), "train")
    rng = np.random.default_rng(args.seed)
    pick = rng.choice(len(chains), min(args.chains, len(chains)), replace=False)
    phis, psis = [], []
    for i in tqdm(pick, desc="torsions", unit="chain"):
        g = internal_geometry(chains[i])
        ok = ~(np.isnan(g["phi"]) | np.isnan(g["psi"]))
        phis.append(np.deg2rad(g["phi"][ok]))
        psis.append(np.deg2rad(g["psi"][ok]))
    phi, psi = np.concatenate(phis), np.concatenate(psis)
    mix, mean_ll = fit_von_mises_mixture(phi, psi, args.components, args.iterations, args.seed)
    obj = {"description": "Ramachandran prior: mixture of von Mises products over (phi, psi), radians; "
                          "p = sum_k weight_k VM(phi; phi_mean_k, phi_kappa_k) VM(psi; psi_mean_k, psi_kappa_k)",
           "source": f"{Path(args.corpus).name}, train split, {len(pick)} random chains (seed {args.seed}), "
                     f"{phi.size} residues",
           "command": "python scripts/build_ramachandran_prior.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "mean_log_likelihood": round(mean_ll, 4), "components": args.components, "iterations": args.iterations,
           **mix.to_json()}
    atomic_write_text(Path(args.out), json.dumps(obj, indent=1) + "\n")
    print(json.dumps({"out": args.out, "residues": int(phi.size), "mean_log_likelihood": round(mean_ll, 4),
                      "seconds": round(time.perf_counter() - t0, 1)}))
    for k in range(mix.num_components):
        print(f"  w {mix.weight[k]:.3f}  phi {np.rad2deg(mix.phi_mean[k]):7.1f} (kappa {mix.phi_kappa[k]:6.1f})"
              f"  psi {np.rad2deg(mix.psi_mean[k]):7.1f} (kappa {mix.psi_kappa[k]:6.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
