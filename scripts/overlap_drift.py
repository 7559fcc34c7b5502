#!/usr/bin/env python
"""Do carbonyl overlaps come from many sampler steps on real chains?  Two measurements on validation
chains (which have no carbonyl O···O closer than 2.2 Å), counting O···O pairs < 2.2 Å at residues
≥ 3 apart:

* ``--steps K ...`` (default 0 1 4 16): at fixed σ, K sampler steps x ← x̂₀(x) + σz from x0 + σε
  (x̂₀ self-conditioned as in training: a first pass, its estimate fed to a second), counted in the
  last x̂₀ — the chain the annealed-Langevin sampler runs at one level (T = 0.5, ε = ½σ_min²);
* ``--diversify``: partial diffusion with ``proteindsm.protein.diversify`` (the default sampler from
  σ down, the chain's own DSSP string as labels, no steric or compactness potential, no final fit),
  2 variants per chain.

Usage: python scripts/overlap_drift.py [CKPT] [--sigmas 0.3 0.5 1 2] [--steps 0 1 4 16] [--chains 32]
       python scripts/overlap_drift.py [CKPT] --diversify [--sigmas 0.3 0.5 1 2 4 8] [--chains 12] [--sampler NAME]
(docs/training.md, "Run 8").
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sheet_recovery import denoised  # noqa: E402

from proteindsm.core.types import apply_mask  # noqa: E402
from proteindsm.protein.analysis.metrics import atom_pair_thresholds, clash_pair_count  # noqa: E402
from proteindsm.protein.data.batching import validation_batches  # noqa: E402
from proteindsm.protein.data.corpus import load_corpus  # noqa: E402
from proteindsm.protein.model.checkpoints import load_model  # noqa: E402
from proteindsm.protein.structure.domain import project_zero_ca_centroid  # noqa: E402

SHIPPED = "proteindsm/checkpoints/backbone_score_frame.safetensors"
CARBONYL_RULE = atom_pair_thresholds(2.2, [("O", "O")])


def carbonyl_overlaps(X: torch.Tensor | np.ndarray) -> int:
    """O···O pairs closer than 2.2 Å at residues ≥ 3 apart in one backbone ``(L, 4, 3)`` Å (the
    library's ``clash_pair_count`` with an O···O-only rule)."""
    return clash_pair_count(np.asarray(X, dtype=np.float64), CARBONYL_RULE, min_separation=3)


def fixed_sigma_chains(ckpt: str, corpus, sigmas: list[float], steps: list[int], n_chains: int) -> list[dict]:
    net = load_model(ckpt).model.eval()
    batches = validation_batches(corpus, corpus.indices("val"), num_chains=n_chains, batch_size=8,
                                 ss_labels=True, strand_pairs=True)
    rows = []
    with torch.no_grad():
        for s in sigmas:
            gen = torch.Generator().manual_seed(0)
            counts = {k: [0, 0] for k in steps}
            for b in batches:
                def noise():
                    return project_zero_ca_centroid(apply_mask(torch.randn(b.x.shape, generator=gen), b.mask), b.mask)
                x = b.x + s * noise()
                for k in range(max(steps) + 1):
                    x0h = denoised(net, x, s, b.network_cond(), True)
                    if k in counts:
                        per = [carbonyl_overlaps(x0h[r, :int(b.mask[r].sum())]) for r in range(len(x0h))]
                        counts[k][0] += sum(p > 0 for p in per)
                        counts[k][1] += sum(per)
                    x = x0h + s * noise()
            for k, (chains, pairs) in counts.items():
                rows.append({"sigma": s, "steps": k, "chains": n_chains, "chains_with_overlap": chains, "pairs": pairs})
                print(json.dumps(rows[-1]), flush=True)
    return rows


def partial_diffusion(ckpt: str, corpus_path: str, sigmas: list[float], n_chains: int,
                      sampler: str | None = None) -> list[dict]:
    import proteindsm.protein as protein
    from proteindsm.protein.data.io import write_pdb
    from strand_retention import strand_rich_chains

    chains = strand_rich_chains(corpus_path, n_chains, min_strand=0.0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in sigmas:
            bad = pairs = n = 0
            for cid, X, _ in chains:
                path = Path(tmp) / f"{cid}.pdb"
                write_pdb(path, X)
                for v in protein.diversify(path, sigma=s, num=2, ss="input", seed=0, progress=False,
                                           checkpoint=ckpt, steric=None, compactness=None,
                                           **({"sampler": sampler} if sampler else {})):
                    k = carbonyl_overlaps(v.coords)
                    n, bad, pairs = n + 1, bad + (k > 0), pairs + k
            rows.append({"sigma": s, "sampler": sampler or "default", "variants": n, "variants_with_overlap": bad, "pairs": pairs,
                         "inputs_with_overlap": sum(carbonyl_overlaps(X) > 0 for _, X, _ in chains)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", nargs="?", default=SHIPPED)
    ap.add_argument("--sigmas", type=float, nargs="+", default=None)
    ap.add_argument("--steps", type=int, nargs="+", default=[0, 1, 4, 16])
    ap.add_argument("--chains", type=int, default=None)
    ap.add_argument("--diversify", action="store_true")
    ap.add_argument("--sampler", default=None, help="--diversify: a sampler preset (default: the sample default)")
    ap.add_argument("--corpus", default="../shared/data/backbones_pdb_nr40.npz")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.diversify:
        rows = partial_diffusion(args.checkpoint, args.corpus, args.sigmas or [0.3, 0.5, 1, 2, 4, 8], args.chains or 12,
                                 args.sampler)
    else:
        rows = fixed_sigma_chains(args.checkpoint, load_corpus(args.corpus), args.sigmas or [0.3, 0.5, 1, 2],
                                  sorted(set(args.steps)), args.chains or 32)
    if args.json:
        Path(args.json).write_text(json.dumps({"checkpoint": args.checkpoint, "diversify": args.diversify,
                                               "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
