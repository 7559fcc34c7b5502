#!/usr/bin/env python
"""Screen: release the motif condition for the last levels of sampling (σ below ``RELEASE`` Å the
model's own score is used, the motif is free), to see whether the network then repairs the strained
junctions of multi-segment motifs (docs/scaffold.md, "Ramachandran is the remaining shortfall").

    python scripts/scaffold_release_screen.py 0.1 three_segments runs/release/three_segments_r0.1 8
    python scripts/scaffold_release_screen.py 0.04 three_segments runs/release/three_segments_r0.04 8

Writes a ``proteindsm scaffold`` folder (default sampler, replacement, seed 0, ``ideal_output=false``
so the raw output is compared) with the problem's contig from docs/results/motifs/problems.json;
compare its ``report.csv`` with the same scaffolds of the benchmark (same seeds and layouts).
Not a product option: measured, it trades motif fidelity for little Ramachandran gain.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import proteindsm.protein as protein  # noqa: E402
import proteindsm.protein.generate.scaffold_sampling as scaffold_sampling  # noqa: E402


class Released:
    """A conditioning term that is off (the wrapped model's score) at levels σ < ``release`` Å."""

    def __init__(self, inner, release: float):
        self.inner, self.release = inner, release

    def wrap(self, score_fn):
        conditioned = self.inner.wrap(score_fn)

        def score(x, sigma, cond=None):
            return score_fn(x, sigma, cond) if float(sigma.max()) < self.release else conditioned(x, sigma, cond)

        return score


def main() -> None:
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    release, problem, out, num = float(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    original = scaffold_sampling.conditioning

    def released(name, known, **kw):
        term = original(name, known, **kw)
        return term if term is None or release <= 0 else Released(term, release)

    scaffold_sampling.conditioning = released
    problems = json.loads((REPO / "docs/results/motifs/problems.json").read_text())
    contig = {q["name"]: q["contig"] for q in problems}[problem]
    protein.scaffold(str(REPO / f"docs/results/motifs/{problem}.pdb"), contig, num=num, seed=0, out=out,
                     ideal_output=False, device="cpu", progress=False)


if __name__ == "__main__":
    main()
