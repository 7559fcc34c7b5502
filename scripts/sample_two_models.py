#!/usr/bin/env python
"""Diagnostic: sample with one checkpoint above a noise level and another below it.

    python scripts/sample_two_models.py --above CKPT_A --cut 5.0 --checkpoint CKPT_B --out DIR \
        [--length 60 100 150] [--num 16] [--seed 0]

Samples like ``proteindsm sample checkpoint=CKPT_B out=DIR length=[...] num=N seed=S`` (the sample
defaults: sampler, potentials, ``ss=auto``, final fit), but every network evaluation at σ > ``--cut``
Å goes to ``CKPT_A`` (both passes of classifier-free guidance and self-conditioning see the same
switch).  Measure the folder with ``proteindsm evaluate samples=DIR``.  Used to ask
which σ range of a fine-tune changes a sample figure (docs/training.md, "Run 4").  Both checkpoints
must take the same inputs (labels, pairs, self-conditioning).
"""

from __future__ import annotations

import argparse
import sys

import torch

from proteindsm.protein import sample
from proteindsm.protein.generate import options
from proteindsm.protein.model.checkpoints import load_model


class SwitchAtSigma(torch.nn.Module):
    """``above(x, σ, cond)`` where max σ of the batch > ``cut`` Å, else ``below(x, σ, cond)``."""

    def __init__(self, above: torch.nn.Module, below: torch.nn.Module, cut: float) -> None:
        super().__init__()
        self.above, self.below, self.cut = above, below, float(cut)
        self.config = below.config

    def forward(self, x, sigma, cond=None):
        return (self.above if float(sigma.max()) > self.cut else self.below)(x, sigma, cond)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--above", required=True, help="checkpoint used at sigma > --cut")
    ap.add_argument("--cut", type=float, default=5.0, help="noise level in Angstrom")
    ap.add_argument("--checkpoint", required=True, help="checkpoint used at sigma <= --cut")
    ap.add_argument("--out", required=True, help="output folder (PDB files + manifest.json)")
    ap.add_argument("--length", type=int, nargs="+", default=[60, 100, 150])
    ap.add_argument("--num", type=int, default=16, help="backbones per length")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    above = load_model(args.above).model.eval()
    plain = options.model_score_fn
    options.model_score_fn = lambda model, g=1.0: plain(SwitchAtSigma(above, model, args.cut), g)
    samples = sample(length=args.length, num=args.num, seed=args.seed, out=args.out,
                     checkpoint=args.checkpoint, progress=False)
    print(f"wrote {len(samples)} backbones to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
