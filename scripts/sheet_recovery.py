#!/usr/bin/env python
"""How much of real β-sheets the denoiser keeps, per σ: one denoised estimate x̂₀ of noisy validation
chains (labels and strand pairs given, as in a conditional sample), compared with the clean chains.

Per σ (Å) and checkpoint:

* ``hbond``  — share of the chains' long-range (|a − d| > 5) DSSP H-bonds that x̂₀ also has;
* ``partner`` — share of the chains' paired strand residues (CA–CA ≤ 5.5 Å, |i − j| ≥ 3; as
  :func:`proteindsm.protein.data.strand_pairing.paired_residues`) still within 5.5 Å in x̂₀;
* ``partner_err`` — mean |d̂ − d| (Å) of those pairs' CA–CA distances.

By default each estimate is self-conditioned as in sampling and training (a first pass without an
estimate, its x̂₀ fed to the second); ``--no-self-cond`` gives the single pass.  Seeded (noise seed 0,
the 32 chains of the campaign's validation set).  A cheap learning-curve figure for the σ range
where sampled sheets are kept or lost (docs/training.md).

Usage: python scripts/sheet_recovery.py CKPT [CKPT ...] [--sigmas 0.5 1 2 4 8] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from proteindsm.core import denoised_estimate, self_conditioned_cond
from proteindsm.core.types import apply_mask
from proteindsm.protein.data.batching import validation_batches
from proteindsm.protein.data.corpus import load_corpus
from proteindsm.protein.data.strand_pairing import PAIR_CA_DISTANCE, paired_residues
from proteindsm.protein.model.checkpoints import load_model
from proteindsm.protein.structure.domain import project_zero_ca_centroid
from proteindsm.protein.structure.soft_dssp import soft_hbond_map

_CA = 1


def denoised(net, x: torch.Tensor, sigma: float, cond: dict, self_cond: bool) -> torch.Tensor:
    """x̂₀ ``(B, L, 4, 3)`` Å of one network call at σ; with ``self_cond`` fed the estimate of a first
    call, as in training (the core's ``self_conditioned_cond``, every row)."""
    sig = torch.full((x.shape[0],), sigma)
    if self_cond:
        cond = self_conditioned_cond(net, x, sig, cond, torch.ones(x.shape[0], dtype=torch.bool))
    return denoised_estimate(x, sig, net(x, sig, cond))


def recovery(checkpoint: str, batches, sigmas: list[float], self_cond: bool) -> dict:
    """{σ: {"hbond", "partner", "partner_err"}} for one checkpoint (module doc)."""
    net = load_model(checkpoint).model.eval()
    use_sc = self_cond and bool(net.config.get("self_conditioning", False))
    out = {}
    with torch.no_grad():
        for s in sigmas:
            gen = torch.Generator().manual_seed(0)
            kept_h = total_h = kept_p = total_p = 0
            errs = []
            for b in batches:
                eps = project_zero_ca_centroid(apply_mask(torch.randn(b.x.shape, generator=gen), b.mask), b.mask)
                x0h = denoised(net, b.x + s * eps, s, b.network_cond(), use_sc)
                L = b.x.shape[1]
                idx = torch.arange(L)
                far = (idx[:, None] - idx[None, :]).abs() > 5
                h0 = (soft_hbond_map(b.x, b.mask) > 0) & far
                h1 = soft_hbond_map(x0h, b.mask) > 0
                kept_h += int((h0 & h1).sum())
                total_h += int(h0.sum())
                for r in range(len(b.x)):
                    n = int(b.mask[r].sum())
                    ca = b.x[r, :n, _CA].numpy()
                    pairs = paired_residues(ca, b.cond["ss"][r, :n].numpy())
                    if len(pairs) == 0:
                        continue
                    ca_hat = x0h[r, :n, _CA].numpy()
                    d = np.linalg.norm(ca[pairs[:, 0]] - ca[pairs[:, 1]], axis=-1)
                    d_hat = np.linalg.norm(ca_hat[pairs[:, 0]] - ca_hat[pairs[:, 1]], axis=-1)
                    kept_p += int((d_hat <= PAIR_CA_DISTANCE).sum())
                    total_p += len(pairs)
                    errs.append(np.abs(d_hat - d))
            out[f"{s:g}"] = {"hbond": kept_h / max(total_h, 1), "partner": kept_p / max(total_p, 1),
                             "partner_err": float(np.concatenate(errs).mean()) if errs else float("nan")}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0])
    ap.add_argument("--corpus", default="../shared/data/backbones_pdb_nr40.npz")
    ap.add_argument("--chains", type=int, default=32)
    ap.add_argument("--no-self-cond", action="store_true", help="one pass, without the model's own estimate")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args()
    corpus = load_corpus(args.corpus)
    batches = validation_batches(corpus, corpus.indices("val"), num_chains=args.chains, batch_size=8,
                                 ss_labels=True, strand_pairs=True)
    results = {}
    print("| checkpoint | σ (Å) | long-range H-bonds kept | paired residues within 5.5 Å | partner CA–CA error (Å) |")
    print("|---|---:|---:|---:|---:|")
    for ck in args.checkpoints:
        results[ck] = recovery(ck, batches, args.sigmas, not args.no_self_cond)
        for s, r in results[ck].items():
            print(f"| {Path(ck).name} | {s} | {r['hbond']:.3f} | {r['partner']:.3f} | {r['partner_err']:.2f} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"self_conditioned": not args.no_self_cond, "chains": args.chains,
                                               "results": results}, indent=1))


if __name__ == "__main__":
    main()
