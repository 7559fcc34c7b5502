#!/usr/bin/env python
"""Diagnostic: sample with one checkpoint above a noise level and another below it.

    python scripts/sample_two_models.py --above CKPT_A --cut 5.0 -- sample checkpoint=CKPT_B out=DIR [key=value ...]

Runs ``proteindsm sample`` (or ``design``) with the given overrides, but every network evaluation at
σ > ``--cut`` Å goes to ``CKPT_A`` (both passes of classifier-free guidance and self-conditioning
see the same switch; the potentials, sampler and final fit are those of the command).  Used to ask
which σ range of a fine-tune changes a sample figure (docs/training.md, "Run 4").  Both checkpoints
must take the same inputs (labels, pairs, self-conditioning).
"""

from __future__ import annotations

import argparse
import sys

import torch

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
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--above", required=True, help="checkpoint used at sigma > --cut")
    ap.add_argument("--cut", type=float, default=5.0, help="noise level in Angstrom")
    args = ap.parse_args(argv[:split])
    above = load_model(args.above).model.eval()
    plain = options.model_score_fn
    options.model_score_fn = lambda model, g=1.0: plain(SwitchAtSigma(above, model, args.cut), g)
    from proteindsm.cli import main as cli_main
    return cli_main(argv[split + 1:])


if __name__ == "__main__":
    sys.exit(main())
