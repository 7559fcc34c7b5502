#!/usr/bin/env python
"""Where does the model lose β-strands?  Partial diffusion of strand-rich validation chains from
σ, with and without their own DSSP string as the condition, and how much strand survives.

Usage:
    python scripts/strand_retention.py [--chains 4] [--num 2] [--sigmas 0.5 1 2 4]
        [--ss none input input_pairs] [--checkpoint CKPT] [--sampler langevin_cold] [--priors on|off]
        [--corpus ../shared/data/backbones_pdb_nr40.npz] [--json out.json]

Chains: the first ``--chains`` validation chains (never training chains) of 60–120 residues whose
DSSP (pydssp, 3-state, as ``proteindsm evaluate``) is ≥ 30 % strand.  Each is noised to σ and
sampled back with ``proteindsm.protein.diversify`` (the ``sample`` pipeline on the sampler's levels
below σ).  Per (σ, ss) row: strand and helix fraction of the variants, the share of the input's
strand residues that are still strand (``E kept``), per-residue 3-state agreement with the input,
and the TM-score to the input.  A model that keeps sheets from small σ but not from large σ cannot
*form* them; one that loses them already at σ ≤ 1 Å does not hold them even locally.

``--denoiser-only``: no sampler — one denoiser evaluation x̂₀ = D(x + σε, σ) (for a
self-conditioned model a second one with x̂₀ as its input, through the samplers' wrapper), per chain and σ, two noise draws each;
reports the share of the input's strand residues that are strand in x̂₀ and in the noisy input.
If x̂₀ keeps the strands but the samplers from the same σ do not, the sampler loses them.
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

import proteindsm.protein as protein  # noqa: E402
from proteindsm.protein.data.corpus import load_corpus  # noqa: E402
from proteindsm.protein.data.io import write_pdb  # noqa: E402
from proteindsm.protein.structure.properties import secondary_structure  # noqa: E402


def strand_rich_chains(corpus_path: str, n: int, min_strand: float = 0.3) -> list[tuple[str, np.ndarray, str]]:
    """The first ``n`` validation chains of 60–120 residues with DSSP strand fraction ≥ ``min_strand``:
    ``(id, X (L, 4, 3) Å, 3-state DSSP of X)``."""
    corpus = load_corpus(corpus_path)
    out = []
    for i in corpus.indices("val"):
        if not 60 <= corpus.lengths[i] <= 120:
            continue
        X = corpus.chain(int(i)).astype(np.float32)
        ss = secondary_structure(X)
        if ss.count("E") / len(ss) >= min_strand:
            out.append((str(corpus.ids[i]), X, ss))
        if len(out) == n:
            break
    return out


def own_pairs(X: np.ndarray, ref: str) -> np.ndarray:
    """The chain's own strand pairing as the network's ``(L, L)`` pair tokens (from its DSSP ``ref``)."""
    from proteindsm.protein.data.secondary_structure import dssp_to_tokens
    from proteindsm.protein.data.strand_pairing import chain_layout

    return chain_layout(X[:, 1], dssp_to_tokens(ref.replace("C", "L"))).pair_tokens()


def denoiser_only(chains, args) -> None:
    """One-shot x̂₀ retention of strand residues (see the module docstring)."""
    from proteindsm.core import denoised_estimate
    from proteindsm.protein.data.secondary_structure import dssp_to_tokens
    from proteindsm.protein.generate.options import model_score_fn
    from proteindsm.protein.model.checkpoints import load_model
    from proteindsm.protein.structure.domain import project_zero_ca_centroid
    from proteindsm.resources import checkpoint_path

    model = load_model(checkpoint_path(args.checkpoint)).model
    g = torch.Generator().manual_seed(0)
    rows = []
    for sigma in args.sigmas:
        for ss in args.ss:
            kept, kept_noisy = [], []
            for _, X, ref in chains:
                x0 = project_zero_ca_centroid(torch.from_numpy(X)[None], None)
                cond = {"mask": torch.ones(1, X.shape[0], dtype=torch.bool)}
                if ss in ("input", "input_pairs"):
                    cond["ss"] = torch.as_tensor(dssp_to_tokens(ref.replace("C", "L")))[None].long()
                if ss == "input_pairs":
                    cond["ss_pairs"] = torch.as_tensor(own_pairs(X, ref))[None]
                ref_e = np.array([c == "E" for c in ref])
                for _ in range(2):
                    xn = x0 + sigma * torch.randn(x0.shape, generator=g)
                    score, sig = model_score_fn(model), torch.tensor([sigma])   # fresh self-conditioning state
                    with torch.no_grad():
                        score(xn, sig, cond)                 # the pass whose x̂₀ self-conditions the next
                        d = denoised_estimate(xn, sig, score(xn, sig, cond))
                    kept.append(float((np.array(list(secondary_structure(d[0].numpy())))[ref_e] == "E").mean()))
                    kept_noisy.append(float((np.array(list(secondary_structure(xn[0].numpy())))[ref_e] == "E").mean()))
            rows.append({"sigma": sigma, "ss": ss, "denoised_strand_kept": float(np.mean(kept)),
                         "noisy_input_strand_kept": float(np.mean(kept_noisy))})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| σ (Å) | ss | input strand residues kept: x̂₀ | the noisy input |")
    print("|---:|---|---:|---:|")
    for r in rows:
        print(f"| {r['sigma']:g} | {r['ss']} | {r['denoised_strand_kept']:.2f} | {r['noisy_input_strand_kept']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"checkpoint": args.checkpoint, "mode": "denoiser_only",
                                               "chains": [c for c, _, _ in chains], "rows": rows}, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="../shared/data/backbones_pdb_nr40.npz")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--num", type=int, default=2)
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0])
    ap.add_argument("--ss", nargs="+", default=["none", "input"], choices=["none", "input", "input_pairs"],
                    help="input_pairs: the chain's DSSP string and its own strand pairs (--denoiser-only; "
                         "pair-conditioned checkpoints)")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--sampler", default="langevin_cold")
    ap.add_argument("--priors", default="on", choices=["on", "off"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--denoiser-only", action="store_true")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    chains = strand_rich_chains(args.corpus, args.chains)
    if args.denoiser_only:
        return denoiser_only(chains, args)
    extra = {} if args.priors == "on" else {"steric": None, "compactness": None}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for cid, X, _ in chains:
            path = Path(tmp) / f"{cid}.pdb"
            write_pdb(path, X)
            files.append(path)
        for sigma in args.sigmas:
            for ss in args.ss:
                strand, helix, kept, agree, tms = [], [], [], [], []
                for (cid, X, ref), path in zip(chains, files):
                    variants = protein.diversify(path, sigma=sigma, num=args.num, ss=ss, seed=0, progress=False,
                                                 checkpoint=args.checkpoint, sampler=args.sampler, **extra)
                    ref_e = np.array([c == "E" for c in ref])
                    for v in variants:
                        got = secondary_structure(v.coords)
                        g = np.array(list(got))
                        strand.append(float((g == "E").mean()))
                        helix.append(float((g == "H").mean()))
                        kept.append(float((g[ref_e] == "E").mean()))
                        agree.append(float((g == np.array(list(ref))).mean()))
                        tms.append(float(v.tm_to_input))
                rows.append({"sigma": sigma, "ss": ss, "variants": len(strand), "strand": float(np.mean(strand)),
                             "helix": float(np.mean(helix)), "strand_kept": float(np.mean(kept)),
                             "agreement": float(np.mean(agree)), "tm_median": float(np.median(tms))})
                print(json.dumps(rows[-1]), flush=True)
    inputs = [ref for _, _, ref in chains]
    in_strand = float(np.mean([s.count("E") / len(s) for s in inputs]))
    in_helix = float(np.mean([s.count("H") / len(s) for s in inputs]))
    print(f"\ninputs: {', '.join(c for c, _, _ in chains)}; strand {in_strand:.3f}, helix {in_helix:.3f}")
    print("| σ start (Å) | ss | variants | strand | helix | input strand residues kept | agreement with input DSSP | TM to input (median) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['sigma']:g} | {r['ss']} | {r['variants']} | {r['strand']:.3f} | {r['helix']:.3f} | "
              f"{r['strand_kept']:.2f} | {r['agreement']:.2f} | {r['tm_median']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"checkpoint": args.checkpoint, "sampler": args.sampler,
                                               "priors": args.priors, "chains": [c for c, _, _ in chains],
                                               "input_strand": in_strand, "input_helix": in_helix, "rows": rows},
                                              indent=2))


if __name__ == "__main__":
    main()
